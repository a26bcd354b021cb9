"""`mae attention`: every block's attention probabilities, the tensors and a picture on the image grid.

Paper: MAE Sec. 3 (the encoder attends over cls + the visible tokens, in shuffled order; the decoder over
every token); Abnar & Zuidema 2020 (attention rollout).
Service: :func:`mae_core.views.attention.attention_report` (on the recorder, mae_core/views/recorder.py;
the picture by :func:`mae_core.views.picture.attention_picture`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..model_args import sizes_for
from ..options import (BatchOpt, BlocksOpt, ImageOpt, ImgSizeOpt, InChansOpt, MaskRatioOpt, OutOpt, ResizeOpt, SeedOpt,
                       VariantOpt, WeightsOpt)
from ..output import note, out, progress
from ..runner import run

HeadsOpt = Annotated[str | None, typer.Option("--heads", metavar="LIST", help="Encoder heads, e.g. 0,3. Default: "
                                              "all written, their mean drawn.", show_default=False)]
PngOpt = Annotated[Path | None, typer.Option("--png", metavar="FILE", help="Also draw the first image's maps to "
                                             "this PNG.", show_default=False)]


def command(variant: VariantOpt = None, weights: WeightsOpt = None, image: ImageOpt = None,
            batch: BatchOpt = None, mask_ratio: MaskRatioOpt = 0.75, seed: SeedOpt = 0, blocks: BlocksOpt = "all",
            heads: HeadsOpt = None, out_file: OutOpt = None, png: PngOpt = None,
            img_size: ImgSizeOpt = None, in_chans: InChansOpt = 3, resize: ResizeOpt = "stretch") -> None:
    """Every block's attention probabilities, and a picture.

    The encoder's are over cls + the visible tokens in the model's (shuffled) order; ids_keep maps them
    to patches, and the picture puts them back on the grid. --mask-ratio 0 gives the classic ViT
    attention maps. Without --image, the built-in picture (the one mask-demo shows; --batch copies of
    it). --blocks: the encoder blocks written and drawn (every decoder block is written). --out
    F.safetensors: encoder.blocks.{i}.attn (B, heads, T, T) in the model's token order,
    decoder.blocks.{i}.attn (B, heads, 1+L, 1+L), ids_keep, ids_restore, mask. --png F.png: the first
    image, the cls token's attention per chosen block on the patch grid (masked patches blank), the
    rollout, and where the decoder's mask tokens attend.

    Slower than a plain forward: while attention is recorded every block runs
    the explicit path, q times k transposed, softmax, times v, because the
    fused kernel never materialises the probabilities; the outputs stay equal
    within float rounding.

    \b
    JSON (--json), one document with the keys:
      variant, title, weights, notes, inputs, batch, img_size ([H, W]),
      in_chans, mask_ratio, seed, num_visible, grid, blocks, heads, encoder
      (list of {block, shape, cls_self, cls_max_patch, entropy}), decoder
      (list of {block, visible, mask_tokens, cls,
      mask_token_share_of_patches}), tensors ({name: shape}), out,
      bytes_written, png.
    """

    def compute() -> dict[str, Any]:
        from mae_core.views.attention import attention_report

        head_list = _heads(heads)
        with progress("recording attention"):
            report = attention_report(variant, weights, image, batch, seed, mask_ratio=mask_ratio, blocks=blocks,
                                      heads=head_list, out=out_file, png=png,
                                      overrides=sizes_for(img_size, in_chans, pictures=True),
                                      resize=resize)
        for line in report["notes"]:
            note(line)
        return report

    run(compute, render)


def _heads(text: str | None) -> list[int] | None:
    from ..runner import BadInput

    if text is None:
        return None
    try:
        return [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        raise BadInput(f"--heads {text!r}: use a comma-separated list of head indices like 0,3") from None


def render(r: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{r['title']} encoder attention (mask ratio {r['mask_ratio']:g}, "
                        f"{r['num_visible']} visible tokens + cls)")
    for column in ("block", "shape", "cls -> cls", "cls -> best patch", "row entropy"):
        table.add_column(column, justify="left" if column in ("block", "shape") else "right")
    for row in r["encoder"]:
        table.add_row(row["block"].removeprefix("encoder.blocks."), str(tuple(row["shape"])), f"{row['cls_self']:.3f}",
                      f"{row['cls_max_patch']:.3f}",
                      f"{row['entropy']:.3f}")
    out.print(table)
    if r["decoder"]:
        dec = Table(title="decoder: where the mask tokens attend (first image)")
        for column in ("block", "visible patches", "other mask tokens", "cls"):
            dec.add_column(column, justify="left" if column == "block" else "right")
        for row in r["decoder"]:
            block = row["block"].removeprefix("decoder.blocks.").removesuffix(".attn")
            dec.add_row(block, f"{row['visible']:.1%}", f"{row['mask_tokens']:.1%}", f"{row['cls']:.1%}")
        out.print(dec)
    for key, what in (("out", "tensors"), ("png", "picture")):
        if r.get(key):
            out.print(f"wrote {what}: {r[key]}", markup=False, highlight=False)
