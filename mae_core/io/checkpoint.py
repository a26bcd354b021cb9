"""Checkpoint layouts: the official flat names <-> our nested ``encoder.* / decoder.*`` names.

Paper: none (engineering). The official ``models_mae.py`` keeps every parameter on one module
(``blocks.0.attn.qkv.weight``, ``decoder_blocks.0...``, ``mask_token``); we split the model into an
encoder and a decoder module. Conversion is strict (key sets and shapes must match exactly, otherwise
an error names the keys) and lossless (tensors are passed through, never copied or cast).

    official                      ours
    cls_token, pos_embed          encoder.cls_token, encoder.pos_embed
    patch_embed.*, blocks.*, norm.*   encoder.patch_embed.*, encoder.blocks.*, encoder.norm.*
    mask_token                    decoder.mask_token
    decoder_pos_embed             decoder.pos_embed
    decoder_embed.*               decoder.embed.*
    decoder_blocks.*, decoder_norm.*, decoder_pred.*   decoder.blocks.*, decoder.norm.*, decoder.pred.*
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..errors import CheckpointMismatchError, preview

# (official prefix, our prefix); the first matching official prefix wins, so order matters.
_DECODER_PREFIXES = (
    ("decoder_pos_embed", "decoder.pos_embed"),
    ("decoder_embed.", "decoder.embed."),
    ("decoder_blocks.", "decoder.blocks."),
    ("decoder_norm.", "decoder.norm."),
    ("decoder_pred.", "decoder.pred."),
    ("mask_token", "decoder.mask_token"),
)
_ENCODER_PREFIX = "encoder."


def official_key_to_ours(key: str) -> str:
    for official, ours in _DECODER_PREFIXES:
        if key.startswith(official):
            return ours + key[len(official):]
    return _ENCODER_PREFIX + key


def our_key_to_official(key: str) -> str:
    for official, ours in _DECODER_PREFIXES:
        if key.startswith(ours):
            return official + key[len(ours):]
    if key.startswith(_ENCODER_PREFIX):
        return key[len(_ENCODER_PREFIX):]
    raise KeyError(f"{key!r} is neither an encoder.* nor a decoder.* parameter")


def is_official_layout(state_dict: Mapping[str, Tensor]) -> bool:
    """True if the keys look official (flat), False if they look like ours (``encoder.``/``decoder.``)."""
    return not any(k.startswith((_ENCODER_PREFIX, "decoder.")) for k in state_dict)


def official_to_ours(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official-layout state dict to ours (same tensors, same order)."""
    return {official_key_to_ours(k): v for k, v in state_dict.items()}


def ours_to_official(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename our state dict to the official layout (same tensors), in the official key order.

    The official model lists its four top-level tensors first (cls_token, pos_embed, mask_token,
    decoder_pos_embed), then its submodules; a stable sort on "is it top-level" gives that order.
    """
    renamed = [(our_key_to_official(k), v) for k, v in state_dict.items()]
    return dict(sorted(renamed, key=lambda item: "." in item[0]))


def check_same_layout(got: Mapping[str, Tensor], expected: Mapping[str, Tensor], what: str = "checkpoint") -> None:
    """Raise :class:`CheckpointMismatchError` unless both have the same keys with the same shapes."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    wrong_shape = [
        f"{k}: {tuple(got[k].shape)} vs expected {tuple(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} key(s): {preview(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} key(s): {preview(unexpected)}")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatch(es): {preview(wrong_shape)}")
    if problems:
        raise CheckpointMismatchError(f"{what} does not fit the model: " + "; ".join(problems))

