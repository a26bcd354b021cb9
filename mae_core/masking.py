"""Random masking: keep a random subset of patches per sample.

Paper: MAE Sec. 3 "Masking" (sample patches uniformly without replacement, ratio 75 %) and
"Simple implementation" (shuffle the tokens by sorting random noise, keep the first L_keep, and
remember the permutation so the decoder can unshuffle).

Shapes:
    x (B, L, D), noise (B, L) -> visible (B, L_keep, D), mask (B, L), ids_restore (B, L)

Conventions of the official code, kept on purpose:
    * small noise = keep, large noise = remove (``argsort`` ascending);
    * mask 0 = kept (visible), 1 = removed, in the original patch order;
    * L_keep = int(L * (1 - mask_ratio)) (truncation, not rounding);
    * without ``noise``, exactly one ``torch.rand(B, L, device=x.device)`` draw, so a seeded run
      masks the same patches as the official model.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Masking(NamedTuple):
    visible: Tensor  # (B, L_keep, D): the kept tokens, in shuffled order
    mask: Tensor  # (B, L): 0 keep, 1 remove, in original patch order (float32, like the official)
    ids_restore: Tensor  # (B, L): position of each original patch in the shuffled sequence
    ids_keep: Tensor  # (B, L_keep): original indices of the kept patches, in shuffled order


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """L_keep = int(L * (1 - mask_ratio)), the official count; at least one patch must stay visible."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {mask_ratio}")
    keep = int(num_patches * (1 - mask_ratio))
    if keep < 1 and num_patches == 1:
        raise ValueError(f"mask ratio {mask_ratio} keeps no patch: the image has one patch, so only ratio 0 keeps "
                         "it; use ratio 0 or a larger image")
    if keep < 1:
        raise ValueError(
            f"mask ratio {mask_ratio} keeps no patch out of {num_patches}; use a ratio below "
            f"{1 - 1 / num_patches:.4f}"
        )
    return keep


def random_masking(x: Tensor, mask_ratio: float, noise: Tensor | None = None) -> Masking:
    """Keep ``int(L * (1 - mask_ratio))`` random tokens per sample.

    Args:
        x: tokens (B, L, D).
        mask_ratio: fraction of patches to remove, in [0, 1).
        noise: optional (B, L) scores; the tokens with the smallest noise are kept. ``None`` draws
            ``torch.rand(B, L)`` on x's device.

    Returns:
        :class:`Masking` (visible, mask, ids_restore, ids_keep).
    """
    B, L, D = x.shape
    len_keep = num_visible(L, mask_ratio)
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    elif tuple(noise.shape) != (B, L):
        raise ValueError(f"noise must have shape (B, L) = ({B}, {L}), got {tuple(noise.shape)}")

    ids_shuffle = torch.argsort(noise, dim=1)  # (B, L): ascending, so small noise = keep
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L): the inverse permutation
    ids_keep = ids_shuffle[:, :len_keep]  # (B, L_keep)
    visible = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))  # (B, L_keep, D)

    # A patch is removed iff its place in the shuffled order is at or past L_keep. This equals the
    # official "ones, zero the first L_keep, unshuffle with ids_restore" bit for bit, in one step.
    mask = (ids_restore >= len_keep).to(torch.float32)  # (B, L)
    return Masking(visible, mask, ids_restore, ids_keep)
