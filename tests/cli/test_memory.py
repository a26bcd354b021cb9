"""`mae memory`, and the memory check of `mae forward` / `mae bench`: JSON against mae_core's closed form,
--budget, --check, and bad input (exit 2, one line on stderr)."""

from __future__ import annotations

import pytest
import torch

from mae_core.models import get_variant
from mae_core.views import memory as mem
from mae_core.views import memory_budget


def test_train_report_matches_the_closed_form(cli_json):
    data = cli_json("memory", "--variant", "large", "--batch", "16", "--mask-ratio", "0.75", "--optimizer", "adamw")
    cfg = get_variant("large").config
    est = mem.estimate(cfg, 16, 0.75, mode="train", optimizer="adamw")
    rows = {r["key"]: r["bytes"] for r in data["rows"]}
    assert rows == {"weights": est.weights, "gradients": est.gradients, "optimizer": est.optimizer_state,
                    "images": est.images, "saved": est.saved_total, "transient": est.transient, "total": est.total}
    assert sum(v for k, v in rows.items() if k != "total") == data["total_bytes"] == est.total
    saved = {s["key"]: s for s in data["saved"]}
    assert saved["encoder_blocks"]["count"] == 24 and saved["decoder_blocks"]["count"] == 8
    assert saved["encoder_blocks"]["per_block"] * 24 == saved["encoder_blocks"]["bytes"]
    assert data["num_visible"] == 49 and data["budget"] is None and data["check"] is None


def test_mask_ratio_and_precision_move_the_answer(cli_json):
    low = cli_json("memory", "--batch", "8", "--mask-ratio", "0.9")["total_bytes"]
    high = cli_json("memory", "--batch", "8", "--mask-ratio", "0.0")["total_bytes"]
    amp = cli_json("memory", "--batch", "8", "--dtype", "bfloat16", "--amp")
    assert low < high
    assert amp["precision"]["name"] == "bfloat16 autocast" and amp["total_bytes"] < high
    inference = cli_json("memory", "--mode", "inference", "--batch", "8")
    assert [r["key"] for r in inference["rows"]] == ["weights", "images", "transient", "total"]
    assert inference["total_bytes"] == mem.estimate(get_variant("base").config, 8).total


def test_budget_gives_the_largest_batch_for_the_mae_and_the_baseline(cli_json):
    data = cli_json("memory", "--variant", "huge", "--budget", "80GiB", "--dtype", "bf16", "--autocast")
    b = data["budget"]
    cfg = get_variant("huge").config
    options = {"mode": "train", "dtype": torch.bfloat16, "amp": True, "optimizer": "adamw"}
    n = b["largest_batch"]
    assert b["bytes"] == 80 * 2**30
    assert mem.estimate(cfg, n, **options).total <= b["bytes"] < mem.estimate(cfg, n + 1, **options).total
    m = b["largest_batch_mask_tokens_in_encoder"]
    assert 0 < m < n and b["batch_ratio"] == pytest.approx(n / m)
    need = mem.estimate(cfg, n, mask_tokens_in_encoder=True, **options).total
    assert b["mask_tokens_in_encoder_bytes_at_largest_batch"] == need > b["bytes"]


def test_check_measures_a_real_step_on_cpu(cli_json):
    data = cli_json("memory", "--batch", "1", "--check")
    c = data["check"]
    assert c["exact"] and c["agree"] and c["measured_bytes"] == c["predicted_bytes"]
    assert {s["key"] for s in c["stages"]} == {s["key"] for s in data["saved"]}


def test_table(cli):
    result = cli("memory", "--variant", "base", "--batch", "4", "--budget", "24 GB")
    assert result.exit_code == 0, result.stderr
    for words in ("optimizer state (adamw)", "12 encoder blocks (50 tokens each)", "per block", "decoder blocks",
                  "transient peak", "largest batch in 22.35 GiB", "MiB"):
        assert words in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--budget", "-1GiB"], ["--budget", "positive"]),
    (["--budget", "lots"], ["--budget", "not a size"]),
    (["--budget", "24G"], ["--budget", "ambiguous"]),
    (["--budget", "0"], ["--budget"]),
    (["--optimizer", "adam"], ["--optimizer", "adamw"]),
    (["--mode", "training"], ["--mode", "inference or train"]),
    (["--dtype", "int8"], ["--dtype"]),
    (["--batch", "0"], ["--batch"]),
    (["--mask-ratio", "1.0"], ["--mask-ratio"]),
    (["--variant", "vit_giant"], ["vit_giant"]),
    (["--stage", "pretraining"], ["--stage", "pretrain, finetune or linprobe"]),
    (["--variant", "vit_base_patch16", "--stage", "pretrain"], ["--stage", "classifier", "--variant base"]),
    (["--stage", "finetune", "--mask-ratio", "0.75"], ["--mask-ratio", "every patch"]),
    (["--variant", "vit_large_patch16", "--optimizer", "lamb"], ["--optimizer", "lars"]),
    (["--stage", "linprobe", "--batch", "1"], ["--batch 1", "BatchNorm", "--batch 2"]),
])
def test_bad_input_is_one_line_exit_2(cli, args, words):
    result = cli("memory", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_fine_tuning_report_matches_the_classifier_closed_form(cli_json):
    from mae_core.models import get_classifier
    from mae_core.views import memory_classifier as cmem

    data = cli_json("memory", "--variant", "vit_large_patch16", "--batch", "32", "--dtype", "bfloat16", "--autocast")
    step = cmem.ClassifierStep("finetune", drop_path_rate=0.2)  # FINETUNE.md's --drop_path for ViT-L
    est = cmem.estimate(get_classifier("vit_large_patch16").config, 32, step, mode="train", dtype=torch.bfloat16,
                        amp=True)
    rows = {r["key"]: r["bytes"] for r in data["rows"]}
    assert rows == {"weights": est.weights, "gradients": est.gradients, "optimizer": est.optimizer_state,
                    "images": est.images, "saved": est.saved_total, "transient": est.transient, "total": est.total}
    assert (data["stage"], data["optimizer"], data["num_visible"], data["mask_ratio"]) == ("finetune", "adamw", 196, 0)
    assert data["classifier"] == {"num_classes": 1000, "global_pool": True, "drop_path_rate": 0.2,
                                  "label_smoothing": 0.1, "linear_probe": False}
    assert [s["key"] for s in data["saved"]] == ["patch_embed", "blocks", "pool", "head", "loss"]
    same = cli_json("memory", "--variant", "large", "--stage", "finetune", "--batch", "32", "--dtype", "bfloat16",
                    "--autocast")
    assert same["total_bytes"] == data["total_bytes"]  # an MAE name with --stage finetune: its classifier


def test_linear_probe_trains_the_head_only_and_finds_its_largest_batch(cli_json):
    data = cli_json("memory", "--variant", "base", "--stage", "linprobe", "--batch", "512", "--budget", "24GiB")
    rows = {r["key"]: r["bytes"] for r in data["rows"]}
    assert data["optimizer"] == "lars" and rows["gradients"] == rows["optimizer"] == (768 * 1000 + 1000) * 4
    assert [s["key"] for s in data["saved"]] == ["head", "loss"]
    b = data["budget"]
    assert b["largest_batch"] > 512 and b["largest_batch_mask_tokens_in_encoder"] is None and b["batch_ratio"] is None


@pytest.mark.parametrize("stage", ["finetune", "linprobe"])
def test_check_measures_a_real_classifier_step(cli_json, stage):
    data = cli_json("memory", "--variant", "base", "--stage", stage, "--batch", "2", "--check")
    c = data["check"]
    assert c["exact"] and c["agree"] and c["measured_bytes"] == c["predicted_bytes"] == sum(
        s["bytes"] for s in data["saved"])


def test_classifier_table(cli):
    result = cli("memory", "--variant", "vit_huge_patch14", "--batch", "16", "--autocast", "--dtype", "bf16",
                 "--budget", "80GB")
    assert result.exit_code == 0, result.stderr
    for words in ("ViT-H/14 classifier fine-tuning step", "all 256 patches", "drop path in 31", "label smoothing",
                  "optimizer state (adamw)", "largest batch in 74.51 GiB:", "memory_classifier.py"):
        assert words in result.stdout, words


@pytest.mark.parametrize("args", [["forward", "--variant", "huge", "--batch", "60000"],
                                  ["bench", "--variant", "large", "--batch", "60000", "--mode", "train"]])
def test_forward_and_bench_refuse_a_batch_that_cannot_fit(cli, args):
    result = cli(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs about" in lines[0] and "largest batch that fits is" in lines[0]


def test_forward_refusal_names_the_largest_batch_that_fits(cli, monkeypatch):
    budget = 1 * 2**30
    monkeypatch.setattr(memory_budget, "available_memory", lambda device: memory_budget.Available(budget, "test"))
    cfg = get_variant("base").config
    fits = mem.largest_batch(lambda b: mem.estimate(cfg, b).total <= budget)
    result = cli("forward", "--variant", "base", "--batch", str(fits + 1))
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(f"the largest batch that fits is {fits}")
