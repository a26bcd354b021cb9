"""The Masked Autoencoder: encoder on visible patches, decoder with mask tokens, loss on masked patches.

Paper: MAE Sec. 3 (Fig. 1): "We mask random patches of the input image and reconstruct the missing
pixels ... an asymmetric encoder-decoder architecture, with an encoder that operates only on the
visible subset of patches (without mask tokens), along with a lightweight decoder that reconstructs
the original image from the latent representation and mask tokens."

Shapes:
    imgs (B, C, H, W) -> loss (), pred (B, L, p*p*C), mask (B, L)

The method names of the official ``models_mae.py`` are kept (``patchify``, ``unpatchify``,
``random_masking``, ``forward_encoder``, ``forward_decoder``, ``forward_loss``), so its demo code
runs against this class unchanged; each one is a thin call into the module that explains the step.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .io import checkpoint
from .config import MAEConfig
from .decoder import MAEDecoder
from .encoder import EncoderOutput, MAEEncoder
from .init import materialize
from .loss import masked_mse_loss
from .masking import Masking, random_masking
from .patch_embed import patchify, unpatchify
from .pos_embed import adapt_pos_embeds


class PosEmbedResized(UserWarning):
    """A loaded state dict's position table did not fit the model's patch grid and was replaced."""


class MAEOutput(NamedTuple):
    """What ``forward`` returns; unpacks like the official ``(loss, pred, mask)`` tuple."""

    loss: Tensor  # (): mean squared error over the removed patches
    pred: Tensor  # (B, L, p*p*C): predicted pixels of every patch
    mask: Tensor  # (B, L): 1 = removed


class MaskedAutoencoderViT(nn.Module):
    """MAE with a ViT encoder and decoder.

    Args:
        config: an :class:`MAEConfig`; ``None`` uses the class's ``default_config``.
        device: where to allocate and initialise the weights; ``"meta"`` builds shapes only (no memory),
            for inspection or for loading a checkpoint with ``load_state_dict(..., assign=True)``.
        **overrides: any :class:`MAEConfig` field by its official keyword name (``img_size``,
            ``patch_size``, ``in_chans``, ``embed_dim``, ``depth``, ``num_heads``, ``decoder_embed_dim``,
            ``decoder_depth``, ``decoder_num_heads``, ``mlp_ratio``, ``norm_pix_loss``) or ``ln_eps``.
    """

    default_config: ClassVar[MAEConfig] = MAEConfig()

    def __init__(self, config: MAEConfig | None = None, *, device: torch.device | str | None = None,
                 **overrides: Any):
        super().__init__()
        cfg = (config or self.default_config).replace(**overrides)
        self.config = cfg
        self.pos_embed_notes: list[str] = []  # what the last load_state_dict did to the position tables
        with torch.device("meta"):
            self.encoder = MAEEncoder(cfg)
            self.decoder = MAEDecoder(cfg)
        materialize(self, device)

    def init_weights(self) -> None:
        """The official initialisation, once (see ``init.py``)."""
        self.encoder.init_weights()
        self.decoder.init_weights()

    # --- the paper's steps, under the official method names ------------------------------------

    def patchify(self, imgs: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, L, p*p*C)."""
        return patchify(imgs, self.config.patch_size)

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, L, p*p*C) -> (B, C, H, W)."""
        return unpatchify(x, self.config.patch_size, self.config.in_chans, self.config.grid_size)

    def random_masking(self, x: Tensor, mask_ratio: float, noise: Tensor | None = None) -> Masking:
        """(B, L, D) -> visible (B, L_keep, D), mask (B, L), ids_restore (B, L), ids_keep."""
        return random_masking(x, mask_ratio, noise)

    def forward_encoder(self, imgs: Tensor, mask_ratio: float = 0.75, noise: Tensor | None = None) -> EncoderOutput:
        """(B, C, H, W) -> latent (B, 1 + L_keep, D), mask (B, L), ids_restore (B, L)."""
        return self.encoder(imgs, mask_ratio, noise)

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """latent (B, 1 + L_keep, D), ids_restore (B, L) -> pred (B, L, p*p*C)."""
        return self.decoder(latent, ids_restore)

    def forward_loss(self, imgs: Tensor, pred: Tensor, mask: Tensor) -> Tensor:
        """MSE on the removed patches, against raw or per-patch normalised pixels."""
        return masked_mse_loss(pred, self.patchify(imgs), mask, self.config.norm_pix_loss)

    def forward(self, imgs: Tensor, mask_ratio: float = 0.75, noise: Tensor | None = None) -> MAEOutput:
        """Mask, encode, decode, score.

        Args:
            imgs: (B, C, H, W), normalised like the training data (ImageNet mean/std).
            mask_ratio: fraction of patches removed, in [0, 1) (0.75 in the paper).
            noise: optional (B, L) masking noise; patches with the smallest noise stay visible.
        """
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        loss = self.forward_loss(imgs, pred, mask)
        return MAEOutput(loss, pred, mask)

    # --- checkpoints -----------------------------------------------------------------------------

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False,
                        pos_embed: str = "sincos"):
        """Like ``nn.Module.load_state_dict``, and also accepts the official flat layout as it is.

        So the official demo's ``model.load_state_dict(ckpt['model'])`` works unchanged. With
        ``strict=True`` (the default) key sets and shapes must match exactly, and an error names the
        keys that do not.

        Weights saved at another image size (official 224-px files in a 448-px or 224x320 model) load
        with every other tensor unchanged: the fixed position tables that do not fit this model's patch
        grid are replaced, by ``pos_embed``: ``"sincos"`` (default) regenerates the sin-cos table for the
        grid, as the official class does when built at that size; ``"bicubic"`` (official fine-tuning
        ``interpolate_pos_embed``) or ``"hf"`` (transformers' ``interpolate_pos_encoding``) resize the
        stored one. Each replaced table is announced with a :class:`PosEmbedResized` warning and listed
        in ``self.pos_embed_notes``.
        """
        state_dict, self.pos_embed_notes = adapt_pos_embeds(state_dict, self.config.grid_size, pos_embed)
        for note in self.pos_embed_notes:
            warnings.warn(note, PosEmbedResized, stacklevel=2)
        if checkpoint.is_official_layout(state_dict):
            state_dict = checkpoint.official_to_ours(state_dict)
        if strict:
            checkpoint.check_same_layout(state_dict, self.state_dict(keep_vars=True))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def official_state_dict(self) -> dict[str, Tensor]:
        """Our weights under the official key names (the same tensors, no copies)."""
        return checkpoint.ours_to_official(self.state_dict())
