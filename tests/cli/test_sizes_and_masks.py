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
    (["mask-demo", "--mask", "grid", "--mask-ratio", "0.5"], ["grid", "0.75"]),
    (["mask-demo", "--mask-file", "SMALL"], ["112x224", "224x224"]),
    (["mask-demo", "--mask-file", "GRAY"], ["not binary", "128"]),
    (["compare-official", "--img-size", "224x320", "-r", "official", "--official-src", "OFFICIAL"], ["square", "timm"]),
    (["sweep", "--ratios", "0.5,x"], ["--ratios"]),
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
