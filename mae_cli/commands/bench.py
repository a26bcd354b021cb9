"""`mae bench`: latency and images/s of our MAE, and of the references, measured in the same process.

Paper: MAE Sec. 3 (the encoder sees only the visible patches) and Table 2 (wall-clock speedup over an
encoder with mask tokens: ``--mask-tokens-in-encoder`` times that baseline beside the MAE).

Every competitor gets the same images and masking noise and runs in alternating rounds after warm-up
(:func:`mae_core.views.bench.bench_report` builds, checks and times them all; this module parses the
options and draws the table); the report gives the median and spread of the runs, images/s, achieved
GFLOP/s and its share of this machine's matmul GFLOP/s for the same dtype (measured in the same run),
the ratio of our median to each reference's, and each competitor's error against our float32 output.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..model_args import resolve_variant
from ..options import (MAX_REPEAT, AutocastOpt, BatchOpt, DeviceOpt, DtypeOpt, MaskRatioOpt, ModeOpt, OfficialSrcOpt,
                       ReferenceOpt, SeedOpt, ThreadsOpt, VariantOpt, WarmupOpt, resolve_device, resolve_dtype)
from ..output import err, out, progress
from ..runner import BadInput, reference_errors, run


def command(
    variant: VariantOpt = None,
    batch: BatchOpt = 1,
    mode: ModeOpt = "inference",
    reference: ReferenceOpt = None,
    reference_dtype: Annotated[Optional[str], typer.Option(
        "--reference-dtype", metavar="DTYPE", help="Precision of the references. Default: --dtype.",
        show_default=False)] = None,
    path: Annotated[str, typer.Option(
        "--path", metavar="PATH", help="Our model's path: exact, fast (oneDNN products) or both.")] = "both",
    mask_tokens_in_encoder: Annotated[bool, typer.Option(
        "--mask-tokens-in-encoder", help="Also time the baseline whose encoder sees every token.")] = False,
    official_src: OfficialSrcOpt = None,
    compile_: Annotated[bool, typer.Option(
        "--compile", help="Also time our model under torch.compile.")] = False,
    device: DeviceOpt = "cpu",
    dtype: DtypeOpt = "float32",
    autocast: AutocastOpt = False,
    mask_ratio: MaskRatioOpt = 0.75,
    warmup: WarmupOpt = 2,
    runs: Annotated[int, typer.Option(
        "--runs", "-n", metavar="N", min=1, max=MAX_REPEAT, help="Timed rounds (each runs every competitor).")] = 10,
    threads: ThreadsOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Speed of our model and of references, in the same run.

    Our model (exact and fast path) and each --reference (timm, hf, official; repeat for several) get
    the same weights and masking noise and run in alternating rounds after warm-up: median and spread,
    GFLOP/s and its share of this machine's matmul (same dtype, same run), each median over the fastest
    reference's, each output's error. --mode inference (no autograd) or train (forward + backward,
    gradients cleared each step). --path exact is F.linear, bit-equal to the official code; fast runs
    the float32/bfloat16 products on oneDNN (mae_core.kernels.fast_path; equal within float rounding).
    --mask-tokens-in-encoder also times the paper's baseline (Table 1c/2): an encoder that sees every
    token, mask tokens in place of the removed ones. --reference-dtype float32 with --dtype bfloat16
    compares our bfloat16 with their float32. --autocast: low precision by torch.autocast over float32
    weights; --native (default): weights cast to --dtype; ignored for float32.

    \b
    JSON (--json), one document with the keys:
      variant, title, batch, mode, mask_ratio, device, dtype, reference_dtype,
      autocast, path, warmup, runs, threads, seed, flops_per_image,
      exact_pred_max_abs, machine {matmul_gflops {dtype: GFLOP/s},
      matmul_size, torch, cpu, cores, cpu_info {model, flags, aten_capability,
      onednn_bfloat16, onednn_float16, settings}, dtypes {dtype: {dtype,
      native, detail}}}, results [{name, dtype, autocast, note, median_s,
      q1_s, q3_s, min_s, max_s, spread, images_per_s, gflops_per_s,
      share_of_matmul, seconds, pred_max_abs_diff, loss_abs_diff,
      over_fastest_reference}], fastest_reference, speedups
      {mae_over_mask_tokens_in_encoder}, compile_seconds, notes.
    Rows: ours (exact path), ours+fast (mae_core.kernels.fast_path), [M] in
    encoder (--mask-tokens-in-encoder), ours+compile (--compile), then the
    references.
    """
    run(lambda: compute(variant or "base", batch=batch, mode=mode, references=reference or [],
                        reference_dtype=reference_dtype, path=path, mask_tokens_in_encoder=mask_tokens_in_encoder,
                        compile_model=compile_, device=device, dtype=dtype, autocast=autocast, mask_ratio=mask_ratio,
                        warmup=warmup, runs=runs, threads=threads, seed=seed,
                        official_src=str(official_src) if official_src else None, progress_to_stderr=True),
        render)


# --- compute -------------------------------------------------------------------------------------

def compute(variant: str, *, references: list[str] | tuple[str, ...] = (), reference_dtype: str | None = None,
            device: str = "cpu", dtype: str = "float32", official_src: str | None = None,
            progress_to_stderr: bool = False, **settings: Any) -> dict[str, Any]:
    """Resolve the options, check the step fits, then :func:`mae_core.views.bench.bench_report` (plain data)."""
    from mae_core.views.bench import bench_report, check_bench_fits

    def tick(r: int) -> None:
        if progress_to_stderr and err.is_terminal:
            err.print(f"  round {r}/{settings.get('runs', 10)}", end="\r")

    settings["mode"] = core_mode(settings.get("mode", "inference"))
    name, dt, dev = resolve_variant(variant), resolve_dtype(dtype), resolve_device(device)
    check_bench_fits(name, settings.get("batch", 1), settings["mode"], settings.get("mask_ratio", 0.75), dtype=dt,
                     device=dev, autocast=bool(settings.get("autocast", False)))
    data = bench_report(name, references=references, load_reference=_reference_loader(official_src),
                        reference_dtype=resolve_dtype(reference_dtype) if reference_dtype else None, device=dev,
                        dtype=dt, stage=progress, on_round=tick, **settings)
    data["mode"] = "train" if data["mode"] == "train" else "inference"  # one word across commands (memory's)
    return data


def core_mode(mode: str) -> str:
    """--mode inference or train, in the core's words (forward or train); forward: bench's word before 0.2."""
    mode = str(mode).strip().lower()
    if mode not in ("inference", "train", "forward"):
        raise BadInput(f"--mode {mode!r} is not a mode; use inference or train")
    return "train" if mode == "train" else "forward"


def _reference_loader(official_src: str | None):
    """official_mae's loader, its failures as one-line bad input (the extra may not be installed)."""

    def load(kind: str, name: str, state_dict, device):
        try:
            from official_mae import load_reference
        except ImportError as exc:
            raise BadInput(f"--reference needs the official_mae package ({exc}); install with "
                           'pip install -e ".[reference]"') from None
        with reference_errors(f"--reference {kind}: "):
            return load_reference(kind, name, official_src=official_src, device=device, state_dict=state_dict)

    return load


# --- render --------------------------------------------------------------------------------------

def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} alternating runs"


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def render(data: dict[str, Any]) -> None:
    from mae_core.views.machine import describe_cpu

    short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    table = Table(title=f"{data['title']} {data['mode']}, batch {data['batch']}, {data['threads']} thread(s): "
                        f"median of {_runs(data['runs'])}")
    table.add_column("", no_wrap=True)
    for col in ("dtype", "median s", "img/s", "GFLOP/s", "% mm", "÷ ref", "Δpred"):
        table.add_column(col, justify="left" if col == "dtype" else "right", no_wrap=True)
    for r in data["results"]:
        share = r["share_of_matmul"]
        table.add_row(r["name"], short.get(r["dtype"], r["dtype"]) + (" ac" if r["autocast"] else ""),
                      f"{r['median_s']:.3f} ±{50 * r['spread']:.0f}%", f"{r['images_per_s']:.2f}",
                      _fmt(r["gflops_per_s"], ".0f"), "-" if share is None else f"{100 * share:.0f}",
                      _fmt(r["over_fastest_reference"], ".2f"), _fmt(r["pred_max_abs_diff"], ".0e"))
    out.print(table)
    machine = data["machine"]
    matmul = ", ".join([f"{k} {v:.0f} GFLOP/s" for k, v in machine["matmul_gflops"].items()]
                       + [f"{k} emulated (not measured)" for k, v in machine["dtypes"].items() if not v["native"]])
    out.print(f"this machine's 2048x2048 matmul, measured in this run: {matmul}")
    out.print(f"CPU: {describe_cpu(data['machine']['cpu_info'])}", markup=False, highlight=False)
    if "mae_over_mask_tokens_in_encoder" in data["speedups"]:
        out.print(f"MAE speedup over the encoder with mask tokens (paper Table 2: 2.8x to 4.1x): "
                  f"[bold]{data['speedups']['mae_over_mask_tokens_in_encoder']:.2f}x[/]")
    for note in data["notes"]:
        out.print(f"note: {note}", markup=False, highlight=False)
    out.print(f"{data['mode']} FLOPs per image: {data['flops_per_image'] / 1e9:.2f} G. ±: half the interquartile "
              "range over the median. % mm: achieved GFLOP/s over the matmul's. ÷ ref: median over the fastest "
              "reference's (below 1 = faster). Δpred: max abs difference of pred from our float32 exact output "
              f"(|pred| up to {data['exact_pred_max_abs']:.2f}). ours = exact path, ours+fast = oneDNN products "
              "(mae_core.kernels.fast_path).")
