"""The fine-tuned classifiers under the official ``models_vit.py`` names: ``vit_base_patch16``,
``vit_large_patch16``, ``vit_huge_patch14``.

Paper: MAE Sec. 4 / Table 3 (the fine-tuned ViT-B/16, ViT-L/16, ViT-H/14: 83.6 / 85.9 / 86.9 % top-1)
and Appendix A.1. Each classifier's trunk is its pre-trained variant's encoder, so its numbers (patch,
width, depth, heads, ``ln_eps``) are read from that variant's registered config, never written twice.

    from mae_core.models import create_model
    model = create_model("vit_base_patch16", num_classes=1000, global_pool=True, drop_path_rate=0.1)
    logits = model(imgs)                          # (B, 3, 224, 224) -> (B, 1000)

Keywords, as the official factories take them (``models_vit.vit_base_patch16(**kwargs)``):
``num_classes`` (1000), ``global_pool`` (False, the official class default; ``main_finetune.py`` passes
True, ``main_linprobe.py`` False), ``drop_path_rate`` (0), ``linear_probe`` (ours: the BatchNorm head of
``main_linprobe.py``), ``device``, and any :class:`~mae_core.config.MAEConfig` field (``img_size=384``).

Official parameter counts with 1000 classes and global pool: 86,567,656 / 304,326,632 / 632,045,800.

Shapes: a name -> a :class:`ClassifierVariant` -> a :class:`~mae_core.classifier.VisionTransformer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..classifier import VisionTransformer
from ..config import MAEConfig
from ..errors import UnknownModelError
from .registry import get_variant


@dataclass(frozen=True)
class ClassifierVariant:
    """One classifier: its official name and the pre-trained variant whose encoder it is."""

    name: str  # the official models_vit.py factory name
    pretrained: str  # the registered MAE variant it is fine-tuned from
    official_params: int  # parameters with 1000 classes and global pool (the official count)
    finetune_drop_path: float  # FINETUNE.md's --drop_path for this size

    @property
    def title(self) -> str:
        return get_variant(self.pretrained).title

    @property
    def config(self) -> MAEConfig:
        return get_variant(self.pretrained).config

    def factory(self, **kwargs: Any) -> VisionTransformer:
        return VisionTransformer(self.config, **kwargs)


CLASSIFIERS: dict[str, ClassifierVariant] = {c.name: c for c in (
    ClassifierVariant("vit_base_patch16", "mae_vit_base_patch16", 86_567_656, 0.1),
    ClassifierVariant("vit_large_patch16", "mae_vit_large_patch16", 304_326_632, 0.2),
    ClassifierVariant("vit_huge_patch14", "mae_vit_huge_patch14", 632_045_800, 0.3),
)}


def list_classifiers() -> list[str]:
    """The classifier names, smallest first."""
    return list(CLASSIFIERS)


def is_classifier(name: str) -> bool:
    """True if ``name`` is a classifier's name (case-insensitive)."""
    return name.strip().lower() in CLASSIFIERS


def get_classifier(name: str) -> ClassifierVariant:
    """The classifier called ``name``, or the one fine-tuned from the MAE variant ``name`` (any of its names)."""
    key = name.strip().lower()
    if key in CLASSIFIERS:
        return CLASSIFIERS[key]
    try:
        pretrained = get_variant(name).name
    except UnknownModelError:
        raise UnknownModelError(f"unknown classifier {name!r}; valid names: {', '.join(CLASSIFIERS)} (or the "
                                "name of the pre-trained variant it is fine-tuned from)") from None
    for c in CLASSIFIERS.values():
        if c.pretrained == pretrained:
            return c
    raise UnknownModelError(f"no classifier is registered for {pretrained!r}; valid names: {', '.join(CLASSIFIERS)}")


def create_classifier(name: str, **kwargs: Any) -> VisionTransformer:
    """Build a classifier by name: ``num_classes``, ``global_pool``, ``drop_path_rate``, ``linear_probe``,
    ``device`` and :class:`~mae_core.config.MAEConfig` fields as keywords."""
    return get_classifier(name).factory(**kwargs)


def _official_factory(name: str) -> Callable[..., VisionTransformer]:
    def factory(**kwargs: Any) -> VisionTransformer:
        return create_classifier(name, **kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"The official ``models_vit.{name}(**kwargs)``: see :func:`create_classifier`."
    return factory


vit_base_patch16 = _official_factory("vit_base_patch16")
vit_large_patch16 = _official_factory("vit_large_patch16")
vit_huge_patch14 = _official_factory("vit_huge_patch14")
