"""Other CPUs, emulated on this one: the fidelity and fast-path tests under settings that change the kernels.

PyTorch picks its kernels by what the CPU can do, and these settings make it pick those of a smaller CPU:
``ATEN_CPU_CAPABILITY`` (ATen's vectorised loops: default = no SIMD, avx2, avx512),
``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN without AVX-512: no bfloat16 / float16 products, as on AMD Zen 3),
``MKL_ENABLE_INSTRUCTIONS=AVX2`` (MKL's AVX2 kernels), and ``OMP_NUM_THREADS`` (how products are split).
Each group runs in its own ``pytest`` subprocess, since the settings are read when torch loads; each must
pass whatever CPU runs the suite. The golden bounds these tests hold are derived in docs/fidelity.md from
the spread measured under the same settings.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIDELITY = ["tests/core/test_golden.py", "tests/official/test_golden_references.py", "tests/core/test_fast_path.py",
            "tests/core/test_bench.py",
            "tests/core/test_memory_classifier.py"]  # byte counts: the same whatever kernels the CPU picks
# The full-size comparison with the reference that orders its products differently. (The bfloat16 bench runs
# emulated in the last test below; its training-mode variant passes under these settings too, but costs a
# minute there: run it by hand with ONEDNN_MAX_CPU_ISA=AVX2 when changing the bench.)
HEAVY = ["tests/official/test_full_size.py::test_vit_b16_equals_reference[hf]"]
ZEN3 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
SETTINGS = {  # every setting of the issue at least once; the heavy tests under the AMD Zen 3-like one
    "no SIMD in ATen, 1 thread": ({"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}, FIDELITY),
    "ATen and MKL on AVX2, 2 threads": ({"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                                         "OMP_NUM_THREADS": "2"}, FIDELITY),
    "Zen 3-like: ATen, oneDNN and MKL on AVX2": (ZEN3, FIDELITY + HEAVY),
}
NESTED = "MAE_EMULATED_CPU"  # set in the subprocesses: this module's matrix does not recurse


def _pytest(env: dict[str, str], tests: list[str]) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    full = {**os.environ, **env, NESTED: "1", "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *tests],
                          cwd=ROOT, env=full, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(os.environ.get(NESTED) == "1", reason="already inside an emulated-CPU run")
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_fidelity_holds_under_emulated_cpus(setting):
    env, tests = SETTINGS[setting]
    proc = _pytest(env, tests)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:]
    assert proc.returncode == 0, f"{setting} ({env}): {summary}\n{proc.stdout[-4000:]}"
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 40 and "skipped" not in summary, summary  # the tests ran, none skipped away
    print(f"{setting}: {summary}")


@pytest.mark.skipif(os.environ.get(NESTED) == "1", reason="already inside an emulated-CPU run")
def test_bfloat16_bench_without_native_support_finishes_and_says_emulated(monkeypatch):
    """`mae bench --variant base --batch 1 --dtype bfloat16 --runs 1 --warmup 0` with oneDNN limited to AVX2
    (no native bfloat16, as on AMD Zen 3): exit 0, no oneDNN error; emulated said up front on stderr, in the
    JSON and in the table."""
    import io
    import json

    from rich.console import Console

    from mae_cli.commands import bench as bench_command

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", NESTED: "1"}
    proc = subprocess.run([sys.executable, "-m", "mae_cli", "bench", "--variant", "base", "--batch", "1", "--dtype",
                           "bfloat16", "--runs", "1", "--warmup", "0", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["machine"]["dtypes"]["bfloat16"]["native"] is False
    assert not doc["machine"]["cpu_info"]["onednn_bfloat16"]
    assert doc["machine"]["cpu_info"]["settings"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert "note: bfloat16 runs emulated here" in proc.stderr
    assert "the fast path runs these products on F.linear" in proc.stderr
    assert "bfloat16" not in doc["machine"]["matmul_gflops"]
    assert [r["name"] for r in doc["results"]] == ["ours", "ours+fast"]
    assert all(r["share_of_matmul"] is None and 1e-4 < r["pred_max_abs_diff"] < 0.5 for r in doc["results"])
    buffer = io.StringIO()
    monkeypatch.setattr(bench_command, "out", Console(file=buffer, width=200))
    bench_command.render(doc)
    table = buffer.getvalue()
    assert "bfloat16 runs emulated here" in table and "bfloat16 emulated (not measured)" in table
