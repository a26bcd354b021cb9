"""`mae features`: the encoder's hidden states on the whole image, in patch order, and a pooled vector.

Paper: MAE Sec. 4 (linear probing on the cls token; fine-tuning's global average pool).
Service: :func:`mae_core.views.features.features_report` (on the recorder, mae_core/views/recorder.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..model_args import sizes_for
from ..options import (BatchOpt, BlocksOpt, ImageOpt, ImgSizeOpt, InChansOpt, OutOpt, ResizeOpt, SeedOpt, VariantOpt,
                       WeightsOpt)
from ..output import note, out, progress
from ..runner import run

HIDDEN_STATES_INDEX = ("hidden_states.i is the output of encoder block i (0-based); transformers' hidden_states[0] "
                       "is the embeddings, so ours i is theirs i + 1")
PoolOpt = Annotated[str, typer.Option("--pool", metavar="HOW", help="cls (the linear probe's input), mean "
                                      "(fine-tuning's global pool) or none.")]


def command(variant: VariantOpt = None, weights: WeightsOpt = None, image: ImageOpt = None,
            batch: BatchOpt = None, blocks: BlocksOpt = "all", pool: PoolOpt = "cls", out_file: OutOpt = None,
            seed: SeedOpt = 0, img_size: ImgSizeOpt = None, in_chans: InChansOpt = 3,
            resize: ResizeOpt = "stretch") -> None:
    """The encoder's features of every patch, and a pooled one.

    Mask ratio 0, the original patch order (no shuffle): the hidden state after each chosen encoder
    block (--blocks), the final normed latent and the pooled vector. Token 0 is cls, token 1 + j is
    patch j in raster order. hidden_states.i is the output of encoder block i (0-based); in
    transformers' hidden_states, index 0 is the embeddings, so ours i is theirs i + 1. --pool cls (the
    linear probe's input: the normed cls token), mean (the official fine-tuning global_pool: patch
    tokens of the last block averaged, then a fresh LayerNorm) or none. --out F.safetensors or F.npz:
    hidden_states.{i} (B, 1+L, D), latent (B, 1+L, D), pooled (B, D). Nothing is random: --seed only
    seeds the initialisation (without --weights) and the random images (without --image).

    \b
    JSON (--json), one document with the keys:
      variant, title, weights, notes, inputs, batch, img_size ([H, W]),
      in_chans, grid ([h, w]), num_patches, layers (the --blocks kept),
      hidden_states_index, pool, tensors (list of {name, shape,
      mean_token_norm, max_abs, finite}), out, bytes_written.
    """

    def compute() -> dict[str, Any]:
        from mae_core.views.features import features_report

        with progress("extracting features"):
            report = features_report(variant, weights, image, batch, seed, layers=blocks, pool=pool, out=out_file,
                                     overrides=sizes_for(img_size, in_chans, pictures=bool(image)),
                                     resize=resize)
        for line in report["notes"]:
            note(line)
        report["hidden_states_index"] = HIDDEN_STATES_INDEX
        return report

    run(compute, render)


def render(r: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{r['title']} features ({r['batch']} image(s), every patch, pool {r['pool']})")
    for column in ("tensor", "shape", "mean token norm", "max |x|", "finite"):
        table.add_column(column, justify="left" if column in ("tensor", "shape") else "right")
    for row in r["tensors"]:
        table.add_row(row["name"], str(tuple(row["shape"])), f"{row['mean_token_norm']:.4g}", f"{row['max_abs']:.4g}",
                      "yes" if row["finite"] else "[red]NO[/red]")
    out.print(table)
    if r["out"]:
        out.print(f"wrote {r['out']} ({r['bytes_written']:,} bytes)", markup=False, highlight=False)
