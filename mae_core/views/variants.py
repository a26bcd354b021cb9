"""The model registry as the paper's table: architecture numbers and parameter counts of each variant.

Paper: MAE Sec. 4 and Table 3 (ViT-B/16, ViT-L/16, ViT-H/14 with a 512-wide, 8-block decoder);
ViT Table 1 (widths, depths, heads). Every hyper-parameter comes from the registered config (a new
:class:`~mae_core.config.MAEConfig` field is a new column without an edit here); parameter counts are
counted from each model built on the ``meta`` device (no weights allocated).

Shapes: the registry -> one :class:`VariantRow` per variant.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..config import MAEConfig
from .params import count_parameters

PAPER_MASK_RATIO = 0.75  # MAE Sec. 4: the default masking ratio, used for the "visible" column


@dataclass
class VariantRow:
    """One variant: its names, its whole config (every field, as the registry holds it), what follows."""

    name: str  # canonical registry name
    short: str  # base / large / huge
    title: str  # ViT-B/16 ...
    official_name: str | None  # the official factory name (..._dec512d8b), if it has one
    aliases: list[str]  # every name a variant option accepts for it
    config: MAEConfig  # every hyper-parameter (img_size, patch_size, embed_dim, ...)
    num_patches: int  # L at img_size
    num_visible: int  # L_keep at mask_ratio
    mask_ratio: float
    patch_dim: int  # p*p*C values predicted per patch
    total_params: int
    trainable_params: int
    encoder_params: int
    decoder_params: int

    def to_dict(self) -> dict[str, Any]:
        """Flat: the names, then every config field by its own name, then the derived numbers."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "config"}
        names = {k: row.pop(k) for k in ("name", "short", "title", "official_name", "aliases")}
        return {**names, **self.config.to_dict(), **row}


def variant_table(mask_ratio: float = PAPER_MASK_RATIO) -> list[VariantRow]:
    """One row per registered variant, in registration order.

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
            aliases=list(info.aliases), config=cfg, num_patches=cfg.num_patches,
            num_visible=cfg.num_visible(mask_ratio), mask_ratio=mask_ratio, patch_dim=cfg.patch_dim,
            total_params=counts.total, trainable_params=counts.trainable,
            encoder_params=counts.encoder, decoder_params=counts.decoder,
        ))
    return rows


def classifier_table() -> list[dict[str, Any]]:
    """The fine-tuned classifiers (``models_vit.py`` names, MAE Sec. 4 / Table 3): the trunk each is made of,
    its parameters (1000 classes, global pool) counted on the meta device beside the official count, and the
    reference accuracy of its official release."""
    from ..io.releases import RELEASES
    from ..models import CLASSIFIERS, create_model

    rows = []
    for c in CLASSIFIERS.values():
        model = create_model(c.name, num_classes=1000, global_pool=True, device="meta")
        release = next((r for r in RELEASES.values() if r.classifier == c.name), None)
        rows.append({"name": c.name, "title": c.title, "pretrained": c.pretrained,
                     "params": sum(p.numel() for p in model.parameters()), "official_params": c.official_params,
                     "finetune_drop_path": c.finetune_drop_path, "release": release.name if release else None,
                     "acc1": release.acc1 if release else None, "acc5": release.acc5 if release else None})
    return rows
