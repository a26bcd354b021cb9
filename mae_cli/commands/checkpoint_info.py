"""`mae checkpoint info`: what a checkpoint file is (format, variant, kind, keys, hashes, release).

Paper: none (engineering). Service: :func:`mae_core.loading.info.checkpoint_info`; this module gathers the
options and draws the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..model_args import resolve_variant
from ..options import VariantOpt
from ..output import cut, facts_table, fmt_int, note, progress
from ..runner import VerificationFailed, file_argument, run

FileArg = Annotated[Path, typer.Argument(help="A .pth, .safetensors file or a transformers ViTMAE directory.",
                                         show_default=False, metavar="PATH")]
VariantCheck = VariantOpt  # the one --variant (mae_cli.options): compare against it; default detected


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
