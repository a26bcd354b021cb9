"""The model registry as the paper's table: architecture numbers and parameter counts of each variant.

Paper: MAE Sec. 4 and Table 3 (ViT-B/16, ViT-L/16, ViT-H/14 with a 512-wide, 8-block decoder);
ViT Table 1 (widths, depths, heads). Parameter counts are counted from each model built on the
``meta`` device (no weights allocated); patch counts come from the config.

Shapes: the registry -> one :class:`VariantRow` per variant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .params import count_parameters

PAPER_MASK_RATIO = 0.75  # MAE Sec. 4: the default masking ratio, used for the "visible" column


@dataclass
class VariantRow:
    name: str  # canonical registry name
    short: str  # base / large / huge
    title: str  # ViT-B/16 ...
    official_name: str  # the official factory name (..._dec512d8b)
    aliases: list[str]  # every name --variant accepts for it
    img_size: int  # H = W in pixels
    patch_size: int  # p
    embed_dim: int  # D
    depth: int  # encoder blocks
    num_heads: int
    mlp_ratio: float
    decoder_embed_dim: int  # D_dec
    decoder_depth: int
    decoder_num_heads: int
    num_patches: int  # L at img_size
    num_visible: int  # L_keep at mask_ratio
    mask_ratio: float
    patch_dim: int  # p*p*C values predicted per patch
    total_params: int
    trainable_params: int
    encoder_params: int
    decoder_params: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def variant_table(mask_ratio: float = PAPER_MASK_RATIO) -> list[VariantRow]:
    """One row per registered variant, smallest first.

    Args:
        mask_ratio: the ratio used for the ``num_visible`` column.
    """
    from ..models import VARIANTS, create_model

    rows = []
    for info in VARIANTS.values():
        cfg = info.config
        counts = count_parameters(create_model(info.name, device="meta"))
        rows.append(VariantRow(
            name=info.name, short=info.short, title=info.title, official_name=info.official_name,
            aliases=list(info.aliases), img_size=cfg.img_size, patch_size=cfg.patch_size,
            embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio,
            decoder_embed_dim=cfg.decoder_embed_dim, decoder_depth=cfg.decoder_depth,
            decoder_num_heads=cfg.decoder_num_heads, num_patches=cfg.num_patches,
            num_visible=cfg.num_visible(mask_ratio), mask_ratio=mask_ratio, patch_dim=cfg.patch_dim,
            total_params=counts.total, trainable_params=counts.trainable,
            encoder_params=counts.encoder, decoder_params=counts.decoder,
        ))
    return rows
