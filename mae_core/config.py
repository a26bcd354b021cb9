"""The hyper-parameters of one Masked Autoencoder, in one frozen dataclass.

Paper: MAE Sec. 3 and Sec. 4 / Appendix A.1 (pre-training setting); ViT Table 1 (widths, depths, heads).

Shape letters used across ``mae_core`` (defined once, here):

    B      batch size
    C      image channels (``in_chans``)
    H, W   image height and width in pixels (``img_size``: one int for a square image, or (H, W))
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

from .errors import ConfigError


@dataclass(frozen=True)
class MAEConfig:
    """Every number that shapes an MAE. Defaults are the official class defaults (ViT-L/16)."""

    img_size: int | tuple[int, int] = 224  # pixels: H = W = img_size, or (H, W); a square (S, S) is stored as S
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
                raise ConfigError(f"invalid MAEConfig: {message}")

        size = self.img_size
        if isinstance(size, (tuple, list)):
            need(len(size) == 2 and all(isinstance(v, int) for v in size),
                 f"img_size must be an int or (H, W), got {size!r}")
            size = tuple(size)
            # One spelling per size, so that (224, 224) == 224 and the registry's configs compare equal.
            object.__setattr__(self, "img_size", size[0] if size[0] == size[1] else size)
        else:
            need(isinstance(size, int), f"img_size must be an int or (H, W), got {size!r}")
        need(min(self.image_hw) > 0, f"img_size must be positive, got {self.img_size}")
        for name in ("patch_size", "in_chans", "embed_dim", "depth", "num_heads",
                     "decoder_embed_dim", "decoder_depth", "decoder_num_heads"):
            need(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        H, W = self.image_hw
        need(H % self.patch_size == 0 and W % self.patch_size == 0,
             f"image size {H}x{W} is not a multiple of patch_size {self.patch_size} (use a multiple such as "
             f"{self._nearest_multiple(H)}x{self._nearest_multiple(W)})")
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

    def _nearest_multiple(self, pixels: int) -> int:
        return max(1, round(pixels / self.patch_size)) * self.patch_size

    # Derived sizes: computed, never stored, so they cannot disagree with the fields above.
    @property
    def image_hw(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        size = self.img_size
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def grid_size(self) -> tuple[int, int]:
        """(h, w): patches along the height and the width (14 x 14 at 224 px with p = 16)."""
        H, W = self.image_hw
        return H // self.patch_size, W // self.patch_size

    @property
    def num_patches(self) -> int:
        """L = h * w (196 at 224 px with p = 16, 256 with p = 14)."""
        h, w = self.grid_size
        return h * w

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
        d = dataclasses.asdict(self)
        if isinstance(self.img_size, tuple):
            d["img_size"] = list(self.img_size)
        return d
