"""A checkpoint as a model: the variant its shapes name, and the model built with its weights.

Paper: none (engineering). Every command that takes ``--weights`` goes through :func:`load_weights`
and :func:`build_model`. This sits above the model files (it builds models) and above
:mod:`mae_core.io.weights` (which reads files and knows no model).

Weights are loaded without a wasted random initialisation: the model is built on the ``meta``
device and the file's tensors are assigned to it.

Shapes: a file -> :class:`LoadedWeights` (``{official key: float32 tensor}``) -> a
:class:`~mae_core.mae.MaskedAutoencoderViT` on ``device``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError, ClassifierCheckpointError
from ..io import checkpoint
from ..io.files import show_path
from ..io.weights import DECODER_KEYS, check_tensors, has_decoder, read_weights
from ..mae import MaskedAutoencoderViT
from ..models import VARIANTS, create_model, get_variant, list_models
from ..pos_embed import adapt_pos_embeds

# What a file may weigh: every parameter in float64, three times over (weights + two Adam moments, as a
# training checkpoint holds them), plus room for the pickle, header or config: anything larger is not
# a checkpoint of the variant, and is refused before a byte of it is read.
_BYTES_PER_PARAM = 8 * 3
_SLACK_BYTES = 64 << 20


@dataclass
class LoadedWeights:
    """A weight file checked against the registry: float32, official layout, its variant named."""
    state_dict: dict[str, Tensor]  # official key layout, float32 tensors on CPU
    path: str
    format: str  # "pth", "safetensors" or "transformers"
    variant: str | None  # canonical registry name whose shapes the file matches, if any
    has_decoder: bool  # False for encoder-only files
    notes: list[str] = field(default_factory=list)  # what a user should know (e.g. "no decoder")
    hints: dict[str, Any] = field(default_factory=dict)  # config the file states, e.g. {"norm_pix_loss": True}
    file_dtypes: dict[str, int] = field(default_factory=dict)  # dtype name -> tensor count, as stored


def read_state_dict(path: str | Path) -> tuple[dict[str, Tensor], str]:
    """Read a weight file (or transformers directory) into a flat ``{name: tensor}`` dict in the
    official layout (dtypes as stored), and its format (``"pth"``, ``"safetensors"`` or ``"transformers"``)."""
    read = read_weights(path, max_checkpoint_bytes())
    return read.state_dict, read.format


@cache
def max_checkpoint_bytes(variant: str | None = None) -> int:
    """The most bytes a checkpoint of ``variant`` (any registered variant if None) can need."""
    names = [variant] if variant else list_models()
    params = max(sum(math.prod(s) for s in official_shapes(n).values()) for n in names)
    return params * _BYTES_PER_PARAM + _SLACK_BYTES


@cache
def official_shapes(variant: str) -> dict[str, tuple[int, ...]]:
    """Official-layout key -> shape of a registered variant, from a meta-device model (no memory)."""
    model = create_model(variant, device="meta")
    return {k: tuple(v.shape) for k, v in model.official_state_dict().items()}


def detect_variant(state_dict: Mapping[str, Tensor]) -> str | None:
    """The registered variant whose official key set and shapes the state dict matches (encoder part
    only for an encoder-only file), or ``None``."""
    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    decoder = has_decoder(state_dict)
    for name in list_models():
        expected = official_shapes(name)
        if not decoder:
            expected = {k: s for k, s in expected.items() if not k.startswith(DECODER_KEYS)}
        if got == expected:
            return name
    return None


def load_weights(path: str | Path, variant: str | None = None) -> LoadedWeights:
    """Read ``path`` and check it against ``variant`` (a registry name), or detect the variant.

    Raises:
        CheckpointError: missing, unreadable, unsafe or corrupt file; or keys/shapes that do not fit
            ``variant`` (the message names the keys and the variant the file looks like).
    """
    wanted = get_variant(variant).name if variant is not None else None
    read = read_weights(path, max_checkpoint_bytes(wanted))
    sd = read.state_dict  # a head and no decoder: models_vit.py, not models_mae.py (finetune.is_classifier_state)
    if ("head.weight" in sd or "head.1.weight" in sd) and not any(k.startswith(DECODER_KEYS) for k in sd):
        raise ClassifierCheckpointError(
            f"checkpoint {show_path(path)} is a fine-tuned classifier (a head, no decoder), not a pre-trained MAE: "
            "there is no decoder to reconstruct with; mae classify and mae compare-official take it, or pass a "
            "pre-trained MAE checkpoint here", setting="weights")
    state_dict, notes, stored = check_tensors(read.state_dict, path)
    fmt = read.format
    detected = detect_variant(state_dict)
    decoder = has_decoder(state_dict)
    if wanted is not None:
        if detected != wanted:
            expected = official_shapes(wanted)
            if not decoder:
                expected = {k: s for k, s in expected.items() if not k.startswith(DECODER_KEYS)}
            looks = f"it looks like {detected}" if detected else "it matches no registered variant"
            try:
                shapes = {k: torch.empty(s, device="meta") for k, s in expected.items()}
                checkpoint.check_same_layout(state_dict, shapes, what=f"checkpoint {show_path(path)}")
            except checkpoint.CheckpointMismatchError as exc:
                short = _short(detected) or None
                fix = f"load it as variant {short!r}" if short else "name the variant the file was saved from"
                raise CheckpointError(f"{exc}; {looks}: {fix}", setting="variant", value=short) from None
    elif detected is None:
        raise CheckpointError(
            f"checkpoint {show_path(path)} matches none of the registered variants ({', '.join(_shorts())}) by its "
            "key names and shapes; name the variant it should be to see which keys differ", setting="variant")
    loaded = LoadedWeights(state_dict, str(path), fmt, wanted or detected, decoder,
                           notes=list(read.notes) + notes, hints=dict(read.hints), file_dtypes=stored)
    if not decoder:
        loaded.notes.append("the file has no decoder weights (encoder-only checkpoint): the decoder is "
                            "initialised from the seed, so its predictions are not trained reconstructions")
    return loaded


def _short(name: str | None) -> str:
    return get_variant(name).short if name else ""


def _shorts() -> list[str]:
    return [v.short for v in VARIANTS.values()]


def build_model(variant: str, weights: LoadedWeights | None = None, *, device: torch.device | str = "cpu",
                seed: int = 0, pos_embed: str = "sincos", **overrides: Any) -> MaskedAutoencoderViT:
    """Build ``variant`` with the file's weights, or with the seeded official initialisation.

    With weights the model is created on ``meta`` and the tensors are assigned (no random init is
    computed and thrown away). An encoder-only file gets a decoder initialised from ``seed``.
    ``overrides`` may change the size (``img_size=448``): the file's position tables are then replaced
    as ``pos_embed`` says (see :func:`mae_core.pos_embed.adapt_pos_embeds`), and ``model.pos_embed_notes``
    says so.
    """
    if weights is None:
        torch.manual_seed(seed)
        return create_model(variant, device=device, **overrides)
    model = create_model(variant, device="meta", **overrides)
    # Weights saved for another image size: the position tables are regenerated for this model's grid
    # (model.pos_embed_notes says which), every other tensor is used as it is.
    state_dict, notes = adapt_pos_embeds(weights.state_dict, model.config.grid_size, pos_embed)
    if weights.has_decoder:
        model.load_state_dict(state_dict, assign=True)
    else:
        encoder_sd = {k: v for k, v in state_dict.items() if not k.startswith(DECODER_KEYS)}
        model.encoder.load_state_dict(encoder_sd, assign=True)
        model.decoder.to_empty(device="cpu")
        torch.manual_seed(seed)
        with torch.no_grad():
            model.decoder.init_weights()
    model.pos_embed_notes = notes
    return model.to(device)
