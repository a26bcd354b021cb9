"""benchmarks/gpu_check.py: the prepared GPU check runs end to end here as its CPU smoke test.

The GPU run itself needs a CUDA machine; this proves on every CI run that the script, and every
service it calls (compare-official, bench, the bf16 stage table), still fit together.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    code = _load().main(["--device", "cpu", "--quick", "--out", str(out)])
    return code, json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def test_quick_cpu_run_passes_and_writes_every_section(quick_run):
    code, report, md = quick_run
    assert report["errors"] == [], report["errors"]
    assert code == 0
    sections = report["sections"]
    assert set(sections) == {"machine", "fidelity", "bf16", "bench", "memory", "classifier", "steps"}
    assert sections["machine"]["matmul_gflops"]["float32"] > 0
    assert "## Fidelity" in md and "## Speed" in md


def test_quick_run_compares_with_a_reference_and_the_masks_agree(quick_run):
    _, report, _ = quick_run
    (row,) = report["sections"]["fidelity"]
    assert row["reference"] == "timm" and not row["grad"] and not row["tf32"]
    assert row["passed"] and row["masks_identical"]
    assert row["pred_max_abs"] <= row["atol"] + row["rtol"] * 10  # |pred| of a seeded ViT-B is below 10


def test_bf16_rows_cover_every_stage_and_are_errors_not_zeros(quick_run):
    _, report, _ = quick_run
    rows = report["sections"]["bf16"]
    stages = [r["stage"] for r in rows]
    assert stages[0] == "patch_embed" and stages[-2:] == ["pred", "loss"]
    assert len([s for s in stages if s.startswith("encoder.blocks.")]) == 12
    # bf16 keeps 8 bits of mantissa: the error is real (not 0) yet small against the activations.
    assert all(r["finite"] for r in rows)
    assert all(0 < r["max_rel"] < 0.05 for r in rows if r["max_rel"] is not None)


def test_bench_cell_has_ours_the_reference_and_the_masking_speedup(quick_run):
    _, report, _ = quick_run
    (cell,) = report["sections"]["bench"]
    names = {r["name"] for r in cell["results"]}
    assert {"ours", "timm"} <= names
    ours = next(r for r in cell["results"] if r["name"] == "ours")
    assert ours["pred_max_abs_diff"] == 0.0  # the exact path against itself: same machine, same process
    assert ours["mfu"] is not None and 0 < ours["mfu"]
    assert cell["speedups"]["mae_over_mask_tokens_in_encoder"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_with_exit_2(tmp_path, capsys):
    assert _load().main(["--out", str(tmp_path)]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_classifier_and_recipe_steps_are_checked_and_pass(quick_run):
    _, report, md = quick_run
    (cls,) = report["sections"]["classifier"]
    assert cls["model"] == "vit_base_patch16" and cls["passed"] and cls["bit_identical"]
    stages = {r["stage"]: r for r in report["sections"]["steps"]}
    assert set(stages) == {"pretrain", "finetune"}
    assert all(r["passed"] and r["steps"] == 3 and r["param_max_abs"] == 0.0 for r in stages.values())
    assert "## Optimizer steps" in md and "## The fine-tuned classifier" in md


def test_every_section_has_an_h100_budget_and_one_run_fits_seven_minutes(quick_run):
    """Issue 26: one full run must fit about seven minutes of a 15-minute lease, leaving a rerun room."""
    module = _load()
    _, report, md = quick_run
    assert set(report["timing"]) == set(module.BUDGET_S)
    assert sum(module.BUDGET_S.values()) <= 7 * 60
    assert "budget (H100)" in md
