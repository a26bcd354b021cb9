"""What MAE sees and what it rebuilds: the panels of the paper's Figure 2, as tensors.

Paper: MAE Fig. 2 / Fig. 3 (masked image, reconstruction, reconstruction with the visible patches
pasted back), Sec. 3 "Masking" and "Reconstruction target" (the loss on the masked patches, and the
per-patch normalised target of ``norm_pix_loss``, Table 1d).

Shapes (B images, C channels, H = W pixels, p patch side, h x w patch grid, L = h * w):
    images (B, C, H, W)  ImageNet-normalised, the model's input
    noise  (B, L)        masking noise; the smallest L_keep values stay visible
    ->  mask (B, L) and grid (B, h, w), 1 = masked; loss (B,) per image;
        masked, reconstruction, pasted (B, C, H, W) in the same normalised space as ``images``;
        prediction (B, C, H, W) the decoder output as it is (per-patch normalised for norm_pix_loss).

Conventions (those of the official demo):
    * a masked patch of the "masked" panel is 0 in normalised space, i.e. the ImageNet mean colour
      once de-normalised: a neutral-looking grey, RGB (124, 116, 104);
    * "pasted" is the input on the visible patches and the reconstruction on the masked ones.

norm_pix_loss models predict every patch normalised by *its own* pixel mean and standard deviation,
which the model never saw for a masked patch. To draw such a prediction as pixels, each masked patch
gets a mean and a standard deviation estimated **only from the visible patches**: the
inverse-squared-distance weighted average (Shepard interpolation on the patch grid) of the visible
patches' own statistics. Nearby visible patches dominate, so brightness and contrast follow the
visible context, as an in-painter would guess them; the hidden patches' own statistics never enter
(that would paste the answer into the picture). A visible patch keeps its own statistics: the model
saw its pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..loss import masked_mse_loss, normalize_patches
from ..mae import MaskedAutoencoderViT
from ..patch_embed import patchify, unpatchify

NORM_PIX_EPS = 1e-6  # the epsilon of the official norm_pix_loss target: (x - mean) / sqrt(var + eps)


class Reconstruction(NamedTuple):
    """The panels of Figure 2 for a batch, plus the mask and the loss of each image."""

    mask: Tensor  # (B, L) float: 1 = masked (removed), 0 = visible, raster order
    grid: Tensor  # (B, h, w) int64: the mask on the patch grid
    loss: Tensor  # (B,): MSE over each image's masked patches (NaN when no patch is masked)
    masked: Tensor  # (B, C, H, W): the input with masked patches set to 0 (the mean colour)
    reconstruction: Tensor  # (B, C, H, W): the prediction in image space (de-normalised if norm_pix)
    pasted: Tensor  # (B, C, H, W): input on visible patches, reconstruction on masked ones
    prediction: Tensor  # (B, C, H, W): the decoder output as it is (per-patch normalised if norm_pix)
    pred: Tensor  # (B, L, p*p*C): the same decoder output, patch by patch
    norm_pix_loss: bool  # whether the prediction was read as per-patch normalised pixels


def masking_noise(batch: int, num_patches: int, seed: int) -> Tensor:
    """Seeded uniform noise (B, L) for :func:`mae_core.masking.random_masking`, from its own generator
    so the mask does not depend on how much of the global random stream the model's init used."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, num_patches, generator=generator)


def mask_to_pixels(mask: Tensor, patch_size: int, grid: tuple[int, int], channels: int = 1) -> Tensor:
    """Patch mask (B, L) -> pixel mask (B, channels, h*p, w*p) of the same dtype, via unpatchify."""
    per_patch = mask.unsqueeze(-1).expand(-1, -1, patch_size * patch_size * channels)  # (B, L, p*p*C)
    return unpatchify(per_patch, patch_size, channels, grid)


def visible_patch_stats(patches: Tensor, mask: Tensor, grid: tuple[int, int],
                        eps: float = NORM_PIX_EPS) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of every patch, estimated for masked patches from visible ones only.

    A visible patch keeps its own statistics (the per-patch mean and ``sqrt(var + eps)`` of the
    official norm_pix_loss target). A masked patch i gets ``sum_j w_ij s_j / sum_j w_ij`` over the
    visible patches j, with ``w_ij = 1 / |g_i - g_j|^2`` on the patch grid (Shepard interpolation).

    Args:
        patches: (B, L, P) the patchified input image.
        mask: (B, L), 1 = masked. At least one patch per image must be visible.
        grid: (h, w) with h * w = L.
        eps: added to the variance, as in the training target.

    Returns:
        mean, std: each (B, L, 1).
    """
    B, L, P = patches.shape
    visible = mask < 0.5  # (B, L) bool
    if not bool(visible.any(dim=1).all()):
        raise ValueError("every image needs at least one visible patch to estimate statistics from")
    own_mean = patches.mean(dim=-1)  # (B, L)
    own_std = (patches.var(dim=-1) + eps).sqrt()  # (B, L), unbiased variance as in the loss
    # Drop the masked patches' own statistics before anything else touches them.
    seen_mean = torch.where(visible, own_mean, torch.zeros_like(own_mean))
    seen_std = torch.where(visible, own_std, torch.zeros_like(own_std))

    h, w = grid
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()], dim=-1).to(patches.dtype).to(patches.device)  # (L, 2)
    dist2 = torch.cdist(coords, coords).square()  # (L, L)
    dist2.fill_diagonal_(1.0)  # i == j only matters for a visible i, which keeps its own value anyway
    weights = visible.unsqueeze(1).to(patches.dtype) / dist2  # (B, L, L): w_ij, zero for masked j
    total = weights.sum(dim=-1)  # (B, L)
    est_mean = (weights @ seen_mean.unsqueeze(-1)).squeeze(-1) / total
    est_std = (weights @ seen_std.unsqueeze(-1)).squeeze(-1) / total

    mean = torch.where(visible, own_mean, est_mean)
    std = torch.where(visible, own_std, est_std)
    return mean.unsqueeze(-1), std.unsqueeze(-1)


def denormalize_prediction(pred: Tensor, patches: Tensor, mask: Tensor, grid: tuple[int, int]) -> Tensor:
    """Undo the per-patch normalisation of a norm_pix_loss prediction with visible-only statistics.

    Args:
        pred: (B, L, P) per-patch normalised prediction.
        patches: (B, L, P) the patchified input (only its visible patches are used).
        mask: (B, L), 1 = masked.
        grid: (h, w).

    Returns:
        (B, L, P) pixels in the input's (ImageNet-normalised) space.
    """
    mean, std = visible_patch_stats(patches, mask, grid)
    return pred * std + mean


def per_image_loss(pred: Tensor, patches: Tensor, mask: Tensor, norm_pix_loss: bool) -> Tensor:
    """The model's loss computed image by image: (B, L, P), (B, L, P), (B, L) -> (B,)."""
    return torch.stack([masked_mse_loss(pred[i:i + 1], patches[i:i + 1], mask[i:i + 1], norm_pix_loss)
                        for i in range(pred.shape[0])])


def target_fit(pred: Tensor, patches: Tensor) -> dict[str, float]:
    """MSE of the prediction against the raw and against the per-patch normalised patches, over all
    patches: a hint of which target a trained decoder learned (checkpoints carry no such flag)."""
    return {"raw": float(((pred - patches) ** 2).mean()),
            "normalized": float(((pred - normalize_patches(patches)) ** 2).mean())}


@torch.no_grad()
def reconstruct(model: MaskedAutoencoderViT, images: Tensor, *, mask_ratio: float, noise: Tensor,
                norm_pix_loss: bool = False) -> Reconstruction:
    """Run the model once with the given noise and build the Figure 2 panels.

    Args:
        model: any :class:`MaskedAutoencoderViT` (its own ``config.norm_pix_loss`` is not consulted).
        images: (B, C, H, W) ImageNet-normalised, H and W the model's ``img_size``.
        mask_ratio: fraction of patches masked, in [0, 1).
        noise: (B, L) masking noise (see :func:`masking_noise`).
        norm_pix_loss: read the prediction as per-patch normalised pixels (``*_full.pth`` checkpoints)
            and de-normalise it with :func:`denormalize_prediction`.

    Returns:
        :class:`Reconstruction`.
    """
    B, C, H, W = images.shape
    p = model.config.patch_size
    grid = (H // p, W // p)
    noise = noise.to(images.device)
    latent, mask, ids_restore = model.forward_encoder(images, mask_ratio, noise)
    pred = model.forward_decoder(latent, ids_restore)  # (B, L, p*p*C)
    patches = patchify(images, p)  # (B, L, p*p*C)

    loss = per_image_loss(pred, patches, mask, norm_pix_loss)
    pixels = denormalize_prediction(pred, patches, mask, grid) if norm_pix_loss else pred
    reconstruction = unpatchify(pixels, p, C, grid)
    hidden = mask_to_pixels(mask, p, grid).bool()  # (B, 1, H, W)
    return Reconstruction(
        mask=mask,
        grid=mask.reshape(B, *grid).long(),
        loss=loss,
        masked=torch.where(hidden, torch.zeros_like(images), images),
        reconstruction=reconstruction,
        pasted=torch.where(hidden, reconstruction, images),
        prediction=unpatchify(pred, p, C, grid),
        pred=pred,
        norm_pix_loss=norm_pix_loss,
    )


# --- which target a checkpoint predicts -----------------------------------------------------------

def reconstruction_target(norm_pix_loss: bool | None, weights_name: str | None,
                          hints: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether to read predictions as per-patch normalised pixels, and why: THE norm-pix rule, used by every
    command through :func:`mae_core.views.prepare.prepare` (forward, mask-demo, sweep, compare-official).

    In order: the caller's explicit choice; else what the checkpoint states (a transformers ``config.json``,
    ``hints`` from :mod:`mae_core.io.weights`); else the official naming: the official ``*_full.pth``
    checkpoints predict per-patch normalised pixels (trained with ``norm_pix_loss``), the
    ``mae_visualize_vit_*.pth`` ones raw pixels (the project's DESIGN notes); else raw pixels.

    Args:
        norm_pix_loss: the caller's explicit choice, or ``None`` to decide from the file.
        weights_name: the checkpoint's file name (``None``: no checkpoint).
        hints: settings read from the checkpoint (``{"norm_pix_loss": True}``).

    Returns:
        ``(norm_pix_loss, source)`` with source ``"option"`` (asked for), ``"config.json"``,
        ``"file name"`` or ``"default"``.
    """
    if norm_pix_loss is not None:
        return norm_pix_loss, "option"
    if "norm_pix_loss" in hints:
        return bool(hints["norm_pix_loss"]), "config.json"
    if weights_name is not None and "_full" in weights_name:
        return True, "file name"
    return False, "default"


class TargetHint(NamedTuple):
    """The predictions fit the other target far better than the assumed one."""

    norm_pix_loss: bool  # the target they fit: True = per-patch normalised pixels, False = raw pixels
    message: str  # why, with both errors


def target_hint(fit: Mapping[str, float], norm_pix_loss: bool) -> TargetHint | None:
    """A :class:`TargetHint` when :func:`target_fit` says the other target fits at least twice as well."""
    raw, normalized = fit["raw"], fit["normalized"]
    if not norm_pix_loss and normalized * 2 < raw:
        return TargetHint(True, f"the predictions fit per-patch normalised patches (MSE {normalized:.3f}) far better "
                                f"than raw pixels (MSE {raw:.3f}): this checkpoint was probably trained with "
                                "norm_pix_loss")
    if norm_pix_loss and raw * 2 < normalized:
        return TargetHint(False, f"the predictions fit raw pixels (MSE {raw:.3f}) far better than per-patch "
                                 f"normalised patches (MSE {normalized:.3f}): this checkpoint probably predicts "
                                 "raw pixels")
    return None
