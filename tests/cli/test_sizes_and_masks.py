"""`--img-size`, `--in-chans`, `--mask` / `--mask-file` across the commands, and `mae sweep`.

Every number is checked against mae_core computed here, or against another command on the same input.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image


def test_shapes_non_square_shows_the_grid(cli, cli_json):
    data = cli_json("shapes", "--img-size", "224x320")
    assert data["grid"] == [14, 20] and data["num_patches"] == 280 and data["img_size"] == [224, 320]
    stages = {s["stage"]: s["shape"] for s in data["stages"]}
    assert stages["image"] == [2, 3, 224, 320] and stages["pred"] == [2, 280, 768]
    result = cli("shapes", "--img-size", "224x320")
    assert result.exit_code == 0 and "14x20 = 280 patches" in " ".join(result.stdout.split())


@pytest.mark.parametrize("variant, size, grid", [("base", "224x320", [14, 20]), ("huge", "224x308", [16, 22]),
                                                 ("base", "448", [28, 28])])
def test_flops_and_shapes_agree_at_other_sizes(cli_json, variant, size, grid):
    flops = cli_json("flops", "-m", variant, "--img-size", size)
    shapes = cli_json("shapes", "-m", variant, "--img-size", size, "--batch", "1")
    assert flops["agree"] and flops["grid"] == grid == shapes["grid"]
    assert flops["num_patches"] == shapes["num_patches"] == grid[0] * grid[1]
    assert flops["num_visible"] == shapes["num_visible"]


@pytest.mark.parametrize("variant, size, grid, mode", [("base", "224x320", [14, 20], "train"),
                                                       ("huge", "224x322", [16, 23], "inference")])
def test_non_square_runs_end_to_end_with_shapes_flops_and_memory_consistent(cli_json, variant, size, grid, mode):
    """Patch 16 at 224x320 and patch 14 at 224x322 (320 is no multiple of 14): the three views that need no
    weights agree on the grid and the tokens, memory's closed form reads the same (H, W), and one real step
    at that size measures exactly the bytes the closed form predicts."""
    from mae_core.models import get_variant
    from mae_core.views import memory as mem

    H, W = map(int, size.split("x"))
    shapes = cli_json("shapes", "-m", variant, "--img-size", size, "--batch", "1")
    flops = cli_json("flops", "-m", variant, "--img-size", size)
    memory = cli_json("memory", "-m", variant, "--img-size", size, "--mode", mode, "--check")
    assert shapes["grid"] == flops["grid"] == memory["grid"] == grid and memory["img_size"] == [H, W]
    assert shapes["num_patches"] == flops["num_patches"] == memory["num_patches"] == grid[0] * grid[1]
    assert shapes["num_visible"] == flops["num_visible"] == memory["num_visible"]
    stages = {s["stage"]: s["shape"] for s in shapes["stages"]}
    assert stages["image"] == [1, 3, H, W] and stages["pred"][1] == grid[0] * grid[1]
    rows = {r["key"]: r["bytes"] for r in memory["rows"]}
    assert rows["images"] == 3 * H * W * 4
    cfg = get_variant(variant).config.replace(img_size=(H, W))
    tokens = 1 + memory["num_visible"]  # cls + visible: the encoder's sequence, as shapes traced it
    assert stages["latent"] == [1, tokens, cfg.embed_dim]
    if mode == "train":
        block = next(s for s in memory["saved"] if s["key"] == "encoder_blocks")
        hidden = int(cfg.embed_dim * cfg.mlp_ratio)
        assert block["per_block"] == mem.block_saved(1, tokens, cfg.embed_dim, cfg.num_heads, hidden, mem.precision())
    check = memory["check"]
    assert check["agree"] and check["exact"] and check["measured_bytes"] == check["predicted_bytes"] > 0
    square = cli_json("memory", "-m", variant, "--mode", mode)
    assert square["grid"] == [224 // cfg.patch_size] * 2 and square["total_bytes"] < memory["total_bytes"]


def test_features_attention_and_numerics_take_other_sizes(cli_json, tmp_path):
    """The recorder's three views build the model at --img-size / --in-chans like forward does."""
    feats = cli_json("features", "--img-size", "224x320", "--layers", "-1", "-o", tmp_path / "f.safetensors")
    assert feats["img_size"] == [224, 320] and feats["grid"] == [14, 20] and feats["num_patches"] == 280
    assert {t["name"]: t["shape"] for t in feats["tensors"]}["latent"] == [1, 281, 768]
    att = cli_json("attention", "--img-size", "224x320", "--blocks", "-1", "--png", tmp_path / "a.png")
    assert att["grid"] == [14, 20] and att["num_visible"] == 70 and att["img_size"] == [224, 320]
    assert att["tensors"]["encoder.blocks.11.attn"][-2:] == [71, 71] and Image.open(tmp_path / "a.png").size[0] > 0
    num = cli_json("numerics", "--img-size", "112x160", "--in-chans", "1", "--dtype", "bfloat16")
    assert num["img_size"] == [112, 160] and num["in_chans"] == 1 and num["ok"]
    assert num["stages"][0]["shape"] == [1, 70, 768]


def test_default_size_changes_nothing(cli_json):
    assert cli_json("flops") == cli_json("flops", "--img-size", "224")
    plain = cli_json("shapes")
    assert plain["img_size"] == 224 and plain["grid"] == [14, 14] and plain["in_chans"] == 3


def test_forward_at_448_regenerates_the_tables_of_224_weights(cli_json, make_checkpoint, tmp_path):
    ckpt = make_checkpoint(tmp_path / "b.pth", "base", 0.01)
    data = cli_json("forward", "-w", ckpt, "--img-size", "448")
    assert data["pred_shape"] == [1, 784, 768] and data["ok"]
    regenerated = [n for n in data["notes"] if "regenerated" in n]
    assert len(regenerated) == 2 and "28x28" in regenerated[0]
    assert not [n for n in cli_json("forward", "-w", ckpt)["notes"] if "regenerated" in n]


def test_grayscale_forward_and_shapes(cli_json, image_files):
    data = cli_json("forward", "--in-chans", "1", "-i", image_files[0])
    assert data["pred_shape"] == [1, 196, 16 * 16 * 1] and data["in_chans"] == 1 and data["ok"]
    shapes = cli_json("shapes", "--in-chans", "1")
    assert {s["stage"]: s["shape"] for s in shapes["stages"]}["image"] == [2, 1, 224, 224]


def test_mask_demo_grid_keeps_one_patch_per_two_by_two(cli_json, tmp_path):
    data = cli_json("mask-demo", "--mask", "grid", "-o", tmp_path / "g.png")
    mask = np.array(data["images"][0]["mask"])
    assert mask.shape == (14, 14) and data["mask_strategy"] == "grid"
    assert (mask[::2, ::2] == 0).all() and mask.sum() == 147
    assert Image.open(tmp_path / "g.png").size == tuple(data["picture_size"])


def test_mask_demo_non_square_grayscale(cli_json, tmp_path):
    data = cli_json("mask-demo", "--img-size", "224x320", "--in-chans", "1", "--mask", "center",
                    "-o", tmp_path / "c.png")
    mask = np.array(data["images"][0]["mask"])
    assert mask.shape == (14, 20) and mask.sum() == 210
    picture = Image.open(tmp_path / "c.png")
    assert picture.size == tuple(data["picture_size"]) and picture.size[0] > 4 * 320


@pytest.mark.parametrize("strategy, ratio", [("grid", 0.75), ("block", 0.6), ("center", 0.5)])
def test_forward_takes_a_mask_strategy_and_gets_mask_demos_loss(cli_json, image_files, tmp_path, strategy, ratio):
    """forward --mask uses the strategy's noise (mask-demo's, from the same seed); the default stays the
    official demo's global-RNG draw."""
    args = ["--mask", strategy, "--mask-ratio", str(ratio)]
    fwd = cli_json("forward", "-i", image_files[0], *args)
    demo = cli_json("mask-demo", image_files[0], *args, "-o", tmp_path / "d.png")
    assert fwd["mask_strategy"] == strategy and fwd["ok"]
    hidden = np.array(demo["images"][0]["mask"]).sum()
    assert fwd["num_visible"] == 196 - hidden and fwd["masked_fraction"] == [pytest.approx(hidden / 196)]
    assert fwd["loss"] == pytest.approx(demo["images"][0]["loss"], rel=1e-6)
    plain = cli_json("forward", "-i", image_files[0], "--mask-ratio", str(ratio))
    assert plain["mask_strategy"] == "random" and plain["loss"] != fwd["loss"]


def test_mask_file_decides_patches_by_majority(cli_json, tmp_path):
    pixels = np.zeros((224, 224), dtype=np.uint8)
    pixels[:112, :] = 255  # the top 7 patch rows hidden
    pixels[112:121, :16] = 255  # 9 of 16 rows of patch (7, 0): a majority
    pixels[112:120, 16:32] = 255  # 8 of 16 rows of patch (7, 1): not a majority
    Image.fromarray(pixels).save(tmp_path / "m.png")
    data = cli_json("mask-demo", "--mask-file", tmp_path / "m.png", "-o", tmp_path / "out.png")
    mask = np.array(data["images"][0]["mask"])
    expected = np.zeros((14, 14), dtype=int)
    expected[:7] = 1
    expected[7, 0] = 1
    assert (mask == expected).all() and data["mask_ratio"] == pytest.approx(99 / 196)


def test_sweep_random_at_075_is_the_mask_demo_loss(cli_json, tmp_path):
    sweep = cli_json("sweep", "--ratios", "0.5,0.75", "--mask", "random,grid", "-o", tmp_path / "s.png")
    demo = cli_json("mask-demo", "-o", tmp_path / "d.png")
    cells = {(c["strategy"], c["mask_ratio"]): c for c in sweep["cells"]}
    assert cells[("random", 0.75)]["loss"] == pytest.approx(demo["images"][0]["loss"], rel=1e-6)
    assert cells[("random", 0.75)]["num_masked"] == 147 and cells[("random", 0.5)]["num_masked"] == 98
    assert cells[("grid", 0.5)]["loss"] is None and "0.75" in cells[("grid", 0.5)]["reason"]
    assert cells[("grid", 0.75)]["loss"] is not None
    assert Image.open(tmp_path / "s.png").size == tuple(sweep["picture_size"])


def test_sweep_resize_preset_is_the_one_mask_demo_uses(cli_json, tmp_path):
    """A 320x200 picture: --resize decides what the model sees, and sweep and mask-demo agree for each preset."""
    from mae_core.io.images import builtin_image

    wide = tmp_path / "wide.png"
    Image.fromarray(builtin_image((200, 320))).save(wide)
    losses = {}
    for preset in ("stretch", "center-crop"):
        sweep = cli_json("sweep", wide, "--ratios", "0.75", "--resize", preset, "-o", tmp_path / "s.png")
        demo = cli_json("mask-demo", wide, "--resize", preset, "-o", tmp_path / "d.png")
        assert sweep["resize"] == preset
        losses[preset] = sweep["cells"][0]["loss"]
        assert losses[preset] == pytest.approx(demo["images"][0]["loss"], rel=1e-6)
    assert losses["stretch"] != losses["center-crop"]


def _mask_png(tmp_path, size, levels=(0, 255)):
    pixels = np.full(size, levels[0], dtype=np.uint8)
    pixels[: size[0] // 2] = levels[1]
    path = tmp_path / f"mask_{size[0]}_{levels[1]}.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("args, words", [
    (["shapes", "--img-size", "230"], ["230x230", "multiple", "16"]),
    (["flops", "-m", "huge", "--img-size", "224x320"], ["224x320", "multiple", "14"]),
    (["forward", "--img-size", "22a"], ["22a", "224x320"]),
    (["shapes", "--in-chans", "0"], ["--in-chans", "0"]),
    (["forward", "--in-chans", "2", "-i", "IMAGE"], ["--in-chans 2", "grayscale"]),
    (["mask-demo", "--mask", "diagonal"], ["diagonal", "block"]),
    (["forward", "--mask", "grid", "--mask-ratio", "0.5"], ["grid", "0.75"]),
    (["mask-demo", "--mask", "grid", "--mask-ratio", "0.5"], ["grid", "0.75"]),
    (["mask-demo", "--mask-file", "SMALL"], ["112x224", "224x224"]),
    (["mask-demo", "--mask-file", "GRAY"], ["not binary", "128"]),
    (["compare-official", "--img-size", "224x320", "-r", "official", "--official-src", "OFFICIAL"], ["square", "timm"]),
    (["sweep", "--ratios", "0.5,x"], ["--ratios"]),
    (["sweep", "--resize", "crop"], ["--resize", "'crop'", "center-crop"]),
    (["memory", "-m", "huge", "--img-size", "224x320"], ["224x320", "multiple", "14", "224x322"]),
    (["features", "-m", "huge", "--img-size", "224x320"], ["224x320", "multiple", "14"]),
    (["shapes", "--img-size", "16000"], ["16000", "64,000,000", "smaller size"]),
    (["flops", "--img-size", "1600000x160"], ["1600000x160", "64,000,000"]),
    (["memory", "--img-size", "7984", "--check"], ["--check train step", "smaller image size"]),
    (["attention", "--img-size", "4000"], ["4000x4000", "probabilities alone"]),
    (["attention", "--in-chans", "2"], ["--in-chans 2", "grayscale"]),
])
def test_bad_sizes_and_masks_exit_2_with_one_line(cli, tmp_path, image_files, args, words):
    from tests.official.helpers import FIXTURE_SRC

    files = {"IMAGE": image_files[0], "SMALL": _mask_png(tmp_path, (112, 224)),
             "GRAY": _mask_png(tmp_path, (224, 224), (0, 128)), "OFFICIAL": FIXTURE_SRC}
    args = [files.get(a, a) for a in args]
    if args[0] in ("mask-demo", "sweep"):
        args += ["-o", tmp_path / "out.png"]
    result = cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "out.png").exists()


def test_json_of_every_size_command_is_one_document(cli):
    result = cli("shapes", "--img-size", "448", "--json")
    assert json.loads(result.stdout)["grid"] == [28, 28]
