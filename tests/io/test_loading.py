"""How weights are read: lazily from safetensors, and transformers' q/k/v fused without a second copy."""

from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from mae_core.io import hf_layout
from mae_core.loading.weights import read_state_dict


def _tiny_hf(tmp_path, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    names = ["q_proj", "k_proj", "v_proj"]
    tensors = {"vit.embeddings.cls_token": torch.randn(1, 1, 8, generator=g)}
    for n in names:
        tensors[f"vit.layers.0.attention.{n}.weight"] = torch.randn(8, 8, generator=g)
        tensors[f"vit.layers.0.attention.{n}.bias"] = torch.randn(8, generator=g)
    tensors = {k: v.to(dtype) for k, v in tensors.items()}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit_mae"}))
    return tensors


def test_transformers_qkv_is_read_into_one_buffer(tmp_path, monkeypatch):
    def no_cat(*args, **kwargs):
        raise AssertionError("q, k and v were concatenated: a second copy of every qkv")

    for dtype in (torch.float32, torch.bfloat16):
        tensors = _tiny_hf(tmp_path, dtype)
        with monkeypatch.context() as m:
            m.setattr(hf_layout.torch, "cat", no_cat)
            sd, fmt = read_state_dict(tmp_path)
        assert fmt == "transformers"
        for kind in ("weight", "bias"):
            qkv = sd[f"blocks.0.attn.qkv.{kind}"]
            parts = [tensors[f"vit.layers.0.attention.{n}.{kind}"] for n in ("q_proj", "k_proj", "v_proj")]
            assert qkv.dtype == dtype and torch.equal(qkv, torch.cat(parts))
            # its own memory, exactly its size: not a map of the file, not a view of a larger buffer
            assert qkv.untyped_storage().nbytes() == qkv.numel() * qkv.element_size()


def test_fuse_takes_consecutive_views_without_a_copy_and_copies_otherwise():
    qkv = torch.randn(24, 8)
    back = hf_layout.hf_to_official(hf_layout.official_to_hf({"blocks.0.attn.qkv.weight": qkv}))
    assert back["blocks.0.attn.qkv.weight"].data_ptr() == qkv.data_ptr()
    separate = {f"vit.layers.0.attention.{n}.weight": torch.randn(8, 8) for n in ("q_proj", "k_proj", "v_proj")}
    fused = hf_layout.hf_to_official(separate)["blocks.0.attn.qkv.weight"]
    assert torch.equal(fused, torch.cat(list(separate.values())))
    assert all(fused.data_ptr() != t.data_ptr() for t in separate.values())
