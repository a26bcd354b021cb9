"""One real forward pass, measured: loss, output statistics, masked fraction, latency and peak memory.

Paper: MAE Sec. 3 (Fig. 1): imgs (B, C, H, W) -> loss (), pred (B, L, p*p*C), mask (B, L), where the
loss is the mean squared error over the removed patches only.

Every figure is measured here, on this machine, at run time:
    * latency: wall time of ``model(imgs, mask_ratio)`` under ``torch.no_grad()`` (CUDA synchronised),
      the median over ``repeat`` runs; images/s = B / latency;
    * peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the process's peak resident set
      size (Linux ``VmHWM``, reset just before the forward through ``/proc/self/clear_refs``), with a
      fallback to ``getrusage`` (the lifetime peak) where ``/proc`` is not available.

Reduced precision uses ``torch.autocast`` (weights stay float32, matmuls run in the lower precision),
the way MAE is trained. ViT-H can overflow to NaN under float16 autocast; the ``finite`` flags show it.
"""

from __future__ import annotations

import contextlib
import math
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class TensorStats:
    finite: bool  # every value finite (no NaN / inf)
    min: float
    max: float
    mean: float


NO_MASKED_PATCHES = "no masked patches: the loss, a mean over the masked patches, is undefined"


@dataclass
class ForwardResult:
    """What one measured forward pass gives (plain numbers)."""

    loss: float
    loss_finite: bool
    pred_shape: list[int]  # (B, L, p*p*C)
    mask_shape: list[int]  # (B, L)
    num_visible: int  # L_keep per sample
    masked_fraction: list[float]  # per sample: removed patches / L
    pred: TensorStats  # statistics of pred, computed in float32
    precision: str  # "float32" or "autocast bfloat16 (weights float32)" ...
    repeat: int
    warmup: int
    latency_s: float  # median wall time of one forward
    latencies_s: list[float]  # every run
    images_per_s: float
    peak_memory_bytes: int | None  # see memory_method
    memory_before_bytes: int | None  # the same measure just before the forward
    memory_method: str
    loss_note: str | None = None  # why there is no loss: "no masked patches" at mask ratio 0

    @property
    def ok(self) -> bool:
        """True when every predicted value is finite, and so is the loss unless it is undefined (with
        nothing masked, the mean over the masked patches has no terms: not a failure)."""
        return self.pred.finite and (self.loss_finite or self.loss_note is not None)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


# --- memory --------------------------------------------------------------------------------------

_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def _proc_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", _PROC_STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


class PeakMemory:
    """Peak memory of the code run between :meth:`start` and :meth:`stop`, and the level before it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.before: int | None = None
        self.peak: int | None = None
        self.method = ""

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
            self.method = "torch.cuda.max_memory_allocated (tensors on the GPU)"
            return
        self.before = _proc_kib("VmRSS")
        try:
            _PROC_CLEAR_REFS.write_text("5")  # Linux: reset the peak RSS (VmHWM) to the current RSS
            self.method = "process peak RSS during the forward (Linux VmHWM, reset before it)"
        except OSError:
            self.method = "process peak RSS since start-up (getrusage: cannot reset the peak here)"

    def stop(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith("process peak RSS during"):
            self.peak = _proc_kib("VmHWM")
        else:
            scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


# --- the forward pass ----------------------------------------------------------------------------

def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``: the one spelling of a dtype in every report."""
    return str(dtype).removeprefix("torch.")


def precision_context(device: torch.device, dtype: torch.dtype) -> tuple[Callable[[], Any], str]:
    """A context factory for the forward pass in ``dtype`` and a description of it."""
    if dtype == torch.float32:
        return contextlib.nullcontext, "float32"
    description = f"autocast {dtype_name(dtype)} (weights float32)"
    return (lambda: torch.autocast(device_type=device.type, dtype=dtype)), description


def tensor_stats(x: Tensor) -> TensorStats:
    """finite / min / max / mean of ``x`` in float32."""
    x = x.detach().float()
    return TensorStats(bool(torch.isfinite(x).all()), float(x.min()), float(x.max()), float(x.mean()))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_forward(model: nn.Module, imgs: Tensor, *, mask_ratio: float = 0.75, seed: int = 0,
                    dtype: torch.dtype = torch.float32, repeat: int = 1, warmup: int = 1,
                    noise: Tensor | None = None) -> ForwardResult:
    """Run ``model(imgs, mask_ratio)`` ``repeat`` times and measure it.

    The masking noise is drawn from the global generator seeded with ``seed`` right before each run,
    exactly as ``torch.manual_seed(seed); model(imgs)`` in the official demo, so every run masks the
    same patches and a seeded run is comparable with the official model.

    Args:
        model: a :class:`~mae_core.mae.MaskedAutoencoderViT` with real weights.
        imgs: (B, C, H, W) on the model's device, normalised like the training data.
        mask_ratio: fraction of patches removed, in [0, 1).
        seed: seed of the masking noise.
        dtype: float32, or bfloat16 / float16 for autocast.
        repeat: timed runs (the median is reported).
        warmup: untimed runs first (the first call pays one-off costs: memory pools, kernel selection).
        noise: (B, L) masking noise to use instead (a strategy of :mod:`mae_core.mask_strategies`, or a
            mask file); the model's argsort of it decides the mask, as with the drawn noise.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    device = imgs.device
    autocast, precision = precision_context(device, dtype)
    memory = PeakMemory(device)
    latencies = []
    model.eval()
    if noise is not None:
        noise = noise.to(device)
    with torch.no_grad():
        memory.start()
        for run in range(warmup + repeat):
            torch.manual_seed(seed)
            _sync(device)
            start = time.perf_counter()
            with autocast():
                loss, pred, mask = model(imgs, mask_ratio) if noise is None else model(imgs, mask_ratio, noise)
            _sync(device)
            if run >= warmup:
                latencies.append(time.perf_counter() - start)
        memory.stop()
    latency = statistics.median(latencies)
    loss_value = float(loss.detach().float())
    return ForwardResult(
        loss=loss_value,
        loss_finite=math.isfinite(loss_value),
        pred_shape=list(pred.shape),
        mask_shape=list(mask.shape),
        num_visible=int(mask.shape[1] - mask[0].sum().item()),
        masked_fraction=[float(f) for f in mask.float().mean(dim=1).tolist()],
        pred=tensor_stats(pred),
        precision=precision,
        repeat=repeat,
        warmup=warmup,
        latency_s=latency,
        latencies_s=latencies,
        images_per_s=imgs.shape[0] / latency if latency > 0 else float("inf"),
        peak_memory_bytes=memory.peak,
        memory_before_bytes=memory.before,
        memory_method=memory.method,
        loss_note=None if mask.sum().item() > 0 else NO_MASKED_PATCHES,
    )


def forward_report(prep: Any, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0,
                   repeat: int = 1, warmup: int = 1, strategy_noise: bool = True, notes: list[str] | None = None,
                   build_s: float = 0.0) -> dict[str, Any]:
    """``mae forward`` as plain data: :func:`measure_forward` on a :class:`~mae_core.views.prepare.Prepared`
    and what was run (variant, weights, size, mask, target, inputs).

    ``strategy_noise``: feed the pipeline's masking noise (a strategy's or a mask file's); False: the noise
    is drawn right after ``torch.manual_seed(seed)``, as the official demo does.
    """
    from .sizes import size_text

    plan, cfg = prep.plan, prep.config
    result = measure_forward(prep.model, prep.imgs, mask_ratio=plan.mask_ratio, seed=seed, dtype=dtype, repeat=repeat,
                             warmup=warmup, noise=plan.noise if strategy_noise else None)
    return {
        "variant": prep.variant, "title": prep.title, "weights": prep.weights,
        "initialisation": "weights" if prep.loaded is not None else "seeded", "notes": list(notes or []),
        "device": str(device), "dtype": dtype_name(dtype), "batch": int(prep.imgs.shape[0]),
        "img_size": cfg.to_dict()["img_size"], "in_chans": cfg.in_chans, "size": size_text(cfg),
        "mask_ratio": plan.mask_ratio, "mask_strategy": plan.strategy, "mask_file": plan.mask_file,
        "norm_pix_loss": prep.norm_pix_loss, "norm_pix_loss_from": prep.norm_pix_loss_from, "seed": seed,
        "inputs": prep.inputs, "build_s": build_s, **result.to_dict(),
    }
