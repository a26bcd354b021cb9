"""Kernel choices: which library computes the matrix products and how attention is evaluated, never what
is computed.

    switch.py     ``use_kernels(model, linear=..., attention=...)``: the one switch for a whole model, and
                  ``kernels_of(model)``
    linear.py     ``Linear``: an ``nn.Linear`` (same parameters, same state dict) whose CPU products can run
                  on oneDNN instead of the default ``F.linear``; ``onednn_support(dtype)``, probed per dtype
    fast_path.py  ``use_fast_path(model)``: ``use_kernels(model, linear="onednn")`` under its older name

The paper's files (attention, mlp, decoder) build their layers from ``Linear`` and ``Attention`` so that
one switch can change the kernels; by default they *are* ``F.linear`` and SDPA, bit-equal to the official
model. How fast each choice is on which CPU: ``benchmarks/README.md``.
"""

from .switch import ATTENTION_KERNELS, LINEAR_KERNELS, kernels_of, use_kernels

__all__ = ["ATTENTION_KERNELS", "LINEAR_KERNELS", "kernels_of", "use_kernels"]
