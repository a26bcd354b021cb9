"""Timing MAE forward (and forward + backward) passes fairly, against the machine's own matmul speed.

Paper: MAE abstract and Sec. 3 (an encoder on the visible patches only lets us "accelerate training (by
3x or more)") and Table 2 (wall-clock speedup of dropping mask tokens from the encoder: 2.8x to 4.1x).
This module measures that kind of claim on the machine at hand; :mod:`mae_core.views.bench` builds the
competitors of ``mae bench`` and :mod:`mae_core.views.machine` names the machine.

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
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .forward import dtype_name
from .machine import dtype_support

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
