"""What every reference model offers the comparison: weights in, the MAE forward out, stage modules.

Paper: MAE Sec. 3 (Fig. 1); the stages are the paper's steps. A reference wraps another implementation
of the same model (the official source, the official composition on timm, transformers' ViTMAE) behind
one interface, so ``compare.py`` treats them alike.

Shapes:
    run(imgs (B, C, H, W), mask_ratio, noise (B, L)) -> loss (), pred (B, L, p*p*C), mask (B, L),
        latent (B, 1 + L_keep, D), ids_restore (B, L)

Stage names (the keys of :meth:`Reference.stage_modules`, in forward order), shared with our model:
    patch_embed (B, L, D); encoder.blocks.{i} (B, 1 + L_keep, D); decoder.embed (B, 1 + L_keep, D_dec);
    decoder.blocks.{i} (B, 1 + L, D_dec); decoder.norm (B, 1 + L, D_dec)

Weights: a reference is built on the ``meta`` device (no memory, no random initialisation) and gets its
tensors from :meth:`Reference.load_official_state_dict`, which *assigns* detached aliases of the given
tensors: both models read the same storage (two ViT-H fit in memory), yet each has its own Parameter
objects, so their gradients stay apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import NamedTuple

import torch
from torch import Tensor, nn

from mae_core.io import checkpoint
from mae_core.config import MAEConfig


class ReferenceOutput(NamedTuple):
    loss: Tensor  # ()
    pred: Tensor  # (B, L, p*p*C)
    mask: Tensor  # (B, L), 1 = removed
    latent: Tensor  # (B, 1 + L_keep, D)
    ids_restore: Tensor  # (B, L)


class Reference:
    """Base class. Subclasses set ``kind`` and implement ``_to_own_layout``, ``run`` and ``stage_modules``.

    Attributes:
        kind: ``"official"``, ``"timm"`` or ``"hf"``.
        model: the wrapped ``nn.Module`` (on ``meta`` until weights are loaded).
        config: the :class:`MAEConfig` it was built for.
        detail: one line for people: library and version, naming, attention backend.
    """

    kind: str = ""

    def __init__(self, model: nn.Module, config: MAEConfig, detail: str, device: torch.device | str = "cpu"):
        self.model = model.eval()
        self.config = config
        self.detail = detail
        self.device = torch.device(device)

    # --- weights ------------------------------------------------------------------------------------

    def load_official_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Use these official-layout tensors as the reference's weights (aliases, not copies).

        Raises:
            mae_core.io.checkpoint.CheckpointMismatchError: keys or shapes do not fit (names them).
        """
        own = self._to_own_layout({k: v.detach().to(self.device) for k, v in state_dict.items()})
        checkpoint.check_same_layout(own, self.model.state_dict(keep_vars=True), what=f"{self.kind} reference weights")
        self.model.load_state_dict(own, strict=True, assign=True)
        left = [n for n, t in chain(self.model.named_parameters(), self.model.named_buffers()) if t.is_meta]
        if left:
            raise RuntimeError(f"{self.kind} reference still has tensors without storage: {left[:4]}")

    def _to_own_layout(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Official layout -> the wrapped model's names (identity for official and timm)."""
        return state_dict

    def _from_own_layout(self, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        """The wrapped model's names -> official layout (identity for official and timm)."""
        return tensors

    def official_grads(self) -> dict[str, Tensor]:
        """Gradients after ``loss.backward()``, under official names (parameters without one are left out)."""
        grads = {n: p.grad for n, p in self.model.named_parameters() if p.grad is not None}
        return self._from_own_layout(grads)

    # --- forward ------------------------------------------------------------------------------------

    def run(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> ReferenceOutput:
        """The MAE forward with the given masking noise; also returns the latent and ids_restore."""
        raise NotImplementedError

    def forward(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, pred, mask)``, the official return value, for the given masking noise."""
        out = self.run(imgs, mask_ratio, noise)
        return out.loss, out.pred, out.mask

    __call__ = forward

    def stage_modules(self) -> dict[str, nn.Module]:
        """Stage name -> the module whose output is that stage (see the module docstring)."""
        raise NotImplementedError


class OfficialNamedReference(Reference):
    """A reference whose model has the official attribute and method names (``forward_decoder``,
    ``forward_loss``, ``blocks``, ``decoder_blocks`` ...): the official code itself, and our timm rebuild."""

    def finish(self, imgs: Tensor, latent: Tensor, mask: Tensor, ids_restore: Tensor) -> ReferenceOutput:
        """Decode and score after the model's own ``forward_encoder``."""
        pred = self.model.forward_decoder(latent, ids_restore)
        loss = self.model.forward_loss(imgs, pred, mask)
        return ReferenceOutput(loss, pred, mask, latent, ids_restore)

    def stage_modules(self) -> dict[str, nn.Module]:
        m = self.model
        return standard_stage_modules(m.patch_embed, m.blocks, m.decoder_embed, m.decoder_blocks, m.decoder_norm)


def our_stage_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The same stages on a ``mae_core`` :class:`~mae_core.mae.MaskedAutoencoderViT`."""
    enc, dec = model.encoder, model.decoder
    return standard_stage_modules(enc.patch_embed, enc.blocks, dec.embed, dec.blocks, dec.norm)


def standard_stage_modules(patch_embed: nn.Module, blocks, decoder_embed: nn.Module, decoder_blocks,
                           decoder_norm: nn.Module) -> dict[str, nn.Module]:
    """Stage dict from the five pieces every implementation has."""
    stages: dict[str, nn.Module] = {"patch_embed": patch_embed}
    stages.update({f"encoder.blocks.{i}": b for i, b in enumerate(blocks)})
    stages["decoder.embed"] = decoder_embed
    stages.update({f"decoder.blocks.{i}": b for i, b in enumerate(decoder_blocks)})
    stages["decoder.norm"] = decoder_norm
    return stages
