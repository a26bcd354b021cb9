"""The opt-in fast path: the same model and weights, its CPU matrix products on oneDNN.

Paper: none (engineering). The MAE's own speed-up, encoding only the visible quarter of the patches
(Sec. 3), is in the model itself; this is about running its matrix products at the machine's speed.

Shapes: unchanged; ``use_fast_path(model)`` returns the same model, switched.

    from mae_core.kernels.fast_path import use_fast_path
    model = use_fast_path(create_model("base"))       # = use_kernels(model, linear="onednn")
    use_fast_path(model, False)                       # back to the exact path

What it switches: every :class:`~mae_core.kernels.linear.Linear`'s product and input gradient to oneDNN
(float32, and bfloat16 / float16 where oneDNN computes them on this CPU); the weight gradient stays
``torch.mm``, as in ``nn.Linear``, except for float32 layers that narrow (fc2). Nothing else changes.

Speed: CPU-specific, which is why the path is opt-in and why no figure is written here. Which CPUs it
helps on and which it does not, measured in the same run against the exact path, alternating, is in
``benchmarks/README.md`` (with each machine's CPU model and flags); ``mae bench --path both`` measures it
on yours. Where oneDNN runs without AVX-512 (the CPU kind on which it measured slower), switching it on
says so once on stderr.

Numerics: oneDNN adds the products' terms in another order than MKL, so the outputs differ from the exact
path by float rounding, within the cross-machine bound of ``docs/fidelity.md`` (the measured deviations
are there). The default model stays bit-for-bit equal to the official code and to the references on the
same machine.
"""

from __future__ import annotations

import functools

from torch import nn

from . import linear
from .linear import Linear
from .switch import kernels_of, use_kernels


def use_fast_path(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Route every :class:`~mae_core.kernels.linear.Linear` of ``model`` through oneDNN (or back, ``enabled=False``).

    Args:
        model: any module built from ``mae_core`` layers (a whole MAE, an encoder, a block).
        enabled: True for the fast path, False for the exact one.

    Returns:
        ``model`` itself. Where oneDNN is unavailable, or for non-CPU tensors, the layers keep ``F.linear``
        (for a low-precision dtype oneDNN cannot compute here, with one note on stderr).
    """
    if enabled:
        _note_if_no_gain_expected()
    return use_kernels(model, linear="onednn" if enabled else "exact")


@functools.cache
def _note_if_no_gain_expected() -> None:
    """Once per process: where oneDNN runs without AVX-512, the fast path measured slower than the exact one."""
    if linear.onednn_available() and not linear.onednn_has_avx512():
        linear.log.warning("note: oneDNN runs without AVX-512 on this CPU; on such a CPU (AMD Zen 3) the fast path "
                           "measured slower than the exact path (benchmarks/README.md); `mae bench --path both` "
                           "measures both here")


def fast_path_enabled(model: nn.Module) -> bool:
    """True if ``model`` has Linear layers, all switched to oneDNN, and oneDNN computes float32 products here."""
    return kernels_of(model)["linear"] == "onednn" and linear.onednn_available()


__all__ = ["Linear", "fast_path_enabled", "use_fast_path"]
