"""The hyper-parameters of one Masked Autoencoder, in one frozen dataclass.

Paper: MAE Sec. 3 and Sec. 4 / Appendix A.1 (pre-training setting); ViT Table 1 (widths, depths, heads).

Shape letters used across ``mae_core`` (defined once, here):

    B      batch size
    C      image channels (``in_chans``)
    H, W   image height and width in pixels (``img_size``)
    p      patch side in pixels (``patch_size``)
    h, w   patch grid, ``H // p`` and ``W // p``
    L      number of patches, ``h * w``
    L_keep visible (kept) patches, ``int(L * (1 - mask_ratio))``
    D      encoder width (``embed_dim``)
    D_dec  decoder width (``decoder_embed_dim``)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class MAEConfig:
    """Every number that shapes an MAE. Defaults are the official class defaults (ViT-L/16)."""

    img_size: int = 224  # input side in pixels; images are square (H = W = img_size)
    patch_size: int = 16  # p: side of one square patch (16 for ViT-B/L, 14 for ViT-H)
    in_chans: int = 3  # C: image channels (RGB)
    embed_dim: int = 1024  # D: encoder width (768 B, 1024 L, 1280 H)
    depth: int = 24  # encoder Transformer blocks (12 B, 24 L, 32 H)
    num_heads: int = 16  # encoder attention heads (12 B, 16 L, 16 H)
    decoder_embed_dim: int = 512  # D_dec: decoder width, 512 for every paper variant (Sec. 4, Table 1a-b)
    decoder_depth: int = 8  # decoder blocks, 8 for every paper variant
    decoder_num_heads: int = 16  # decoder attention heads, 16 for every paper variant
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * width (ViT)
    ln_eps: float = 1e-6  # LayerNorm epsilon: the official variants use 1e-6 (PyTorch's default is 1e-5)
    norm_pix_loss: bool = False  # Sec. 3 "Reconstruction target": normalise each target patch first

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"invalid MAEConfig: {message}")

        for name in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads",
                     "decoder_embed_dim", "decoder_depth", "decoder_num_heads"):
            need(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        need(self.img_size % self.patch_size == 0,
             f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        need(self.embed_dim % self.num_heads == 0,
             f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        need(self.decoder_embed_dim % self.decoder_num_heads == 0,
             f"decoder_embed_dim {self.decoder_embed_dim} is not divisible by "
             f"decoder_num_heads {self.decoder_num_heads}")
        # The 2-D sin-cos table gives D/2 dimensions to each axis, and sin + cos to each half.
        need(self.embed_dim % 4 == 0, f"embed_dim {self.embed_dim} must be a multiple of 4 (2-D sin-cos)")
        need(self.decoder_embed_dim % 4 == 0,
             f"decoder_embed_dim {self.decoder_embed_dim} must be a multiple of 4 (2-D sin-cos)")
        need(self.mlp_ratio > 0, f"mlp_ratio must be positive, got {self.mlp_ratio}")
        need(self.ln_eps > 0, f"ln_eps must be positive, got {self.ln_eps}")

    # Derived sizes: computed, never stored, so they cannot disagree with the fields above.
    @property
    def grid_size(self) -> int:
        """h = w: patches along one side."""
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """L = h * w (196 at 224 px with p = 16, 256 with p = 14)."""
        return self.grid_size**2

    @property
    def patch_dim(self) -> int:
        """p * p * C: pixels the decoder predicts per patch."""
        return self.patch_size**2 * self.in_chans

    def num_visible(self, mask_ratio: float) -> int:
        """L_keep for a mask ratio, with the official rounding ``int(L * (1 - r))``."""
        from .masking import num_visible

        return num_visible(self.num_patches, mask_ratio)

    def replace(self, **overrides: Any) -> "MAEConfig":
        """A copy with some fields changed; unknown names raise ``TypeError`` listing the valid ones."""
        valid = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise TypeError(f"unknown MAE option(s) {unknown}; valid options: {sorted(valid)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
