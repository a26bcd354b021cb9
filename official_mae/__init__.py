"""official_mae: the references mae-inspect verifies its model against, and the comparison machinery.

Paper: MAE Sec. 3 (the model being compared). Three references, one interface (:class:`Reference`):

    official   the user's clone of facebookresearch/mae (``--official-src DIR`` / ``$MAE_OFFICIAL_SRC``),
               imported as it is with compatibility shims around the import (``official.py``, ``shims.py``)
    timm       the official composition rebuilt from timm's PatchEmbed and Block (``timm_ref.py``)
    hf         transformers' ViTMAEForPreTraining with an equal config (``hf_ref.py``)

    from official_mae import load_reference
    ref = load_reference("auto", "base")               # official if a source is set, else timm, else hf
    ref.load_official_state_dict(model.official_state_dict())   # same tensors as our model
    loss, pred, mask = ref.forward(imgs, 0.75, noise)

This package imports without timm or transformers; a reference whose library is missing or broken
raises :class:`ReferenceUnavailable` with the install command. It is the only package that imports them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import Tensor

from .imports import INSTALL, ReferenceUnavailable, require_timm, require_transformers
from .reference import Reference, ReferenceOutput, our_stage_modules

KINDS = ("auto", "official", "timm", "hf")


def resolve_kind(kind: str, official_src: str | os.PathLike | None = None) -> str:
    """``auto`` -> ``official`` when a source is given (argument or ``$MAE_OFFICIAL_SRC``), else ``timm``
    when timm imports, else ``hf``; other kinds are checked and returned.

    Raises:
        ReferenceUnavailable: unknown kind; ``official`` without a source; ``auto`` with no library usable.
    """
    from .official import check_kind

    kind, src = check_kind(kind, official_src, KINDS)
    if kind != "auto":
        return kind
    if src is not None:
        return "official"
    problems = []
    for candidate, require in (("timm", require_timm), ("hf", require_transformers)):
        try:
            require()
            return candidate
        except ReferenceUnavailable as exc:
            problems.append(exc.reason)
    raise ReferenceUnavailable(f"no reference can be imported ({'; '.join(problems)}); install them with: {INSTALL}")


def build_reference(kind: str, config, *, official_src: str | os.PathLike | None = None,
                    device: torch.device | str = "cpu") -> Reference:
    """A reference for any :class:`mae_core.config.MAEConfig` (also the tiny golden configs), on ``meta``
    until :meth:`Reference.load_official_state_dict` is called."""
    from .official import official_source

    kind = resolve_kind(kind, official_src)
    if kind == "official":
        from .official import OfficialReference

        return OfficialReference(config, official_source(official_src), device)
    if kind == "timm":
        from .timm_ref import TimmReference

        return TimmReference(config, device)
    from .hf_ref import HFReference

    return HFReference(config, device)


def load_reference(kind: str, variant: str, *, official_src: str | os.PathLike | None = None,
                   device: torch.device | str = "cpu", state_dict: Mapping[str, Tensor] | None = None,
                   **overrides) -> Reference:
    """The reference ``kind`` (``auto``, ``official``, ``timm``, ``hf``) of a registered variant.

    Args:
        kind: which reference; ``auto`` picks official (if a source is set), else timm, else hf.
        variant: any registry name (``base``, ``mae_vit_huge_patch14``, ...).
        official_src: the official source directory (default ``$MAE_OFFICIAL_SRC``).
        device: where the reference runs.
        state_dict: optional official-layout weights to load right away (aliased, not copied).
        **overrides: config fields, e.g. ``norm_pix_loss=True``.

    Returns:
        A :class:`Reference`; built on ``meta`` (no memory) until weights are loaded.
    """
    from mae_core.models import get_variant

    config = get_variant(variant).config.replace(**overrides)
    ref = build_reference(kind, config, official_src=official_src, device=device)
    if state_dict is not None:
        ref.load_official_state_dict(state_dict)
    return ref


__all__ = [
    "INSTALL", "KINDS", "Reference", "ReferenceOutput", "ReferenceUnavailable", "build_reference",
    "load_reference", "our_stage_modules", "resolve_kind",
]
