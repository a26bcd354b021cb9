"""The opt-in fast path: the same model and weights, its CPU matrix products on oneDNN.

Paper: none (engineering). The MAE's own speed-up, encoding only the visible quarter of the patches
(Sec. 3), is in the model itself; this is about running its matrix products at the machine's speed.

Shapes: unchanged; ``use_fast_path(model)`` returns the same model, switched.

    from mae_core.kernels.fast_path import use_fast_path
    model = use_fast_path(create_model("base"))       # every Linear's product now runs on oneDNN
    use_fast_path(model, False)                       # back to the exact path

What it switches: every :class:`~mae_core.kernels.linear.Linear`'s product and input gradient to oneDNN (float32
and bfloat16); the weight gradient stays ``torch.mm``, as in ``nn.Linear``, except for float32 layers
that narrow (fc2), where oneDNN was faster. Nothing else changes.

What the profile showed (``torch.profiler``, ViT-B/16, float32, CPU; ``benchmarks/README.md`` has the
commands and the full numbers):
    * 85-90 % of the time is in the Linear layers' matrix products (``aten::addmm`` / ``aten::mm``), which
      PyTorch sends to MKL for float32. At batch 1 the encoder's products have only 1 + L_keep = 50 rows,
      and MKL reaches about 75 % of its large-matmul speed on them with one thread and less with two;
      oneDNN (PyTorch's library for CPU convolutions and bfloat16) ran the same shapes 10-25 % faster,
      and the input gradient (g W) too. For the weight gradient (g^T x) oneDNN first copies the
      transposed g whole: no faster than ``torch.mm`` at batch 1, up to 4 % of a step slower at batch 8;
      handed both operands as transposed views, it ran the narrowing fc2's g^T x 10-20 % faster at batch
      1 (a ViT-B batch-1 training step 2-4 % faster) and as fast at batch 8, the other layers' slower.
    * attention (``scaled_dot_product_attention`` on the strided q, k, v views) is 5-7 % in float32;
      writing it out (q k^T, softmax, @ v) or making q, k, v contiguous first was slower at every MAE
      shape: kept as is. In bfloat16, SDPA's backward is 17 % of a ViT-B training step; the written-out
      form made a one-thread step 12 % faster but a two-thread step no faster: kept as is too.
    * GELU, LayerNorm, residual adds, copies, masking gathers and ``cat`` together are under 6 %; fusing
      GELU and the residual add into the products (oneDNN post-ops) saved about 1 %: left out, for
      readability.

Numerics: oneDNN adds the products' terms in another order than MKL, so the outputs differ from the
exact path by float rounding: about 5e-6 in pred at full size (ViT-B/L/H, within the 1e-5 the project
allows against the references) and up to 1.01e-6 on the tiny golden cases, one float step over their
1e-6 bound. That is why the path is opt-in: the default model stays bit-for-bit equal to the official
code and to the references on the same machine.
"""

from __future__ import annotations

from torch import nn

from . import linear
from .linear import Linear


def use_fast_path(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Route every :class:`~mae_core.kernels.linear.Linear` of ``model`` through oneDNN (or back, ``enabled=False``).

    Args:
        model: any module built from ``mae_core`` layers (a whole MAE, an encoder, a block).
        enabled: True for the fast path, False for the exact one.

    Returns:
        ``model`` itself. Where oneDNN is unavailable, or for non-float32 / non-CPU tensors, the layers
        quietly keep ``F.linear``.
    """
    for module in model.modules():
        if isinstance(module, Linear):
            module.onednn = enabled
    return model


def fast_path_enabled(model: nn.Module) -> bool:
    """True if ``model`` has Linear layers and all of them are switched to oneDNN and it is available."""
    layers = [m for m in model.modules() if isinstance(m, Linear)]
    return bool(layers) and all(m.onednn for m in layers) and linear.onednn_available()
