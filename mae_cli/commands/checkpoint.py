"""`mae checkpoint info | convert`: what a checkpoint file is, and the same weights in another layout.

Paper: none (engineering). Services: :func:`mae_core.loading.info.checkpoint_info` and
:func:`mae_core.finetune.convert_checkpoint` (an MAE by :mod:`mae_core.loading.convert`, or a classifier); this
module gathers the options and draws the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..model_args import resolve_variant
from ..options import VariantOpt
from ..output import cut, facts_table, fmt_int, note, progress
from ..runner import BadInput, VerificationFailed, file_argument, run

# A group: `mae checkpoint info`, `mae checkpoint convert` (mae_cli/app.py builds it from these names).
SUBCOMMANDS = ("info", "convert")
GROUP_HELP = "Inspect a checkpoint, or convert it to another layout."

FileArg = Annotated[Path, typer.Argument(help="A .pth, .safetensors file or a transformers ViTMAE directory.",
                                         show_default=False, metavar="PATH")]
VariantCheck = VariantOpt  # the one --variant (mae_cli.options): compare against it; default detected
PTH_TARGETS = ("official", "ours", "timm")  # written with torch.save: a zip .pth
PTH_SUFFIXES = (".pth", ".pt", ".bin")


def info(path: FileArg, variant: VariantCheck = None,
         no_hash: Annotated[bool, typer.Option(
             "--no-hash", help="Skip sha256/md5 (and so the release match).")] = False) -> None:
    """What a checkpoint file is: format, variant, keys, hashes.

    Format, wrappers, key naming, variant, kind (full / encoder only / fine-tuned), what the decoder
    reconstructs, dtypes, missing and unexpected keys, parameter count, size, hashes, official release.

    Exit 0 when the file fits its variant, 1 when keys or shapes differ (they are listed), 2 when it
    cannot be read.

    \b
    JSON (--json), one document with the keys: path, bytes, hashed_files,
      skipped_files, format, container, naming, wrapper, beside, module_prefix,
      shards, variant, compared_with, kind, kind_detail, has_decoder, dtypes,
      tensors, parameters, official_parameters, official_parameters_of_this_kind,
      missing, unexpected, wrong_shape, fits, sha256, md5, release, target,
      target_certainty, layer_norm_eps, layer_norm_eps_source, notes; release has
      name, url, kind, md5_prefix, acc1, acc5 (reference accuracies of the
      fine-tuned releases, else null); a classifier file also classifier {name,
      num_classes, global_pool, linear_probe, head}.
    """

    def compute():
        from mae_core.loading.info import checkpoint_info

        name = resolve_variant(variant) if variant else None
        with progress(f"reading {cut(str(path), 100)}" + ("" if no_hash else " and hashing it (sha256, md5)")):
            with file_argument():
                data = checkpoint_info(path, name, hashes=not no_hash)
        if not data["fits"]:
            raise VerificationFailed(data, "keys or shapes differ from the variant")
        return data

    run(compute, _render_info)


def _render_info(d: dict) -> None:
    container = d["container"] + (f", {d['shards']} shards" if d.get("shards", 1) > 1 else "")
    rows = [
        ("format", f"{d['format']} ({container})"),
        ("key names", d["naming"]),
        ("wrapper", " -> ".join(repr(k) for k in d["wrapper"]) or "none (a bare state dict)"),
        ("beside the weights", ", ".join(d["beside"]) or "nothing"),
        ("module. prefix", "yes (saved from DistributedDataParallel), removed" if d["module_prefix"] else "no"),
        ("variant", d["variant"] or f"none matches (closest: {d['compared_with']})"),
        ("kind", f"{d['kind']}: {d['kind_detail']}"),
        ("decoder predicts", f"{d['target']} ({d['target_certainty']})"),
        ("layer-norm eps", f"{d['layer_norm_eps']} (config.json)" if d["layer_norm_eps"] is not None
         else d["layer_norm_eps_source"]),
        ("dtypes", ", ".join(f"{k} x {v}" for k, v in d["dtypes"].items())),
        ("parameters", (f"{fmt_int(d['parameters'])} in {d['tensors']} tensors; official {d['compared_with']}: "
                        f"{fmt_int(d['official_parameters'])} "
                        f"(this kind: {fmt_int(d['official_parameters_of_this_kind'])})")),
        ("missing keys", _keys(d["missing"])),
        ("unexpected keys", _keys(d["unexpected"])),
        ("wrong shapes", _keys([f"{w['key']} {tuple(w['file'])} vs {tuple(w['expected'])}" for w in d["wrong_shape"]])),
        ("size", f"{fmt_int(d['bytes'])} bytes"),
    ]
    hashes = []
    if "sha256" in d:
        rows.append(("md5", d["md5"]))
        hashes.append(("sha256", d["sha256"]))  # 64 characters: below the table, on one line
        rel = d["release"]
        rows.append(("official release", f"{rel['name']}.pth ({rel['kind']}, md5 {rel['md5_prefix']}...)" if rel
                     else "no published hash matches"))
        if rel and rel.get("acc1") is not None:
            rows.append(("reference accuracy", f"ImageNet-1k val Acc@1 {rel['acc1']:.3f} %, Acc@5 {rel['acc5']:.3f} % "
                                               "(FINETUNE.md, main_finetune.py --eval)"))
    facts_table(f"checkpoint {escape(d['path'])}", rows, hashes)
    for line in d["notes"]:
        note(line)


def _keys(keys: list[str]) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:6]) + (f", ... (+{len(keys) - 6} more)" if len(keys) > 6 else "")


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

