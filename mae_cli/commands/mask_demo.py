"""`mae mask-demo`: the paper's Figure 2 for any image and any variant.

Paper: MAE Fig. 2 / Fig. 3 (masked input, reconstruction, reconstruction + visible), Sec. 3 "Masking".

Prints the patch grid of each image (visible vs masked, with the counts) and writes one PNG, one row
per image: original | masked | reconstruction | reconstruction + visible (for norm_pix_loss
checkpoints: original | masked | prediction in normalised space | de-normalised | de-normalised +
visible). The inputs come from :func:`mae_core.views.prepare.prepare`, the tensors, rows and PNG from
:mod:`mae_core.views.demo` (which also words the notes); this module checks the options and draws the
terminal grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..model_args import resolve_variant
from ..options import (DeviceOpt, FollowSymlinkOpt, ImageOpt, ImgSizeOpt, InChansOpt, MaskFileOpt, MaskOpt,
                       MaskRatioOpt, NormPixOpt, OutOpt, ResizeOpt, SeedOpt, VariantOpt, WeightsOpt, check_inputs,
                       check_png_out, resolve_device)
from ..output import esc, note, out, progress
from ..runner import run

VISIBLE_CELL, MASKED_CELL = "██", "░░"  # two characters per patch so the grid looks square
VISIBLE_STYLE, MASKED_STYLE = "bold green", "grey42"

ImageArg = Annotated[list[Path] | None, typer.Argument(
    help="Image files (PNG, JPEG, ... anything Pillow reads), the same as --image. None: a built-in generated "
         "test picture.", show_default=False, metavar="[IMAGE]...")]


def command(
    images: ImageArg = None,
    image: ImageOpt = None,
    variant: VariantOpt = None,
    weights: WeightsOpt = None,
    mask_ratio: MaskRatioOpt = 0.75,
    seed: SeedOpt = 0,
    out_path: OutOpt = Path("mask_demo.png"),
    follow_symlink: FollowSymlinkOpt = False,
    norm_pix_loss: NormPixOpt = None,
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
    mask: MaskOpt = "random",
    mask_file: MaskFileOpt = None,
    device: DeviceOpt = "cpu",
    resize: ResizeOpt = "stretch",
) -> None:
    """Mask an image, reconstruct it: the paper's Figure 2.

    A grid in the terminal and a PNG.

    Full checkpoints (official mae_visualize_vit_*.pth, raw pixels; *_full.pth, norm_pix_loss) give the
    model's own reconstruction; encoder-only files get an untrained decoder; without --weights the model
    is untrained. Without --norm-pix-loss/--raw-pix, a '_full' in the file name means norm_pix_loss (the
    official naming). Notes go to stderr.

    \b
    JSON (--json), one document with the keys:
      variant, title, weights, trained_decoder, norm_pix_loss,
      norm_pix_loss_from, loss_space, mask_ratio, mask_strategy, mask_file,
      img_size, in_chans, seed, patch_size, grid [h, w], num_patches,
      mask_convention, output, picture_size [w, h], panels (list of str),
      notes (list of str), images (list of {index, image, mask (h x w of 0/1),
      visible, masked, loss, output}).
    """
    run(lambda: compute([*(images or []), *(image or [])], variant=variant, weights=weights, mask_ratio=mask_ratio,
                        seed=seed, out_path=out_path, follow_symlink=follow_symlink, norm_pix_loss=norm_pix_loss,
                        device=device, img_size=img_size, in_chans=in_chans, mask=mask, mask_file=mask_file,
                        resize=resize),
        render)


# --- compute -------------------------------------------------------------------------------------

def compute(image_paths: list[Path], *, variant: str | None, weights: Path | None, mask_ratio: float, seed: int,
            out_path: Path, norm_pix_loss: bool | None, device: str, follow_symlink: bool = False,
            img_size: str | None = None, in_chans: int = 3, mask: str = "random", mask_file: Path | None = None,
            resize: str = "stretch") -> dict[str, Any]:
    """Check the files, run the demo (:mod:`mae_core.views.demo`) and write the PNG; return the report."""
    from mae_core.io.files import check_outputs
    from mae_core.views.demo import demo_notes, demo_report, reconstruct_checked
    from mae_core.views.prepare import prepare

    check_png_out(out_path, follow_symlink)
    check_inputs(image_paths, weights)
    check_outputs([(out_path, "--out")], [*image_paths, weights, mask_file], follow_symlink=follow_symlink)
    prep = prepare(variant and resolve_variant(variant), weights, image_paths, None, seed,
                   device=resolve_device(device), builtin=True, img_size=img_size, in_chans=in_chans,
                   resize=resize, mask=mask, mask_file=mask_file, mask_ratio=mask_ratio, norm_pix_loss=norm_pix_loss,
                   stage=progress)
    with progress(f"masking and reconstructing {len(prep.inputs)} image(s)"):
        rec, hint = reconstruct_checked(prep)
    return demo_report(prep, rec, out_path, notes=demo_notes(prep, hint), follow_symlink=follow_symlink)


# --- the terminal ------------------------------------------------------------------------------------

def patch_grid(mask: list[list[int]]):
    """The mask as coloured blocks, one row of text per patch row: visible ██ (green), masked ░░ (grey)."""
    from rich.text import Text

    text = Text()
    for r, row in enumerate(mask):
        for cell in row:
            text.append(MASKED_CELL if cell else VISIBLE_CELL, style=MASKED_STYLE if cell else VISIBLE_STYLE)
        if r < len(mask) - 1:
            text.append("\n")
    return text


def render(report: dict[str, Any]) -> None:
    """Rich output: one patch grid per image, a table of counts and losses, then the notes."""
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    h, w = report["grid"]
    strategy = report.get("mask_strategy", "random")
    out.print(f"[bold]MAE {report['title']}[/] ({report['variant']}): {h}x{w} patches of "
              f"{report['patch_size']}x{report['patch_size']} px, mask ratio {report['mask_ratio']:g}"
              f"{'' if strategy == 'random' else f' ({esc(strategy)} mask)'}, noise seed {report['seed']}")
    grids = []
    for row in report["images"]:
        counts = Text(f"{row['visible']} visible, {row['masked']} masked of {report['num_patches']}")
        grids.append(Panel(Group(patch_grid(row["mask"]), counts), title=esc(_short_name(row["image"])),
                           expand=False))
    out.print(Columns(grids))
    legend = Text("legend: ")
    legend.append(VISIBLE_CELL, style=VISIBLE_STYLE).append(" visible (0 in the JSON mask)   ")
    legend.append(MASKED_CELL, style=MASKED_STYLE).append(" masked (1)")
    out.print(legend)

    table = Table(title="mask-demo", title_justify="left",
                  caption=f"loss: MSE over the masked patches, in {report['loss_space']}", caption_justify="left")
    for column in ("#", "image", "visible", "masked", "loss"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for row in report["images"]:
        loss = row["loss"]
        table.add_row(str(row["index"]), esc(row["image"]), str(row["visible"]), str(row["masked"]),
                      f"{loss:.4f}" if loss == loss else "n/a (nothing masked)")
    out.print(table)
    width, height = report["picture_size"]
    out.print(f"picture: [bold]{esc(report['output'])}[/] ({width}x{height} px; {' | '.join(report['panels'])})")
    for line in report["notes"]:
        note(line)


def _short_name(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else "..." + name[-(limit - 3):]
