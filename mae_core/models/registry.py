"""The model registry: every variant registered once, and every table, name and message derived from it.

Paper: MAE Sec. 4 / Table 3 (the variants it trains). The registration shape is timm's
``@register_model``: one decorator on the variant's class, whose ``default_config`` is the variant's
only copy of its numbers; the factory (``mae_vit_base_patch16``), the accepted names and the rows of
``mae variants`` / ``mae params`` / ``mae shapes`` / ``mae flops`` all come from here.

    @register_model("mae_vit_tiny_patch8", short="tiny", title="ViT-Ti/8")
    class MAEViTTiny(MaskedAutoencoderViT):
        default_config = MAEConfig(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4)

Shapes: a name -> a :class:`Variant` (its config, class, factory) -> a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import MAEConfig
from ..errors import UnknownModelError
from ..mae import MaskedAutoencoderViT

M = TypeVar("M", bound=type[MaskedAutoencoderViT])


@dataclass(frozen=True)
class Variant:
    """One registered variant."""

    name: str  # canonical name, e.g. "mae_vit_base_patch16"
    short: str  # "base" / "large" / "huge"
    title: str  # "ViT-B/16"
    cls: type[MaskedAutoencoderViT]
    official_name: str | None  # the official factory name ("mae_vit_base_patch16_dec512d8b"), if any
    factory: Callable[..., MaskedAutoencoderViT]  # a function named ``name``: ``factory(**overrides)``

    @property
    def config(self) -> MAEConfig:
        return self.cls.default_config

    @property
    def aliases(self) -> tuple[str, ...]:
        official = (self.official_name,) if self.official_name else ()
        return (self.name, self.short, *official, self.cls.__name__, self.title)


VARIANTS: dict[str, Variant] = {}  # canonical name -> Variant, in registration order (smallest first)


def _factory(name: str, cls: type[MaskedAutoencoderViT], title: str) -> Callable[..., MaskedAutoencoderViT]:
    def factory(**overrides: Any) -> MaskedAutoencoderViT:
        return cls(**overrides)

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = cls.__module__
    factory.__doc__ = (f"{title} MAE, e.g. ``loss, pred, mask = {name}()(imgs)``. Takes ``device`` and any "
                       f":class:`~mae_core.config.MAEConfig` field as a keyword override.")
    return factory


def register_model(name: str, *, short: str, title: str, official_name: str | None = None) -> Callable[[M], M]:
    """Class decorator: register a :class:`MaskedAutoencoderViT` subclass (its ``default_config``) as ``name``.

    Args:
        name: the canonical snake_case name, also the factory's name.
        short: a short alias (``base``).
        title: the paper's name (``ViT-B/16``), also accepted as an alias.
        official_name: the official repository's factory name, accepted as an alias.

    Raises:
        ValueError: a name or alias already taken by another variant.
    """

    def register(cls: M) -> M:
        variant = Variant(name, short, title, cls, official_name, _factory(name, cls, title))
        taken = {alias.lower(): v.name for v in VARIANTS.values() for alias in v.aliases}
        clashes = sorted({alias for alias in variant.aliases if taken.get(alias.lower(), name) != name})
        if clashes:
            raise ValueError(f"cannot register {name!r}: {', '.join(clashes)} already name another variant")
        VARIANTS[name] = variant
        return cls

    return register


def unregister_model(name: str) -> None:
    """Remove a registered variant (for tests that register their own)."""
    VARIANTS.pop(get_variant(name).name)


def list_models() -> list[str]:
    """Canonical names of the registered variants, in registration order (smallest first)."""
    return list(VARIANTS)


def valid_names() -> list[str]:
    """Every name :func:`get_variant` accepts."""
    return [alias for v in VARIANTS.values() for alias in v.aliases]


def get_variant(name: str) -> Variant:
    """Look a variant up by any of its names (case-insensitive)."""
    wanted = name.strip().lower()
    for v in VARIANTS.values():
        if wanted in (alias.lower() for alias in v.aliases):
            return v
    import difflib

    shorts = ", ".join(v.short for v in VARIANTS.values())
    aliases = {alias.lower(): alias for alias in valid_names()}
    close = difflib.get_close_matches(wanted, list(aliases), n=1, cutoff=0.6)
    guess = f"did you mean {aliases[close[0]]}? " if close else ""
    raise UnknownModelError(f"unknown model {name!r}; {guess}valid names: {shorts}, " + ", ".join(VARIANTS)
                            + " (or a variant's official, class or paper name)")


def create_model(name: str, **overrides: Any) -> MaskedAutoencoderViT:
    """Build a registered variant; ``overrides`` are config fields (``norm_pix_loss=True``) or ``device``."""
    return get_variant(name).factory(**overrides)
