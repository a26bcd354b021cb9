"""benchmarks/run_matrix.py: the goals it prints, the bfloat16 ceiling, --resume and --render.

Nothing here is timed: the reports are made up, shaped like ``mae bench``'s, so the verdicts are known.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def matrix():
    spec = importlib.util.spec_from_file_location("run_matrix", ROOT / "benchmarks" / "run_matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_matrix"] = module
    spec.loader.exec_module(module)
    return module


def result(name: str, median: float, over: float | None, gflops: float, dtype: str = "float32") -> dict:
    return {"name": name, "dtype": dtype, "median_s": median, "over_fastest_reference": over,
            "gflops_per_s": gflops, "share_of_matmul": 0.5, "pred_max_abs_diff": 0.0 if dtype == "float32" else 0.04}


def report(variant: str, batch: int, mode: str, dtype: str, fast_over: float, ref_gflops: float = 100.0,
           runs: int = 5, warmup: int = 2) -> dict:
    results = [result("ours+fast", fast_over, fast_over, ref_gflops / fast_over, dtype),
               result("timm", 1.0, 1.0, ref_gflops), result("hf", 1.1, 1.1, ref_gflops / 1.1)]
    if dtype == "float32":
        results.insert(0, result("ours", 1.0, 1.0, ref_gflops))
    return {"variant": f"mae_vit_{variant}_patch16", "title": f"ViT-{variant[0].upper()}/16", "batch": batch,
            "mode": mode, "dtype": dtype, "runs": runs, "warmup": warmup, "threads": 2, "results": results,
            "fastest_reference": "timm", "speedups": {},
            "machine": {"matmul_gflops": {"float32": 200.0, "bfloat16": 400.0}, "cores": 2, "torch": "x"}}


def test_goals_verdicts_follow_the_numbers(matrix):
    lines = matrix.goals([report("base", 1, "forward", "float32", 0.80),
                          report("base", 1, "train", "float32", 0.90),
                          report("large", 8, "train", "float32", 1.00),
                          report("large", 8, "forward", "bfloat16", 0.40, ref_gflops=160.0)], 400.0)
    assert "0.800 (goal <= 0.85: met)" in lines[0]
    assert "0.900 (goal <= 0.85: NOT met)" in lines[1]
    assert "1.000 (goal <= 1.00: met)" in lines[2]
    # 1 / 0.40 = 2.5x meets 2.5x; the ceiling is the bf16 matmul over the reference's achieved rate.
    assert "2.50x the fastest float32 reference (goal >= 2.5x: met)" in lines[3]
    assert "ceiling here 2.50x" in lines[3]


def test_resume_measures_only_the_missing_cells_and_render_measures_none(matrix, tmp_path, monkeypatch):
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({"argv": [], "seconds": 60.0,
                                 "reports": [report("base", 1, "forward", "float32", 0.8)]}))
    measured = []

    def fake_run_cell(args, variant, batch, mode, dtype):
        measured.append((variant, batch, mode, dtype))
        return report(variant, batch, mode, dtype, 0.9)

    monkeypatch.setattr(matrix, "run_cell", fake_run_cell)
    common = ["--variants", "base", "--batches", "1", "--dtypes", "float32", "--runs", "5",
              "--out", str(tmp_path / "results.md"), "--json", str(saved)]
    assert matrix.main([*common, "--resume"]) == 0
    assert measured == [("base", 1, "train", "float32")]
    text = (tmp_path / "results.md").read_text()
    assert text.index("| 1 | forward |") < text.index("| 1 | train |")  # matrix order kept
    assert "partial" not in text
    assert len(json.loads(saved.read_text())["reports"]) == 2

    # --render measures nothing and describes the cells as they were measured, not as its own flags say.
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "date": "2000-01-02"}))
    assert matrix.main([*common[:-6], "--runs", "9", *common[-4:], "--render"]) == 0
    assert len(measured) == 1
    text = (tmp_path / "results.md").read_text()
    assert "Measured 2000-01-02 " in text and "median of 5 alternating runs" in text
    # Cells measured with other rounds are not mixed into a resumed run.
    assert matrix.main([*common[:-6], "--runs", "9", *common[-4:], "--resume"]) == 2


def test_the_table_names_the_cpu_the_cells_were_measured_on(matrix):
    """The CPU model and flags the report recorded, never those of the machine rendering it."""
    cell = report("base", 1, "forward", "float32", 0.8)
    assert "did not record the CPU model and flags" in matrix.markdown([cell], 60.0, "2026-01-01")
    cell["machine"]["cpu_info"] = {"model": "AMD EPYC 7B13 (family 25, model 1)", "flags": ["avx2"],
                                   "aten_capability": "AVX2", "onednn_bfloat16": False, "onednn_float16": False,
                                   "settings": {"OMP_NUM_THREADS": "2"}}
    text = matrix.markdown([cell], 60.0, "2026-01-01")
    assert "AMD EPYC 7B13 (family 25, model 1); flags: avx2; ATen AVX2; OMP_NUM_THREADS=2" in text
