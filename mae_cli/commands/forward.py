"""`mae forward`: one real forward pass of a variant, measured.

Paper: MAE Sec. 3 (Fig. 1): imgs (B, C, H, W) -> loss (), pred (B, L, p*p*C), mask (B, L).
Services: :func:`mae_core.io.weights.load_weights` / :func:`mae_core.io.weights.build_model` (a checkpoint is
assigned to a meta-device model: no wasted random initialisation) and
:func:`mae_core.views.forward.measure_forward` (loss, statistics, latency, peak memory, all measured).
Images are prepared by :mod:`mae_core.io.images` as the official demo does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..model_args import check_mask_ratio, masking_plan, resolve_variant, resolve_weights, size_overrides, size_text
from ..options import (MAX_REPEAT, BatchOpt, DeviceOpt, DtypeOpt, ImageOpt, ImgSizeOpt, InChansOpt, MaskFileOpt,
                       MaskOpt, MaskRatioOpt, NormPixOpt, ResizeOpt, SeedOpt, VariantOpt, WarmupOpt, WeightsOpt,
                       check_images, resolve_device, resolve_dtype)
from ..output import esc, note, out, progress
from ..runner import BadInput, VerificationFailed, run

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
    JSON (--json), one document with the keys:
      variant, title, weights (path or null), initialisation ("seeded" or
      "weights"), notes (list of str), device, dtype, precision, batch,
      img_size (H, or [H, W]), in_chans, size, mask_ratio, mask_strategy,
      mask_file, norm_pix_loss, seed, inputs (list of str), build_s, loss,
      loss_finite, loss_note, pred_shape, mask_shape, num_visible,
      masked_fraction (per sample), pred {finite, min, max, mean}, repeat,
      warmup, latency_s, latencies_s, images_per_s, peak_memory_bytes,
      memory_before_bytes, memory_method, ok.
    NaN and inf are written as null.
    """

    run(lambda: compute(variant, batch, image or [], weights, seed, mask_ratio, norm_pix_loss, device, dtype,
                        repeat, warmup, img_size, in_chans, resize, mask, mask_file), render)


def compute(variant: str | None, batch: int | None, images: list[Path], weights: Path | None, seed: int,
            mask_ratio: float, norm_pix_loss: bool | None, device: str, dtype: str, repeat: int,
            warmup: int = 1, img_size: str | None = None, in_chans: int = 3,
            resize: str = "stretch", mask: str = "random", mask_file: Path | None = None) -> dict[str, Any]:
    from mae_core.models import get_variant

    # Cheap checks first, so a typo never waits for a checkpoint to load.
    name = resolve_variant(variant) if variant is not None else None
    if batch is not None and images and batch != len(images):
        raise BadInput(f"--batch {batch} but {len(images)} --image file(s) given; drop --batch or pass "
                       f"{batch} images")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    check_images(images)
    if name is not None:
        check_mask_ratio(mask_ratio, get_variant(name).config.replace(
            **size_overrides(name, img_size, in_chans, pictures=bool(images))).num_patches)

    start = time.perf_counter()
    name, loaded = resolve_weights(name, weights)
    notes: list[str] = list(loaded.notes) if loaded else []
    info = get_variant(name)
    overrides = size_overrides(name, img_size, in_chans, pictures=bool(images))
    cfg = info.config.replace(**overrides)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    plan = None
    if mask.strip().lower() != "random" or mask_file is not None:  # random: the official demo's global RNG
        plan = masking_plan(mask, mask_file, cfg, batch or len(images) or 1, mask_ratio, seed)
        mask_ratio = plan.mask_ratio
        notes += plan.notes

    from mae_core.views.memory import check_fits

    # Refuse a batch that cannot fit before the images or the model are allocated.
    check_fits(cfg, batch or len(images) or 1, mask_ratio, what=f"a {info.title} forward pass", mode="inference",
               dtype=dt, amp=True, device=dev, weights_resident=loaded is not None, passes=repeat + warmup)
    from mae_core.io.images import load_batch

    imgs, inputs = load_batch([str(p) for p in images], cfg.img_size, batch or 1, seed, cfg.in_chans,
                              resize=resize)
    if loaded is None:
        notes.append(f"no --weights: the seeded random initialisation (seed {seed}) is untrained")
    if norm_pix_loss is None:  # as the checkpoint says (a transformers config.json), else raw pixels
        norm_pix_loss = bool(loaded.hints.get("norm_pix_loss")) if loaded is not None else False
    from mae_core.io.weights import build_model

    with progress(f"building {info.title} on {dev}"):
        model = build_model(name, loaded, device=dev, seed=seed, norm_pix_loss=norm_pix_loss, **overrides)
    notes = list(model.pos_embed_notes) + notes
    build_s = time.perf_counter() - start
    from mae_core.views.bench import dtype_support

    if not (support := dtype_support(dt, dev))["native"]:  # a CPU without native bfloat16 / float16: slow, said
        notes.append(support["detail"])
    for line in notes:
        note(line)

    from mae_core.views.forward import dtype_name, measure_forward

    with progress(f"forward pass of {info.title}"):
        result = measure_forward(model, imgs.to(dev), mask_ratio=mask_ratio, seed=seed, dtype=dt, repeat=repeat,
                                 warmup=warmup, noise=plan.noise if plan is not None else None)
    report = {
        "variant": name, "title": info.title,
        "weights": str(weights) if weights is not None else None,
        "initialisation": "weights" if loaded is not None else "seeded",
        "notes": notes, "device": str(dev), "dtype": dtype_name(dt),
        "batch": int(imgs.shape[0]), "img_size": cfg.to_dict()["img_size"], "in_chans": cfg.in_chans,
        "size": size_text(cfg), "mask_ratio": mask_ratio,
        "mask_strategy": plan.strategy if plan is not None else "random",
        "mask_file": plan.mask_file if plan is not None else None,
        "norm_pix_loss": norm_pix_loss, "seed": seed, "inputs": inputs, "build_s": build_s,
        **result.to_dict(),
    }
    if not result.ok:
        raise VerificationFailed(report, "the forward pass produced non-finite values")
    return report


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
