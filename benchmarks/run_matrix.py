"""The performance matrix: our MAE against timm's and transformers' on this machine, as a Markdown table.

Paper: MAE Sec. 3 and Table 2 (wall-clock); the references are the official composition on timm and
transformers' ViTMAE (``official_mae``), loaded with our weights and fed the same images and noise.

Every cell (variant x batch x forward/train x dtype) is one ``mae bench`` run (``mae_core.views.bench.bench_report``):
our model on the exact path (``ours``, bit-equal to the references) and on the fast path (``ours+fast``,
oneDNN products), and the references, alternating, after warm-up; medians of ``--runs`` rounds. In the
bfloat16 cells ours runs in bfloat16 and the references in float32, so the speed-up over the fastest
float32 reference and the error against float32 are measured in the same run.

The goals (issue 6) are checked from the measured numbers and printed under the table:
    * float32, ViT-B and ViT-L, batch 8, forward and train: ours (fast path) / fastest reference <= 1.00;
    * float32, batch 1: <= 0.85;
    * bfloat16, batch 8: at least 2.5x faster than the fastest float32 reference.

    python3 benchmarks/run_matrix.py --quick            # ViT-B only, a few minutes
    python3 benchmarks/run_matrix.py                     # B, L, H x batch 1, 8 x forward, train x fp32, bf16
    python3 benchmarks/run_matrix.py --variants large --batches 8 --modes train --dtypes float32 --runs 5
    python3 benchmarks/run_matrix.py --readme            # also put the table into benchmarks/README.md
    python3 benchmarks/run_matrix.py --resume            # go on with a stopped run (cells in results.json are kept)
    python3 benchmarks/run_matrix.py --render --readme   # only re-write results.md (and the README) from results.json

Writes ``benchmarks/results.md`` (the table, the machine, the goals) and ``benchmarks/results.json`` (every
run's full report). Progress goes to stderr. The timings are only as quiet as the machine: run it when
nothing else is running.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository first (benchmarks/ run as scripts): pyproject lets E402 pass here

from mae_core.models import get_variant
from mae_core.views.bench import BASELINE, OURS, OURS_FAST, bench_report
from official_mae import load_reference

GOAL_BATCH8, GOAL_BATCH1, GOAL_BF16 = 1.00, 0.85, 2.5
README_BEGIN, README_END = "<!-- BEGIN perf-results -->", "<!-- END perf-results -->"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="ViT-B only, batch 1 and 8, forward and train, fp32 and bf16, 5 runs (a few minutes).")
    p.add_argument("--variants", default="base,large,huge", help="Comma-separated: base, large, huge.")
    p.add_argument("--batches", default="1,8", help="Comma-separated batch sizes.")
    p.add_argument("--modes", default="forward,train", help="Comma-separated: forward, train.")
    p.add_argument("--dtypes", default="float32,bfloat16", help="Comma-separated: float32, bfloat16.")
    p.add_argument("--references", default="timm,hf", help="Comma-separated: timm, hf, official.")
    p.add_argument("--runs", type=int, default=10, help="Timed rounds per cell.")
    p.add_argument("--warmup", type=int, default=2, help="Untimed rounds per cell.")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's).")
    p.add_argument("--no-baseline", action="store_true",
                   help="Skip the mask-tokens-in-encoder baseline (timed in the float32 batch-8 cells).")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md", help="Markdown output.")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results.json", help="JSON output.")
    p.add_argument("--readme", action="store_true", help="Also replace the results block of benchmarks/README.md.")
    p.add_argument("--resume", action="store_true",
                   help="Keep the cells already in --json (same runs and warm-up) and measure only the others.")
    p.add_argument("--render", action="store_true",
                   help="Measure nothing: re-write --out (and benchmarks/README.md with --readme) from --json.")
    args = p.parse_args(argv)
    if args.quick:
        args.variants, args.runs = "base", min(args.runs, 5)
    return args


def cells(args: argparse.Namespace):
    for variant in args.variants.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            for mode in args.modes.split(","):
                for dtype in args.dtypes.split(","):
                    yield variant.strip(), batch, mode.strip(), dtype.strip()


def cell_of(report: dict) -> tuple:
    """A measured report's cell, as ``cells`` names it (the report has the model's full name)."""
    return report["variant"], report["batch"], report["mode"], report["dtype"]


def in_order(reports: list[dict], args: argparse.Namespace) -> list[dict]:
    """Reports in the matrix's order (variant, batch, mode, dtype), whatever order they were measured in."""
    order = [(resolve_variant(v), *rest) for v, *rest in cells(args)]
    return sorted(reports, key=lambda r: order.index(cell_of(r)) if cell_of(r) in order else len(order))


def resolve_variant(name: str) -> str:
    return get_variant(name).name


def reference(kind: str, name: str, state_dict, device):
    return load_reference(kind, name, state_dict=state_dict, device=device)


def run_cell(args: argparse.Namespace, variant: str, batch: int, mode: str, dtype: str) -> dict:
    low = dtype != "float32"
    report = bench_report(
        variant, batch=batch, mode=mode, references=args.references.split(","), load_reference=reference,
        reference_dtype=torch.float32, dtype=getattr(torch, dtype), path="fast" if low else "both",
        mask_tokens_in_encoder=not low and batch == 8 and not args.no_baseline,
        warmup=args.warmup, runs=args.runs, threads=args.threads,
    )
    gc.collect()
    return report


# --- the Markdown ------------------------------------------------------------------------------------

def _row(report: dict) -> dict:
    by = {r["name"]: r for r in report["results"]}
    refs = [r for r in report["results"] if r["name"] not in (OURS, OURS_FAST, BASELINE)]
    fast = by.get(OURS_FAST)
    return {
        "variant": report["variant"], "title": report["title"], "batch": report["batch"], "mode": report["mode"],
        "dtype": report["dtype"], "ours": by.get(OURS), "fast": fast, "refs": refs,
        "fastest": report["fastest_reference"], "baseline": by.get(BASELINE),
        "speedup_mask_tokens": report["speedups"].get("mae_over_mask_tokens_in_encoder"),
    }


def _s(r: dict | None) -> str:
    return "-" if r is None else f"{r['median_s']:.3f}"


def _ratio(r: dict | None) -> str:
    return "-" if r is None or r["over_fastest_reference"] is None else f"{r['over_fastest_reference']:.2f}"


def machine_of(report: dict) -> str:
    """The CPU a report was measured on, as it recorded it (model, flags, settings): never this machine's."""
    from mae_core.views.bench import describe_cpu

    machine = report["machine"]
    if "cpu_info" in machine:
        return describe_cpu(machine["cpu_info"])
    return f"{machine.get('cpu', 'a CPU')} (this run did not record the CPU model and flags)"


def markdown(reports: list[dict], seconds: float, date: str) -> str:
    """The table, the machine and the goals; rounds and warm-up as the reports were measured."""
    if not reports:
        return "(no cells run)\n"
    first = reports[0]
    ref_names = [r["name"] for r in first["results"] if r["name"] not in (OURS, OURS_FAST, BASELINE)]
    matmul: dict[str, float] = {}  # the best the machine showed in any cell
    for rep in reports:
        for dtype, gflops in rep["machine"]["matmul_gflops"].items():
            matmul[dtype] = max(gflops, matmul.get(dtype, 0.0))
    lines = [
        f"Measured {date} on {machine_of(first)} "
        f"({first['machine']['cores']} cores, {first['threads']} threads), torch {first['machine']['torch']}; "
        f"median of {first['runs']} alternating runs after {first['warmup']} warm-up rounds per cell "
        f"({seconds / 60:.0f} min in all). This machine's 2048x2048 matmul, best of all cells: "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in sorted(matmul.items())) + ".",
        "",
        "Seconds per step (forward, or forward + backward for train). `ours` = exact path (bit-equal to the "
        "references), `ours+fast` = oneDNN products (`mae_core.kernels.fast_path`); references in float32 in every "
        "row. "
        "÷ ref = our median over the fastest reference's (below 1 = ours faster). In bfloat16 rows ours runs "
        "in bfloat16: x ref = how many times faster than the fastest float32 reference; |Δpred| = max abs "
        "difference of pred from our float32 exact output.",
        "",
        "| model | batch | mode | dtype | ours | ours+fast | " + " | ".join(ref_names)
        + " | ours ÷ ref | fast ÷ ref | fast GFLOP/s (of matmul) | x ref | |Δpred| |",
        "| --- | ---: | --- | --- | ---: | ---: | " + " | ".join("---:" for _ in ref_names)
        + " | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rep in reports:
        row = _row(rep)
        refs = {r["name"]: r for r in row["refs"]}
        fast = row["fast"]
        gflops = "-" if fast is None or fast["gflops_per_s"] is None else (
            f"{fast['gflops_per_s']:.0f} ({100 * fast['share_of_matmul']:.0f} %)")
        times_faster = "-"
        if row["dtype"] != "float32" and fast is not None and fast["over_fastest_reference"]:
            times_faster = f"{1 / fast['over_fastest_reference']:.2f}x"
        delta = "-" if fast is None or fast["pred_max_abs_diff"] is None else f"{fast['pred_max_abs_diff']:.1e}"
        lines.append(
            f"| {row['title']} | {row['batch']} | {row['mode']} | {row['dtype']} | {_s(row['ours'])} | {_s(fast)} | "
            + " | ".join(_s(refs.get(n)) for n in ref_names)
            + f" | {_ratio(row['ours'])} | {_ratio(fast)} | {gflops} | {times_faster} | {delta} |")
    baselines = [_row(r) for r in reports if r["speedups"].get("mae_over_mask_tokens_in_encoder")]
    if baselines:
        lines += ["", "Encoding only the visible patches (paper Table 2: 2.8x to 4.1x training wall-clock): the "
                      "MAE against the same model with mask tokens in its encoder, same path, same run:", ""]
        for row in baselines:
            lines.append(f"- {row['title']} batch {row['batch']} {row['mode']}: "
                         f"{row['baseline']['median_s']:.3f} s vs {row['fast']['median_s']:.3f} s, "
                         f"**{row['speedup_mask_tokens']:.2f}x**")
    lines += ["", "Goals (issue 6), from the numbers above:", ""] + goals(reports, matmul.get("bfloat16"))
    return "\n".join(lines) + "\n"


def goals(reports: list[dict], bf16_matmul: float | None) -> list[str]:
    out = []
    for rep in reports:
        row = _row(rep)
        fast = row["fast"]
        if fast is None or fast["over_fastest_reference"] is None:
            continue
        where = f"{row['title']} batch {row['batch']} {row['mode']}"
        ratio = fast["over_fastest_reference"]
        if row["dtype"] == "float32" and row["variant"] in ("mae_vit_base_patch16", "mae_vit_large_patch16"):
            goal = GOAL_BATCH8 if row["batch"] >= 8 else GOAL_BATCH1 if row["batch"] == 1 else None
            if goal is not None:
                exact = row["ours"]["over_fastest_reference"] if row["ours"] else None
                verdict = "met" if ratio <= goal else "NOT met"
                out.append(f"- float32 {where}: ours+fast ÷ fastest ref = {ratio:.3f} "
                           f"(goal <= {goal:.2f}: {verdict}); exact path {exact:.3f}")
        elif row["dtype"] == "bfloat16" and row["batch"] >= 8:
            times = 1 / ratio
            verdict = "met" if times >= GOAL_BF16 else "NOT met"
            out.append(f"- bfloat16 {where}: {times:.2f}x the fastest float32 reference (goal >= {GOAL_BF16}x: "
                       f"{verdict}); max |Δpred| vs float32 {fast['pred_max_abs_diff']:.1e}; "
                       f"ceiling here {bf16_ceiling(rep, bf16_matmul):.2f}x")
    return out or ["- (no cell of the matrix measures a goal)"]


def bf16_ceiling(report: dict, bf16_matmul: float) -> float:
    """The most a bfloat16 model could gain here: every FLOP at the machine's bfloat16 matmul speed.

    That is the best bfloat16 2048x2048 matmul GFLOP/s of the run over the GFLOP/s the fastest float32
    reference achieved on the whole model in this cell. No real model reaches it (LayerNorm, softmax, GELU,
    copies and small products all run below the matmul's speed), so it bounds what any implementation
    could show on this machine.
    """
    fastest = next(r for r in report["results"] if r["name"] == report["fastest_reference"])
    return bf16_matmul / fastest["gflops_per_s"]


def update_readme(table: str) -> None:
    readme = ROOT / "benchmarks" / "README.md"
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        print(f"benchmarks/README.md has no {README_BEGIN} ... {README_END} block; not updated", file=sys.stderr)
        return
    block = f"{README_BEGIN}\n{table}{README_END}"
    text = re.sub(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), lambda _: block, text, flags=re.S)
    readme.write_text(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports, seconds, date = [], 0.0, None
    if args.resume or args.render:
        saved = json.loads(args.json.read_text())
        reports, seconds, date = saved["reports"], saved.get("seconds", 0.0), saved.get("date")
        if args.resume and any((r["runs"], r["warmup"]) != (args.runs, args.warmup) for r in reports):
            print(f"{args.json} was measured with other --runs/--warmup; run without --resume", file=sys.stderr)
            return 2
    if args.render:
        table = write(reports, args, seconds, done=True, date=date, save_json=False)
    else:
        done = {cell_of(r) for r in reports}
        todo = [c for c in cells(args) if (resolve_variant(c[0]), *c[1:]) not in done]
        start = time.perf_counter() - seconds
        table = write(reports, args, seconds, done=not todo)
        for i, (variant, batch, mode, dtype) in enumerate(todo, 1):
            print(f"[{i}/{len(todo)}] {variant} batch {batch} {mode} {dtype} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            reports.append(run_cell(args, variant, batch, mode, dtype))
            print(f"    done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
            table = write(reports, args, time.perf_counter() - start, done=i == len(todo))  # after every cell
    if args.readme:
        update_readme(table)
    print(table)
    return 0


def write(reports: list[dict], args: argparse.Namespace, seconds: float, done: bool, date: str | None = None,
          save_json: bool = True) -> str:
    """Write results.md and results.json with the cells so far (a long run that is stopped keeps them)."""
    reports = in_order(reports, args)
    date = date or datetime.date.today().isoformat()
    table = markdown(reports, seconds, date)
    if not done:
        table += "\n(partial: the run was still going when this was written)\n"
    args.out.write_text("# Benchmark results (written by benchmarks/run_matrix.py)\n\n" + table)
    if save_json:
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "date": date, "seconds": seconds,
                                         "reports": reports}, indent=1))
    return table


if __name__ == "__main__":
    sys.exit(main())
