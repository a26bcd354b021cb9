"""`mae bench`: latency and images/s of our MAE, and of the references, measured in the same process.

Paper: MAE Sec. 3 (the encoder sees only the visible patches) and Table 2 (wall-clock speedup over an
encoder with mask tokens: ``--mask-tokens-in-encoder`` times that baseline beside the MAE).

Every competitor gets the same images and masking noise and runs in alternating rounds after warm-up
(:mod:`mae_core.inspect.bench`); the report gives the median and spread of the runs, images/s, achieved
GFLOP/s and its share of this machine's matmul GFLOP/s for the same dtype (measured in the same run),
the ratio of our median to each reference's, and each competitor's error against our float32 output.
"""

from __future__ import annotations

import os
import platform
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..common import (BadInput, DebugOpt, DeviceOpt, DtypeOpt, JsonOpt, MaskRatioOpt, VariantOpt, check_batch,
                      check_mask_ratio, err, out, progress, resolve_device, resolve_dtype, resolve_variant, run)

REFERENCE_KINDS = ("timm", "hf", "official")
OURS, OURS_COMPILED, BASELINE = "ours", "ours+compile", "ours, mask tokens in encoder"


def command(
    variant: VariantOpt = "base",
    batch: Annotated[int, typer.Option("--batch", "-b", help="Images per forward pass.")] = 1,
    mode: Annotated[str, typer.Option(
        "--mode", help="forward (no autograd) or train (forward + backward; gradients cleared every step).")] = "forward",
    reference: Annotated[Optional[list[str]], typer.Option(
        "--reference", "-r", help="Also time a reference with the same weights and noise: timm, hf or official "
                                  "(repeat the option for several). Needs the reference extra installed.",
        show_default=False)] = None,
    reference_dtype: Annotated[Optional[str], typer.Option(
        "--reference-dtype", help="dtype of the references (default: --dtype). `--dtype bfloat16 "
                                  "--reference-dtype float32` compares our bfloat16 with their float32.",
        show_default=False)] = None,
    mask_tokens_in_encoder: Annotated[bool, typer.Option(
        "--mask-tokens-in-encoder", help="Also time the paper's baseline (Table 1c/2): the same model with an "
                                         "encoder that sees every token, mask tokens in place of the removed ones; "
                                         "reports the MAE's speedup over it.")] = False,
    official_src: Annotated[Optional[str], typer.Option(
        "--official-src", help="Clone of facebookresearch/mae for --reference official (default: "
                               "$MAE_OFFICIAL_SRC).", show_default=False)] = None,
    compile_: Annotated[bool, typer.Option(
        "--compile", help="Also time our model under torch.compile (its one-off compile time is reported).")] = False,
    device: DeviceOpt = "cpu",
    dtype: DtypeOpt = "float32",
    autocast: Annotated[bool, typer.Option(
        "--autocast/--native", help="Low precision by torch.autocast over float32 weights, or native (weights cast "
                                    "to --dtype). Ignored for float32.")] = False,
    mask_ratio: MaskRatioOpt = 0.75,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed rounds before timing.")] = 2,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Timed rounds (each runs every competitor once).")] = 10,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", help="torch.set_num_threads (default: PyTorch's choice, usually the core count).",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the weights, the images and the masking noise.")] = 0,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Time ours (and references, and the mask-tokens-in-encoder baseline) after warm-up, alternating."""
    run(lambda: bench(variant, batch=batch, mode=mode, references=reference or [], reference_dtype=reference_dtype,
                      mask_tokens_in_encoder=mask_tokens_in_encoder, compile_model=compile_, device=device,
                      dtype=dtype, autocast=autocast, mask_ratio=mask_ratio, warmup=warmup, runs=runs,
                      threads=threads, seed=seed, official_src=official_src, progress_to_stderr=True),
        render, json_out=json_out, debug=debug)


# --- compute -------------------------------------------------------------------------------------

def _check(mode: str, warmup: int, runs: int, threads: int | None, references: list[str]) -> list[str]:
    if mode not in ("forward", "train"):
        raise BadInput(f"--mode {mode!r} is not a mode; use forward or train")
    if warmup < 0:
        raise BadInput(f"--warmup must be 0 or more, got {warmup}")
    if runs < 1:
        raise BadInput(f"--runs must be at least 1, got {runs}")
    if threads is not None and threads < 1:
        raise BadInput(f"--threads must be at least 1, got {threads}")
    kinds = []
    for kind in references:
        kind = kind.strip().lower()
        if kind not in REFERENCE_KINDS:
            raise BadInput(f"--reference {kind!r} is not a reference; use one of {', '.join(REFERENCE_KINDS)}")
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def _load_reference(kind: str, name: str, model, device, official_src: str | None):
    """A reference sharing our float32 weights (aliases, no copies)."""
    try:
        from official_mae import ReferenceUnavailable, load_reference
    except ImportError as exc:
        raise BadInput(f"--reference needs the official_mae package ({exc}); install with "
                       'pip install -e ".[reference]"') from None
    try:
        return load_reference(kind, name, official_src=official_src, device=device,
                              state_dict=model.official_state_dict())
    except ReferenceUnavailable as exc:
        raise BadInput(f"--reference {kind}: {exc}") from None


def bench(variant: str, *, batch: int = 1, mode: str = "forward", references: list[str] | tuple[str, ...] = (),
          reference_dtype: str | None = None, mask_tokens_in_encoder: bool = False, compile_model: bool = False,
          device: str = "cpu", dtype: str = "float32", autocast: bool = False, mask_ratio: float = 0.75,
          warmup: int = 2, runs: int = 10, threads: int | None = None, seed: int = 0,
          official_src: str | None = None, progress_to_stderr: bool = False) -> dict[str, Any]:
    """Build the competitors, time them, and return the report (plain data for the table and the JSON)."""
    import torch

    from mae_core.baseline import MaskTokensInEncoder
    from mae_core.inspect.bench import (Competitor, benchmark, dtype_name, evaluate, make_step, max_abs_diff,
                                        timed_first_call)
    from mae_core.inspect.flops import closed_form_macs
    from mae_core.models import create_model, get_variant

    kinds = _check(mode, warmup, runs, threads, list(references))
    name = resolve_variant(variant)
    spec = get_variant(name)
    cfg = spec.config
    check_batch(batch)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    dev = resolve_device(device)
    ours_dtype = resolve_dtype(dtype)
    ref_dtype = resolve_dtype(reference_dtype) if reference_dtype else ours_dtype
    if threads is not None:
        torch.set_num_threads(threads)
    low = [d for d in {ours_dtype, ref_dtype} if d != torch.float32]
    if low and autocast and dev.type == "cpu" and torch.float16 in low and not hasattr(torch.cpu, "amp"):
        raise BadInput("float16 autocast is not available on this CPU build; use bfloat16")

    macs = closed_form_macs(cfg, mask_ratio)
    flops = 2 * macs["total" if mode == "forward" else "train"]
    baseline_flops = 2 * macs["baseline_total" if mode == "forward" else "baseline_train"]

    with progress(f"building {spec.title}"):
        torch.manual_seed(seed)
        model = create_model(name, device=dev)
        model.train(mode == "train")
        gen = torch.Generator().manual_seed(seed)
        imgs = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=gen).to(dev)
        noise = torch.rand(batch, cfg.num_patches, generator=gen).to(dev)
        with torch.inference_mode():
            exact_loss, exact_pred, _ = model(imgs, mask_ratio, noise)  # the float32 yardstick

    def cast(module, to: torch.dtype):
        return module if to == torch.float32 or autocast else module.to(to)

    competitors: list[Competitor] = []
    notes: list[str] = []
    refs = {}
    for kind in kinds:
        with progress(f"building the {kind} reference"):
            ref = _load_reference(kind, name, model, dev, official_src)
        cast(ref.model, ref_dtype).train(mode == "train")
        refs[kind] = ref
        competitors.append(Competitor(kind, ref.forward, ref.model, ref_dtype, autocast and ref_dtype != torch.float32,
                                      flops, ref.detail))
    cast(model, ours_dtype)
    ours_autocast = autocast and ours_dtype != torch.float32
    competitors.insert(0, Competitor(OURS, model, model, ours_dtype, ours_autocast, flops, "mae_core, eager"))
    if mask_tokens_in_encoder:
        baseline = MaskTokensInEncoder(model).to(dev)
        cast(baseline, ours_dtype)
        competitors.insert(1, Competitor(BASELINE, baseline, baseline, ours_dtype, ours_autocast, baseline_flops,
                                         "Table 1c/2 baseline: encoder on all tokens, with [M]"))
    compile_seconds = None
    if compile_model:
        compiled = torch.compile(model)
        c = Competitor(OURS_COMPILED, compiled, model, ours_dtype, ours_autocast, flops, "mae_core, torch.compile")
        with progress("compiling (torch.compile; the first call pays for it)"):
            compile_seconds = timed_first_call(make_step(c, imgs, noise, mask_ratio, mode))
        competitors.insert(1, c)
        notes.append(f"torch.compile: the first call took {compile_seconds:.1f} s (compilation), not counted in the "
                     "timings; it pays off after about that many seconds of saved run time")

    # What each competitor computes, against our float32 output on the same inputs.
    accuracy = {}
    for c in competitors:
        if c.name == BASELINE:
            continue  # computes a different function (and is untrained with its [M] token)
        loss, pred = evaluate(c, imgs, noise, mask_ratio)
        accuracy[c.name] = {"pred_max_abs_diff": max_abs_diff(pred, exact_pred),
                            "pred_max_abs": exact_pred.abs().max().item(),
                            "loss_abs_diff": abs(loss.item() - exact_loss.item())}

    def tick(r: int) -> None:
        if progress_to_stderr and err.is_terminal:
            err.print(f"  round {r}/{runs}", end="\r")

    with progress(f"timing {len(competitors)} competitor(s): {warmup} warm-up + {runs} rounds, alternating"):
        results = benchmark(competitors, imgs, noise, mask_ratio=mask_ratio, mode=mode, warmup=warmup, runs=runs,
                            on_round=tick)

    ours = results[0]
    rows = []
    for r in results:
        row = r.to_dict()
        row.update(accuracy.get(r.name, {"pred_max_abs_diff": None, "pred_max_abs": None, "loss_abs_diff": None}))
        row["ours_over_this"] = ours.summary.median / r.summary.median  # < 1: ours is faster
        rows.append(row)
    speedups = {}
    if mask_tokens_in_encoder:
        base = next(r for r in results if r.name == BASELINE)
        speedups["mae_over_mask_tokens_in_encoder"] = base.summary.median / ours.summary.median
    refs_timed = [r for r in results if r.name in kinds]
    fastest = min(refs_timed, key=lambda r: r.summary.median) if refs_timed else None
    return {
        "variant": name, "title": spec.title, "batch": batch, "mode": mode, "mask_ratio": mask_ratio,
        "device": str(dev), "dtype": dtype_name(ours_dtype), "reference_dtype": dtype_name(ref_dtype),
        "autocast": autocast, "warmup": warmup, "runs": runs, "threads": torch.get_num_threads(), "seed": seed,
        "flops_per_image": flops, "machine": _machine(results),
        "results": rows,
        "fastest_reference": fastest.name if fastest else None,
        "ours_over_fastest_reference": ours.summary.median / fastest.summary.median if fastest else None,
        "speedups": speedups, "compile_seconds": compile_seconds, "notes": notes,
    }


def _machine(results) -> dict[str, Any]:
    import torch

    matmul = {}
    for r in results:
        if r.matmul_gflops is not None:
            matmul[r.dtype] = r.matmul_gflops
    return {"matmul_gflops": matmul, "matmul_size": 2048, "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}


# --- render --------------------------------------------------------------------------------------

def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def render(data: dict[str, Any]) -> None:
    table = Table(title=f"{data['title']} {data['mode']}, batch {data['batch']}, {data['dtype']}"
                        f"{' (autocast)' if data['autocast'] else ''}, {data['threads']} thread(s), "
                        f"median of {data['runs']} alternating runs")
    for col, justify in (("", "left"), ("dtype", "left"), ("median s", "right"), ("spread (IQR)", "right"),
                         ("images/s", "right"), ("GFLOP/s", "right"), ("of matmul", "right"),
                         ("ours / this", "right"), ("max |Δpred| vs fp32", "right")):
        table.add_column(col, justify=justify)
    for r in data["results"]:
        ratio = "" if r["name"] == OURS else f"{r['ours_over_this']:.2f}"
        table.add_row(r["name"], r["dtype"] + (" ac" if r["autocast"] else ""), f"{r['median_s']:.4f}",
                      f"±{100 * r['spread'] / 2:.1f} %", f"{r['images_per_s']:.2f}", _fmt(r["gflops_per_s"], ".0f"),
                      _fmt(None if r["share_of_matmul"] is None else 100 * r["share_of_matmul"], ".0f") + " %",
                      ratio, _fmt(r["pred_max_abs_diff"], ".1e"))
    out.print(table)
    matmul = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in data["machine"]["matmul_gflops"].items())
    out.print(f"this machine's 2048x2048 matmul, measured in this run: {matmul}")
    if data["ours_over_fastest_reference"] is not None:
        out.print(f"ours / fastest reference ({data['fastest_reference']}): "
                  f"[bold]{data['ours_over_fastest_reference']:.2f}[/] (below 1: ours is faster)")
    if "mae_over_mask_tokens_in_encoder" in data["speedups"]:
        out.print(f"MAE speedup over the encoder with mask tokens (paper Table 2: 2.8x to 4.1x): "
                  f"[bold]{data['speedups']['mae_over_mask_tokens_in_encoder']:.2f}x[/]")
    for note in data["notes"]:
        out.print(f"note: {note}")
    out.print(f"FLOPs per image: {data['flops_per_image'] / 1e9:.2f} G ({data['mode']}); "
              "ours / this = our median over its median (below 1: ours is faster)")
