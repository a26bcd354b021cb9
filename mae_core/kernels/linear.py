"""The linear layer of every block: ``nn.Linear``, with an opt-in oneDNN path for CPU products.

Paper: ViT Eq. 2-3 (every projection is y = x W^T + b); nothing MAE-specific. Engineering only.

Shapes: (..., in_features) -> (..., out_features); parameters ``weight`` (out, in) and ``bias`` (out,),
exactly ``nn.Linear``'s (same names, same state dict, same initialisation; ``isinstance(layer,
nn.Linear)`` holds).

By default this *is* ``nn.Linear``: ``F.linear``, which PyTorch hands to MKL for float32 on CPU, bit for
bit what the official code computes on the same machine. With ``layer.onednn = True`` (set for a whole
model by :func:`mae_core.kernels.fast_path.use_fast_path`) the product, and the input gradient of its backward
pass, go to oneDNN instead, the library PyTorch already uses for its CPU convolutions and bfloat16
products. On the AMD EPYC (Zen 4) this project is benchmarked on, oneDNN ran the MAE's product shapes
10-25 % faster than MKL (``mae_core/kernels/fast_path.py`` has the profile). The two libraries add the same
products in a different order, so results differ by float rounding (a few 1e-7 relative), not bit for bit.

The oneDNN path is taken only where it applies (CPU, float32 or bfloat16, eager mode, the operator present
in this PyTorch build and checked once against ``F.linear``); anywhere else the layer stays ``F.linear``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _onednn_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x W^T + b through oneDNN (``weight`` may be a transposed view)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@functools.cache
def onednn_available() -> bool:
    """True if this PyTorch has the oneDNN linear operator and it agrees with ``F.linear`` on a sample."""
    try:
        gen = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*shape, generator=gen) for shape in ((3, 5, 16), (8, 16), (8,)))
        got = _onednn_product(x, w, b)
        return got.shape == (3, 5, 8) and torch.allclose(got, F.linear(x, w, b), rtol=1e-5, atol=1e-5)
    except Exception:  # noqa: BLE001 - no operator, another signature, a build without oneDNN: use F.linear
        return False


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

    Where a float32 layer narrows (in > out: the MLP's second product, fc2), oneDNN on the transposed views
    ran it 10-20 % faster than ``torch.mm`` at the MAE's batch-1 shapes and as fast at batch 8 (a ViT-B
    batch-1 training step 2-4 % faster); everywhere else, and in bfloat16, ``torch.mm`` (what
    ``nn.Linear``'s own backward uses) was as fast or faster.
    """
    if x.dtype == torch.float32 and x.shape[1] > g.shape[1]:
        return _onednn_product(g.t(), x.t(), None)
    return torch.mm(g.t(), x)


ONEDNN_DTYPES = (torch.float32, torch.bfloat16)


def onednn_applies(x: Tensor, weight: Tensor) -> bool:
    """True if this product can go to oneDNN: float32 or bfloat16 CPU tensors, eager mode, operator available."""
    return (x.dtype in ONEDNN_DTYPES and weight.dtype == x.dtype and x.device.type == "cpu"
            and not torch.compiler.is_compiling() and onednn_available())


class Linear(nn.Linear):
    """``nn.Linear``; with ``onednn = True``, CPU products (and input gradients) run on oneDNN.

    Args: as ``nn.Linear`` (in_features, out_features, bias=True).
    """

    onednn: bool = False  # per layer; mae_core.kernels.fast_path.use_fast_path(model) sets it on every layer

    def forward(self, x: Tensor) -> Tensor:
        if self.onednn and onednn_applies(x, self.weight):
            return _OneDNNLinear.apply(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)
