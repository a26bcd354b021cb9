"""transformers' ``ViTForImageClassification`` parameter names <-> the official classifier's (``models_vit.py``,
which are also timm's ``VisionTransformer`` names).

Paper: none (engineering); the model is MAE Sec. 4's fine-tuned ViT. transformers keeps query, key and value
as three Linear layers where the official model fuses them (``qkv``: rows q, then k, then v), and it renamed
its ViT modules in v5:

    official                transformers v4 (block i: vit.encoder.layer.i.)  v5 (block i: vit.layers.i.)
    cls_token               vit.embeddings.cls_token                         (same)
    pos_embed               vit.embeddings.position_embeddings               (same)
    patch_embed.proj        vit.embeddings.patch_embeddings.projection       (same)
    blocks.i.attn.qkv       attention.attention.{query,key,value}            attention.{q,k,v}_proj
    blocks.i.attn.proj      attention.output.dense                           attention.o_proj
    blocks.i.norm1 / norm2  layernorm_before / layernorm_after               (same)
    blocks.i.mlp.fc1 / fc2  intermediate.dense / output.dense                mlp.fc1 / mlp.fc2
    norm                    vit.layernorm                                    (same)
    head                    classifier                                       (same)

transformers' classifier reads the cls token after the final norm with a Linear head: a global-pool
(``fc_norm``) or linear-probe (BatchNorm) head has no counterpart there.

Shapes: every tensor keeps its shape except ``qkv`` (3D, D) <-> three (D, D) (biases (3D,) <-> three (D,)).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import Tensor

from ..errors import HFLayoutError


def is_hf_vit_classifier(keys: Iterable[str]) -> bool:
    """True for transformers ``ViTForImageClassification`` names (``classifier.weight`` beside ``vit.*``)."""
    keys = set(keys)
    return "classifier.weight" in keys and any(k.startswith("vit.embeddings.") for k in keys)



_HF_TOP = {"cls_token": "vit.embeddings.cls_token", "pos_embed": "vit.embeddings.position_embeddings",
           "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
           "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
           "norm.weight": "vit.layernorm.weight", "norm.bias": "vit.layernorm.bias",
           "head.weight": "classifier.weight", "head.bias": "classifier.bias"}
# Two namings of a block: transformers v4 (and v5 before its ViT rename) and v5's ``vit.layers``.
# official part -> transformers part; "q", "k", "v" are the three thirds of the fused qkv.
HF_VIT_NAMINGS = {
    "v4": ("vit.encoder.layer.", {"q": "attention.attention.query", "k": "attention.attention.key",
                                  "v": "attention.attention.value", "attn.proj": "attention.output.dense",
                                  "norm1": "layernorm_before", "norm2": "layernorm_after",
                                  "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}),
    "v5": ("vit.layers.", {"q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj",
                           "attn.proj": "attention.o_proj", "norm1": "layernorm_before", "norm2": "layernorm_after",
                           "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}),
}


def hf_vit_naming(keys: list[str]) -> str:
    """``"v4"`` (``vit.encoder.layer.i.attention.attention.query``) or ``"v5"`` (``vit.layers.i.attention.q_proj``)."""
    return "v5" if any(k.startswith("vit.layers.") for k in keys) else "v4"


def official_to_hf_classifier(state_dict: dict[str, Tensor], hf_keys: list[str] | None = None,
                              version: str = "v5") -> dict[str, Tensor]:
    """The official classifier's tensors under transformers' ``ViTForImageClassification`` names (the fused
    ``qkv`` split into its query, key and value thirds), in the naming ``hf_keys`` use."""
    prefix, parts = HF_VIT_NAMINGS[hf_vit_naming(hf_keys) if hf_keys is not None else version]
    out: dict[str, Tensor] = {}
    for k, v in state_dict.items():
        if k in _HF_TOP:
            out[_HF_TOP[k]] = v
            continue
        m = re.match(r"blocks\.(\d+)\.(.+)\.(weight|bias)$", k)
        if m is None or (m.group(2) not in parts and m.group(2) != "attn.qkv"):
            raise HFLayoutError(f"{k} has no transformers ViT counterpart")
        i, part, kind = m.groups()
        if part == "attn.qkv":
            for name, chunk in zip("qkv", v.chunk(3, dim=0), strict=True):
                out[f"{prefix}{i}.{parts[name]}.{kind}"] = chunk
        else:
            out[f"{prefix}{i}.{parts[part]}.{kind}"] = v
    return out


def hf_to_official_classifier(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """transformers' ViT classifier names (either naming) -> official, q / k / v concatenated into ``qkv``."""
    prefix, parts = HF_VIT_NAMINGS[hf_vit_naming(list(tensors))]
    back_top = {v: k for k, v in _HF_TOP.items()}
    back = {v: k for k, v in parts.items()}
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for k, v in tensors.items():
        if k in back_top:
            out[back_top[k]] = v
            continue
        m = re.match(re.escape(prefix) + r"(\d+)\.(.+)\.(weight|bias)$", k)
        if m is None or m.group(2) not in back:
            raise HFLayoutError(f"{k} has no official counterpart")
        i, part, kind = m.groups()
        ours = back[part]
        if ours in ("q", "k", "v"):
            qkv.setdefault((i, kind), {})[ours] = v
        else:
            out[f"blocks.{i}.{ours}.{kind}"] = v
    for (i, kind), thirds in qkv.items():
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([thirds["q"], thirds["k"], thirds["v"]], dim=0)
    return out
