"""One recorder for everything the forward pass computes: hidden states, attention maps, masks.

Paper: MAE Sec. 3 (Fig. 1), read stage by stage: patch tokens (ViT Eq. 1) -> random masking ->
[cls; visible] -> encoder blocks (ViT Eq. 2-3) -> latent -> decoder embed -> + mask tokens, unshuffled
-> decoder blocks -> norm -> predictor. Attention probabilities are Vaswani et al. Eq. 1's
softmax(q k^T / sqrt(hd)).

    from mae_core.models import create_model
    from mae_core.views.recorder import record

    model = create_model("base")
    with record(model, attention=True) as rec:        # attention=True: every block's probabilities
        loss, pred, mask = model(imgs, mask_ratio=0.75)
    rec.hidden_states("encoder")   # [(B, 1 + L_keep, D)] * depth, in block order
    rec.stages["encoder.norm"]     # the latent (B, 1 + L_keep, D)
    rec.attention["encoder.blocks.11.attn"]   # (B, heads, T, T), rows sum to 1
    rec.masking.ids_keep           # (B, L_keep): which patch each visible token is

How it reads (no name in ``mae_core`` is replaced): forward hooks on the modules whose output is a
stage, and on the record points of :mod:`mae_core.record` for the rest. While attention is recorded,
the blocks asked for run the explicit attention path (``Attention.fused = False``), because the fused
``scaled_dot_product_attention`` never materialises the probabilities; it is restored on exit. The
explicit path is slower and equal to the fused one within float rounding (about 1e-7 in float32);
recording hidden states only changes nothing in the numbers.

Stage names (the keys of :attr:`Recording.stages`, in forward order) are module paths of the model:
    encoder.patch_embed (B, L, D)          encoder.visible (B, L_keep, D)      encoder.tokens (B, 1+L_keep, D)
    encoder.blocks.{i} (B, 1+L_keep, D)    encoder.norm (B, 1+L_keep, D)       decoder.embed (B, 1+L_keep, D_dec)
    decoder.tokens (B, 1+L, D_dec)         decoder.blocks.{i} (B, 1+L, D_dec)  decoder.norm (B, 1+L, D_dec)
    decoder.pred (B, 1+L, p*p*C)           (the cls row is dropped after it)
and attention ``encoder.blocks.{i}.attn`` (B, heads, 1+L_keep, 1+L_keep), ``decoder.blocks.{i}.attn``
(B, heads, 1+L, 1+L), in the model's token order: cls first, then the visible tokens in shuffled order
(``masking.ids_keep`` says which patch each one is) for the encoder, raster order for the decoder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from torch import Tensor, nn

from ..attention import Attention
from ..errors import MAEError
from ..masking import Masking

# The modules whose output is a stage, relative to the encoder / decoder (blocks are added by index).
_ENCODER_STAGES = ("patch_embed", "visible", "tokens", "blocks", "norm")
_DECODER_STAGES = ("embed", "tokens", "blocks", "norm", "pred")


@dataclass
class Recording:
    """What one recorded forward pass computed (tensors detached, not copied)."""

    stages: dict[str, Tensor] = field(default_factory=dict)  # stage name -> output, in forward order
    attention: dict[str, Tensor] = field(default_factory=dict)  # "encoder.blocks.{i}.attn" -> (B, heads, T, T)
    masking: Masking | None = None  # visible, mask, ids_restore, ids_keep of the encoder's masking step

    def hidden_states(self, part: str = "encoder") -> list[Tensor]:
        """The output of every block of ``part`` ("encoder" or "decoder"), in block order."""
        prefix = f"{part}.blocks."
        return [t for name, t in self.stages.items() if name.startswith(prefix)]


def _parts(model: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """(encoder, decoder) of an MAE, of the Table 1c baseline (``.model``), or (encoder, None) for an encoder
    or a fine-tuned classifier (:class:`~mae_core.classifier.VisionTransformer`, an encoder with a head)."""
    inner = getattr(model, "model", model)
    encoder = getattr(inner, "encoder", None)
    if encoder is None and hasattr(inner, "patch_embed") and hasattr(inner, "blocks"):
        return inner, None  # a bare MAEEncoder
    if encoder is None:
        raise MAEError(f"cannot record a {type(model).__name__}: pass an MAE model or its encoder")
    return encoder, getattr(inner, "decoder", None)


def block_names(model: nn.Module, part: str) -> list[str]:
    """``["encoder.blocks.0", ...]``: the blocks of ``part`` ("encoder" or "decoder") in order."""
    encoder, decoder = _parts(model)
    module = encoder if part == "encoder" else decoder
    return [f"{part}.blocks.{i}" for i in range(len(module.blocks))] if module is not None else []


def parse_blocks(model: nn.Module, spec: str | Iterable[str] | bool) -> list[str]:
    """Block names from ``True`` (all), ``False`` (none), names, or a spec like ``"encoder:0,5,-1"``.

    A spec is ``part:indices`` or ``part:all``; indices may be negative (from the end). Raises
    :class:`~mae_core.errors.MAEError` naming the valid range for an index or a name out of range.
    """
    every = block_names(model, "encoder") + block_names(model, "decoder")
    if spec is True:
        return every
    if spec is False:
        return []
    specs = [spec] if isinstance(spec, str) else list(spec)
    chosen: list[str] = []
    for item in specs:
        if item in every:
            chosen.append(item)
            continue
        part, _, indices = item.partition(":")
        names = block_names(model, part) if part in ("encoder", "decoder") else []
        if not names or not indices:
            raise MAEError(f"unknown block {item!r}: use a name like encoder.blocks.0 or a spec like "
                           "'encoder:0,5,-1' or 'decoder:all'")
        chosen += names if indices == "all" else [names[_index(i, len(names), part)] for i in indices.split(",")]
    return list(dict.fromkeys(chosen))


def _index(text: str, n: int, what: str) -> int:
    """One block index in [-n, n) as a non-negative int, or an MAEError naming the range."""
    try:
        i = int(text)
    except ValueError:
        raise MAEError(f"{what} block index {text!r} is not an integer; use 0..{n - 1} or -1 for the last") from None
    if not -n <= i < n:
        raise MAEError(f"{what} block index {i} is out of range: the {what} has {n} blocks (0..{n - 1}, or -{n}..-1)")
    return i % n


@contextlib.contextmanager
def record(model: nn.Module, *, attention: bool | str | Iterable[str] = False,
           stages: bool = True) -> Iterator[Recording]:
    """Record what ``model``'s forward passes compute inside the ``with`` block.

    Args:
        model: a :class:`~mae_core.mae.MaskedAutoencoderViT`, its :class:`~mae_core.encoder.MAEEncoder`,
            or the Table 1c baseline :class:`~mae_core.views.baseline.MaskTokensInEncoder`.
        attention: which blocks' attention probabilities to record: ``True`` every block, ``False``
            none, or block names / specs as :func:`parse_blocks` takes them. Those blocks run the
            explicit attention path for the duration (slower; equal within float rounding).
        stages: record the hidden states (every stage above); False records attention (and masks) only.

    Yields:
        a :class:`Recording`, filled as the forward runs. A module run twice keeps its last output.
    """
    encoder, decoder = _parts(model)
    chosen = set(parse_blocks(model, attention))
    recording = Recording()
    handles = []

    def keep(name: str):
        def hook(module, args, output):
            if isinstance(output, Masking):
                recording.masking = Masking(*(t.detach() for t in output))
                output = output.visible
            if stages:
                recording.stages.pop(name, None)  # re-insert: the dict keeps forward order
                recording.stages[name] = output.detach()
        return hook

    def keep_attention(name: str):
        def hook(module, args, output):
            recording.attention[name] = output.detach()
        return hook

    switched: list[tuple[Attention, bool]] = []
    for part, module, names in (("encoder", encoder, _ENCODER_STAGES), ("decoder", decoder, _DECODER_STAGES)):
        if module is None:
            continue
        for stage in names:
            if stage != "blocks":  # cheap even with stages=False: the masking is always kept
                if not hasattr(module, stage):  # the fine-tuned classifier: no masking; no norm with global pool
                    continue
                handles.append(getattr(module, stage).register_forward_hook(keep(f"{part}.{stage}")))
                continue
            for i, block in enumerate(module.blocks):
                name = f"{part}.blocks.{i}"
                if stages:
                    handles.append(block.register_forward_hook(keep(name)))
                if name in chosen:
                    switched.append((block.attn, block.attn.fused))
                    block.attn.fused = False
                    handles.append(block.attn.probs.register_forward_hook(keep_attention(f"{name}.attn")))
    try:
        yield recording
    finally:
        for handle in handles:
            handle.remove()
        for attn, fused in switched:
            attn.fused = fused
