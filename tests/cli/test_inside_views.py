"""`mae features`, `mae attention`, `mae numerics`: files, tables, JSON, exit codes, against mae_core."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mae_core.io.images import builtin_image, load_batch, normalize
from mae_core.models import create_model
from mae_core.views.features import extract_features
from mae_core.views.reconstruct import masking_noise
from mae_core.views.recorder import record


@pytest.fixture(scope="module")
def seeded_base():
    """The model `mae ... --variant base --seed 0` builds without --weights."""
    torch.manual_seed(0)
    return create_model("base").eval()


def test_features_file_holds_what_the_api_computes(cli_json, seeded_base, tmp_path):
    out = tmp_path / "f.safetensors"
    report = cli_json("features", "--variant", "base", "--blocks", "0,-1", "--pool", "mean", "--out", out)
    tensors = load_file(out)
    assert sorted(tensors) == ["hidden_states.0", "hidden_states.11", "latent", "pooled"]
    assert tensors["hidden_states.0"].shape == (1, 197, 768) and tensors["pooled"].shape == (1, 768)
    imgs, _ = load_batch(None, 224, 1, 0)
    expected = extract_features(seeded_base, imgs, layers=[0, 11], pool="mean").tensors
    for name, tensor in expected.items():
        assert torch.equal(tensors[name], tensor), name
    # --pool mean is the official fine-tuning global_pool on the same tokens: patch tokens of the last
    # block averaged, then a LayerNorm as the fine-tuning code creates it (weight 1, bias 0).
    fc_norm = torch.nn.LayerNorm(768, eps=1e-6)
    torch.testing.assert_close(tensors["pooled"], fc_norm(tensors["hidden_states.11"][:, 1:].mean(1)), rtol=0,
                               atol=1e-6)
    rows = {r["name"]: r for r in report["tensors"]}
    assert rows["latent"]["shape"] == [1, 197, 768] and report["layers"] == [0, 11]
    assert rows["latent"]["mean_token_norm"] == pytest.approx(tensors["latent"].norm(dim=-1).mean().item())
    assert report["out"] == str(out) and report["bytes_written"] == out.stat().st_size


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_features_default_pool_at_batch_1_writes_the_file(cli_json, tmp_path, suffix):
    """The defaults (one image, --pool cls): pooled is latent[:, 0], a view of the latent's memory, which
    safetensors refuses to write (this exited 3 with an internal error)."""
    out = tmp_path / f"f{suffix}"
    report = cli_json("features", "--layers", "-1", "--out", out)
    if suffix == ".safetensors":
        tensors = load_file(out)
    else:
        tensors = {k: torch.from_numpy(v) for k, v in np.load(out).items()}
    assert report["pool"] == "cls" and report["bytes_written"] == out.stat().st_size
    assert torch.equal(tensors["pooled"], tensors["latent"][:, 0])


def test_features_do_not_depend_on_the_seed(cli, make_checkpoint, image_files, tmp_path):
    weights = make_checkpoint(tmp_path / "w.pth", "base", 0.01)
    files = []
    for seed in (0, 7):
        out = tmp_path / f"seed{seed}.npz"
        result = cli("features", "--weights", weights, "--image", image_files[0], "--seed", seed, "--blocks", "all",
                     "--pool", "cls", "--out", out)
        assert result.exit_code == 0, result.stderr
        files.append(np.load(out))
    assert sorted(files[0].files) == sorted([f"hidden_states.{i}" for i in range(12)] + ["latent", "pooled"])
    for name in files[0].files:
        np.testing.assert_array_equal(files[0][name], files[1][name])
    np.testing.assert_array_equal(files[0]["pooled"], files[0]["latent"][:, 0])  # cls: the normed cls token


def test_attention_file_png_and_json(cli_json, tmp_path):
    out, png = tmp_path / "a.safetensors", tmp_path / "a.png"
    report = cli_json("attention", "--variant", "base", "--blocks", "0,-1", "--heads", "0,3", "--out", out,
                      "--png", png, "--seed", 5)
    tensors = load_file(out)
    assert sorted(k for k in tensors if k.startswith("encoder")) == ["encoder.blocks.0.attn", "encoder.blocks.11.attn"]
    assert tensors["encoder.blocks.11.attn"].shape == (1, 2, 50, 50)  # heads 0 and 3; cls + 49 visible
    assert tensors["decoder.blocks.7.attn"].shape == (1, 16, 197, 197)
    imgs = normalize([builtin_image(224)])  # no --image: the built-in picture
    noise = masking_noise(1, 196, 5)
    torch.manual_seed(5)
    model = create_model("base").eval()  # --seed 5 also seeds the initialisation
    with torch.no_grad(), record(model, attention=True, stages=False) as rec:  # as the command: every block
        model(imgs, 0.75, noise)
    assert torch.equal(tensors["ids_keep"], rec.masking.ids_keep) and torch.equal(tensors["mask"], rec.masking.mask)
    torch.testing.assert_close(tensors["encoder.blocks.11.attn"], rec.attention["encoder.blocks.11.attn"][:, [0, 3]],
                               rtol=0, atol=0)
    assert report["blocks"] == [0, 11] and report["heads"] == [0, 3] and report["num_visible"] == 49
    for row in report["decoder"]:
        assert row["visible"] + row["mask_tokens"] + row["cls"] == pytest.approx(1.0)
    from PIL import Image

    with Image.open(png) as picture:
        assert picture.format == "PNG" and picture.width >= 560 and picture.height > 224
        pixels = np.asarray(picture.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # heat maps, not a blank page
    assert report["png"] == str(png)


def test_attention_mask_ratio_zero_is_the_classic_map(cli_json, tmp_path):
    out = tmp_path / "a.safetensors"
    report = cli_json("attention", "--variant", "base", "--blocks", "-1", "--mask-ratio", "0", "--out", out)
    tensors = load_file(out)
    assert tensors["encoder.blocks.11.attn"].shape == (1, 12, 197, 197)
    assert torch.equal(tensors["ids_keep"], torch.arange(196).unsqueeze(0)) and not tensors["mask"].any()
    assert report["decoder"] == []


def test_numerics_json(cli_json):
    report = cli_json("numerics", "--variant", "base", "--dtype", "bfloat16")
    names = [s["name"] for s in report["stages"]]
    assert names[0] == "encoder.patch_embed" and "encoder.blocks.11" in names and names[-1] == "decoder.pred"
    assert report["ok"] and report["first_nonfinite"] is None
    for s in report["stages"]:
        assert 0 < s["rel_error"] < 0.05  # bfloat16 keeps 8 bits of mantissa: about 0.4 % per rounding
        assert s["float16_share"] == pytest.approx(s["max_abs"] / 65504)


def test_numerics_names_the_stage_that_overflows_and_exits_1(cli, make_checkpoint, tmp_path):
    weights = make_checkpoint(tmp_path / "big.pth", "base", 3.0)  # every weight 3: float16 overflows early
    result = cli("numerics", "--weights", weights, "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    first = report["first_nonfinite"]
    assert first is not None and report["float32_finite"]
    stages = {s["name"]: s for s in report["stages"]}
    assert not stages[first]["finite"]
    before = [s for s in report["stages"][: [s["name"] for s in report["stages"]].index(first)]]
    assert all(s["finite"] for s in before)
    assert f"first non-finite value is at {first}" in result.stderr
    table = cli("numerics", "--weights", weights)  # the same for people
    assert table.exit_code == 1 and "of 65504" in table.stdout and "inf/nan" in table.stdout
    assert f"FAIL first non-finite value at {first}" in table.stdout


@pytest.mark.parametrize(("args", "words"), [
    (("features", "--blocks", "12"), "--blocks: layer 12 is out of range"),
    (("features", "--layers", "0,x"), "comma-separated list"),  # the old spelling (until 0.3): still one line
    (("features", "--pool", "max"), "unknown pool 'max'"),
    (("features", "--out", "f.txt"), "unknown extension '.txt'"),
    (("attention", "--blocks", "-13"), "--blocks: block -13 is out of range"),
    (("attention", "--heads", "12"), "head 12 is out of range"),
    (("attention", "--heads", "a"), "head indices"),
    (("attention", "--out", "a.npz"), "name it .safetensors"),
    (("attention", "--png", "a.jpg"), "--png: 'a.jpg': name the picture .png"),
    (("numerics", "--dtype", "float64"), "float16 or bfloat16"),
    (("numerics", "--mask-ratio", "1.0"), "--mask-ratio"),  # refused at the option (mae_cli.options.MaskRatioOpt)
])
def test_bad_input_is_one_line_and_exit_2(cli, args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli(*args, "--variant", "base")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], lines
    assert list(tmp_path.iterdir()) == []  # nothing written
