"""Checkpoints: every accepted layout loads bit-exact; unsafe and mismatched files are refused clearly.

Round trips go ours -> official layout -> file -> ours and compare every tensor with ``torch.equal``
(same dtype, same bits). transformers' own ``save_pretrained`` writes one of the directories, so the
name tables of ``mae_core.io.hf_layout`` are checked against the installed library, not against themselves.
"""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from mae_core.io import hf_layout
from mae_core.models import create_model
from mae_core.io.safetensors_file import write_safetensors
from mae_core.loading.weights import CheckpointError, build_model, load_weights
from official_mae import load_reference
from official_mae.compare import compare_official

from .helpers import seeded_images


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    return create_model("base")


@pytest.fixture(scope="module")
def official(base):
    return base.official_state_dict()


def _assert_bit_exact(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for key, tensor in expected.items():
        assert got[key].dtype == tensor.dtype, key
        assert torch.equal(got[key], tensor), key


def _round_trip(path, official):
    loaded = load_weights(path)
    assert loaded.variant == "mae_vit_base_patch16" and loaded.has_decoder
    _assert_bit_exact(loaded.state_dict, official)
    model = build_model(loaded.variant, loaded)
    _assert_bit_exact(model.official_state_dict(), official)
    return loaded


def test_round_trip_official_pth(tmp_path, official):
    path = tmp_path / "mae_visualize_vit_base.pth"
    torch.save({"model": official, "epoch": 799}, path)  # the official wrapper
    _round_trip(path, official)


def test_round_trip_safetensors(tmp_path, official):
    path = tmp_path / "mae_base.safetensors"
    write_safetensors(path, official)
    _round_trip(path, official)


def test_round_trip_transformers_save_pretrained(tmp_path, base, official):
    """Written by transformers itself (with the names it chooses to write), read back by mae_core."""
    ref = load_reference("hf", "base", state_dict=official)
    ref.model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    loaded = _round_trip(tmp_path, official)
    assert loaded.format == "transformers"
    assert any("transformers ViTMAE directory" in n for n in loaded.notes)


def test_transformers_v4_pytorch_model_bin(tmp_path, official):
    """The v4 layout transformers used to write: attention.attention.query/key/value, intermediate.dense."""
    hf = hf_layout.official_to_hf(official, "v4")
    q = hf["vit.encoder.layer.3.attention.attention.query.weight"]
    v = hf["decoder.decoder_layers.7.attention.attention.value.bias"]
    assert torch.equal(q, official["blocks.3.attn.qkv.weight"][:768])
    assert torch.equal(v, official["decoder_blocks.7.attn.qkv.bias"][1024:])
    assert torch.equal(hf["vit.encoder.layer.0.intermediate.dense.weight"], official["blocks.0.mlp.fc1.weight"])
    torch.save({k: t.clone() for k, t in hf.items()}, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit_mae", "layer_norm_eps": 1e-12,
                                                      "norm_pix_loss": True}))
    loaded = _round_trip(tmp_path, official)
    assert loaded.hints == {"norm_pix_loss": True}
    assert any("layer_norm_eps=1e-12" in n for n in loaded.notes)


def test_transformers_v5_names_sharded(tmp_path, official):
    hf = hf_layout.official_to_hf(official, "v5")
    assert "vit.layers.0.attention.q_proj.weight" in hf and "decoder.decoder_layers.0.mlp.fc2.bias" in hf
    keys = list(hf)
    halves = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for name, part in halves.items():
        write_safetensors(tmp_path / name, {k: hf[k] for k in part})
    index = {"weight_map": {k: name for name, part in halves.items() for k in part}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit_mae"}))
    _round_trip(tmp_path, official)


def test_installed_transformers_names_are_in_the_tables(official):
    """The installed transformers' own parameter names equal our table for its version."""
    ref = load_reference("hf", "base")
    own = {k: tuple(t.shape) for k, t in ref.model.state_dict().items()}
    ours = {k: tuple(t.shape) for k, t in hf_layout.official_to_hf(official, ref.naming).items()}
    assert own == ours


@pytest.mark.parametrize("variant", ["base", "large", "huge"])
@pytest.mark.parametrize("version", hf_layout.HF_VERSIONS)
def test_name_tables_round_trip_every_variant(variant, version):
    sd = create_model(variant, device="meta").official_state_dict()
    back = hf_layout.hf_to_official(hf_layout.official_to_hf(sd, version))
    assert list(back) == list(sd)
    assert all(back[k].shape == sd[k].shape for k in sd)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # unpickling this calls open(marker, "w"): it would create the file
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"model": {"cls_token": torch.zeros(1, 1, 768)}, "extra": Payload()}, path)
    assert not marker.exists()

    with pytest.raises(CheckpointError, match="refusing to load"):
        load_weights(path)
    assert not marker.exists()

    # The payload is real: a plain unpickler does run it (proof this test can fail).
    pickle.loads(pickle.dumps(Payload())).close()
    assert marker.exists()


def test_encoder_only_checkpoint_loads_with_a_note(tmp_path, official):
    encoder = {k: v for k, v in official.items() if not k.startswith(("decoder_", "mask_token"))}
    path = tmp_path / "mae_pretrain_vit_base.pth"
    torch.save({"model": encoder}, path)
    loaded = load_weights(path)
    assert loaded.variant == "mae_vit_base_patch16" and not loaded.has_decoder
    assert any("no decoder" in n for n in loaded.notes)
    model = build_model(loaded.variant, loaded, seed=3)
    _assert_bit_exact(model.encoder.state_dict(), {k: v for k, v in encoder.items()})

    result = compare_official("base", seeded_images(1, 224), weights=loaded, reference="timm", seed=3)
    assert result["passed"]
    assert any("same decoder weights" in n for n in result["notes"])


def test_variant_mismatch_names_keys_and_the_variant_it_looks_like(tmp_path, official):
    path = tmp_path / "base.pth"
    torch.save({"model": official}, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(path, "huge")
    message = str(info.value)
    assert "mae_vit_base_patch16" in message and "variant 'base'" in message and "--" not in message  # no CLI flags
    assert (info.value.setting, info.value.value) == ("variant", "base")  # what the CLI turns into --variant base
    assert "missing 240 key(s): blocks.12.norm1.weight" in message  # ViT-H has 32 blocks, ViT-B 12
    assert "patch_embed.proj.weight: (768, 3, 16, 16) vs expected (1280, 3, 14, 14)" in message


def test_not_a_vitmae_directory(tmp_path):
    with pytest.raises(CheckpointError, match="without config.json"):
        load_weights(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="not ViTMAE"):
        load_weights(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit_mae"}))
    with pytest.raises(CheckpointError, match="has no weights"):
        load_weights(tmp_path)


def test_shard_index_pointing_outside_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit_mae"}))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../x.safetensors"}}))
    with pytest.raises(CheckpointError, match="outside the directory"):
        load_weights(tmp_path)
