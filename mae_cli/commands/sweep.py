"""`mae sweep`: the reconstruction loss against the mask ratio (and the mask strategy), table + PNG plot.

Paper: MAE Fig. 5 / Table 1a (masking ratio) and Table 1f / Fig. 6 (mask sampling), on whatever weights
the user has. Services: :func:`mae_core.views.prepare.prepare` (the inputs), :func:`mae_core.views.sweep.loss_sweep`
and :func:`mae_core.views.sweep.sweep_png` (the plot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..common import (BadInput, DeviceOpt, ImgSizeOpt, InChansOpt, MaskOpt, NormPixOpt, OutOpt, ResizeOpt, SeedOpt,
                      VariantOpt, WeightsOpt, check_inputs, note, out, progress,
                      resolve_device, resolve_variant, run)

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
    JSON (--json), one document with the keys: variant, title, weights,
      trained_decoder, norm_pix_loss, norm_pix_loss_from, img_size, size,
      in_chans, resize, seed, images, num_patches, strategies, ratios, output,
      picture_size, notes, cells [{strategy, mask_ratio, num_masked, loss, losses,
      reason}]. A cell's loss is null (with a reason) where a strategy cannot
      reach that ratio.
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
    from mae_core.io.files import check_outputs
    from mae_core.views.prepare import prepare
    from mae_core.views.sizes import check_mask_ratio
    from mae_core.views.sweep import sweep_report

    values, strategies = parse_ratios(ratios), _strategies(masks)
    _check_out(out_path)
    check_inputs(image_paths, weights)
    check_outputs([(out_path, "--out")], [*image_paths, weights])  # before any forward pass
    prep = prepare(variant and resolve_variant(variant), weights, image_paths, None, seed,
                   device=resolve_device(device), builtin=True, img_size=img_size, in_chans=in_chans, resize=resize,
                   mask_ratio=values[0], norm_pix_loss=norm_pix_loss, stage=progress,
                   passes=len(strategies) * len(values))
    for r in values:  # before any pass: a ratio that keeps no patch is refused whole
        check_mask_ratio(r, prep.config.num_patches)
    with progress(f"{len(strategies) * len(values)} forward passes"):
        return sweep_report(prep, values, strategies, out_path, seed=seed, resize=resize, notes=_notes(prep))


def _notes(prep: Any) -> list[str]:
    """The notes on the weights, printed on stderr before the passes and kept in the report."""
    notes = prep.file_notes + ([] if prep.trained_decoder else [
        "the decoder is untrained (no --weights, or an encoder-only file): the losses show how the sweep works, "
        "not what MAE learned"])
    for line in notes:
        note(line)
    return notes


def _strategies(masks: str) -> list[str]:
    from mae_core import mask_strategies

    strategies = [s.strip().lower() for s in masks.split(",") if s.strip()]
    if not strategies or any(s not in mask_strategies.STRATEGIES for s in strategies):
        raise BadInput(f"--mask {masks!r}: use strategies from {', '.join(mask_strategies.STRATEGIES)}")
    return strategies


def _check_out(out_path: Path) -> None:
    if out_path.suffix.lower() != ".png":
        raise BadInput(f"--out {str(out_path)!r} must end in .png")
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(f"--out {str(out_path)!r}: the folder {str(parent)!r} does not exist; create it first")


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
