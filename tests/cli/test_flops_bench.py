"""`mae flops` and `mae bench`: the JSON documents, checked against numbers computed here; bad input.

No timing assertions: `mae bench` runs ViT-B/16 at batch 1 with one round, and the test checks the
structure and the bookkeeping (rates from FLOPs, ratios from medians), never the speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mae_core.models import get_variant
from mae_core.views.flops import closed_form_macs


@pytest.mark.parametrize("variant, gflops", [("base", 19.56), ("huge", 97.12)])
def test_flops_json(cli_json, variant, gflops):
    doc = cli_json("flops", "--variant", variant)
    cfg = get_variant(variant).config
    macs = closed_form_macs(cfg, 0.75)
    stages = {s["stage"]: s for s in doc["stages"]}
    assert set(doc) == {"variant", "title", "mask_ratio", "num_patches", "num_visible", "units", "stages",
                        "encoder_block_macs", "encoder_saving", "total_saving_vs_mask_tokens_in_encoder",
                        "train_over_forward", "agree", "img_size", "size", "grid", "in_chans"}  # `mae flops --help`
    assert doc["agree"] and all(s["agree"] for s in doc["stages"])
    assert doc["num_patches"] == cfg.num_patches and doc["num_visible"] == cfg.num_patches // 4
    assert stages["total"]["gflops"] == pytest.approx(gflops, abs=0.006)
    for key, s in stages.items():
        assert s["flops_counted"] == s["flops_closed_form"] == 2 * macs[key] == 2 * s["macs"]
    assert doc["encoder_saving"] == pytest.approx(macs["encoder_all_tokens"] / macs["encoder_visible"])
    assert doc["total_saving_vs_mask_tokens_in_encoder"] == pytest.approx(macs["baseline_total"] / macs["total"])
    T, D = 1 + cfg.num_patches // 4, cfg.embed_dim
    assert sum(doc["encoder_block_macs"].values()) == 12 * T * D**2 + 2 * T**2 * D


def test_flops_table_names_macs_and_the_saving(cli):
    result = cli("flops", "--variant", "large", "--mask-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert "GMACs" in result.stdout and "98 of 196 patches visible" in result.stdout
    assert "encoder work saved by masking" in result.stdout


@pytest.mark.parametrize("args, words", [
    (("flops", "--mask-ratio", "1.0"), "--mask-ratio"),
    (("flops", "--variant", "giant"), "giant"),
    (("bench", "--mode", "sprint"), "--mode"),
    (("bench", "--runs", "0"), "--runs"),
    (("bench", "--path", "quick"), "--path"),
    (("bench", "--reference", "keras"), "--reference"),
    (("bench", "--batch", "0"), "--batch"),
    (("bench", "--dtype", "int8"), "--dtype"),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, words):
    result = cli(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert words in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bench_json_structure_and_bookkeeping(cli_json):
    doc = cli_json("bench", "--variant", "base", "--batch", "1", "--runs", "2", "--warmup", "0",
                   "--reference", "timm", "--mask-tokens-in-encoder", "--path", "both")
    assert set(doc) == {  # the keys `mae bench --help` lists
        "variant", "title", "batch", "mode", "mask_ratio", "device", "dtype", "reference_dtype", "autocast", "path",
        "warmup", "runs", "threads", "seed", "flops_per_image", "exact_pred_max_abs", "machine", "results",
        "fastest_reference", "speedups", "compile_seconds", "notes"}
    assert set(doc["results"][0]) == {
        "name", "dtype", "autocast", "note", "median_s", "q1_s", "q3_s", "min_s", "max_s", "spread", "images_per_s",
        "gflops_per_s", "share_of_matmul", "seconds", "pred_max_abs_diff", "loss_abs_diff", "over_fastest_reference"}
    assert (doc["variant"], doc["batch"], doc["mode"], doc["dtype"], doc["runs"]) == (
        "mae_vit_base_patch16", 1, "inference", "float32", 2)  # bench said forward before 0.2
    flops = 2 * closed_form_macs(get_variant("base").config, 0.75)["total"]
    assert doc["flops_per_image"] == flops
    rows = {r["name"]: r for r in doc["results"]}
    assert list(rows) == ["ours", "ours+fast", "[M] in encoder", "timm"]
    assert doc["fastest_reference"] == "timm"
    for r in rows.values():
        assert len(r["seconds"]) == 2 and r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["images_per_s"] == pytest.approx(1 / r["median_s"])
        assert r["over_fastest_reference"] == pytest.approx(r["median_s"] / rows["timm"]["median_s"])
        assert 0 < r["share_of_matmul"]
    assert rows["ours"]["gflops_per_s"] == pytest.approx(flops / rows["ours"]["median_s"] / 1e9)
    # Same weights, same noise: the exact path equals timm bit for bit, the fast path within rounding.
    assert rows["ours"]["pred_max_abs_diff"] == 0.0 and rows["timm"]["pred_max_abs_diff"] == 0.0
    assert 0.0 <= rows["ours+fast"]["pred_max_abs_diff"] < 1e-5
    assert rows["[M] in encoder"]["pred_max_abs_diff"] is None
    assert doc["speedups"]["mae_over_mask_tokens_in_encoder"] == pytest.approx(
        rows["[M] in encoder"]["median_s"] / rows["ours+fast"]["median_s"])
    assert doc["machine"]["matmul_gflops"]["float32"] > 0


def test_bench_bfloat16_against_float32_reference_reports_the_error(cli_json):
    doc = cli_json("bench", "--variant", "base", "--runs", "1", "--warmup", "0", "--dtype", "bfloat16",
                   "--reference", "hf", "--reference-dtype", "float32", "--path", "fast", "--mode", "train")
    rows = {r["name"]: r for r in doc["results"]}
    assert list(rows) == ["ours+fast", "hf"]
    assert rows["ours+fast"]["dtype"] == "bfloat16" and rows["hf"]["dtype"] == "float32"
    assert 1e-4 < rows["ours+fast"]["pred_max_abs_diff"] < 0.5  # bfloat16 rounding, reported
    assert rows["hf"]["pred_max_abs_diff"] < 1e-5
    native = {d for d, support in doc["machine"]["dtypes"].items() if support["native"]}
    assert set(doc["machine"]["dtypes"]) == {"bfloat16", "float32"} and "float32" in native
    assert set(doc["machine"]["matmul_gflops"]) == native  # no ceiling for a dtype emulated here
    assert doc["flops_per_image"] == 2 * closed_form_macs(get_variant("base").config, 0.75)["train"]


def test_bench_names_its_machine(cli_json):
    doc = cli_json("bench", "--variant", "base", "--runs", "1", "--warmup", "0", "--path", "exact")
    cpu = doc["machine"]["cpu_info"]
    assert set(cpu) == {"model", "flags", "aten_capability", "onednn_bfloat16", "onednn_float16", "settings"}
    assert doc["machine"]["cpu"] == cpu["model"] and cpu["model"]
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split("flags", 1)[1].split("\n", 1)[0].split() if cpuinfo.exists() else []
    assert all(f in flags for f in cpu["flags"]) and ("avx2" in cpu["flags"]) == ("avx2" in flags)
    assert doc["machine"]["dtypes"]["float32"]["native"]
