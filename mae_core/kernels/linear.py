"""The linear layer of every block: ``nn.Linear``, with an opt-in oneDNN path for CPU products.

Paper: ViT Eq. 2-3 (every projection is y = x W^T + b); nothing MAE-specific. Engineering only.

Shapes: (..., in_features) -> (..., out_features); parameters ``weight`` (out, in) and ``bias`` (out,),
exactly ``nn.Linear``'s (same names, same state dict, same initialisation; ``isinstance(layer,
nn.Linear)`` holds).

By default this *is* ``nn.Linear``: ``F.linear``, which PyTorch hands to its BLAS (MKL on x86) for float32
on CPU, bit for bit what the official code computes on the same machine. With ``layer.onednn = True``
(set for a whole model by :func:`mae_core.kernels.use_kernels`) the product, and the input gradient of its
backward pass, go to oneDNN instead (PyTorch's private ``torch.ops.mkldnn._linear_pointwise``: the
library PyTorch already uses for its CPU convolutions and low-precision products; private, hence probed
before use). Whether that is faster depends on the CPU: ``benchmarks/README.md`` has the measurements
per machine. The two libraries add the same products in a different order, so results differ by float
rounding (a few 1e-7 relative), not bit for bit.

The oneDNN path is taken only where it applies: CPU, eager mode, and a dtype for which this PyTorch and
this CPU have a oneDNN product (:func:`onednn_available`, probed once per dtype: float32 nearly always;
bfloat16 / float16 only with AVX-512 or AMX available to oneDNN). Anywhere else the layer stays
``F.linear``; a bfloat16 / float16 model asked to use oneDNN where it cannot says so once on stderr.
"""

from __future__ import annotations

import functools
import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger("mae_core.kernels")

ONEDNN_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_SUPPORT_PROBE = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}


def _onednn_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x W^T + b through oneDNN (``weight`` may be a transposed view)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@functools.cache
def onednn_support(dtype: torch.dtype = torch.float32) -> tuple[bool, str]:
    """(True, "") if oneDNN computes ``dtype`` products here, else (False, why). Probed once per dtype.

    The probe asks PyTorch whether oneDNN supports the dtype on this CPU (it honours ``ONEDNN_MAX_CPU_ISA``),
    then runs one small product and checks it against ``F.linear`` in float32.
    """
    name = str(dtype).removeprefix("torch.")
    if dtype not in ONEDNN_DTYPES:
        return False, f"the fast path has no {name} product"
    probe = _SUPPORT_PROBE.get(dtype)
    try:
        if probe and not getattr(torch.ops.mkldnn, probe)():
            return False, (f"oneDNN has no {name} product on this CPU (torch.ops.mkldnn.{probe}() is False: "
                           "no AVX-512 / AMX available to it)")
        gen = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*shape, generator=gen) for shape in ((3, 5, 16), (8, 16), (8,)))
        got = _onednn_product(x.to(dtype), w.to(dtype), b.to(dtype)).float()
        tol = 1e-5 if dtype == torch.float32 else 0.1
        if got.shape != (3, 5, 8) or not torch.allclose(got, F.linear(x, w, b), rtol=tol, atol=tol):
            return False, f"oneDNN's {name} product disagreed with F.linear on a sample"
    except Exception as exc:  # noqa: BLE001 - no operator, another signature, no primitive for this CPU
        return False, f"oneDNN cannot compute {name} products here ({type(exc).__name__}: {str(exc)[:80]})"
    return True, ""


def onednn_available(dtype: torch.dtype = torch.float32) -> bool:
    """True if this PyTorch has the oneDNN linear operator and it computes ``dtype`` products on this CPU."""
    return onednn_support(dtype)[0]


@functools.cache
def onednn_has_avx512() -> bool:
    """True if oneDNN may use AVX-512 here (the CPU has it and ``ONEDNN_MAX_CPU_ISA`` allows it).

    PyTorch's ``_is_mkldnn_bf16_supported`` is oneDNN's own test of exactly that (bfloat16 "type support"
    starts at its avx512_core ISA), so it is asked here.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@functools.cache
def _note_fallback(dtype: torch.dtype) -> None:
    """Say once per dtype, on stderr (logging's default), why a oneDNN layer runs ``F.linear``."""
    if dtype != torch.float32:  # float32 without oneDNN: a build without it, nothing to say per model
        log.warning("note: %s; the fast path runs these products on F.linear", onednn_support(dtype)[1])


class _OneDNNLinear(torch.autograd.Function):
    """y = x W^T + b as a oneDNN product; backward: the input gradient on oneDNN, the weight gradient as
    :func:`_weight_gradient` picks (``torch.mm`` as in ``nn.Linear``'s own backward, oneDNN for fc2)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _onednn_product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])  # (M, out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _onednn_product(g, weight.t(), None).reshape(x.shape)  # g W: (M, in)
        if ctx.needs_input_grad[1]:
            grad_w = _weight_gradient(g, x.reshape(-1, x.shape[-1]))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b


def _weight_gradient(g: Tensor, x: Tensor) -> Tensor:
    """g^T x: (out, in), from g (M, out) and x (M, in).

    Float32 layers that narrow (in > out: the MLP's second product, fc2) hand oneDNN both operands as
    transposed views (no copy); everywhere else, and in low precision, ``torch.mm`` (what ``nn.Linear``'s
    own backward uses). The profile behind this choice is in ``benchmarks/README.md``.
    """
    if x.dtype == torch.float32 and x.shape[1] > g.shape[1]:
        return _onednn_product(g.t(), x.t(), None)
    return torch.mm(g.t(), x)


def onednn_applies(x: Tensor, weight: Tensor) -> bool:
    """True if this product can go to oneDNN: CPU tensors of one dtype oneDNN supports here, eager mode."""
    return (weight.dtype == x.dtype and x.device.type == "cpu" and not torch.compiler.is_compiling()
            and onednn_available(x.dtype))


class Linear(nn.Linear):
    """``nn.Linear``; with ``onednn = True``, CPU products (and input gradients) run on oneDNN.

    Args: as ``nn.Linear`` (in_features, out_features, bias=True).
    """

    onednn: bool = False  # per layer; mae_core.kernels.use_kernels(model, linear="onednn") sets it on every layer

    def forward(self, x: Tensor) -> Tensor:
        if self.onednn and x.device.type == "cpu" and not torch.compiler.is_compiling():
            if self.weight.dtype == x.dtype and onednn_available(x.dtype):
                return _OneDNNLinear.apply(x, self.weight, self.bias)
            _note_fallback(x.dtype)
        return F.linear(x, self.weight, self.bias)
