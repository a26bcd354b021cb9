"""transformers' ViTMAE parameter names <-> the official flat names.

Paper: none (engineering). transformers' ``ViTMAEForPreTraining`` holds the same tensors as the official
``models_mae.py``, under other names, with one structural difference: the official fused ``qkv``
projection (3D x D) is three Linears there (query, key, value; each D x D). The official ``qkv`` rows
are ``[q; k; v]`` stacked in that order, so splitting is ``chunk(3, dim=0)`` and fusing is ``cat``.

transformers renamed its modules at v5. Both spellings are plain string tables below:

    official                      transformers v5                          transformers v4
    cls_token                     vit.embeddings.cls_token                 (same)
    pos_embed                     vit.embeddings.position_embeddings       (same)
    patch_embed.proj.*            vit.embeddings.patch_embeddings.projection.*   (same)
    blocks.{i}.                   vit.layers.{i}.                          vit.encoder.layer.{i}.
    decoder_blocks.{i}.           decoder.decoder_layers.{i}.              (same)
      norm1.*                       layernorm_before.*                       (same)
      attn.qkv.* (fused)            attention.{q,k,v}_proj.*                 attention.attention.{query,key,value}.*
      attn.proj.*                   attention.o_proj.*                       attention.output.dense.*
      norm2.*                       layernorm_after.*                        (same)
      mlp.fc1.*, mlp.fc2.*          mlp.fc1.*, mlp.fc2.*                     intermediate.dense.*, output.dense.*
    norm.*                        vit.layernorm.*                          (same)
    mask_token, decoder_pos_embed decoder.mask_token, decoder.decoder_pos_embed   (same)
    decoder_embed/norm/pred.*     decoder.decoder_embed/norm/pred.*        (same)

A bare ``ViTMAEModel`` (encoder only) has the ``vit.`` names without the ``vit.`` prefix.
Files written by transformers v5's ``save_pretrained`` carry the v4 names, except that the decoder
blocks come out as ``decoder.decoder_encoder.layer.{i}.`` (its reverse renaming of ``encoder.layer.`` ->
``layers.`` also fires inside ``decoder_layers.``); that spelling is read as ``decoder.decoder_layers.{i}.``.
Shapes are unchanged by the renaming except qkv: official (3D, D) / (3D,) <-> three (D, D) / (D,).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

from ..errors import HFLayoutError, preview

HF_VERSIONS = ("v5", "v4")

# Names outside the Transformer blocks: identical in v4 and v5.
TOP_LEVEL = {
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
    "norm.weight": "vit.layernorm.weight",
    "norm.bias": "vit.layernorm.bias",
    "mask_token": "decoder.mask_token",
    "decoder_pos_embed": "decoder.decoder_pos_embed",
    "decoder_embed.weight": "decoder.decoder_embed.weight",
    "decoder_embed.bias": "decoder.decoder_embed.bias",
    "decoder_norm.weight": "decoder.decoder_norm.weight",
    "decoder_norm.bias": "decoder.decoder_norm.bias",
    "decoder_pred.weight": "decoder.decoder_pred.weight",
    "decoder_pred.bias": "decoder.decoder_pred.bias",
}

# Block containers: official prefix -> transformers prefix, per version.
BLOCK_PREFIXES = {
    "v5": {"blocks.": "vit.layers.", "decoder_blocks.": "decoder.decoder_layers."},
    "v4": {"blocks.": "vit.encoder.layer.", "decoder_blocks.": "decoder.decoder_layers."},
}

# Inside one block (before ".weight" / ".bias"): official -> transformers, per version.
BLOCK_PARTS = {
    "v5": {"norm1": "layernorm_before", "attn.proj": "attention.o_proj", "norm2": "layernorm_after",
           "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"},
    "v4": {"norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
           "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"},
}

# The official fused "attn.qkv" is these three, in this order (rows [q; k; v]).
QKV_PARTS = {
    "v5": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
    "v4": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
}

# Other spellings of a block container seen in saved files -> the canonical one.
CONTAINER_ALIASES = {"decoder.decoder_encoder.layer.": "decoder.decoder_layers."}

_BLOCK_KEY = re.compile(r"^(?P<container>.+?)(?P<index>\d+)\.(?P<part>.+)\.(?P<kind>weight|bias)$")


def is_hf_layout(keys: Iterable[str]) -> bool:
    """True if the names look like transformers' ViTMAE (``ViTMAEForPreTraining`` or bare ``ViTMAEModel``)."""
    return any(k.startswith(("vit.embeddings.", "embeddings.patch_embeddings.", "embeddings.cls_token"))
               for k in keys)


def hf_version(keys: Iterable[str]) -> str:
    """``"v4"`` (``attention.attention.query``) or ``"v5"`` (``attention.q_proj``) naming; v5 if no block."""
    keys = list(keys)
    if any(".attention.attention.query." in k for k in keys):
        return "v4"
    return "v5"


def official_to_hf(state_dict: Mapping[str, Tensor], version: str = "v5") -> dict[str, Tensor]:
    """Official layout -> transformers names of ``version``; qkv split into views (no copy).

    Args:
        state_dict: official-layout tensors (encoder-only is fine).
        version: ``"v5"`` or ``"v4"`` naming.
    """
    _check_version(version)
    out: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        if key in TOP_LEVEL:
            out[TOP_LEVEL[key]] = tensor
            continue
        container, index, part, kind = _split_block_key(key, BLOCK_PREFIXES[version], official=True)
        prefix = f"{BLOCK_PREFIXES[version][container]}{index}."
        if part == "attn.qkv":
            for name, piece in zip(QKV_PARTS[version], tensor.chunk(3, dim=0), strict=True):
                out[f"{prefix}{name}.{kind}"] = piece
        elif part in BLOCK_PARTS[version]:
            out[f"{prefix}{BLOCK_PARTS[version][part]}.{kind}"] = tensor
        else:
            raise HFLayoutError(f"official key {key!r} has no transformers ViTMAE counterpart")
    return out


def hf_to_official(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """transformers names (v4 or v5, with or without the ``vit.`` prefix) -> official layout.

    query/key/value are concatenated into the fused ``qkv`` (a copy). Unknown or incomplete names
    raise :class:`HFLayoutError` naming them. The result lists the top-level tensors first, like the
    official state dict.
    """
    sd = _with_vit_prefix(state_dict)
    version = hf_version(sd)
    top = {hf: official for official, hf in TOP_LEVEL.items()}
    parts = {hf: official for official, hf in BLOCK_PARTS[version].items()}
    containers = {hf: official for official, hf in BLOCK_PREFIXES[version].items()}
    out: dict[str, Tensor] = {}
    qkv: dict[str, dict[str, Tensor]] = {}  # official "blocks.3.attn.qkv.weight" -> {hf part: tensor}
    unknown = []
    for key, tensor in sd.items():
        if key in top:
            out[top[key]] = tensor
            continue
        try:
            container, index, part, kind = _split_block_key(key, containers, official=False)
        except HFLayoutError:
            unknown.append(key)
            continue
        prefix = f"{containers[container]}{index}."
        if part in QKV_PARTS[version]:
            qkv.setdefault(f"{prefix}attn.qkv.{kind}", {})[part] = tensor
        elif part in parts:
            out[f"{prefix}{parts[part]}.{kind}"] = tensor
        else:
            unknown.append(key)
    if unknown:
        raise HFLayoutError(f"{len(unknown)} transformers key(s) with no official counterpart "
                            f"(naming {version}): {preview(unknown)}")
    incomplete = [k for k, got in qkv.items() if len(got) != 3]
    if incomplete:
        raise HFLayoutError(f"query/key/value incomplete for {preview(incomplete)}")
    for key, got in qkv.items():
        out[key] = _fuse([got[name] for name in QKV_PARTS[version]])
    return dict(sorted(out.items(), key=lambda item: _official_rank(item[0])))


def _fuse(parts: list[Tensor]) -> Tensor:
    """``torch.cat(parts)``, or without a copy the tensor they are consecutive row blocks of (as
    :func:`official_to_hf`'s chunks, or a fused buffer a reader filled in place)."""
    base = parts[0]._base
    views = base is not None and base.is_contiguous() and all(p._base is base and p.is_contiguous() for p in parts)
    ends = [p.data_ptr() + p.numel() * p.element_size() for p in parts]
    in_order = [p.data_ptr() for p in parts] == [base.data_ptr(), *ends[:-1]] if views else False
    if views and in_order and base.numel() == sum(p.numel() for p in parts):
        return base
    return torch.cat(parts, dim=0)


def qkv_groups(keys: Iterable[str]) -> list[tuple[str, str, str]]:
    """The (query, key, value) names of every fused official ``qkv`` among transformers ``keys``, in order."""
    keys = list(keys)
    version = hf_version(keys)
    q, k, v = QKV_PARTS[version]
    present = set(keys)
    groups = []
    for name in keys:
        if f".{q}." in name:
            trio = (name, name.replace(f".{q}.", f".{k}."), name.replace(f".{q}.", f".{v}."))
            if trio[1] in present and trio[2] in present:
                groups.append(trio)
    return groups


def _with_vit_prefix(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Canonical spelling: add the ``vit.`` prefix a bare ``ViTMAEModel`` lacks, and undo
    :data:`CONTAINER_ALIASES`, so one table serves every file."""
    def canonical(key: str) -> str:
        for alias, name in CONTAINER_ALIASES.items():
            if key.startswith(alias):
                return name + key[len(alias):]
        return key

    bare = not any(k.startswith("vit.") for k in state_dict)
    return {canonical(f"vit.{k}" if bare else k): v for k, v in state_dict.items()}


def _split_block_key(key: str, containers: Mapping[str, str], *, official: bool) -> tuple[str, int, str, str]:
    """``"blocks.3.attn.qkv.weight"`` -> ("blocks.", 3, "attn.qkv", "weight") (container from ``containers``)."""
    match = _BLOCK_KEY.match(key)
    names = containers.keys()
    if match is None or match["container"] not in names:
        side = "official" if official else "transformers"
        raise HFLayoutError(f"{side} key {key!r} is not a known ViTMAE parameter")
    return match["container"], int(match["index"]), match["part"], match["kind"]


_OFFICIAL_ORDER = ("cls_token", "pos_embed", "mask_token", "decoder_pos_embed", "patch_embed.", "blocks.", "norm.",
                   "decoder_embed.", "decoder_blocks.", "decoder_norm.", "decoder_pred.")
_PART_ORDER = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")


def official_order(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The same tensors in the official state dict's order (files such as safetensors sort their keys);
    keys the official model does not have keep their order, after the others."""
    known = [k for k in state_dict if any(k == p or k.startswith(p) for p in _OFFICIAL_ORDER)]
    others = [k for k in state_dict if k not in set(known)]
    return {k: state_dict[k] for k in sorted(known, key=_official_rank) + others}


def _official_rank(key: str) -> tuple[int, int, int, int]:
    """Position in the official state dict: top-level tensors, then submodules in definition order,
    blocks by index, parts in block order, weight before bias."""
    group = next(i for i, prefix in enumerate(_OFFICIAL_ORDER) if key == prefix or key.startswith(prefix))
    match = _BLOCK_KEY.match(key)
    if match is None or match["part"] not in _PART_ORDER:
        return (group, 0, 0, key.endswith(".bias"))
    return (group, int(match["index"]), _PART_ORDER.index(match["part"]), match["kind"] == "bias")


def _check_version(version: str) -> None:
    if version not in HF_VERSIONS:
        raise ValueError(f"transformers naming must be one of {HF_VERSIONS}, got {version!r}")

