"""Memory budgets: sizes as people write them, the memory a device has, and whether a step fits.

Paper: MAE Sec. 3 and Table 1c as :mod:`mae_core.views.memory` computes them in closed form; this module
holds what turns those bytes into decisions: :func:`parse_bytes` (``"24GiB"``), :func:`available_memory`
(what a new allocation can use here), :func:`check_fits` (refuse a step that cannot fit, before anything
large is allocated) and :func:`memory_report` (``mae memory``: the rows, and with a budget the largest
batch that fits, for the MAE and for Table 1c's baseline).

Shapes: a config, a batch B and a mask ratio in; bytes, a batch size or a plain dict out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import MAEConfig
from ..errors import MemoryBudgetError, SettingError
from .memory import MemoryEstimate, estimate, iec, largest_batch
from .memory_classifier import ClassifierStep
from .memory_classifier import estimate as classifier_estimate

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def estimate_for(cfg: MAEConfig, batch: int, mask_ratio: float, step: ClassifierStep | None = None,
                 **options) -> MemoryEstimate:
    """:func:`mae_core.views.memory.estimate` for the MAE (``step`` None), or the classifier's
    (:func:`mae_core.views.memory_classifier.estimate`, no mask ratio: every patch is seen). An optimizer
    of None is the stage's own: AdamW for pre-training and fine-tuning, LARS for linear probing."""
    if step is None:
        return estimate(cfg, batch, mask_ratio, **dict(options, optimizer=options.get("optimizer") or "adamw"))
    return classifier_estimate(cfg, batch, step, **options)


def memory_report(cfg: MAEConfig, batch: int, mask_ratio: float = 0.75, *, variant: str, title: str,
                  budget: int | None = None, step: ClassifierStep | None = None, **options) -> dict[str, Any]:
    """Everything `mae memory` shows, as plain data: the rows of the estimate (weights, gradients,
    optimizer, images, saved activations per stage, transient, total) and, with a ``budget`` in bytes,
    the largest batch that fits, for the MAE and with mask tokens in the encoder (Table 1c's baseline;
    a classifier has no such baseline: null). ``step``: a classifier's fine-tuning or linear-probing step
    (:mod:`mae_core.views.memory_classifier`) instead of the MAE's. ``options``: ``mode``, ``dtype``,
    ``amp``, ``optimizer`` as :func:`estimate` takes them."""
    from dataclasses import asdict

    if step is not None:
        step.check_batch(batch, options.get("mode", "inference"))
    est = estimate_for(cfg, batch, mask_ratio, step, **options)
    pr = est.precision
    rows = [{"key": "weights", "description": f"weights ({pr.name if not pr.weight_copies else 'float32'})",
             "bytes": est.weights}]
    if est.mode == "train":
        frozen = " (the head only: the encoder is frozen)" if step is not None and step.linear_probe else \
            " (trainable weights only)"
        rows += [{"key": "gradients", "description": f"gradients{frozen}", "bytes": est.gradients},
                 {"key": "optimizer", "description": f"optimizer state ({est.optimizer})",
                  "bytes": est.optimizer_state}]
    rows.append({"key": "images", "description": "input images", "bytes": est.images})
    if est.mode == "train":
        rows.append({"key": "saved", "description": "activations saved for backward", "bytes": est.saved_total})
    inference = [s for s in est.inference if s.key != "autocast_cache"]
    largest = max(inference, key=lambda s: s.bytes)
    transient = ("transient peak of the largest stage" if est.mode == "train" else
                 f"transient peak ({largest.description})")
    rows.append({"key": "transient", "description": transient, "bytes": est.transient})
    rows.append({"key": "total", "description": "total", "bytes": est.total})
    report = {
        "variant": variant, "title": title, "stage": step.stage if step else "pretrain", "mode": est.mode,
        "batch": est.batch, "mask_ratio": est.mask_ratio, "img_size": list(cfg.image_hw), "in_chans": cfg.in_chans,
        "grid": list(cfg.grid_size), "num_patches": cfg.num_patches,
        "num_visible": cfg.num_patches if step else cfg.num_visible(est.mask_ratio),
        "precision": asdict(pr), "optimizer": est.optimizer, "rows": rows,
        "saved": [{"key": s.key, "description": s.description, "bytes": s.bytes, "count": s.count,
                   "per_block": s.per_block} for s in est.saved],
        "inference": [{"key": s.key, "description": s.description, "bytes": s.bytes} for s in est.inference],
        "transient_stage": largest.key, "total_bytes": est.total,
        "classifier": None if step is None else {
            "num_classes": step.num_classes, "global_pool": step.global_pool, "drop_path_rate": step.drop_path_rate,
            "label_smoothing": step.label_smoothing, "linear_probe": step.linear_probe},
        "budget": None, "check": None,
    }
    if budget is not None:
        def largest_fitting(**kw) -> int:
            return largest_batch(lambda b: estimate_for(cfg, b, mask_ratio, step, **options, **kw).total <= budget)

        ours = largest_fitting()
        baseline = largest_fitting(mask_tokens_in_encoder=True) if step is None else None
        baseline_need = (estimate_for(cfg, ours, mask_ratio, mask_tokens_in_encoder=True, **options).total
                         if ours and step is None else None)
        report["budget"] = {"bytes": budget, "largest_batch": ours, "largest_batch_mask_tokens_in_encoder": baseline,
                            "batch_ratio": ours / baseline if baseline else None,
                            "mask_tokens_in_encoder_bytes_at_largest_batch": baseline_need}
    return report


def memory_settings(mode: str, optimizer: str | None, budget: str | None) -> tuple[str, str | None, int | None]:
    """``mode``, ``optimizer`` (None: the stage's own) and ``budget`` (``"24GiB"``: bytes, or None) as
    `mae memory` takes them, checked; a :class:`~mae_core.errors.SettingError` names the one that is not."""
    from .memory import MODES, OPTIMIZERS

    mode, optimizer = mode.strip().lower(), optimizer.strip().lower() if optimizer is not None else None
    if mode not in MODES:
        raise SettingError("mode", "not a mode; use inference or train", given=repr(mode))
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise SettingError("optimizer", "not supported here; use none, sgd, adamw or lars", given=repr(optimizer))
    try:
        return mode, optimizer, None if budget is None else parse_bytes(budget)
    except ValueError as exc:
        raise SettingError("budget", str(exc)) from None


def parse_bytes(text: str) -> int:
    """``"24GiB"`` -> 25769803776, ``"24 GB"`` -> 24000000000, ``"1e9"`` -> 1000000000.

    IEC units (KiB, MiB, GiB, TiB) are powers of 1024, SI units (KB, MB, GB, TB) powers of 1000, a bare
    number is bytes. Raises ``ValueError`` naming the problem for anything else, zero, or a negative size.
    """
    s = text.strip().lower().replace(" ", "").replace("_", "")
    number = s.rstrip("kmgtib")
    unit = s[len(number):]
    if unit in ("k", "m", "g", "t"):
        raise ValueError(f"{text!r} is ambiguous: write {number}{unit.upper()}iB (powers of 1024) or "
                         f"{number}{unit.upper()}B (powers of 1000)")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if unit not in UNITS or not math.isfinite(value):
        raise ValueError(f"{text!r} is not a size; write e.g. 24GiB, 80 GB or 1e9 (bytes)")
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive size")
    total = value * UNITS[unit]
    if not math.isfinite(total) or total > MAX_BUDGET:
        raise ValueError(f"{text[:80]!r} is more memory than any machine has; give at most 1 EiB")
    return int(total)


MAX_BUDGET = float(1 << 60)  # 1 EiB: a larger size is a typo (and 1e300 TiB overflows a float)


@dataclass
class Available:
    """Memory a new allocation can use on a device, and how it was read."""

    bytes: int | None
    method: str = field(default="")


def available_memory(device: torch.device | str = "cpu") -> Available:
    """Free memory on ``device``: CUDA ``torch.cuda.mem_get_info``; CPU Linux ``MemAvailable``, or less
    where a cgroup (container) limit leaves less. ``bytes`` is None where it cannot be read.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return Available(int(free), "torch.cuda.mem_get_info (free)")
    found = Available(None, "unknown on this system")
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found = Available(int(line.split()[1]) * 1024, "/proc/meminfo MemAvailable")
    except OSError:
        return found
    cgroup = Path("/sys/fs/cgroup")
    try:
        limit = (cgroup / "memory.max").read_text(encoding="ascii").strip()
        used = int((cgroup / "memory.current").read_text(encoding="ascii").strip())
        if limit != "max" and found.bytes is not None and int(limit) - used < found.bytes:
            found = Available(int(limit) - used, "cgroup memory.max - memory.current")
    except (OSError, ValueError):
        pass
    room = address_space_room()
    if room is not None and (found.bytes is None or room < found.bytes):
        found = Available(room, "RLIMIT_AS (ulimit -v) minus this process's address space")
    return found


def address_space_room() -> int | None:
    """Bytes this process may still map under its address-space limit (``RLIMIT_AS``, ``ulimit -v``,
    ``prlimit --as``), or None when there is no limit. Free RAM alone misses it: the allocator fails at
    the limit however much memory the machine has (issue 23)."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = 0
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return max(0, soft - mapped)


def check_fits(cfg: MAEConfig, batch: int, mask_ratio: float = 0.75, *, what: str, mode: str = "inference",
               dtype: torch.dtype = torch.float32, amp: bool = False, optimizer: str = "none",
               device: torch.device | str = "cpu", weights_resident: bool = False, kept_per_image: int = 0,
               passes: int = 1, step: ClassifierStep | None = None, models: int = 1) -> None:
    """Raise :class:`~mae_core.errors.MemoryBudgetError` if the step's :func:`estimate` exceeds the memory available.

    Called before anything is allocated, so a batch that cannot fit fails in a second with the estimate and the
    largest batch that fits, not in the allocator minutes later. Nothing is refused where the free memory
    cannot be read.

    Args:
        what: the step, for the message ("ViT-B/16 forward pass").
        weights_resident: the weights are already in memory (a checkpoint read): leave them out.
        kept_per_image: bytes per image the command keeps beyond the forward's peak (recorded hidden
            states, attention maps): added to the estimate.
        passes: forward passes (or steps) the command runs: the work check (:func:`check_work`) counts them.
        step: a classifier's step (:mod:`mae_core.views.memory_classifier`) instead of the MAE's; its work is
            bounded by the MAE's at mask ratio 0 (the same encoder on every patch, plus a decoder).
        models: copies of the model alive at once (a comparison holds ours and the official one): each has
            its weights, gradients and optimizer state; they run one after the other (one set of activations).
        Others: as :func:`estimate`.
    """
    from .flops import check_work, closed_form_macs

    _check_memory(cfg, batch, mask_ratio, what=what, mode=mode, dtype=dtype, amp=amp, optimizer=optimizer,
                  device=device, weights_resident=weights_resident, kept_per_image=kept_per_image, step=step,
                  models=models)
    macs = closed_form_macs(cfg, 0.0 if step else mask_ratio)["train" if mode == "train" else "total"]
    check_work(2 * macs * batch * passes, what, device=device)  # after memory: that refusal is definitive


def _check_memory(cfg: MAEConfig, batch: int, mask_ratio: float, *, what: str, mode: str, dtype: torch.dtype,
                  amp: bool, optimizer: str, device: torch.device | str, weights_resident: bool,
                  kept_per_image: int, step: ClassifierStep | None, models: int) -> None:
    available = available_memory(device)
    if available.bytes is None:
        return

    def need(b: int) -> int:
        e = estimate_for(cfg, b, mask_ratio, step, mode=mode, dtype=dtype, amp=amp, optimizer=optimizer)
        state = e.weights + e.gradients + e.optimizer_state  # per model; the activations are one model's at a time
        return e.total - (e.weights if weights_resident else 0) + (models - 1) * state + kept_per_image * b

    needed = need(batch)
    if needed <= available.bytes:
        return
    fits = largest_batch(lambda b: need(b) <= available.bytes)
    raise MemoryBudgetError(
        f"{what} at batch {batch} needs about {iec(needed)} (weights, images and the peak of the activations, "
        f"in closed form) but {iec(available.bytes)} is available on {torch.device(device)} ({available.method}); "
        + (f"the largest batch that fits is {fits}" if fits else
           "not even batch 1 fits: free some memory" + (" or use a smaller image size" if cfg.image_hw != (224, 224)
                                                         else ""))
    )
