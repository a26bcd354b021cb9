"""Parameter counts: total, trainable, fixed, encoder vs decoder, per module, and the official check.

Paper: MAE Sec. 3 (an encoder on the visible patches and a light decoder; both add *fixed* 2-D
sin-cos positional embeddings, which are stored as parameters but never trained) and Table 3
(the ViT-B/16, ViT-L/16 and ViT-H/14 variants).

Counts are taken from a model built on the ``meta`` device: every parameter has its shape but no
storage, so even ViT-H/14 is counted at once without allocating its weights. The official counts are
computed here too, at run time, from the shapes in ``mae_core/models/official_state_dicts.json``
(the official model's state-dict listing, shipped with the package); no count is typed in.

Shapes: a model -> plain numbers (:class:`ParamReport`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from torch import nn

from ..record import RecordPoint
from ..io.checkpoint import official_key_to_ours, our_key_to_official

OFFICIAL_LISTING = "official_state_dicts.json"  # package data of mae_core.models


@dataclass
class ParamCounts:
    """How many parameters, split three ways."""

    total: int
    trainable: int  # requires_grad True
    fixed: int  # requires_grad False: the two sin-cos position tables
    encoder: int
    decoder: int


@dataclass
class ModuleCount:
    """One row of the per-module breakdown."""

    name: str  # qualified name in our layout, e.g. "encoder.blocks.0" or "encoder.pos_embed"
    depth: int  # number of dotted components (encoder = 1, encoder.blocks = 2, ...)
    kind: str  # module class name, or "Parameter" for a parameter held directly by its parent
    params: int
    trainable: int
    share: float  # params / total of the whole model


@dataclass
class ParamReport:
    """Everything `mae params` shows."""

    variant: str
    title: str
    counts: ParamCounts
    fixed_names: list[str]  # the parameters with requires_grad False
    depth: int  # breakdown depth
    modules: list[ModuleCount]
    official: ParamCounts | None  # from the official listing's shapes; None for unofficial variants
    difference: dict[str, int] | None  # ours - official, per count
    mismatches: list[str] = field(default_factory=list)  # keys or shapes that differ from the listing
    verified: bool | None = None  # None when there is no official listing to compare with
    classifier: bool = False  # a fine-tuned classifier: "encoder" is its trunk, "decoder" its head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- counting -------------------------------------------------------------------------------------

def count_parameters(model: nn.Module) -> ParamCounts:
    """Total / trainable / fixed, and the split between ``model.encoder`` and ``model.decoder``.

    Args:
        model: a :class:`~mae_core.mae.MaskedAutoencoderViT` (any device, ``meta`` included).
    """
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ParamCounts(
        total=total,
        trainable=trainable,
        fixed=total - trainable,
        encoder=sum(p.numel() for p in model.encoder.parameters()),
        decoder=sum(p.numel() for p in model.decoder.parameters()),
    )


def fixed_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters that are not trained (requires_grad False)."""
    return [name for name, p in model.named_parameters() if not p.requires_grad]


def module_breakdown(model: nn.Module, depth: int) -> list[ModuleCount]:
    """Parameters of every submodule (and directly held parameter) down to ``depth`` name components.

    Rows come in the model's own order: a module, then the parameters it holds directly, then its
    children. ``depth=0`` gives no rows (the total alone). Record points (``mae_core/record.py``) hold no
    weights and are left out.

    Args:
        model: any ``nn.Module``.
        depth: how many dotted name components to expand (1: encoder, decoder; 2: their parts; ...).
    """
    total = sum(p.numel() for p in model.parameters()) or 1
    rows: list[ModuleCount] = []

    def row(name: str, kind: str, params: list[nn.Parameter]) -> None:
        n = sum(p.numel() for p in params)
        trainable = sum(p.numel() for p in params if p.requires_grad)
        rows.append(ModuleCount(name, name.count(".") + 1, kind, n, trainable, n / total))

    def visit(module: nn.Module, prefix: str, level: int) -> None:
        if level >= depth:
            return
        for pname, p in module.named_parameters(recurse=False):
            row(prefix + pname, "Parameter", [p])
        for cname, child in module.named_children():
            if isinstance(child, RecordPoint):  # a named place to read the forward, not a part with weights
                continue
            row(prefix + cname, type(child).__name__, list(child.parameters()))
            visit(child, f"{prefix}{cname}.", level + 1)

    visit(model, "", 0)
    return rows


# --- the official listing -------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _official_listing() -> dict[str, Any]:
    text = resources.files("mae_core.models").joinpath(OFFICIAL_LISTING).read_text(encoding="utf-8")
    return json.loads(text)


def official_parameter_shapes(variant: str) -> dict[str, tuple[tuple[int, ...], bool]] | None:
    """Official key -> (shape, requires_grad) of a registered variant, or ``None`` if not listed.

    Args:
        variant: canonical registry name, e.g. ``"mae_vit_huge_patch14"``.
    """
    entry = _official_listing().get(variant)
    if entry is None:
        return None
    return {k: (tuple(v["shape"]), bool(v["requires_grad"])) for k, v in entry["parameters"].items()}


def official_counts(variant: str) -> ParamCounts | None:
    """The official model's counts, summed at run time from the listed shapes (``None`` if unlisted)."""
    shapes = official_parameter_shapes(variant)
    if shapes is None:
        return None
    total = trainable = decoder = 0
    for key, (shape, requires_grad) in shapes.items():
        n = math.prod(shape)
        total += n
        trainable += n if requires_grad else 0
        decoder += n if official_key_to_ours(key).startswith("decoder.") else 0
    return ParamCounts(total, trainable, total - trainable, total - decoder, decoder)


def compare_with_official(model: nn.Module, variant: str) -> list[str]:
    """Differences between ``model`` and the official listing, key by key (empty: identical).

    Compares the official key names of our parameters, their shapes and which of them are fixed,
    and checks the listing's own stated totals against the sum of its shapes.
    """
    listed = official_parameter_shapes(variant)
    if listed is None:
        return []
    ours_requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}
    ours = {our_key_to_official(n): (tuple(p.shape), ours_requires_grad[n]) for n, p in model.named_parameters()}
    problems = [f"missing in ours: {k}" for k in listed if k not in ours]
    problems += [f"not in the official model: {k}" for k in ours if k not in listed]
    for key in listed.keys() & ours.keys():
        (shape, grad), (their_shape, their_grad) = ours[key], listed[key]
        if shape != their_shape:
            problems.append(f"{key}: shape {shape} vs official {their_shape}")
        if grad != their_grad:
            problems.append(f"{key}: requires_grad {grad} vs official {their_grad}")
    entry = _official_listing()[variant]
    counted = official_counts(variant)
    for stated, computed in (("total_params", counted.total), ("trainable_params", counted.trainable)):
        if stated in entry and entry[stated] != computed:
            problems.append(f"listing states {stated}={entry[stated]} but its shapes sum to {computed}")
    return problems


# --- the report -----------------------------------------------------------------------------------

def parameter_report(variant: str, depth: int = 2) -> ParamReport:
    """Count a registered variant's parameters on the ``meta`` device and check them against the official listing.

    Args:
        variant: any registry name (``base``, ``mae_vit_huge_patch14``, ...).
        depth: depth of the per-module breakdown (0: none).
    """
    from ..models import create_model, get_variant, is_classifier

    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    if is_classifier(variant):
        return classifier_parameter_report(variant, depth)
    info = get_variant(variant)
    model = create_model(info.name, device="meta")
    counts = count_parameters(model)
    official = official_counts(info.name)
    difference = mismatches = None
    verified = None
    if official is not None:
        difference = {k: v - asdict(official)[k] for k, v in asdict(counts).items()}
        mismatches = compare_with_official(model, info.name)
        verified = not mismatches and not any(difference.values())
    return ParamReport(
        variant=info.name,
        title=info.title,
        counts=counts,
        fixed_names=fixed_parameter_names(model),
        depth=depth,
        modules=module_breakdown(model, depth),
        official=official,
        difference=difference,
        mismatches=mismatches or [],
        verified=verified,
    )


def classifier_parameter_report(name: str, depth: int = 2) -> ParamReport:
    """A fine-tuned classifier's counts (1000 classes, global pool, as the official ones are stated), on the meta
    device: ``encoder`` is the trunk (patch embedding, positions, blocks, ``fc_norm``), ``decoder`` the head
    (there is no decoder); every parameter is trained (the position table too). The official total is the
    published count of ``models_vit.py`` (MAE Sec. 4; 86,567,656 / 304,326,632 / 632,045,800)."""
    from ..models import create_model, get_classifier

    info = get_classifier(name)
    model = create_model(info.name, num_classes=1000, global_pool=True, device="meta")
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for p in model.head.parameters())
    counts = ParamCounts(total, sum(p.numel() for p in model.parameters() if p.requires_grad),
                         sum(p.numel() for p in model.parameters() if not p.requires_grad), total - head, head)
    D = model.num_features
    official_head = D * 1000 + 1000  # Linear(D, 1000) with bias
    official = ParamCounts(info.official_params, info.official_params, 0, info.official_params - official_head,
                           official_head)
    difference = {k: v - asdict(official)[k] for k, v in asdict(counts).items()}
    return ParamReport(variant=info.name, title=f"{info.title} classifier (global pool, 1000 classes)", counts=counts,
                       fixed_names=fixed_parameter_names(model), depth=depth, modules=module_breakdown(model, depth),
                       official=official, difference=difference, mismatches=[],
                       verified=not any(difference.values()), classifier=True)
