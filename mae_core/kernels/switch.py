"""The one switch for the kernels a model runs on: which library multiplies, how attention is evaluated.

Paper: none (engineering). What is computed never changes, only how: every choice gives the same outputs
up to float rounding (the defaults are bit-equal to the official code on the same machine).

Shapes: unchanged; ``use_kernels(model, ...)`` returns the same model, switched.

    from mae_core.kernels import use_kernels, kernels_of
    use_kernels(model, linear="onednn")        # every Linear's CPU product on oneDNN (the fast path)
    use_kernels(model, attention="explicit")   # softmax(q k^T / sqrt(hd)) v written out, for reading/recording
    use_kernels(model, linear="exact", attention="sdpa")   # the defaults
    kernels_of(model)                          # {"linear": "exact", "attention": "sdpa"}

    linear     "exact"   ``F.linear`` (MKL for float32 CPU products): bit-equal to the official code
               "onednn"  oneDNN products and input gradients (``linear.py``; where oneDNN cannot compute
                         a dtype on this CPU, the layer keeps ``F.linear`` and says so once on stderr)
    attention  "sdpa"      ``F.scaled_dot_product_attention`` (``mae_core.attention.Attention.fused``)
               "explicit"  :func:`mae_core.attention.explicit_attention`, the same formula written out

Per-layer flags stay the mechanism (``Linear.onednn``, ``Attention.fused``, the layers marked
:class:`SwitchableAttention`); this is the one place that
sets them for a model, so callers never reach into layers.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from .linear import Linear

LinearKernel = Literal["exact", "onednn"]
AttentionKernel = Literal["sdpa", "explicit"]
LINEAR_KERNELS = ("exact", "onednn")
ATTENTION_KERNELS = ("sdpa", "explicit")


class SwitchableAttention:
    """The mark of a layer whose attention kernel this switch sets: it holds a bool ``fused`` (True:
    ``F.scaled_dot_product_attention``, False: written out). :class:`mae_core.attention.Attention` carries
    it, so the switch finds attention layers without importing the model (which imports this package)."""

    fused: bool


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, SwitchableAttention)]


def use_kernels(model: nn.Module, *, linear: LinearKernel | None = None,
                attention: AttentionKernel | None = None) -> nn.Module:
    """Switch every layer of ``model`` to the given kernels (``None`` leaves a choice as it is).

    Args:
        model: any module built from ``mae_core`` layers (a whole MAE, an encoder, a block).
        linear: ``"exact"`` (``F.linear``) or ``"onednn"``.
        attention: ``"sdpa"`` or ``"explicit"``.

    Returns:
        ``model`` itself.
    """
    if linear is not None and linear not in LINEAR_KERNELS:
        raise ValueError(f"linear kernel {linear!r} is not one of {', '.join(LINEAR_KERNELS)}")
    if attention is not None and attention not in ATTENTION_KERNELS:
        raise ValueError(f"attention kernel {attention!r} is not one of {', '.join(ATTENTION_KERNELS)}")
    if linear is not None:
        for module in model.modules():
            if isinstance(module, Linear):
                module.onednn = linear == "onednn"
    if attention is not None:
        for module in _attention_modules(model):
            module.fused = attention == "sdpa"
    return model


def kernels_of(model: nn.Module) -> dict[str, str | None]:
    """The kernels ``model``'s layers are set to: each ``"exact"``/``"onednn"``, ``"sdpa"``/``"explicit"``,
    ``"mixed"`` where its layers disagree, ``None`` where it has no such layer."""

    def one(flags: list[bool], yes: str, no: str) -> str | None:
        if not flags:
            return None
        return yes if all(flags) else no if not any(flags) else "mixed"

    linears = [m.onednn for m in model.modules() if isinstance(m, Linear)]
    return {"linear": one(linears, "onednn", "exact"),
            "attention": one([m.fused for m in _attention_modules(model)], "sdpa", "explicit")}
