"""MAE ViT-B/16: the base variant (patch 16, width 768, 12 blocks, 12 heads; decoder 512 / 8 / 16).

Paper: MAE Sec. 4 (ViT-B in Table 3 / Fig. 8); ViT Table 1 (ViT-Base: 768 wide, 12 layers, 12 heads,
MLP 3072). At 224 px: 14 x 14 = 196 patches, 49 visible at mask ratio 0.75.
"""

from __future__ import annotations

from ..config import MAEConfig
from ..mae import MaskedAutoencoderViT
from .registry import register_model


@register_model("mae_vit_base_patch16", short="base", title="ViT-B/16",
                official_name="mae_vit_base_patch16_dec512d8b")
class MAEViTBase(MaskedAutoencoderViT):
    """ViT-B/16 MAE. Takes the same ``device`` and keyword overrides as :class:`MaskedAutoencoderViT`."""

    default_config = MAEConfig(patch_size=16, embed_dim=768, depth=12, num_heads=12)
