"""`mae forward`: one real forward pass of a variant, measured.

Paper: MAE Sec. 3 (Fig. 1): imgs (B, C, H, W) -> loss (), pred (B, L, p*p*C), mask (B, L).
Services: :func:`mae_core.views.prepare.prepare` (the one input pipeline: weights, size, images, mask,
the reconstruction target, the memory check) and :func:`mae_core.views.forward.forward_report` (loss,
statistics, latency, peak memory, all measured).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..common import (BatchOpt, DeviceOpt, DtypeOpt, ImageOpt, ImgSizeOpt, InChansOpt, MAX_REPEAT,
                      MaskFileOpt, MaskOpt, MaskRatioOpt, NormPixOpt, ResizeOpt, SeedOpt, VariantOpt,
                      VerificationFailed, WarmupOpt, WeightsOpt, check_inputs, esc,
                      note, out, progress, resolve_device, resolve_dtype, resolve_variant,
                      run)

RepeatOpt = Annotated[int, typer.Option(
    "--repeat", min=1, max=MAX_REPEAT, help="Timed forward passes; the median latency is reported.")]


def command(variant: VariantOpt = None, batch: BatchOpt = None, image: ImageOpt = None,
            weights: WeightsOpt = None, seed: SeedOpt = 0, mask_ratio: MaskRatioOpt = 0.75,
            norm_pix_loss: NormPixOpt = None, device: DeviceOpt = "cpu", dtype: DtypeOpt = "float32",
            repeat: RepeatOpt = 1, warmup: WarmupOpt = 1, img_size: ImgSizeOpt = None, in_chans: InChansOpt = 3,
            resize: ResizeOpt = "stretch", mask: MaskOpt = "random", mask_file: MaskFileOpt = None) -> None:
    """One real forward pass: loss, statistics, time, memory.

    A real forward pass: loss, pred and mask shapes, masked fraction per sample, output statistics
    (all finite? min / max / mean), latency, images/s and peak memory. Exit 1 if the loss or any
    predicted value is not finite. With --mask-ratio 0 nothing is masked: the loss is undefined
    (null, loss_note says why), not a failure. --batch defaults to the number of --image files, else 1.

    bfloat16 / float16 run under torch.autocast (weights stay float32).
    The masking noise is drawn right after torch.manual_seed(--seed), as in the official demo; --mask
    block|grid|center or --mask-file M.png choose the patches instead (the noise of that strategy).

    \b
    JSON (--json), one document with the keys: variant, title, weights (path or
      null), initialisation ("seeded" or "weights"), notes (list of str), device,
      dtype, precision, batch, img_size (H, or [H, W]), in_chans, size,
      mask_ratio, mask_strategy, mask_file, norm_pix_loss, norm_pix_loss_from,
      seed, inputs (list of str), build_s, loss, loss_finite, loss_note,
      pred_shape, mask_shape, num_visible, masked_fraction (per sample), pred
      {finite, min, max, mean}, repeat, warmup, latency_s, latencies_s,
      images_per_s, peak_memory_bytes, memory_before_bytes, memory_method, ok. NaN
      and inf are written as null.
    """

    run(lambda: compute(variant, batch, image or [], weights, seed, mask_ratio, norm_pix_loss, device, dtype,
                        repeat, warmup, img_size, in_chans, resize, mask, mask_file), render)


def compute(variant: str | None, batch: int | None, images: list[Path], weights: Path | None, seed: int,
            mask_ratio: float, norm_pix_loss: bool | None, device: str, dtype: str, repeat: int,
            warmup: int = 1, img_size: str | None = None, in_chans: int = 3,
            resize: str = "stretch", mask: str = "random", mask_file: Path | None = None) -> dict[str, Any]:
    from mae_core.views.forward import forward_report
    from mae_core.views.prepare import prepare

    dev, dt = resolve_device(device), resolve_dtype(dtype)
    check_inputs(images, weights)
    start = time.perf_counter()
    prep = prepare(variant and resolve_variant(variant), weights, images, batch, seed, device=dev, img_size=img_size,
                   in_chans=in_chans, resize=resize, mask=mask, mask_file=mask_file, mask_ratio=mask_ratio,
                   norm_pix_loss=norm_pix_loss, dtype=dt, stage=progress,
                   passes=repeat + warmup)
    build_s = time.perf_counter() - start
    notes = _notes(prep, dt, dev)
    chosen = mask.strip().lower() != "random" or mask_file is not None  # random: the official demo's global RNG
    with progress(f"forward pass of {prep.title}"):
        report = forward_report(prep, device=dev, dtype=dt, seed=seed, repeat=repeat, warmup=warmup, notes=notes,
                                build_s=build_s, strategy_noise=chosen)
    if not report["ok"]:
        raise VerificationFailed(report, "the forward pass produced non-finite values")
    return report


def _notes(prep: Any, dt: Any, dev: Any) -> list[str]:
    """What the user should know before the pass (printed on stderr now, kept in the report): the file's and
    the mask's notes, untrained weights, a precision this machine only emulates."""
    from mae_core.views.machine import dtype_support

    notes = prep.file_notes + prep.plan.notes + ([] if prep.loaded else [
        f"no --weights: the seeded random initialisation (seed {prep.seed}) is untrained"])
    notes += [] if (support := dtype_support(dt, dev))["native"] else [support["detail"]]
    for line in notes:
        note(line)
    return notes


def _mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


def render(r: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{esc(r['title'])} forward pass ({esc(r['variant'])})", show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    weights = esc(r["weights"]) if r["weights"] else f"none: seeded random initialisation (seed {r['seed']})"
    fractions = r["masked_fraction"]
    shown = ", ".join(f"{f:.4f}" for f in fractions[:8])
    if len(fractions) > 8:
        shown += f", ... ({len(fractions)} samples)"
    pred = r["pred"]
    rows = [
        ("weights", weights),
        ("input", f"{r['batch']} x {r['size']}" + (" grayscale" if r["in_chans"] == 1 else "") + ": "
         + "; ".join(esc(i, 100) for i in r["inputs"][:3])
         + (" ..." if len(r["inputs"]) > 3 else "")),
        ("device / precision", f"{r['device']} / {r['precision']}"),
        ("mask ratio", f"{r['mask_ratio']:g} ({r['num_visible']} of {r['mask_shape'][1]} patches visible)"
         + ("" if r["mask_strategy"] == "random" else f", {esc(r['mask_strategy'])} mask")),
        ("loss", (_number(r["loss"]) if r.get("loss_note") is None else "undefined: no masked patches")
         + (" (norm_pix_loss)" if r["norm_pix_loss"] else "")),
        ("pred shape", str(tuple(r["pred_shape"]))),
        ("mask shape", str(tuple(r["mask_shape"]))),
        ("masked fraction", shown),
        ("pred finite", "[green]yes[/green]" if pred["finite"] else "[red]NO[/red]"),
        ("pred min / max / mean", " / ".join(_number(pred[k]) for k in ("min", "max", "mean"))),
        ("latency", f"{r['latency_s'] * 1000:,.1f} ms" + (f" (median of {r['repeat']})" if r["repeat"] > 1 else "")
         + (f", after {r['warmup']} warm-up run(s)" if r.get("warmup") else "")),
        ("throughput", f"{r['images_per_s']:,.2f} images/s"),
        ("peak memory", f"{_mib(r['peak_memory_bytes'])} (before the forward: {_mib(r['memory_before_bytes'])})"),
        ("memory measured as", r["memory_method"]),
        ("build / load", f"{r['build_s']:.2f} s"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)
    if r["ok"] and r.get("loss_note"):
        out.print("[green]OK[/green] predictions are finite (no masked patches, so no loss)")
    elif r["ok"]:
        out.print("[green]OK[/green] loss and predictions are finite")
    else:
        out.print("[red]FAIL[/red] the loss or the predictions contain NaN or inf")


def _number(x: float | None) -> str:
    return "nan/inf" if x is None or x != x or x in (float("inf"), float("-inf")) else f"{x:.6g}"
