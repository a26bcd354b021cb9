"""`mae sweep`: the reconstruction loss against the mask ratio (and the mask strategy), table + PNG plot.

Paper: MAE Fig. 5 / Table 1a (masking ratio) and Table 1f / Fig. 6 (mask sampling), on whatever weights
the user has. Service: :func:`mae_core.views.sweep.loss_sweep`; the plot is :func:`mae_core.views.plot.line_plot`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..model_args import check_fits_at_size, check_mask_ratio, resolve_weights, size_overrides, size_text
from ..options import (DeviceOpt, ImgSizeOpt, InChansOpt, MaskOpt, NormPixOpt, OutOpt, ResizeOpt, SeedOpt, VariantOpt,
                       WeightsOpt, resolve_device)
from ..output import note, out, progress
from ..runner import BadInput, run

DEFAULT_RATIOS = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.75,0.8,0.9"


def command(
    images: Annotated[list[Path] | None, typer.Argument(
        help="Image files (anything Pillow reads), fitted to the model's size by --resize. None: the "
             "built-in test picture.", show_default=False, metavar="IMAGE")] = None,
    variant: VariantOpt = None,
    weights: WeightsOpt = None,
    ratios: Annotated[str, typer.Option(
        "--ratios", metavar="LIST", help="Comma-separated mask ratios, each in [0, 1).")] = DEFAULT_RATIOS,
    masks: MaskOpt = "random",
    seed: SeedOpt = 0,
    norm_pix_loss: NormPixOpt = None,
    out_path: OutOpt = Path("sweep.png"),
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
    resize: ResizeOpt = "stretch",
    device: DeviceOpt = "cpu",
) -> None:
    """Loss against mask ratio and strategy: a table and a plot.

    The shape of the paper's Fig. 5 on your weights. --mask takes several strategies, comma-separated,
    one line each: random, block, grid (0.75 only), center. --out: the PNG plot (default sweep.png).

    \b
    JSON (--json), one document with the keys:
      variant, title, weights, trained_decoder, norm_pix_loss, img_size, size,
      in_chans, resize, seed, images, num_patches, strategies, ratios, output,
      picture_size, notes, cells [{strategy, mask_ratio, num_masked, loss,
      losses, reason}].
    A cell's loss is null (with a reason) where a strategy cannot reach that
    ratio.
    """
    run(lambda: compute(images or [], variant=variant, weights=weights, ratios=ratios, masks=masks, seed=seed,
                        norm_pix_loss=norm_pix_loss, out_path=out_path, img_size=img_size, in_chans=in_chans,
                        device=device, resize=resize),
        render)


def parse_ratios(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"--ratios {text!r} is not a comma-separated list of numbers such as 0.5,0.75,0.9") from None
    if not values:
        raise BadInput("--ratios is empty; give ratios such as 0.5,0.75,0.9")
    return sorted(set(values))


def compute(image_paths: list[Path], *, variant: str | None, weights: Path | None, ratios: str, masks: str, seed: int,
            norm_pix_loss: bool | None, out_path: Path, img_size: str | None, in_chans: int,
            device: str, resize: str = "stretch") -> dict[str, Any]:
    from mae_core import mask_strategies
    from mae_core.io.images import load_pictures, normalize
    from mae_core.io.weights import build_model
    from mae_core.models import get_variant
    from mae_core.views.sweep import loss_sweep

    from mae_core.views.plot import line_plot

    values = parse_ratios(ratios)
    strategies = [s.strip().lower() for s in masks.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in mask_strategies.STRATEGIES]
    if unknown or not strategies:
        raise BadInput(f"--mask {masks!r}: use strategies from {', '.join(mask_strategies.STRATEGIES)}")
    if out_path.suffix.lower() != ".png":
        raise BadInput(f"--out {str(out_path)!r} must end in .png")
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(f"--out {str(out_path)!r}: the folder {str(parent)!r} does not exist; create it first")
    from mae_core.io.files import check_outputs

    check_outputs([(out_path, "--out")], [*image_paths, weights])  # before any forward pass
    dev = resolve_device(device)
    name, loaded = resolve_weights(variant, weights)
    spec = get_variant(name)
    overrides = size_overrides(name, img_size, in_chans, pictures=True)
    cfg = spec.config.replace(**overrides)
    for r in values:
        check_mask_ratio(r, cfg.num_patches)
    if norm_pix_loss is None:
        norm_pix_loss = bool(getattr(loaded, "hints", {}).get("norm_pix_loss")) or (
            weights is not None and "_full" in weights.name)
    check_fits_at_size(cfg, spec.title, max(1, len(image_paths)), dev, weights_resident=loaded is not None,
                       passes=len(strategies) * len(values))
    arrays, names = load_pictures(image_paths, cfg.img_size, cfg.in_chans, resize=resize)

    with progress(f"building {spec.title}"):
        model = build_model(name, loaded, device=dev, seed=seed, **overrides).eval()
    notes = list(model.pos_embed_notes) + (list(loaded.notes) if loaded else [])
    trained = loaded is not None and loaded.has_decoder
    if not trained:
        notes.append("the decoder is untrained (no --weights, or an encoder-only file): the losses show how the "
                     "sweep works, not what MAE learned")
    for line in notes:
        note(line)
    with progress(f"{len(strategies) * len(values)} forward passes"):
        result = loss_sweep(model, normalize(arrays).to(dev), values, strategies, seed=seed,
                            norm_pix_loss=norm_pix_loss)

    series = {s: [(c.mask_ratio, c.loss) for c in result.cells if c.strategy == s] for s in strategies}
    target = "per-patch normalised pixels" if norm_pix_loss else "pixels"
    picture = line_plot(series, title=f"MAE {spec.title} ({size_text(cfg)}): loss on the masked patches vs mask "
                                      f"ratio, {len(names)} image(s), seed {seed}",
                        xlabel="mask ratio", ylabel=f"loss (MSE, {target})")
    from mae_core.io.files import atomic_write

    try:
        with atomic_write(out_path, what="--out") as f:
            picture.save(f, format="PNG")
    except OSError as exc:
        raise BadInput(f"cannot write --out {str(out_path)!r} ({exc.strerror or exc}); "
                       "choose a writable path") from None
    return {
        "variant": name, "title": spec.title, "weights": str(weights) if weights else None,
        "trained_decoder": trained, "norm_pix_loss": norm_pix_loss, "img_size": cfg.to_dict()["img_size"],
        "size": size_text(cfg), "in_chans": cfg.in_chans, "resize": resize, "seed": seed, "images": names,
        "num_patches": result.num_patches, "strategies": strategies, "ratios": values, "output": str(out_path),
        "picture_size": list(picture.size), "notes": notes, "cells": [c.__dict__ for c in result.cells],
    }


def render(data: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{data['title']} ({data['size']}): loss on the masked patches, mean of "
                        f"{len(data['images'])} image(s), mask seed {data['seed']}")
    table.add_column("mask ratio", justify="right")
    table.add_column("masked / L", justify="right")
    for s in data["strategies"]:
        table.add_column(f"loss, {s}", justify="right")
    by_key = {(c["strategy"], c["mask_ratio"]): c for c in data["cells"]}
    for r in data["ratios"]:
        counts = {by_key[(s, r)]["num_masked"] for s in data["strategies"]} - {None}
        count = "/".join(str(c) for c in sorted(counts)) or "-"
        cells = [f"{c['loss']:.4f}" if c["loss"] is not None else "n/a"
                 for c in (by_key[(s, r)] for s in data["strategies"])]
        table.add_row(f"{r:g}", f"{count} / {data['num_patches']}", *cells)
    out.print(table)
    for s in data["strategies"]:
        empty = [c for c in data["cells"] if c["strategy"] == s and c["reason"]]
        if empty:
            more = f" (and {len(empty) - 1} more ratio(s))" if len(empty) > 1 else ""
            out.print(f"n/a, {s}: {escape(empty[0]['reason'])}{more}", highlight=False)
    out.print(f"plot: [bold]{escape(data['output'])}[/] ({data['picture_size'][0]}x{data['picture_size'][1]} px)")
