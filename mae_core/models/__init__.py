"""The model registry: the three paper variants by name.

    from mae_core.models import mae_vit_large_patch16, create_model, list_models
    loss, pred, mask = mae_vit_large_patch16()(imgs)
    model = create_model("huge", device="meta")     # shapes only, no memory

Names accepted by :func:`create_model` (and every ``--variant`` option of the ``mae`` tool): the
canonical ``mae_vit_{base,large}_patch16`` / ``mae_vit_huge_patch14``, the official
``..._dec512d8b`` names, the class names and the short aliases ``base`` / ``large`` / ``huge``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import MAEConfig
from ..errors import UnknownModelError
from ..mae import MaskedAutoencoderViT
from .mae_vit_base import BASE_CONFIG, MAEViTBase, mae_vit_base_patch16, mae_vit_base_patch16_dec512d8b
from .mae_vit_huge import HUGE_CONFIG, MAEViTHuge, mae_vit_huge_patch14, mae_vit_huge_patch14_dec512d8b
from .mae_vit_large import LARGE_CONFIG, MAEViTLarge, mae_vit_large_patch16, mae_vit_large_patch16_dec512d8b


@dataclass(frozen=True)
class Variant:
    name: str  # canonical name, e.g. "mae_vit_base_patch16"
    short: str  # "base" / "large" / "huge"
    title: str  # "ViT-B/16"
    cls: type[MaskedAutoencoderViT]
    factory: Callable[..., MaskedAutoencoderViT]
    config: MAEConfig

    @property
    def official_name(self) -> str:
        return self.name + "_dec512d8b"

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.name, self.short, self.official_name, self.cls.__name__, self.title)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("mae_vit_base_patch16", "base", "ViT-B/16", MAEViTBase, mae_vit_base_patch16, BASE_CONFIG),
        Variant("mae_vit_large_patch16", "large", "ViT-L/16", MAEViTLarge, mae_vit_large_patch16, LARGE_CONFIG),
        Variant("mae_vit_huge_patch14", "huge", "ViT-H/14", MAEViTHuge, mae_vit_huge_patch14, HUGE_CONFIG),
    )
}
_BY_ALIAS = {alias.lower(): v for v in VARIANTS.values() for alias in v.aliases}


def list_models() -> list[str]:
    """Canonical names of the registered variants, smallest first."""
    return list(VARIANTS)


def valid_names() -> list[str]:
    """Every name :func:`get_variant` accepts."""
    return [alias for v in VARIANTS.values() for alias in v.aliases]


def get_variant(name: str) -> Variant:
    """Look a variant up by any of its names (case-insensitive)."""
    try:
        return _BY_ALIAS[name.strip().lower()]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; valid names: base, large, huge, " + ", ".join(list_models())
            + " (or the official *_dec512d8b names)"
        ) from None


def create_model(name: str, **overrides: Any) -> MaskedAutoencoderViT:
    """Build a registered variant; ``overrides`` are config fields (``norm_pix_loss=True``) or ``device``."""
    return get_variant(name).factory(**overrides)


__all__ = [
    "MAEViTBase", "MAEViTLarge", "MAEViTHuge", "Variant", "VARIANTS", "UnknownModelError",
    "mae_vit_base_patch16", "mae_vit_large_patch16", "mae_vit_huge_patch14",
    "mae_vit_base_patch16_dec512d8b", "mae_vit_large_patch16_dec512d8b", "mae_vit_huge_patch14_dec512d8b",
    "list_models", "valid_names", "get_variant", "create_model",
]
