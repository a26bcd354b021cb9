"""`mae bench`: latency and images/s of our MAE, and of the references, measured in the same process.

Paper: MAE Sec. 3 (the encoder sees only the visible patches) and Table 2 (wall-clock speedup over an
encoder with mask tokens: ``--mask-tokens-in-encoder`` times that baseline beside the MAE).

Every competitor gets the same images and masking noise and runs in alternating rounds after warm-up
(:mod:`mae_core.views.bench`); the report gives the median and spread of the runs, images/s, achieved
GFLOP/s and its share of this machine's matmul GFLOP/s for the same dtype (measured in the same run),
the ratio of our median to each reference's, and each competitor's error against our float32 output.
"""

from __future__ import annotations

import copy
import os
import platform
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..common import (BadInput, DebugOpt, DeviceOpt, DtypeOpt, JsonOpt, MaskRatioOpt, VariantOpt, check_batch,
                      check_mask_ratio, err, out, progress, resolve_device, resolve_dtype, resolve_variant, run)

REFERENCE_KINDS = ("timm", "hf", "official")
OURS, OURS_FAST, OURS_COMPILED = "ours", "ours+fast", "ours+compile"
BASELINE = "[M] in encoder"  # the Table 1c/2 baseline
PATHS = ("exact", "fast", "both")


def command(
    variant: VariantOpt = "base",
    batch: Annotated[int, typer.Option("--batch", "-b", help="Images per forward pass.")] = 1,
    mode: Annotated[str, typer.Option(
        "--mode", help="forward (no autograd) or train (forward + backward, grads cleared each step).")] = "forward",
    reference: Annotated[Optional[list[str]], typer.Option(
        "--reference", "-r", help="Also time a reference with the same weights and noise: timm, hf or official "
                                  "(repeat the option for several). Needs the reference extra installed.",
        show_default=False)] = None,
    reference_dtype: Annotated[Optional[str], typer.Option(
        "--reference-dtype", help="dtype of the references (default: --dtype). `--dtype bfloat16 "
                                  "--reference-dtype float32` compares our bfloat16 with their float32.",
        show_default=False)] = None,
    path: Annotated[str, typer.Option(
        "--path", help="Our model's path: exact (F.linear, bit-equal to the official code), fast (float32/bfloat16 "
                       "products on oneDNN, mae_core.kernels.fast_path; equal within float rounding), or both.")] = "both",
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
    """Latency and images/s of our model (exact and fast path), and of references with the same weights and
    noise, after warm-up, in alternating rounds: median and spread, GFLOP/s and its share of this machine's
    matmul (same dtype, same run), each median over the fastest reference's, each output's error.

    JSON (--json), one document with the keys:
      variant, title, batch, mode, mask_ratio, device, dtype, reference_dtype,
      autocast, path, warmup, runs, threads, seed, flops_per_image,
      exact_pred_max_abs, machine {matmul_gflops {dtype: GFLOP/s}, matmul_size,
      torch, cpu, cores}, results [{name, dtype, autocast, note, median_s,
      q1_s, q3_s, min_s, max_s, spread, images_per_s, gflops_per_s,
      share_of_matmul, seconds, pred_max_abs_diff, loss_abs_diff,
      over_fastest_reference}], fastest_reference, speedups
      {mae_over_mask_tokens_in_encoder}, compile_seconds, notes.
    Rows: ours (exact path), ours+fast (mae_core.kernels.fast_path), [M] in encoder
    (--mask-tokens-in-encoder), ours+compile (--compile), then the references.
    """
    run(lambda: bench(variant, batch=batch, mode=mode, references=reference or [], reference_dtype=reference_dtype,
                      path=path, mask_tokens_in_encoder=mask_tokens_in_encoder, compile_model=compile_, device=device,
                      dtype=dtype, autocast=autocast, mask_ratio=mask_ratio, warmup=warmup, runs=runs,
                      threads=threads, seed=seed, official_src=official_src, progress_to_stderr=True),
        render, json_out=json_out, debug=debug)


# --- compute -------------------------------------------------------------------------------------

def _check(mode: str, warmup: int, runs: int, threads: int | None, references: list[str], path: str) -> list[str]:
    if mode not in ("forward", "train"):
        raise BadInput(f"--mode {mode!r} is not a mode; use forward or train")
    if path not in PATHS:
        raise BadInput(f"--path {path!r} is not a path; use exact, fast or both")
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


def _shares_weights(model):
    """A second copy of ``model``'s modules over the same Parameter objects (its own per-layer switches)."""
    memo = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return copy.deepcopy(model, memo)


@dataclass
class Setup:
    """What every competitor shares: the model's float32 weights, the inputs, the float32 yardstick."""

    name: str
    title: str
    model: Any  # our MaskedAutoencoderViT, float32 until the competitors are built
    imgs: Any  # (B, C, H, W)
    noise: Any  # (B, L)
    exact_loss: Any
    exact_pred: Any  # (B, L, p*p*C), our float32 exact-path output: what every error is measured against


def bench(variant: str, *, batch: int = 1, mode: str = "forward", references: list[str] | tuple[str, ...] = (),
          reference_dtype: str | None = None, path: str = "both", mask_tokens_in_encoder: bool = False,
          compile_model: bool = False, device: str = "cpu", dtype: str = "float32", autocast: bool = False,
          mask_ratio: float = 0.75, warmup: int = 2, runs: int = 10, threads: int | None = None, seed: int = 0,
          official_src: str | None = None, progress_to_stderr: bool = False) -> dict[str, Any]:
    """Build the competitors, time them, and return the report (plain data for the table and the JSON)."""
    import torch

    from mae_core.views.bench import benchmark, dtype_name

    kinds = _check(mode, warmup, runs, threads, list(references), path)
    dev = resolve_device(device)
    ours_dtype = resolve_dtype(dtype)
    ref_dtype = resolve_dtype(reference_dtype) if reference_dtype else ours_dtype
    check_batch(batch)
    if threads is not None:
        torch.set_num_threads(threads)
    setup = _setup(variant, batch, mode, mask_ratio, dev, seed)

    # References first, while our weights are still float32: they alias them.
    refs = [_reference_competitor(kind, setup, dev, official_src, ref_dtype, autocast, mode, mask_ratio)
            for kind in kinds]
    ours, notes, compile_seconds = _our_competitors(setup, path, ours_dtype, autocast, mode, mask_ratio,
                                                    mask_tokens_in_encoder, compile_model)
    competitors = ours + refs
    accuracy = _accuracy(competitors, setup, mask_ratio)

    def tick(r: int) -> None:
        if progress_to_stderr and err.is_terminal:
            err.print(f"  round {r}/{runs}", end="\r")

    with progress(f"timing {len(competitors)} competitor(s): {warmup} warm-up + {runs} rounds, alternating"):
        results = benchmark(competitors, setup.imgs, setup.noise, mask_ratio=mask_ratio, mode=mode, warmup=warmup,
                            runs=runs, on_round=tick)

    by_name = {r.name: r for r in results}
    refs_timed = [r for r in results if r.name in kinds]
    fastest = min(refs_timed, key=lambda r: r.summary.median) if refs_timed else None
    rows = []
    for r in results:
        row = r.to_dict()
        row.update(accuracy.get(r.name, {"pred_max_abs_diff": None, "loss_abs_diff": None}))
        row["over_fastest_reference"] = r.summary.median / fastest.summary.median if fastest else None
        rows.append(row)
    speedups = {}
    if mask_tokens_in_encoder:  # against ours on the same path as the baseline (the last of ours before it)
        mae = [c.name for c in ours if c.name in (OURS, OURS_FAST)][-1]
        speedups["mae_over_mask_tokens_in_encoder"] = by_name[BASELINE].summary.median / by_name[mae].summary.median
    return {
        "variant": setup.name, "title": setup.title, "batch": batch, "mode": mode, "mask_ratio": mask_ratio,
        "device": str(dev), "dtype": dtype_name(ours_dtype), "reference_dtype": dtype_name(ref_dtype),
        "autocast": autocast, "path": path, "warmup": warmup, "runs": runs, "threads": torch.get_num_threads(),
        "seed": seed, "flops_per_image": _flops(setup.model.config, mask_ratio, mode),
        "exact_pred_max_abs": setup.exact_pred.abs().max().item(),
        "machine": _machine(results), "results": rows,
        "fastest_reference": fastest.name if fastest else None,
        "speedups": speedups, "compile_seconds": compile_seconds, "notes": notes,
    }


def _flops(cfg, mask_ratio: float, mode: str, baseline: bool = False) -> int:
    """FLOPs per image of one step (closed form, ``mae_core.views.flops``)."""
    from mae_core.views.flops import closed_form_macs

    key = {("forward", False): "total", ("train", False): "train",
           ("forward", True): "baseline_total", ("train", True): "baseline_train"}[mode, baseline]
    return 2 * closed_form_macs(cfg, mask_ratio)[key]


def _setup(variant: str, batch: int, mode: str, mask_ratio: float, dev, seed: int) -> Setup:
    """Our seeded model, seeded images and noise, and our float32 output on them."""
    import torch

    from mae_core.models import create_model, get_variant

    name = resolve_variant(variant)
    spec = get_variant(name)
    cfg = spec.config
    check_mask_ratio(mask_ratio, cfg.num_patches)
    with progress(f"building {spec.title}"):
        torch.manual_seed(seed)
        model = create_model(name, device=dev)
        model.train(mode == "train")
        gen = torch.Generator().manual_seed(seed)
        imgs = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=gen).to(dev)
        noise = torch.rand(batch, cfg.num_patches, generator=gen).to(dev)
        with torch.inference_mode():
            loss, pred, _ = model(imgs, mask_ratio, noise)
    return Setup(name, spec.title, model, imgs, noise, loss, pred)


def _cast(module, dtype, autocast: bool):
    """Native low precision: the module's weights cast to ``dtype`` (autocast keeps them float32)."""
    import torch

    return module if dtype == torch.float32 or autocast else module.to(dtype)


def _reference_competitor(kind: str, setup: Setup, dev, official_src, dtype, autocast: bool, mode: str,
                          mask_ratio: float):
    import torch

    from mae_core.views.bench import Competitor

    with progress(f"building the {kind} reference"):
        ref = _load_reference(kind, setup.name, setup.model, dev, official_src)
    _cast(ref.model, dtype, autocast).train(mode == "train")
    return Competitor(kind, ref.forward, ref.model, dtype, autocast and dtype != torch.float32,
                      _flops(setup.model.config, mask_ratio, mode), ref.detail)


def _our_competitors(setup: Setup, path: str, dtype, autocast: bool, mode: str, mask_ratio: float,
                     mask_tokens_in_encoder: bool, compile_model: bool):
    """ours (exact path) and/or ours+fast, then the [M] baseline and ours+compile when asked."""
    import torch

    from mae_core.views.baseline import MaskTokensInEncoder
    from mae_core.kernels.fast_path import use_fast_path
    from mae_core.views.bench import Competitor, make_step, timed_first_call

    model = _cast(setup.model, dtype, autocast)
    low = autocast and dtype != torch.float32
    cfg = model.config
    flops = _flops(cfg, mask_ratio, mode)
    ours = []
    if path in ("exact", "both"):
        ours.append(Competitor(OURS, model, model, dtype, low, flops, "mae_core, exact path (F.linear)"))
    if path in ("fast", "both"):
        fast = use_fast_path(_shares_weights(model) if path == "both" else model)
        ours.append(Competitor(OURS_FAST, fast, fast, dtype, low, flops, "mae_core, fast path (oneDNN products)"))
    main = ours[-1]  # the fastest of ours we time: the baseline runs on the same path
    if mask_tokens_in_encoder:
        baseline = _cast(MaskTokensInEncoder(main.module).to(setup.imgs.device), dtype, autocast)
        ours.append(Competitor(BASELINE, baseline, baseline, dtype, low, _flops(cfg, mask_ratio, mode, baseline=True),
                               f"Table 1c/2 baseline: encoder on every token, with [M] ({main.name}'s path)"))
    notes: list[str] = []
    compile_seconds = None
    if compile_model:
        compiled = torch.compile(model)
        c = Competitor(OURS_COMPILED, compiled, model, dtype, low, flops, "mae_core, torch.compile")
        with progress("compiling (torch.compile; the first call pays for it)"):
            compile_seconds = timed_first_call(make_step(c, setup.imgs, setup.noise, mask_ratio, mode))
        ours.append(c)
        notes.append(f"torch.compile: the first call took {compile_seconds:.1f} s (compiling), not in the timings")
    return ours, notes, compile_seconds


def _accuracy(competitors, setup: Setup, mask_ratio: float) -> dict[str, dict[str, float]]:
    """What each competitor computes, against our float32 exact output on the same inputs."""
    from mae_core.views.bench import evaluate, max_abs_diff

    accuracy = {}
    for c in competitors:
        if c.name != BASELINE:  # the baseline computes another function (and its [M] token is untrained)
            loss, pred = evaluate(c, setup.imgs, setup.noise, mask_ratio)
            accuracy[c.name] = {"pred_max_abs_diff": max_abs_diff(pred, setup.exact_pred),
                                "loss_abs_diff": abs(loss.item() - setup.exact_loss.item())}
    return accuracy


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
    short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    table = Table(title=f"{data['title']} {data['mode']}, batch {data['batch']}, {data['threads']} thread(s): "
                        f"median of {data['runs']} alternating runs")
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
    matmul = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in data["machine"]["matmul_gflops"].items())
    out.print(f"this machine's 2048x2048 matmul, measured in this run: {matmul}")
    if "mae_over_mask_tokens_in_encoder" in data["speedups"]:
        out.print(f"MAE speedup over the encoder with mask tokens (paper Table 2: 2.8x to 4.1x): "
                  f"[bold]{data['speedups']['mae_over_mask_tokens_in_encoder']:.2f}x[/]")
    for note in data["notes"]:
        out.print(f"note: {note}")
    out.print(f"{data['mode']} FLOPs per image: {data['flops_per_image'] / 1e9:.2f} G. ±: half the interquartile "
              "range over the median. % mm: achieved GFLOP/s over the matmul's. ÷ ref: median over the fastest "
              "reference's (below 1 = faster). Δpred: max abs difference of pred from our float32 exact output "
              f"(|pred| up to {data['exact_pred_max_abs']:.2f}). ours = exact path, ours+fast = oneDNN products "
              "(mae_core.kernels.fast_path).")
