"""The whole ``mae bench``: our model and its competitors, what each computes, timed fairly.

Paper: MAE Table 2 (wall-clock speedup of dropping mask tokens from the encoder) and Table 1c (the
baseline with mask tokens in the encoder). :func:`bench_report` seeds and builds our model, the
competitors (exact and fast path, the Table 2 baseline, ``torch.compile``, references through an
injected loader so that this package never imports ``official_mae``), checks what each one computes
against our float32 output, times them with :func:`mae_core.views.timing.benchmark` and returns plain
data, with the machine it ran on (:mod:`mae_core.views.machine`).

Shapes: every competitor gets the same imgs (B, C, H, W) and noise (B, L) and returns
``(loss, pred, mask, ...)`` with pred (B, L, p*p*C).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from ..errors import SettingError
from .forward import dtype_name
from .machine import cpu_info, dtype_support
from .timing import (MATMUL_SIZE, Competitor, Mode, Result, benchmark, evaluate, make_step, matmul_gflops, max_abs_diff,
                     timed_first_call)

log = logging.getLogger("mae_core.views.bench")  # notes for people; stderr by logging's default


# --- the whole `mae bench`: competitors, accuracy, timing, report ----------------------------------

REFERENCE_KINDS = ("timm", "hf", "official")
OURS, OURS_FAST, OURS_COMPILED = "ours", "ours+fast", "ours+compile"
BASELINE = "[M] in encoder"  # the Table 1c/2 baseline
PATHS = ("exact", "fast", "both")


class LoadedReference(Protocol):
    """What a reference loader returns (``official_mae.Reference`` is one)."""

    model: nn.Module
    detail: str

    def forward(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> Sequence[Tensor]: ...


# (kind, registry name, official-layout state dict, device) -> a reference sharing those weights
ReferenceLoader = Callable[[str, str, Mapping[str, Tensor], torch.device], LoadedReference]
Stage = Callable[[str], AbstractContextManager]  # a progress display around a slow step, given its description


@dataclass
class Setup:
    """What every competitor shares: the model's float32 weights, the inputs, the float32 yardstick."""

    name: str
    title: str
    model: Any  # our MaskedAutoencoderViT, float32 until the competitors are built
    imgs: Tensor  # (B, C, H, W)
    noise: Tensor  # (B, L)
    exact_loss: Tensor
    exact_pred: Tensor  # (B, L, p*p*C), our float32 exact-path output: what every error is measured against


def _quiet(_: str) -> AbstractContextManager:
    return nullcontext()


def check_settings(mode: str, warmup: int, runs: int, threads: int | None, references: Sequence[str],
                   path: str, batch: int) -> list[str]:
    """Validate the settings of :func:`bench_report`; returns the reference kinds, lower-case, once each."""
    if mode not in ("forward", "train"):
        raise SettingError("mode", f"{mode!r} is not a mode; use forward or train")
    if path not in PATHS:
        raise SettingError("path", f"{path!r} is not a path; use exact, fast or both")
    if batch < 1:
        raise SettingError("batch", f"must be at least 1, got {batch}")
    if warmup < 0:
        raise SettingError("warmup", f"must be 0 or more, got {warmup}")
    if runs < 1:
        raise SettingError("runs", f"must be at least 1, got {runs}")
    if threads is not None and threads < 1:
        raise SettingError("threads", f"must be at least 1, got {threads}")
    kinds = []
    for kind in references:
        kind = kind.strip().lower()
        if kind not in REFERENCE_KINDS:
            raise SettingError("reference", f"{kind!r} is not a reference; use one of {', '.join(REFERENCE_KINDS)}")
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def check_bench_fits(variant: str, batch: int, mode: str, mask_ratio: float, *, dtype: torch.dtype,
                     device: torch.device | str, autocast: bool = False) -> None:
    """Refuse (:class:`~mae_core.errors.MemoryBudgetError`), before anything is allocated, a bench step whose
    estimated memory exceeds what ``device`` has free; a mask ratio that keeps no patch is refused first. A bad
    batch or mode is left to :func:`check_settings` (called by :func:`bench_report`), which names it."""
    from ..models import get_variant
    from .memory_budget import check_fits
    from .sizes import check_mask_ratio

    if not isinstance(batch, int) or batch < 1 or mode not in ("forward", "train"):
        return
    spec = get_variant(variant)
    check_mask_ratio(mask_ratio, spec.config.num_patches)
    step = "train" if mode == "train" else "inference"
    check_fits(spec.config, batch, mask_ratio, what=f"a {spec.title} {step} step", dtype=dtype, device=device,
               mode=step, amp=autocast)


def step_flops(cfg, mask_ratio: float, mode: Mode, baseline: bool = False) -> int:
    """FLOPs per image of one step (closed form, :mod:`mae_core.views.flops`)."""
    from .flops import closed_form_macs

    key = {("forward", False): "total", ("train", False): "train",
           ("forward", True): "baseline_total", ("train", True): "baseline_train"}[mode, baseline]
    return 2 * closed_form_macs(cfg, mask_ratio)[key]


def make_setup(variant: str, batch: int, mode: Mode, mask_ratio: float, device: torch.device, seed: int,
               stage: Stage = _quiet) -> Setup:
    """Our seeded model, seeded images and noise, and our float32 output on them."""
    from ..masking import num_visible
    from ..models import create_model, get_variant

    spec = get_variant(variant)
    cfg = spec.config
    try:
        num_visible(cfg.num_patches, mask_ratio)
    except ValueError as exc:
        raise SettingError("mask_ratio", str(exc)) from None
    with stage(f"building {spec.title}"):
        torch.manual_seed(seed)
        model = create_model(spec.name, device=device)
        model.train(mode == "train")
        gen = torch.Generator().manual_seed(seed)
        imgs = torch.randn(batch, cfg.in_chans, *cfg.image_hw, generator=gen).to(device)
        noise = torch.rand(batch, cfg.num_patches, generator=gen).to(device)
        with torch.inference_mode():
            loss, pred, _ = model(imgs, mask_ratio, noise)
    return Setup(spec.name, spec.title, model, imgs, noise, loss, pred)


def _cast(module: nn.Module, dtype: torch.dtype, autocast: bool) -> nn.Module:
    """Native low precision: the module's weights cast to ``dtype`` (autocast keeps them float32)."""
    return module if dtype == torch.float32 or autocast else module.to(dtype)


def _shares_weights(model: nn.Module) -> nn.Module:
    """A second copy of ``model``'s modules over the same Parameter objects (its own per-layer switches)."""
    memo = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return copy.deepcopy(model, memo)


def reference_competitor(kind: str, setup: Setup, load: ReferenceLoader, dtype: torch.dtype, autocast: bool,
                         mode: Mode, mask_ratio: float, stage: Stage = _quiet) -> Competitor:
    """The reference ``kind`` over our float32 weights (aliases, no copies), cast to ``dtype``."""
    with stage(f"building the {kind} reference"):
        ref = load(kind, setup.name, setup.model.official_state_dict(), setup.imgs.device)
    _cast(ref.model, dtype, autocast).train(mode == "train")
    return Competitor(kind, ref.forward, ref.model, dtype, autocast and dtype != torch.float32,
                      step_flops(setup.model.config, mask_ratio, mode), ref.detail)


def our_competitors(setup: Setup, path: str, dtype: torch.dtype, autocast: bool, mode: Mode, mask_ratio: float,
                    mask_tokens_in_encoder: bool, compile_model: bool,
                    stage: Stage = _quiet) -> tuple[list[Competitor], list[str], float | None]:
    """ours (exact path) and/or ours+fast, then the [M] baseline and ours+compile when asked.

    Returns the competitors, notes for people, and the one-off seconds of ``torch.compile`` (or None).
    """
    from ..kernels.fast_path import use_fast_path
    from .baseline import MaskTokensInEncoder

    model = _cast(setup.model, dtype, autocast)
    low = autocast and dtype != torch.float32
    cfg = model.config
    flops = step_flops(cfg, mask_ratio, mode)
    ours = []
    if path in ("exact", "both"):
        ours.append(Competitor(OURS, model, model, dtype, low, flops, "mae_core, exact path (F.linear)"))
    if path in ("fast", "both"):
        fast = use_fast_path(_shares_weights(model) if path == "both" else model)
        ours.append(Competitor(OURS_FAST, fast, fast, dtype, low, flops, "mae_core, fast path (oneDNN products)"))
    main = ours[-1]  # the fastest of ours we time: the baseline runs on the same path
    if mask_tokens_in_encoder:
        baseline = _cast(MaskTokensInEncoder(main.module).to(setup.imgs.device), dtype, autocast)
        baseline_flops = step_flops(cfg, mask_ratio, mode, baseline=True)
        ours.append(Competitor(BASELINE, baseline, baseline, dtype, low, baseline_flops,
                               f"Table 1c/2 baseline: encoder on every token, with [M] ({main.name}'s path)"))
    notes: list[str] = []
    compile_seconds = None
    if compile_model:
        compiled = torch.compile(model)
        c = Competitor(OURS_COMPILED, compiled, model, dtype, low, flops, "mae_core, torch.compile")
        with stage("compiling (torch.compile; the first call pays for it)"):
            compile_seconds = timed_first_call(make_step(c, setup.imgs, setup.noise, mask_ratio, mode))
        ours.append(c)
        notes.append(f"torch.compile: the first call took {compile_seconds:.1f} s (compiling), not in the timings")
    return ours, notes, compile_seconds


def accuracy(competitors: Sequence[Competitor], setup: Setup, mask_ratio: float) -> dict[str, dict[str, float]]:
    """What each competitor computes, against our float32 exact output on the same inputs."""
    result = {}
    for c in competitors:
        if c.name != BASELINE:  # the baseline computes another function (and its [M] token is untrained)
            loss, pred = evaluate(c, setup.imgs, setup.noise, mask_ratio)
            result[c.name] = {"pred_max_abs_diff": max_abs_diff(pred, setup.exact_pred),
                              "loss_abs_diff": abs(loss.item() - setup.exact_loss.item())}
    return result


def machine_info(results: Sequence[Result], dtypes: Sequence[torch.dtype] = (),
                 device: torch.device | str = "cpu") -> dict[str, Any]:
    """This machine as measured in the run: matmul GFLOP/s per dtype, torch version, CPU model, cores, and
    (:func:`cpu_info`, :func:`dtype_support`) the CPU's flags and settings and how each dtype runs here."""
    matmul = {r.dtype: r.matmul_gflops for r in results if r.matmul_gflops is not None}
    cpu = cpu_info()
    supports = [dtype_support(d, device) for d in dict.fromkeys(dtypes)]
    return {"matmul_gflops": matmul, "matmul_size": MATMUL_SIZE, "torch": torch.__version__, "cpu": cpu["model"],
            "cores": os.cpu_count(), "cpu_info": cpu, "dtypes": {s["dtype"]: s for s in supports}}


def emulation_notes(competitors: Sequence[Competitor], setup: Setup, mask_ratio: float, mode: Mode,
                    steps: int) -> list[str]:
    """For each dtype that runs emulated here: a note, said on stderr before the slow part starts (logging's
    default output) and kept for the report. ``steps``: warm-up + timed + accuracy steps per competitor."""
    notes = []
    per_step = step_flops(setup.model.config, mask_ratio, mode) * setup.imgs.shape[0]
    for dtype in dict.fromkeys(c.dtype for c in competitors):
        n = sum(c.dtype == dtype for c in competitors)
        note = emulation_note(dtype, setup.imgs.device, per_step, n * steps)
        if note:
            log.warning("note: %s", note)
            notes.append(note)
    return notes


def bench_report(variant: str, *, batch: int = 1, mode: Mode = "forward", references: Sequence[str] = (),
                 load_reference: ReferenceLoader | None = None, reference_dtype: torch.dtype | None = None,
                 path: str = "both", mask_tokens_in_encoder: bool = False, compile_model: bool = False,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, autocast: bool = False,
                 mask_ratio: float = 0.75, warmup: int = 2, runs: int = 10, threads: int | None = None,
                 seed: int = 0, stage: Stage = _quiet,
                 on_round: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Build the competitors, check what they compute, time them; return the report as plain data.

    Args:
        variant: any registry name.
        batch: images per step.
        mode: ``"forward"`` or ``"train"``.
        references: reference kinds to time beside ours (``timm``, ``hf``, ``official``).
        load_reference: builds a reference over our weights (needed when ``references`` is not empty);
            ``official_mae.load_reference`` fits it (``lambda kind, name, sd, dev: load_reference(kind,
            name, state_dict=sd, device=dev)``).
        reference_dtype: the references' dtype (default ``dtype``).
        path: our model's path, ``"exact"``, ``"fast"`` or ``"both"``.
        mask_tokens_in_encoder: also time the Table 1c/2 baseline and report the MAE's speedup over it.
        compile_model: also time our model under ``torch.compile``.
        device, dtype, autocast: where and in which precision (autocast keeps float32 weights).
        mask_ratio, warmup, runs, threads, seed: as in :func:`benchmark`; ``threads`` sets torch's.
        stage: a progress display around each slow step; ``on_round``: called after each timed round.
    """
    kinds = check_settings(mode, warmup, runs, threads, list(references), path, batch)
    if kinds and load_reference is None:
        raise TypeError("bench_report: references need a load_reference function")
    dev = torch.device(device)
    ref_dtype = reference_dtype or dtype
    if threads is not None:
        torch.set_num_threads(threads)
    setup = make_setup(variant, batch, mode, mask_ratio, dev, seed, stage)

    # References first, while our weights are still float32: they alias them.
    refs = [reference_competitor(kind, setup, load_reference, ref_dtype, autocast, mode, mask_ratio, stage)
            for kind in kinds]
    ours, notes, compile_seconds = our_competitors(setup, path, dtype, autocast, mode, mask_ratio,
                                                   mask_tokens_in_encoder, compile_model, stage)
    competitors = ours + refs
    notes += emulation_notes(competitors, setup, mask_ratio, mode, warmup + runs + 1)
    errors = accuracy(competitors, setup, mask_ratio)

    with stage(f"timing {len(competitors)} competitor(s): {warmup} warm-up + {runs} rounds, alternating"):
        results = benchmark(competitors, setup.imgs, setup.noise, mask_ratio=mask_ratio, mode=mode, warmup=warmup,
                            runs=runs, on_round=on_round)

    by_name = {r.name: r for r in results}
    refs_timed = [r for r in results if r.name in kinds]
    fastest = min(refs_timed, key=lambda r: r.summary.median) if refs_timed else None
    rows = []
    for r in results:
        row = r.to_dict()
        row.update(errors.get(r.name, {"pred_max_abs_diff": None, "loss_abs_diff": None}))
        row["over_fastest_reference"] = r.summary.median / fastest.summary.median if fastest else None
        rows.append(row)
    speedups = {}
    if mask_tokens_in_encoder:  # against ours on the same path as the baseline (the last of ours before it)
        mae = [c.name for c in ours if c.name in (OURS, OURS_FAST)][-1]
        speedups["mae_over_mask_tokens_in_encoder"] = by_name[BASELINE].summary.median / by_name[mae].summary.median
    return {
        "variant": setup.name, "title": setup.title, "batch": batch, "mode": mode, "mask_ratio": mask_ratio,
        "device": str(dev), "dtype": dtype_name(dtype), "reference_dtype": dtype_name(ref_dtype),
        "autocast": autocast, "path": path, "warmup": warmup, "runs": runs, "threads": torch.get_num_threads(),
        "seed": seed, "flops_per_image": step_flops(setup.model.config, mask_ratio, mode),
        "exact_pred_max_abs": setup.exact_pred.abs().max().item(),
        "machine": machine_info(results, [c.dtype for c in competitors], dev), "results": rows,
        "fastest_reference": fastest.name if fastest else None,
        "speedups": speedups, "compile_seconds": compile_seconds, "notes": notes,
    }


def emulation_note(dtype: torch.dtype, device: torch.device | str, flops_per_step: float, steps: int) -> str | None:
    """For an emulated dtype, a note to show before starting: the rate measured now and the time to expect.

    Args:
        dtype, device: what will run.
        flops_per_step: FLOPs of one step of one competitor at the batch size.
        steps: how many such steps the run will take (warm-up, timed, accuracy checks).
    """
    support = dtype_support(dtype, device)
    if support["native"]:
        return None
    gflops = matmul_gflops(dtype, device, size=256, runs=1)
    return (f"{support['detail']}; a small product ran at {gflops:.1f} GFLOP/s now, so expect up to about "
            f"{flops_per_step * steps / gflops / 1e9:.0f} s for the {steps} steps of this run")
