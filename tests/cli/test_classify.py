"""`mae classify` (issue 24): JSON shapes, the untrained and 10-class notes, bad input as one line, exit 2.
Checkpoints are constant-valued stride-0 views (a few KB) with the real key names and shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mae_core.models import create_model

PHOTO = Path(__file__).resolve().parents[1] / "data" / "photo_320x213.jpg"


def classifier_checkpoint(path: Path, value: float = 0.0, **kwargs) -> Path:
    model = create_model("vit_base_patch16", device="meta", **kwargs)
    state = {k: (torch.full((), value, dtype=v.dtype) if v.is_floating_point() else torch.zeros((), dtype=v.dtype))
             .expand(v.shape) for k, v in model.state_dict().items()}
    torch.save({"model": state}, path)
    return path


@pytest.fixture(scope="module")
def ten_classes(tmp_path_factory) -> Path:
    return classifier_checkpoint(tmp_path_factory.mktemp("cls") / "ten.pth", num_classes=10, global_pool=True)


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_ten_classes_indices_only_said_once(cli, ten_classes):
    result = cli("classify", "--weights", ten_classes, "--image", PHOTO, "--top", "3", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["num_classes"] == 10 and data["labels"] is None
    assert [set(r) for r in data["top"]] == [{"index", "label", "probability"}] * 3  # one image: its list
    assert all(r["label"] is None for r in data["top"])
    assert sum(r["probability"] for r in data["top"]) == pytest.approx(0.3, abs=1e-6)  # constant weights: uniform
    assert result.stderr.count("indices only") == 1


def test_batch_form_and_untrained_note(cli):
    result = cli("classify", "--image", PHOTO, "--image", PHOTO, "--top", "2", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["top"]) == 2 and all(len(rows) == 2 for rows in data["top"])  # several images: one list each
    assert data["top"][0] == data["top"][1] and data["top"][0][0]["label"]
    assert "untrained" in result.stderr and data["weights"] is None


@pytest.mark.parametrize("args, words", [
    (["--top", "0"], "--top 0"),
    (["--top", "11"], "out of range"),
    (["--resize", "squash"], "not a preset"),
])
def test_bad_input_is_one_line_exit_2(cli, ten_classes, args, words):
    result = cli("classify", "--weights", ten_classes, "--image", PHOTO, *args)
    assert result.exit_code == 2
    assert words in one_line_error(result)


def test_no_image_and_a_pretrained_file_are_refused(cli, base_zeros_checkpoint):
    result = cli("classify")
    assert result.exit_code == 2 and "--image" in one_line_error(result)
    result = cli("classify", "--weights", base_zeros_checkpoint, "--image", PHOTO)
    assert result.exit_code == 2 and "no classifier" in one_line_error(result)


def test_top_above_1000_on_imagenet_head(cli):
    result = cli("classify", "--image", PHOTO, "--top", "1001")
    assert result.exit_code == 2 and "1000 classes" in one_line_error(result)


@pytest.fixture(scope="module")
def linprobe(tmp_path_factory) -> Path:
    return classifier_checkpoint(tmp_path_factory.mktemp("lp") / "linprobe.pth", linear_probe=True)


@pytest.mark.parametrize("command", [["mask-demo", "--out", "unused.png"], ["sweep", "--ratios", "0.5"]])
def test_decoderless_classifier_refused_in_one_line(cli, linprobe, command):
    result = cli(*command, "--weights", linprobe)
    assert result.exit_code == 2 and "no decoder" in one_line_error(result)


def test_variants_lists_the_classifiers(cli_json):
    rows = cli_json("variants")["classifiers"]
    assert [r["name"] for r in rows] == ["vit_base_patch16", "vit_large_patch16", "vit_huge_patch14"]
    assert all(r["params"] == r["official_params"] for r in rows)
    assert [r["acc1"] for r in rows] == [83.664, 85.952, 86.928]


def test_checkpoint_info_describes_a_linear_probe(cli_json, linprobe):
    data = cli_json("checkpoint", "info", linprobe)
    assert data["classifier"] == {"name": "vit_base_patch16", "num_classes": 1000, "global_pool": False,
                                  "linear_probe": True, "head": data["classifier"]["head"]}
    assert "linear probe" in data["kind_detail"] and not data["has_decoder"]


@pytest.mark.parametrize("name, total", [("vit_base_patch16", 86_567_656), ("vit_large_patch16", 304_326_632),
                                         ("vit_huge_patch14", 632_045_800)])
def test_params_of_the_classifiers(cli_json, name, total):
    data = cli_json("params", "--variant", name, "--depth", "1")
    assert data["classifier"] and data["verified"] and data["counts"]["total"] == total == data["official"]["total"]


@pytest.mark.parametrize("command", [["features", "--layers", "0,-1"], ["attention", "--blocks", "0,-1"],
                                     ["numerics", "--dtype", "bfloat16"]])
def test_views_run_a_classifier_checkpoint(cli_json, linprobe, command):
    data = cli_json(*command, "--weights", linprobe)
    assert data["variant"] == "vit_base_patch16" and "classifier" in data["title"]
    assert data.get("mask_ratio", 0.0) == 0.0
    if command[0] == "features":
        shapes = {t["name"]: t["shape"] for t in data["tensors"]}
        assert shapes["hidden_states.0"] == [1, 197, 768] and shapes["pooled"] == [1, 768]


def test_shapes_of_a_classifier_on_meta(cli_json):
    data = cli_json("shapes", "--variant", "vit_huge_patch14", "--batch", "2")
    rows = {s["stage"]: s["shape"] for s in data["stages"]}
    assert rows["patch tokens"] == [2, 256, 1280] and rows["blocks 0-31"] == [2, 257, 1280]
    assert rows["logits"] == [2, 1000] and data["mask_ratio"] == 0.0


def test_flops_of_a_classifier_counted_equals_closed_form(cli_json):
    data = cli_json("flops", "--variant", "vit_base_patch16")
    stages = {s["stage"]: s for s in data["stages"]}
    assert data["agree"] and 17.5e9 < stages["encoder"]["macs"] < 17.7e9  # DESIGN: about 17.6 GMACs, whole image


@pytest.mark.parametrize("command", [["classify", "--image", str(PHOTO)], ["features", "--layers", "0,-1"]])
def test_a_classifier_run_that_cannot_fit_is_refused_before_it_starts(cli, linprobe, monkeypatch, command):
    """The classifier's own closed form (mae_core.views.memory_classifier) sizes its forward pass: with no
    memory to spare the run is one line, exit 2, with the estimate, before any image is read."""
    from mae_core.views import memory_budget

    monkeypatch.setattr(memory_budget, "available_memory", lambda device: memory_budget.Available(1, "test"))
    result = cli(*command, "--weights", linprobe)
    assert result.exit_code == 2 and "needs about" in one_line_error(result)
    assert "classif" in one_line_error(result)
