"""`mae checkpoint convert`: the same weights in another layout, re-read and checked bit for bit.

Paper: none (engineering). Service: :func:`mae_core.finetune.convert_checkpoint` (an MAE by
:mod:`mae_core.loading.convert`, or a classifier); this module checks the flags and draws the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..model_args import resolve_variant
from ..output import cut, facts_table, fmt_int, note, progress
from ..runner import BadInput, VerificationFailed, file_argument, run
from .checkpoint_info import VariantCheck

PTH_TARGETS = ("official", "ours", "timm")  # written with torch.save: a zip .pth
PTH_SUFFIXES = (".pth", ".pt", ".bin")


def convert(
    src: Annotated[Path, typer.Argument(
        help="The checkpoint to convert (never modified).", show_default=False, metavar="SRC")],
    dst: Annotated[Path, typer.Argument(
        help="Where to write (a directory for --to hf).", show_default=False, metavar="OUT")],
    to: Annotated[str, typer.Option(
        "--to", metavar="LAYOUT", help="official, ours, timm (.pth), safetensors or hf (a folder).")] = "official",
    save_dtype: Annotated[str, typer.Option(
        "--save-dtype", metavar="DTYPE", help="dtype of the written tensors: float32, bfloat16 or float16.")
    ] = "float32",
    hf_v4: Annotated[bool, typer.Option("--hf-v4", help="With --to hf: transformers v4 parameter names.")] = False,
    variant: VariantCheck = None,
) -> None:
    """The same weights in another layout, checked bit for bit.

    Write SRC in another layout, then prove it: OUT is re-read, every tensor must be bit-equal, and a
    forward of the model built from OUT must equal one built from SRC (exit 1 if not). --to official
    (.pth {'model': ...}), ours (.pth, encoder./decoder. names), timm (.pth, the encoder as timm's
    VisionTransformer), safetensors (.safetensors), hf (a transformers ViTMAE folder; --hf-v4: v4
    parameter names, attention.attention.query ..., instead of v5). OUT's extension must agree with
    --to (checked before anything is read). Files are written to a temporary name and renamed into
    place; SRC is never overwritten.

    \b
    JSON (--json), one document with the keys:
      input, output, to, dtype, variant, hf_version, has_decoder,
      norm_pix_loss, tensors, tensors_bit_exact, mismatched, unexpected,
      forward {compared, equal, max_abs_diff}, passed, bytes, notes.
    """

    def compute():
        from mae_core.finetune import convert_checkpoint

        check_convert_options(to, save_dtype, hf_v4, dst)
        name = resolve_variant(variant) if variant else None
        with file_argument():
            data = convert_checkpoint(src, dst, to, dtype=save_dtype, hf_version="v4" if hf_v4 else "v5",
                                      variant=name, stage=progress)
        if not data["passed"]:
            raise VerificationFailed(data, "the written file does not reproduce the input")
        return data

    run(compute, _render_convert)


def check_convert_options(to: str, save_dtype: str, hf_v4: bool, dst: Path) -> None:
    """--to, --save-dtype and --hf-v4 name what convert writes, and OUT's extension agrees with --to: a .pth
    for the torch.save layouts, .safetensors, or a folder for hf (a zip .pth under a .safetensors name cannot
    be read back as one). Checked before anything is read."""
    from mae_core.loading.convert import DTYPES, TARGETS

    if to not in TARGETS:
        raise BadInput(f"--to {to!r} is unknown; use one of {', '.join(TARGETS)}")
    if save_dtype not in DTYPES:
        raise BadInput(f"--save-dtype {save_dtype!r} is not supported; use {', '.join(DTYPES)}")
    if hf_v4 and to != "hf":
        raise BadInput("--hf-v4 only applies to --to hf")
    suffix = dst.suffix.lower()
    stem = cut(dst.stem, 60)
    if to in PTH_TARGETS and suffix not in PTH_SUFFIXES:
        hint = " or pass --to safetensors" if suffix == ".safetensors" else ""
        raise BadInput(f"--to {to} writes a PyTorch .pth file, but OUT {cut(repr(str(dst)), 100)} ends in "
                       f"{suffix or 'no extension'!r}; name it {stem}.pth{hint}")
    if to == "safetensors" and suffix != ".safetensors":
        raise BadInput(f"--to safetensors writes a .safetensors file, but OUT {cut(repr(str(dst)), 100)} ends in "
                       f"{suffix or 'no extension'!r}; name it {stem}.safetensors")
    if to == "hf" and suffix in (*PTH_SUFFIXES, ".safetensors"):
        raise BadInput(f"--to hf writes a folder (config.json + model.safetensors), but OUT "
                       f"{cut(repr(str(dst)), 100)} is a file name; pass a folder name such as {stem}_hf")


def _render_convert(d: dict) -> None:
    fwd = d["forward"]
    facts_table(f"{escape(d['input'])} -> {escape(d['output'])}", [
        ("written as", f"{d['to']}" + (f" ({d['hf_version']} names)" if d["hf_version"] else "") + f", {d['dtype']}"),
        ("variant", d["variant"] + ("" if d["has_decoder"] else " (encoder only)")),
        ("re-read tensors", f"{d['tensors_bit_exact']} / {d['tensors']} bit-exact"),
        (f"forward ({fwd['compared']})",
         "equal, bit for bit" if fwd["equal"] else f"DIFFERS (max abs {fwd['max_abs_diff']:.3g})"),
        ("size", f"{fmt_int(d['bytes'])} bytes"),
        ("result", "PASS" if d["passed"] else "FAIL"),
    ])
    for line in d["notes"]:
        note(line)
