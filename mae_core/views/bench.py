"""Timing MAE forward (and forward + backward) passes fairly, against the machine's own matmul speed.

Paper: MAE abstract and Sec. 3 (an encoder on the visible patches only lets us "accelerate training (by
3x or more)") and Table 2 (wall-clock speedup of dropping mask tokens from the encoder: 2.8x to 4.1x).
This module measures that kind of claim on the machine at hand.

Shapes: every competitor gets the same imgs (B, C, H, W) and noise (B, L) and returns
``(loss, pred, mask, ...)`` with pred (B, L, p*p*C).

How the timing is kept fair on a noisy, shared machine:
    * one process, one set of inputs, the same thread count for every competitor;
    * warm-up runs first (allocator, kernel selection, lazy initialisation), never timed;
    * then ``runs`` rounds; each round runs every competitor once, in an order that rotates from round
      to round, so a slow spell of the machine hits all of them alike;
    * the median of the runs is the result, with the interquartile range and min / max as its spread;
    * achieved GFLOP/s (FLOPs from :mod:`mae_core.views.flops`) as a share of the GFLOP/s of one large
      matrix product of the same dtype, measured in the same process before and after the timing, the
      better of the two (:func:`matmul_gflops`).

:func:`bench_report` is the whole ``mae bench``: it seeds and builds our model, the competitors (exact
and fast path, the Table 2 baseline, ``torch.compile``, references through an injected loader so that
this package never imports ``official_mae``), checks what each one computes against our float32 output,
times them with :func:`benchmark` and returns plain data.

Performance claims name their machine: :func:`cpu_info` (model, the instruction-set flags that decide
which kernels run, the ATen and oneDNN settings of this process) goes with every report, and
:func:`dtype_support` says whether a low-precision dtype runs natively here or emulated in ATen's generic
loops (a CPU without AVX-512 / AMX for oneDNN: hundreds of times slower, said up front on stderr).
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

from ..errors import SettingError
from .forward import dtype_name

log = logging.getLogger("mae_core.views.bench")  # notes for people; stderr by logging's default
Mode = Literal["forward", "train"]
MATMUL_SIZE = 2048  # the side of the matmul whose speed is this machine's ceiling (:func:`matmul_gflops`)
ForwardFn = Callable[[Tensor, float, Tensor], Sequence[Tensor]]  # (imgs, mask_ratio, noise) -> (loss, pred, ...)


@dataclass
class Competitor:
    """One implementation to time.

    Args:
        name: label in the report ("ours", "timm", "hf", ...).
        forward: ``forward(imgs, mask_ratio, noise)`` returning ``(loss, pred, mask, ...)``.
        module: the ``nn.Module`` whose gradients a training step clears.
        dtype: the dtype its inputs are cast to (its weights must already have it, unless ``autocast``).
        autocast: run under ``torch.autocast`` to ``dtype`` with float32 weights instead.
        flops_per_image: FLOPs of one forward (or forward + backward in train mode), for GFLOP/s.
        note: one line for people (library, version, attention backend, ...).
    """

    name: str
    forward: ForwardFn
    module: nn.Module
    dtype: torch.dtype = torch.float32
    autocast: bool = False
    flops_per_image: int | None = None
    note: str = ""


def _precision(c: Competitor, device: torch.device):
    """The autocast context of a competitor (a no-op unless it asks for autocast)."""
    return torch.autocast(device_type=device.type, dtype=c.dtype) if c.autocast else nullcontext()


def make_step(c: Competitor, imgs: Tensor, noise: Tensor, mask_ratio: float, mode: Mode) -> Callable[[], Tensor]:
    """A closure running one forward (under ``inference_mode``) or one forward + backward; returns the loss.

    On CUDA the step waits for the GPU before returning, so that timing it times the work.
    """
    x = imgs if c.autocast else imgs.to(c.dtype)
    sync = torch.cuda.synchronize if imgs.device.type == "cuda" else (lambda: None)

    def forward_step() -> Tensor:
        with torch.inference_mode(), _precision(c, imgs.device):
            loss = c.forward(x, mask_ratio, noise)[0]
        sync()
        return loss

    def train_step() -> Tensor:
        c.module.zero_grad(set_to_none=True)
        with _precision(c, imgs.device):
            loss = c.forward(x, mask_ratio, noise)[0]
        loss.backward()
        sync()
        return loss

    return forward_step if mode == "forward" else train_step


def evaluate(c: Competitor, imgs: Tensor, noise: Tensor, mask_ratio: float) -> tuple[Tensor, Tensor]:
    """One untimed forward: (loss, pred) in float32, to compare what competitors compute."""
    with torch.inference_mode(), _precision(c, imgs.device):
        out = c.forward(imgs if c.autocast else imgs.to(c.dtype), mask_ratio, noise)
    return out[0].float(), out[1].float()


def time_rounds(steps: dict[str, Callable[[], Any]], *, warmup: int, runs: int,
                on_round: Callable[[int], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each step, measured in alternating rounds.

    Args:
        steps: name -> a closure doing one unit of work.
        warmup: untimed rounds first (at least 1 is wise: the first call pays one-off costs).
        runs: timed rounds; every step runs once per round, the order rotating by one each round.
        on_round: called with the round number after every timed round (progress display).

    Returns:
        name -> ``runs`` durations in seconds, in the order they were taken.
    """
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
        if on_round:
            on_round(r + 1)
    return times


def timed_first_call(step: Callable[[], Any]) -> float:
    """Seconds of one call (used for the one-off cost of ``torch.compile``)."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


@dataclass
class Summary:
    """Median and spread of a list of durations (seconds)."""

    median: float
    q1: float  # 25th percentile
    q3: float  # 75th percentile
    min: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Summary":
        s = sorted(seconds)
        if len(s) >= 2:
            q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive")
        else:
            q1 = q3 = s[0]
        return cls(statistics.median(s), q1, q3, s[0], s[-1])

    @property
    def spread(self) -> float:
        """Interquartile range over the median: 0.05 means the middle half of the runs span 5 % of the median."""
        return (self.q3 - self.q1) / self.median if self.median else 0.0


def matmul_gflops(dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu", size: int = MATMUL_SIZE,
                  runs: int = 7) -> float:
    """GFLOP/s of a (size x size) @ (size x size) product: the ceiling a model of that dtype can approach.

    Measured now, in this process, with its threads: the fastest of ``runs`` products after two warm-up
    ones (the fastest, not the median, because this estimates what the machine can do; a busy spell of a
    shared machine only ever slows a product down), by ``torch.mm`` and, on CPU, also by the oneDNN
    product of the fast path (``mae_core.kernels.linear``), whichever is faster.
    """
    from ..kernels.linear import _onednn_product, onednn_applies

    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)

    def product() -> None:
        a @ b
        sync()

    products = {"torch.mm": product}
    if onednn_applies(a, b):
        products["oneDNN"] = lambda: _onednn_product(a, b, None)  # a @ b^T: the same work
    seconds = time_rounds(products, warmup=2 if runs > 2 else 1, runs=runs)
    return 2 * size**3 / min(min(s) for s in seconds.values()) / 1e9


@dataclass
class Result:
    """One competitor's timing, with what it means."""

    name: str
    dtype: str
    autocast: bool
    batch: int
    seconds: list[float]
    flops_per_image: int | None
    matmul_gflops: float | None  # the machine's matmul speed for this dtype, same process
    note: str = ""
    summary: Summary = field(init=False)

    def __post_init__(self) -> None:
        self.summary = Summary.of(self.seconds)

    @property
    def images_per_s(self) -> float:
        return self.batch / self.summary.median

    @property
    def gflops_per_s(self) -> float | None:
        if self.flops_per_image is None:
            return None
        return self.flops_per_image * self.batch / self.summary.median / 1e9

    @property
    def share_of_matmul(self) -> float | None:
        g = self.gflops_per_s
        return g / self.matmul_gflops if g is not None and self.matmul_gflops else None

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "name": self.name, "dtype": self.dtype, "autocast": self.autocast, "note": self.note,
            "median_s": s.median, "q1_s": s.q1, "q3_s": s.q3, "min_s": s.min, "max_s": s.max,
            "spread": s.spread, "images_per_s": self.images_per_s, "gflops_per_s": self.gflops_per_s,
            "share_of_matmul": self.share_of_matmul, "seconds": self.seconds,
        }


def max_abs_diff(a: Tensor, b: Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def benchmark(competitors: Sequence[Competitor], imgs: Tensor, noise: Tensor, *, mask_ratio: float = 0.75,
              mode: Mode = "forward", warmup: int = 2, runs: int = 10,
              on_round: Callable[[int], None] | None = None) -> list[Result]:
    """Time every competitor on the same inputs, alternating; the first one is "ours" for the ratios.

    Args:
        competitors: what to time (see :class:`Competitor`).
        imgs: (B, C, H, W) float32 images (cast per competitor).
        noise: (B, L) masking noise, shared, so every competitor does the same work.
        mask_ratio: fraction of patches removed.
        mode: ``"forward"`` (no autograd) or ``"train"`` (forward + backward, gradients cleared each step).
        warmup: untimed rounds.
        runs: timed rounds.
        on_round: progress callback.
    """
    # The ceiling of each dtype that runs natively (an emulated one has none worth the name: seconds per product).
    dtypes = [d for d in dict.fromkeys(c.dtype for c in competitors) if dtype_support(d, imgs.device)["native"]]
    before = {d: matmul_gflops(d, imgs.device) for d in dtypes}
    steps = {c.name: make_step(c, imgs, noise, mask_ratio, mode) for c in competitors}
    times = time_rounds(steps, warmup=warmup, runs=runs, on_round=on_round)
    peaks = {d: max(before[d], matmul_gflops(d, imgs.device)) for d in dtypes}  # the machine's best, either side
    return [Result(c.name, dtype_name(c.dtype), c.autocast, imgs.shape[0], times[c.name], c.flops_per_image,
                   peaks.get(c.dtype), c.note) for c in competitors]


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


# --- the machine ---------------------------------------------------------------------------------

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")  # what picks the kernels
CPU_SETTINGS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
                "OMP_NUM_THREADS")  # environment variables that change them


def _proc_cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (Linux), or {} where there is none."""
    from ..errors import MAEError
    from ..io.files import read_bounded

    try:
        text = read_bounded("/proc/cpuinfo", 16 << 20, "CPU description").decode("utf-8", "replace")
    except MAEError:
        return {}
    entries: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            entries[key.strip()] = value.strip()
    return entries


def cpu_info() -> dict[str, Any]:
    """The CPU a measurement ran on: model name, the flags of :data:`CPU_FLAGS` it has, what ATen dispatches
    to (``torch.backends.cpu.get_cpu_capability``), whether oneDNN computes bfloat16 / float16 here, and the
    :data:`CPU_SETTINGS` set in this process's environment."""
    from ..kernels.linear import onednn_available

    info = _proc_cpuinfo()
    flags = set(info.get("flags", "").split())
    model = info.get("model name") or platform.processor() or platform.machine()
    if info.get("cpu family") and info.get("model"):
        model += f" (family {info['cpu family']}, model {info['model']})"
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        capability = None
    return {"model": model, "flags": [f for f in CPU_FLAGS if f in flags], "aten_capability": capability,
            "onednn_bfloat16": onednn_available(torch.bfloat16), "onednn_float16": onednn_available(torch.float16),
            "settings": {k: os.environ[k] for k in CPU_SETTINGS if k in os.environ}}


def describe_cpu(cpu: dict[str, Any]) -> str:
    """One line for people: model, flags, ATen capability, settings."""
    settings = " ".join(f"{k}={v}" for k, v in cpu["settings"].items())
    return (f"{cpu['model']}; flags: {', '.join(cpu['flags']) or 'none of ' + ', '.join(CPU_FLAGS)}; "
            f"ATen {cpu['aten_capability']}" + (f"; {settings}" if settings else ""))


def dtype_support(dtype: torch.dtype, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Whether ``dtype`` products run natively on ``device`` or emulated.

    On CPU, PyTorch sends bfloat16 / float16 products to oneDNN where oneDNN supports the dtype here
    (AVX-512 or AMX available to it); elsewhere ATen computes them in generic loops that convert every
    element, hundreds of times slower than float32: "emulated". float32 and every CUDA dtype are native.

    Returns:
        ``{"dtype", "native": bool, "detail": one line}``.
    """
    from ..kernels.linear import onednn_support

    name = dtype_name(dtype)
    if torch.device(device).type != "cpu" or dtype == torch.float32:
        return {"dtype": name, "native": True, "detail": f"{name}: native"}
    ok, why = onednn_support(dtype)
    if ok:
        return {"dtype": name, "native": True, "detail": f"{name}: native (oneDNN)"}
    return {"dtype": name, "native": False,
            "detail": f"{name} runs emulated here: {why}; ATen computes its products in generic loops, "
                      "far slower than float32"}


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
