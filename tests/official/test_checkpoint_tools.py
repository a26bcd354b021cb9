"""`mae checkpoint info` and `mae checkpoint convert` (issue 15, items 1-2).

The fixtures are written the way their authors write them: the official model's own ``state_dict()``
(the official ``models_mae.py`` of tests/data/official_fixture) saved as ``main_pretrain.py`` does
(``{'model': ..., 'optimizer': ..., 'epoch': ...}``), an encoder-only file as the released
``mae_pretrain_*``, a DDP ``module.`` prefix, a fine-tuned ViT (``fc_norm`` + ``head``), half precision,
and transformers directories written by transformers itself (v4 names on disk) and by us (v5).
Converted files are loaded by transformers and timm themselves, strictly.
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core.loading.info import checkpoint_info
from mae_core.loading.convert import convert
from mae_core.loading.weights import load_weights
from mae_core.models import create_model
from official_mae import load_reference

from .helpers import FIXTURE_SRC

runner = CliRunner()
BASE = "mae_vit_base_patch16"


@pytest.fixture(scope="module")
def official():
    """The official model's own state dict (its code, its names, its order)."""
    torch.manual_seed(0)
    ours = create_model("base").official_state_dict()
    ref = load_reference("official", "base", official_src=FIXTURE_SRC, state_dict=ours)
    return {k: v.detach().clone() for k, v in ref.model.state_dict().items()}


@pytest.fixture(scope="module")
def src(official, tmp_path_factory):
    """The official file, written once: ``{'model': state_dict}``."""
    path = tmp_path_factory.mktemp("src") / "src_full.pth"
    torch.save({"model": official}, path)
    return path


@pytest.fixture(scope="module")
def hf_dir(src, tmp_path_factory):
    """``src`` converted by ``mae checkpoint convert --to hf`` (v5 names), once."""
    path = tmp_path_factory.mktemp("hf") / "hf_v5"
    report = convert(src, path, "hf")
    assert report["passed"], report
    return path


def _encoder(sd):
    return {k: v for k, v in sd.items() if not k.startswith(("decoder_", "mask_token"))}


def _fixture(kind: str, official: dict, tmp_path, hf_dir):
    path = tmp_path / f"{kind}.pth"
    if kind == "full":
        torch.save({"model": official, "optimizer": {"state": {}, "param_groups": []}, "epoch": 799}, path)
    elif kind == "encoder_only":
        torch.save({"model": _encoder(official)}, path)
    elif kind == "module_prefix":
        torch.save({"model": {f"module.{k}": v for k, v in official.items()}}, path)
    elif kind == "finetuned":
        enc = {k: v for k, v in _encoder(official).items() if not k.startswith("norm.")}
        enc.update({"fc_norm.weight": torch.ones(768), "fc_norm.bias": torch.zeros(768),
                    "head.weight": torch.zeros(1000, 768), "head.bias": torch.zeros(1000)})
        torch.save({"model": enc}, path)
    elif kind == "half":
        torch.save({"model": {k: v.half() for k, v in official.items()}}, path)
    elif kind == "hf_saved_by_transformers":
        path = tmp_path / "hf_tr"
        ref = load_reference("hf", "base", state_dict=official)
        ref.model.config.norm_pix_loss = True
        ref.model.save_pretrained(path)
    elif kind == "hf_v5_by_us":
        path = hf_dir
    return path


INFO_EXPECTED = {
    "full": dict(kind="full", naming="official", wrapper=["model"], beside=["optimizer", "epoch"], module_prefix=False,
                 dtypes={"float32": 254}, variant=BASE),
    "encoder_only": dict(kind="encoder only", has_decoder=False, variant=BASE, target="nothing (no decoder)",
                         parameters=85_798_656),
    "module_prefix": dict(module_prefix=True, kind="full", variant=BASE),
    "finetuned": dict(kind="fine-tuned classifier", variant=BASE, has_decoder=False),
    "half": dict(dtypes={"float16": 254}, variant=BASE, kind="full"),
    "hf_saved_by_transformers": dict(format="transformers", naming="transformers v4", variant=BASE,
                                     target="per-patch normalised pixels (norm_pix_loss)",
                                     target_certainty="stated by config.json", layer_norm_eps=1e-6),
    "hf_v5_by_us": dict(format="transformers", naming="transformers v5", variant=BASE, target="raw pixels"),
}


@pytest.mark.parametrize("kind", list(INFO_EXPECTED))
def test_info_reports_each_kind(tmp_path, official, hf_dir, kind):
    info = checkpoint_info(_fixture(kind, official, tmp_path, hf_dir), hashes=False)
    for key, value in INFO_EXPECTED[kind].items():
        assert info[key] == value, (key, info[key])
    assert info["fits"] and info["missing"] == [] and info["unexpected"] == []
    if kind == "finetuned":
        assert "1000 classes" in info["kind_detail"] and "fc_norm" in info["kind_detail"]


def test_info_names_missing_and_unexpected_keys_and_exits_1(tmp_path, official):
    sd = dict(official)
    del sd["blocks.3.mlp.fc2.bias"]
    sd["blocks.3.extra"] = torch.zeros(2)
    path = tmp_path / "odd.pth"
    torch.save(sd, path)
    result = runner.invoke(app, ["checkpoint", "info", str(path), "--json", "--no-hash"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["missing"] == ["blocks.3.mlp.fc2.bias"] and data["unexpected"] == ["blocks.3.extra"]
    assert data["variant"] is None and data["compared_with"] == BASE


def test_info_matches_an_official_release_by_md5(tmp_path, official, monkeypatch):
    from mae_core.loading import info as info_module
    from mae_core.io import releases

    path = tmp_path / "whatever.pth"
    torch.save({"model": _encoder(official)}, path)
    md5 = info_module.file_hashes(path)["md5"]
    rel = releases.RELEASES["mae_pretrain_vit_base"]
    monkeypatch.setitem(releases.RELEASES, rel.name, type(rel)(**{**rel.__dict__, "md5_prefix": md5[:6]}))
    info = checkpoint_info(path)
    assert info["release"]["name"] == "mae_pretrain_vit_base" and info["md5"] == md5


def test_official_hf_safetensors_official_round_trip_is_bit_exact(tmp_path, official, hf_dir):
    """official -> hf (the hf_dir fixture, checked there) -> safetensors -> official."""
    steps = [(hf_dir, tmp_path / "w.safetensors", "safetensors"),
             (tmp_path / "w.safetensors", tmp_path / "back.pth", "official")]
    for a, b, to in steps:
        report = convert(a, b, to)
        assert report["passed"] and report["forward"]["equal"], report
    back = torch.load(tmp_path / "back.pth", weights_only=True)["model"]
    assert list(back) == list(official)
    assert all(back[k].dtype == official[k].dtype and torch.equal(back[k], official[k]) for k in official)


@pytest.mark.parametrize("hf_v4", [False, True])
def test_transformers_loads_the_converted_directory_strictly(tmp_path, src, official, hf_dir, hf_v4):
    from transformers import ViTMAEForPreTraining

    folder = hf_dir
    if hf_v4:
        folder = tmp_path / "hf_v4"
        result = runner.invoke(app, ["checkpoint", "convert", str(src), str(folder), "--to", "hf", "--hf-v4", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["hf_version"] == "v4"
    model, info = ViTMAEForPreTraining.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] in ([], set()) and info["unexpected_keys"] in ([], set()), info
    assert model.config.layer_norm_eps == 1e-6
    from mae_core.io import hf_layout

    own = hf_layout.official_to_hf(official, load_reference("hf", "base").naming)  # the installed version's names
    got = model.state_dict()
    assert set(got) == set(own) and all(torch.equal(got[k], own[k]) for k in own)

    if not hf_v4:
        compare = runner.invoke(app, ["compare-official", "--weights", str(folder), "-r", "hf",
                                      "--batch", "1", "--json"])
        assert compare.exit_code == 0, compare.output
        assert json.loads(compare.stdout)["passed"] is True


def test_timm_loads_the_encoder_strictly(tmp_path, src):
    import timm

    report = convert(src, tmp_path / "timm.pth", "timm")
    assert report["passed"] and report["forward"]["compared"] == "latent" and not report["has_decoder"]
    model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0)
    missing, unexpected = model.load_state_dict(torch.load(tmp_path / "timm.pth", weights_only=True), strict=True)
    assert missing == [] and unexpected == []


def test_convert_to_bfloat16_proves_against_the_rounded_input(tmp_path, src):
    report = convert(src, tmp_path / "b16.safetensors", "safetensors", dtype="bfloat16")
    assert report["passed"] and report["forward"]["equal"]
    assert load_weights(tmp_path / "b16.safetensors").file_dtypes == {"bfloat16": 254}


def test_convert_never_overwrites_its_input(src):
    before = src.read_bytes()
    for dst in (src, src.parent / "." / src.name):
        result = runner.invoke(app, ["checkpoint", "convert", str(src), str(dst), "--to", "official"])
        assert result.exit_code == 2 and "is the input" in result.stderr
    assert src.read_bytes() == before


def test_convert_reports_a_damaged_output_as_failed(tmp_path, src, monkeypatch):
    """The proof can fail: a writer that flips one weight makes convert say passed=False."""
    from mae_core.loading import convert as convert_module

    real = convert_module._write

    def flipping(official_sd, *args, **kwargs):
        damaged = dict(official_sd)
        damaged["blocks.0.mlp.fc1.bias"] = damaged["blocks.0.mlp.fc1.bias"] + 1e-3
        real(damaged, *args, **kwargs)
        return official_sd

    monkeypatch.setattr(convert_module, "_write", flipping)
    result = runner.invoke(app, ["checkpoint", "convert", str(src), str(tmp_path / "x.pth"), "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["mismatched"] == ["blocks.0.mlp.fc1.bias"]
    assert data["forward"]["equal"] is False
