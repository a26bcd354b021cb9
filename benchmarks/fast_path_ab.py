"""The fast path against the exact path and timm on this CPU: ViT-B/16 forward, one process, alternating.

Paper: none (engineering; the speed of the same arithmetic on different kernels). The numbers behind the
benchmarks/README.md's "fast path per CPU" table: for 1 and 2 threads and batch 1 and 8, ours on the exact path
(``F.linear``), ours on the fast path (oneDNN products) and the timm composition, all on the same weights,
images and noise, timed in alternating rounds after warm-up (:func:`mae_core.views.bench.benchmark`).
Reports the median, the quartiles and the minimum of each (the minimum is the least disturbed by other
work on a shared machine), the per-round ratio fast / exact, and the CPU model, flags and settings.

    python3 benchmarks/fast_path_ab.py > benchmarks/fast_path_<cpu>.json     # progress on stderr

Shapes: imgs (B, 3, 224, 224), noise (B, 196).
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time

import torch

from mae_core.kernels.fast_path import use_fast_path
from mae_core.models import create_model
from mae_core.views.bench import Competitor, benchmark, cpu_info, describe_cpu

CELLS = [(1, 1, 31), (2, 1, 31), (1, 8, 9), (2, 8, 9)]  # (threads, batch, timed rounds)


def main() -> int:
    from official_mae import load_reference

    doc = {"cpu": cpu_info(), "torch": torch.__version__, "cells": []}
    print(describe_cpu(doc["cpu"]), file=sys.stderr)
    torch.manual_seed(0)
    model = create_model("base").eval()
    shared = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    fast = use_fast_path(copy.deepcopy(model, shared))  # same Parameters, its own switches
    ref = load_reference("timm", "base", state_dict=model.official_state_dict())
    for threads, batch, runs in CELLS:
        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(0)
        imgs, noise = torch.randn(batch, 3, 224, 224, generator=gen), torch.rand(batch, 196, generator=gen)
        competitors = [Competitor("ours", model, model), Competitor("ours+fast", fast, fast),
                       Competitor("timm", ref.forward, ref.model)]
        start = time.perf_counter()
        results = benchmark(competitors, imgs, noise, warmup=2, runs=runs)
        cell = {"threads": threads, "batch": batch, "runs": runs}
        for r in results:
            s = r.summary
            cell[r.name] = {"median_s": s.median, "q1_s": s.q1, "q3_s": s.q3, "min_s": s.min, "seconds": r.seconds}
        ratios = [f / e for f, e in zip(cell["ours+fast"]["seconds"], cell["ours"]["seconds"], strict=True)]
        cell["fast_over_exact_per_round_median"] = statistics.median(ratios)
        doc["cells"].append(cell)
        print(f"{threads} thread(s), batch {batch}: medians "
              + " / ".join(f"{cell[k]['median_s']:.3f}" for k in ("ours", "ours+fast", "timm"))
              + ", minima " + " / ".join(f"{cell[k]['min_s']:.3f}" for k in ("ours", "ours+fast", "timm"))
              + f", fast/exact per round {cell['fast_over_exact_per_round_median']:.3f} "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
