"""MAE ViT-H/14: the huge variant (patch 14, width 1280, 32 blocks, 16 heads; decoder 512 / 8 / 16).

Paper: MAE Sec. 4 / Table 3 (ViT-H reaches 86.9 % fine-tuned at 224 px); ViT Table 1 (ViT-Huge:
1280 wide, 32 layers, 16 heads, MLP 5120). Patch 14 gives a 16 x 16 grid: 256 patches at 224 px,
64 visible at mask ratio 0.75, and a 14*14*3 = 588-value prediction per patch.
"""

from __future__ import annotations

from ..config import MAEConfig
from ..mae import MaskedAutoencoderViT
from .registry import register_model


@register_model("mae_vit_huge_patch14", short="huge", title="ViT-H/14",
                official_name="mae_vit_huge_patch14_dec512d8b")
class MAEViTHuge(MaskedAutoencoderViT):
    """ViT-H/14 MAE. Takes the same ``device`` and keyword overrides as :class:`MaskedAutoencoderViT`."""

    default_config = MAEConfig(patch_size=14, embed_dim=1280, depth=32, num_heads=16)
