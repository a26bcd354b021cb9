"""MAE ViT-L/16: the large variant (patch 16, width 1024, 24 blocks, 16 heads; decoder 512 / 8 / 16).

Paper: MAE Sec. 4 (ViT-L is the paper's main model: Table 1 ablations, Fig. 2-4); ViT Table 1
(ViT-Large: 1024 wide, 24 layers, 16 heads, MLP 4096). At 224 px: 196 patches, 49 visible at 0.75.
"""

from __future__ import annotations

from ..config import MAEConfig
from ..mae import MaskedAutoencoderViT
from .registry import register_model


@register_model("mae_vit_large_patch16", short="large", title="ViT-L/16",
                official_name="mae_vit_large_patch16_dec512d8b")
class MAEViTLarge(MaskedAutoencoderViT):
    """ViT-L/16 MAE. Takes the same ``device`` and keyword overrides as :class:`MaskedAutoencoderViT`."""

    default_config = MAEConfig(patch_size=16, embed_dim=1024, depth=24, num_heads=16)
