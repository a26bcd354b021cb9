"""Stage-by-stage comparison of our model with a reference: same weights, same images, same noise.

Paper: MAE Sec. 3; the rows follow the forward pass the paper describes:

    patch_embed         (B, L, D)            ViT Eq. 1, before positions are added
    masking             mask (B, L), ids_restore (B, L): must be *identical*
    encoder.blocks.{i}  (B, 1 + L_keep, D)   each encoder block's output
    latent              (B, 1 + L_keep, D)   encoder output after its final LayerNorm
    decoder.embed       (B, 1 + L_keep, D_dec)
    decoder.blocks.{i}  (B, 1 + L, D_dec)    each decoder block's output (mask tokens included)
    decoder.norm        (B, 1 + L, D_dec)
    pred                (B, L, p*p*C)
    loss                ()
    grad <group>        with ``grad=True``: d loss / d parameter, every parameter, grouped by module

Each tensor row reports ``max_abs = max |ours - reference|`` and ``max_rel = max_abs / max |reference|``
(relative to the reference's largest magnitude, so entries near zero cannot inflate it); it passes when
``max_abs <= atol + rtol * max |reference|`` (``rtol=0`` is a pure absolute test). The first row that
fails is named: that is where the implementations part ways.

The two bounds of the fidelity contract (``docs/fidelity.md`` has the measurements behind them):

* :data:`SAME_MACHINE` (the defaults here and of ``mae compare-official``): ours against a reference run
  live in the same process, same weights, images and noise. The exact path measures 0 (bit-identical)
  against the official code, timm and transformers; the bound leaves room for the fast path and for
  reductions a device orders differently.
* :data:`ACROSS_MACHINES`: ours (or a reference) against the outputs the official code recorded on
  another machine (``tests/data/golden``): float32 sums round differently with other SIMD widths,
  thread splits and BLAS kernels, by a few units in the last place of the largest value.

Block outputs are captured with forward hooks on both models (our ``encoder.blocks[i]`` and the
reference's equivalent module, see :meth:`official_mae.reference.Reference.stage_modules`).
Everything here returns plain data (dicts, lists, floats); ``mae compare-official`` renders it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from mae_core.io import checkpoint
from mae_core.mae import MaskedAutoencoderViT

from .reference import Reference, our_stage_modules

if TYPE_CHECKING:
    from mae_core.loading.weights import LoadedWeights

@dataclass(frozen=True)
class Tolerance:
    """A pass bound for float32 tensors: ``max |ours - ref| <= atol + rtol * max |ref|``."""

    atol: float
    rtol: float

    def bound(self, ref: Tensor) -> float:
        """The largest difference allowed against ``ref``."""
        return self.atol + self.rtol * (ref.detach().abs().max().item() if ref.numel() else 0.0)

    def holds(self, ours: Tensor, ref: Tensor) -> bool:
        """True if ``ours`` is within the bound of ``ref`` (same shape; NaN fails)."""
        return tuple(ours.shape) == tuple(ref.shape) and tensor_diff(ours, ref)[0] <= self.bound(ref)


# Same process, live reference: measured 0 on the exact path, <= 1.4e-6 x max|ref| on the fast path (ViT-B).
SAME_MACHINE = Tolerance(atol=1e-5, rtol=1e-6)
# Recorded on another machine: measured <= 5.6e-7 x max|ref| over 13 CPU settings (about 5 float32 steps,
# eps = 1.19e-7); the bound, 2e-6 x max|ref| (about 17 steps), leaves a factor 3.6 for CPUs not yet seen.
ACROSS_MACHINES = Tolerance(atol=1e-7, rtol=2e-6)

PERTURBATION = 1e-3  # added to one entry of a weight on the reference side by ``perturb=`` (to watch a failure)


@dataclass
class StageResult:
    stage: str
    shape: list[int] | str  # tensor shape, or a short description ("12 tensors")
    max_abs: float | None  # None where not a float comparison (masking)
    max_rel: float | None
    passed: bool
    detail: str = ""
    tolerance: float | None = None  # atol + rtol * max |reference|

    def to_dict(self) -> dict:
        return asdict(self)


def tensor_diff(ours: Tensor, ref: Tensor) -> tuple[float, float]:
    """``(max |ours - ref|, that / max |ref|)`` computed in float64."""
    a, b = ours.detach().double(), ref.detach().double()
    max_abs = (a - b).abs().max().item() if a.numel() else 0.0
    scale = b.abs().max().item() if b.numel() else 0.0
    return max_abs, (max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")))


def compare_tensor(stage: str, ours: Tensor, ref: Tensor, atol: float, rtol: float = 0.0) -> StageResult:
    """One row: shapes must agree, then ``max_abs <= atol + rtol * max |ref|`` (NaN fails)."""
    if tuple(ours.shape) != tuple(ref.shape):
        return StageResult(stage, list(ours.shape), None, None, False,
                           f"shape {tuple(ours.shape)} (ours) vs {tuple(ref.shape)} (reference)")
    max_abs, max_rel = tensor_diff(ours, ref)
    tolerance = atol + rtol * (ref.detach().abs().max().item() if ref.numel() else 0.0)
    passed = max_abs <= tolerance  # False for NaN
    return StageResult(stage, list(ours.shape), max_abs, max_rel, passed,
                       "" if passed else f"above tolerance {tolerance:.2e}", tolerance)


def compare_masking(ours_mask: Tensor, ref_mask: Tensor, ours_restore: Tensor, ref_restore: Tensor) -> StageResult:
    """mask and ids_restore must be identical, element for element."""
    problems = []
    for name, a, b in (("mask", ours_mask, ref_mask), ("ids_restore", ours_restore, ref_restore)):
        if a.shape != b.shape:
            problems.append(f"{name} shape {tuple(a.shape)} vs {tuple(b.shape)}")
        elif not torch.equal(a.to(b.dtype), b):
            problems.append(f"{name}: {int((a.to(b.dtype) != b).sum())} of {b.numel()} entries differ")
    detail = "; ".join(problems) or "mask and ids_restore identical"
    return StageResult("masking", list(ours_mask.shape), None, None, not problems, detail)


@contextlib.contextmanager
def recording(stages: Mapping[str, nn.Module]) -> Iterator[dict[str, Tensor]]:
    """Forward hooks that store each stage module's output (first element of a tuple), detached copies."""
    outputs: dict[str, Tensor] = {}

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            outputs[name] = out.detach().clone()
        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in stages.items()]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def grad_group(official_key: str) -> str:
    """The row a parameter's gradient is reported under, in the stage vocabulary."""
    m = re.match(r"(decoder_)?blocks\.(\d+)\.", official_key)
    if m:
        return f"{'decoder' if m.group(1) else 'encoder'}.blocks.{m.group(2)}"
    head = official_key.split(".")[0]
    return {"norm": "latent (encoder.norm)", "decoder_embed": "decoder.embed", "decoder_norm": "decoder.norm",
            "decoder_pred": "decoder.pred"}.get(head, head)


def _our_grads(model: MaskedAutoencoderViT) -> dict[str, Tensor]:
    return {checkpoint.our_key_to_official(n): p.grad for n, p in model.named_parameters() if p.grad is not None}


def compare_gradients(ours: Mapping[str, Tensor], ref: Mapping[str, Tensor], atol: float, rtol: float,
                      order: list[str]) -> tuple[list[StageResult], list[dict]]:
    """Per-parameter gradient differences, and one row per module group (the worst parameter in it)."""
    per_param: list[dict] = []
    groups: dict[str, list[dict]] = {}
    for key in order:
        if key not in ours and key not in ref:
            continue  # a fixed parameter (the sin-cos tables): no gradient on either side
        if key not in ours or key not in ref:
            entry = {"name": key, "max_abs": None, "max_rel": None, "passed": False,
                     "detail": "gradient on one side only"}
        else:
            row = compare_tensor(key, ours[key], ref[key], atol, rtol)
            entry = {"name": key, "max_abs": row.max_abs, "max_rel": row.max_rel, "passed": row.passed,
                     "detail": row.detail}
        per_param.append(entry)
        groups.setdefault(grad_group(key), []).append(entry)
    rows = []
    for group, entries in groups.items():
        worst = max(entries, key=lambda e: float("inf") if e["max_abs"] is None else e["max_abs"])
        failing = [e["name"] for e in entries if not e["passed"]]
        detail = f"first failing: {failing[0]}" if failing else f"worst: {worst['name']}"
        rel = max((e["max_rel"] for e in entries if e["max_rel"] is not None), default=None)
        rows.append(StageResult(f"grad {group}", f"{len(entries)} tensors", worst["max_abs"], rel, not failing, detail))
    return rows, per_param


def compare_models(model: MaskedAutoencoderViT, reference: Reference, imgs: Tensor, noise: Tensor,
                   mask_ratio: float = 0.75, *, atol: float = SAME_MACHINE.atol, rtol: float = SAME_MACHINE.rtol,
                   grad: bool = False) -> dict:
    """Run both models on the same input and noise; compare every stage.

    Args:
        model: our model, already holding the weights the reference got.
        reference: a loaded :class:`~official_mae.reference.Reference`.
        imgs: (B, C, H, W).
        noise: (B, L) masking noise given to both.
        mask_ratio: fraction of patches removed.
        atol: the largest absolute difference a tensor row may show ...
        rtol: ... plus this fraction of the reference's largest magnitude in that row.
        grad: also compare the gradient of every parameter after ``loss.backward()``.

    Returns:
        ``{"stages": [row dicts], "passed", "first_failure", "loss": {"ours", "reference"},
        "gradients": [per-parameter dicts] (with grad)}``.
    """
    ours_stages, ref_stages = our_stage_modules(model), reference.stage_modules()
    missing = [s for s in ours_stages if s not in ref_stages]
    if missing:
        raise ValueError(f"the {reference.kind} reference lacks the stages {missing[:4]}: the models have "
                         "different depths")
    from mae_core.masking import num_visible

    nothing_masked = num_visible(noise.shape[1], mask_ratio) == noise.shape[1]  # no masked patch: no loss
    grad = grad and not nothing_masked
    context = contextlib.nullcontext() if grad else torch.no_grad()
    with context:
        with recording(ours_stages) as ours_out:
            latent, mask, ids_restore = model.forward_encoder(imgs, mask_ratio, noise)
            pred = model.forward_decoder(latent, ids_restore)
            loss = model.forward_loss(imgs, pred, mask)
        with recording(ref_stages) as ref_out:
            ref = reference.run(imgs, mask_ratio, noise)
        if grad:
            for p in [*model.parameters(), *reference.model.parameters()]:
                p.grad = None
            loss.backward()
            ref.loss.backward()

    rows: list[StageResult] = []

    def stage(name: str, ours_t: Tensor | None, ref_t: Tensor | None) -> None:
        if ours_t is None or ref_t is None:
            rows.append(StageResult(name, "-", None, None, False, "not produced by " +
                                    ("our model" if ours_t is None else f"the {reference.kind} reference")))
        else:
            rows.append(compare_tensor(name, ours_t, ref_t, atol, rtol))

    stage("patch_embed", ours_out.get("patch_embed"), ref_out.get("patch_embed"))
    rows.append(compare_masking(mask, ref.mask, ids_restore, ref.ids_restore))
    for name in ours_stages:
        if name.startswith("encoder.blocks."):
            stage(name, ours_out.get(name), ref_out.get(name))
    stage("latent", latent, ref.latent)
    for name in ours_stages:
        if name.startswith("decoder."):
            stage(name, ours_out.get(name), ref_out.get(name))
    stage("pred", pred, ref.pred)
    if nothing_masked:  # a mean over no patch: NaN on both sides, which is no disagreement
        rows.append(StageResult("loss", "scalar", None, None, True, "undefined: no masked patches"))
    else:
        stage("loss", loss, ref.loss)

    result: dict = {}
    if grad:
        order = list(model.official_state_dict())
        grad_rows, per_param = compare_gradients(_our_grads(model), reference.official_grads(), atol, rtol, order)
        rows.extend(grad_rows)
        result["gradients"] = per_param
        for p in [*model.parameters(), *reference.model.parameters()]:
            p.grad = None  # free the memory

    first = next((r.stage for r in rows if not r.passed), None)
    result.update({
        "stages": [r.to_dict() for r in rows],
        "passed": first is None,
        "first_failure": first,
        "loss": {"ours": None if nothing_masked else float(loss.detach()),
                 "reference": None if nothing_masked else float(ref.loss.detach())},
    })
    return result


def compare_prepared(prep: Any, *, reference: str = "auto", official_src: str | None = None,
                     atol: float = SAME_MACHINE.atol, rtol: float = SAME_MACHINE.rtol, grad: bool = False,
                     perturb: str | None = None) -> dict:
    """:func:`compare_official` on the inputs :func:`mae_core.views.prepare.prepare` built (our model, the
    images, the masking noise, the reconstruction target), with what was compared added to the report."""
    from mae_core.views.sizes import size_text

    plan = prep.plan
    data = compare_official(prep.variant, prep.imgs, weights=prep.loaded, reference=reference,
                            official_src=official_src, seed=prep.seed, mask_ratio=plan.mask_ratio, atol=atol,
                            rtol=rtol, grad=grad, norm_pix_loss=prep.norm_pix_loss, perturb=perturb,
                            device=prep.imgs.device, overrides=prep.overrides, noise=plan.noise, model=prep.model)
    data.update(images=prep.inputs, norm_pix_loss_from=prep.norm_pix_loss_from, size=size_text(prep.config),
                mask_strategy=plan.strategy, notes=data["notes"] + plan.notes)
    return data


def check_comparable(variant: str, kind: str, grid: tuple[int, int], perturb: str | None = None) -> None:
    """Refuse, before any reference is built, a ``perturb`` that names no parameter of ``variant`` and a
    non-square patch grid for the official code (its position table is square only): a
    :class:`~mae_core.errors.SettingError` naming the argument."""
    from mae_core.errors import SettingError
    from mae_core.loading.weights import official_shapes

    if perturb is not None and perturb not in official_shapes(variant):
        near = [k for k in official_shapes(variant) if perturb.split(".")[0] in k][:3] or ["blocks.0.attn.qkv.weight"]
        raise SettingError("perturb", f"not a parameter of {variant}; use an official name such as "
                           + ", ".join(near), given=repr(perturb))
    if kind == "official" and grid[0] != grid[1]:
        raise SettingError("reference", f"the official models_mae.py builds its position table for a square patch "
                           f"grid only, not {grid[0]}x{grid[1]}; compare a non-square size with the timm reference")


def make_noise(batch: int, num_patches: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """The masking noise both models get: uniform [0, 1), (B, L), from its own seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, num_patches, generator=g).to(device)


def perturbed(state_dict: Mapping[str, Tensor], key: str | None) -> dict[str, Tensor]:
    """A copy of the mapping in which ``key`` (if given) is a new tensor whose first entry has
    :data:`PERTURBATION` added. One entry, not all: a constant added to every channel of a residual
    stream is mostly removed by the next LayerNorm, so it would hide from the output."""
    sd = dict(state_dict)
    if key is None:
        return sd
    if key not in sd:
        near = [k for k in sd if key.split(".")[0] in k][:4] or list(sd)[:4]
        raise KeyError(f"--perturb {key!r} is not an official parameter name; e.g. {', '.join(near)}")
    changed = sd[key].detach().clone()
    changed.view(-1)[0] += PERTURBATION
    sd[key] = changed
    return sd


def compare_official(variant: str, imgs: Tensor, *, weights: LoadedWeights | None = None, reference: str = "auto",
                     official_src: str | None = None, seed: int = 0, mask_ratio: float = 0.75,
                     atol: float = SAME_MACHINE.atol, rtol: float = SAME_MACHINE.rtol, grad: bool = False,
                     norm_pix_loss: bool | None = None,
                     perturb: str | None = None, device: torch.device | str = "cpu", overrides: dict | None = None,
                     noise: Tensor | None = None, model: MaskedAutoencoderViT | None = None) -> dict:
    """Our ``variant`` against a reference, on identical weights, images and noise (the service behind
    ``mae compare-official``).

    Args:
        variant: registry name.
        imgs: (B, C, H, W) at the variant's image size.
        weights: a :class:`mae_core.loading.weights.LoadedWeights`, or None for our seeded initialisation.
        reference: ``auto``, ``official``, ``timm`` or ``hf``.
        official_src: the official source directory (else ``$MAE_OFFICIAL_SRC``).
        seed: initialisation seed (also the decoder of an encoder-only file) and masking-noise seed.
        mask_ratio, atol, rtol, grad: see :func:`compare_models`.
        norm_pix_loss: loss on per-patch normalised pixels; None: what the weights file states, else off.
        perturb: an official parameter name whose first entry is offset by :data:`PERTURBATION` on the
            reference side only.
        device: where both models run.
        overrides: config fields changed on the variant for both models (``img_size=448``, ``in_chans=1``);
            the reference is built at that size by its own code; 224-px weights get regenerated tables.
        noise: (B, L) masking noise for both (a mask strategy's); ``None``: :func:`make_noise` of ``seed``.
        model: ours, already built from ``weights`` at that size and target (what
            :func:`mae_core.views.prepare.prepare` returns); ``None``: built here the same way.

    Returns:
        :func:`compare_models`'s dict plus what was compared (variant, reference, weights, notes, ...).
    """
    from mae_core.models import get_variant
    from mae_core.loading.weights import build_model

    from . import build_reference

    v = get_variant(variant)
    overrides = dict(overrides or {})
    if norm_pix_loss is None:
        norm_pix_loss = bool(weights.hints.get("norm_pix_loss")) if weights is not None else False
    config = v.config.replace(norm_pix_loss=norm_pix_loss, **overrides)
    notes = list(weights.notes) if weights is not None else []
    if weights is not None and not weights.has_decoder:
        notes.append(f"the reference gets the same decoder weights (initialised from seed {seed})")

    if model is None:
        model = build_model(v.name, weights, device=device, seed=seed, norm_pix_loss=norm_pix_loss, **overrides)
    model = model.eval()
    notes.extend(model.pos_embed_notes)
    ref = build_reference(reference, config, official_src=official_src, device=device)
    ref.load_official_state_dict(perturbed(model.official_state_dict(), perturb))
    if perturb:
        notes.append(f"first entry of {perturb} offset by {PERTURBATION:g} on the reference side only (--perturb)")

    noise = make_noise(imgs.shape[0], config.num_patches, seed, device) if noise is None else noise.to(device)
    result = compare_models(model, ref, imgs.to(device), noise, mask_ratio, atol=atol, rtol=rtol, grad=grad)
    return {
        "variant": v.name,
        "title": v.title,
        "reference": ref.kind,
        "reference_detail": ref.detail,
        "weights": weights.path if weights is not None else f"seeded initialisation (seed {seed})",
        "norm_pix_loss": norm_pix_loss,
        "batch": int(imgs.shape[0]),
        "seed": seed,
        "mask_ratio": mask_ratio,
        "img_size": config.to_dict()["img_size"],
        "in_chans": config.in_chans,
        "atol": atol,
        "rtol": rtol,
        "grad": grad,
        "notes": notes,
        **result,
    }
