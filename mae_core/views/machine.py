"""The machine a measurement ran on: the CPU, its instruction-set flags, and whether a dtype runs natively.

Paper: none (engineering). Performance claims name their machine: :func:`cpu_info` (model, the
instruction-set flags that decide which kernels run, the ATen and oneDNN settings of this process) goes
with every report, and :func:`dtype_support` says whether a low-precision dtype runs natively here or
emulated in ATen's generic loops (a CPU without AVX-512 / AMX for oneDNN: hundreds of times slower, said
up front on stderr by :func:`mae_core.views.bench.emulation_note`).

Shapes: none (plain dicts and strings).
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from .forward import dtype_name

log = logging.getLogger("mae_core.views.bench")  # notes for people; stderr by logging's default
Mode = Literal["forward", "train"]
MATMUL_SIZE = 2048  # the side of the matmul whose speed is this machine's ceiling (:func:`matmul_gflops`)
ForwardFn = Callable[[Tensor, float, Tensor], Sequence[Tensor]]  # (imgs, mask_ratio, noise) -> (loss, pred, ...)




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
