"""The three paper variants, registered in :mod:`.registry`, and their factories by name.

    from mae_core.models import mae_vit_large_patch16, create_model, list_models
    loss, pred, mask = mae_vit_large_patch16()(imgs)
    model = create_model("huge", device="meta")     # shapes only, no memory

Names accepted by :func:`create_model` (and every ``--variant`` option of the ``mae`` tool): the
canonical ``mae_vit_{base,large}_patch16`` / ``mae_vit_huge_patch14``, the official
``..._dec512d8b`` names, the class names, the paper's titles (``ViT-B/16``) and the short aliases
``base`` / ``large`` / ``huge``. The fine-tuned classifiers have the official ``models_vit.py`` names
(``vit_base_patch16``, ``vit_large_patch16``, ``vit_huge_patch14``, :mod:`.vit_classifiers`) and
:func:`create_model` builds them too (``num_classes=``, ``global_pool=``, ``drop_path_rate=``).
A variant registered elsewhere (``@register_model``) is listed, built and shown by every command like
these three.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import UnknownModelError
# Importing a variant's file registers it: in the paper's order, smallest first, which every table keeps.
from .mae_vit_base import MAEViTBase
from .mae_vit_large import MAEViTLarge
from .mae_vit_huge import MAEViTHuge
from .registry import VARIANTS, Variant, get_variant, list_models, register_model, unregister_model, valid_names
from .registry import create_model as create_mae
from .vit_classifiers import (CLASSIFIERS, ClassifierVariant, create_classifier, get_classifier, is_classifier,
                              list_classifiers, vit_base_patch16, vit_huge_patch14, vit_large_patch16)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered MAE variant, or a classifier by its official name (``vit_base_patch16``)."""
    if is_classifier(name):
        return create_classifier(name, **overrides)
    return create_mae(name, **overrides)


# The factories under their canonical and their official names (the registry made them).
mae_vit_base_patch16 = mae_vit_base_patch16_dec512d8b = VARIANTS["mae_vit_base_patch16"].factory
mae_vit_large_patch16 = mae_vit_large_patch16_dec512d8b = VARIANTS["mae_vit_large_patch16"].factory
mae_vit_huge_patch14 = mae_vit_huge_patch14_dec512d8b = VARIANTS["mae_vit_huge_patch14"].factory

__all__ = [
    "MAEViTBase", "MAEViTLarge", "MAEViTHuge", "Variant", "VARIANTS", "UnknownModelError",
    "mae_vit_base_patch16", "mae_vit_large_patch16", "mae_vit_huge_patch14",
    "mae_vit_base_patch16_dec512d8b", "mae_vit_large_patch16_dec512d8b", "mae_vit_huge_patch14_dec512d8b",
    "list_models", "valid_names", "get_variant", "create_model", "register_model", "unregister_model",
    "CLASSIFIERS", "ClassifierVariant", "create_classifier", "get_classifier", "is_classifier", "list_classifiers",
    "vit_base_patch16", "vit_large_patch16", "vit_huge_patch14",
]
