"""What is this checkpoint? The service behind ``mae checkpoint info``: one plain dict about a file.

Paper: none (engineering). Read with the same safe loader as every ``--weights`` (``io/weights.py``), then
described: the container (zip / legacy ``torch.save``, safetensors, a transformers directory, sharded or
not), the wrappers peeled (``model``, ``state_dict``, a DDP ``module.`` prefix) and what lies beside the
weights (optimizer, epoch, ...), the key naming (official, ours, transformers v4 / v5), the variant by its
shapes, encoder-only / full / fine-tuned classifier, what the decoder reconstructs and how sure that is,
the layer-norm eps where the file records it, the dtypes, missing / unexpected keys against the variant,
the parameter count against the official one, the size, sha256 and md5, and the official release the
file is (matched by its md5 against the published prefixes).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..io import releases
from ..io.files import open_regular, show_path
from ..io.weights import DECODER_KEYS, read_weights
from .weights import max_checkpoint_bytes, official_shapes

# A fine-tuned ViT (the official main_finetune.py, timm's VisionTransformer): a classifier head, and with
# global average pooling (the official default) fc_norm in place of the encoder's final norm.
_HEAD_KEYS = ("head.", "fc_norm.")


def file_hashes(path: Path, files: list[str] | None = None) -> dict[str, str]:
    """sha256 and md5 of a file, or of the files ``files`` of a directory (the ones read as weights, in
    name order), streamed; each opened as a regular file, and each at most a checkpoint's size."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    chosen = [path] if not path.is_dir() else [path / f for f in sorted(files or [])]
    limit = max_checkpoint_bytes()
    for f in chosen:
        done = 0
        with os.fdopen(open_regular(f, what="checkpoint file"), "rb") as fh:
            while chunk := fh.read(1 << 20):
                done += len(chunk)
                if done > limit:
                    raise CheckpointError(f"{show_path(f)} is larger than any checkpoint can be; check the file")
                sha.update(chunk)
                md5.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def weight_files(path: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """Of a transformers directory: the files read as weights that lie inside it (a symlink out of the
    folder is never followed), and every other entry, skipped (neither hashed nor counted)."""
    root = path.resolve()
    kept = [f for f in files if (path / f).resolve().is_relative_to(root) and (path / f).is_file()]
    skipped = sorted(e.name for e in path.iterdir() if e.name not in kept)[:50]
    return kept, skipped


def _size(path: Path, files: list[str] | None = None) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return sum((path / f).stat().st_size for f in files or [])


def checkpoint_info(path: str | Path, variant: str | None = None, hashes: bool = True) -> dict[str, Any]:
    """Describe the checkpoint at ``path`` (see the module docstring). ``variant`` (a registry name)
    compares against that variant instead of the one detected; ``hashes`` False skips sha256/md5."""
    from ..models import get_variant, list_models

    p = Path(path)
    read = read_weights(p, max_checkpoint_bytes(get_variant(variant).name if variant else None))
    sd = read.state_dict
    detail = read.detail
    head = {k: v for k, v in sd.items() if k.startswith(_HEAD_KEYS)}
    body = {k: v for k, v in sd.items() if k not in head}
    has_decoder = any(k.startswith(DECODER_KEYS) for k in body)
    shapes = {k: tuple(v.shape) for k, v in body.items()}

    def expected_of(name: str) -> dict[str, tuple[int, ...]]:
        expected = official_shapes(name)
        if not has_decoder:
            expected = {k: s for k, s in expected.items() if not k.startswith(DECODER_KEYS)}
        if any(k.startswith("fc_norm.") for k in head):  # fine-tuned with global pooling: fc_norm replaces norm
            expected = {k: s for k, s in expected.items() if not k.startswith("norm.")}
        return expected

    def distance(name: str) -> tuple[int, int]:
        expected = expected_of(name)
        differ = sum(k not in shapes or shapes[k] != s for k, s in expected.items())
        return (differ + sum(k not in expected for k in shapes),
                -len(expected))

    detected = next((n for n in list_models() if shapes == expected_of(n)), None)
    against = get_variant(variant).name if variant else detected or min(list_models(), key=distance)
    expected = expected_of(against)
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected]
    wrong = [{"key": k, "file": list(shapes[k]), "expected": list(s)} for k, s in expected.items()
             if k in shapes and shapes[k] != s]
    file_params = sum(v.numel() for v in sd.values())
    official_all = sum(math.prod(s) for s in official_shapes(against).values())
    official_part = sum(math.prod(s) for s in expected.values())

    dtypes: dict[str, int] = {}
    for v in sd.values():
        name = str(v.dtype).removeprefix("torch.")
        dtypes[name] = dtypes.get(name, 0) + 1

    if head:
        kind = "fine-tuned classifier"
        classes = head.get("head.weight").shape[0] if "head.weight" in head else None
        kind_detail = (f"a fine-tuned ViT: classifier head ({classes} classes)" if classes else "a fine-tuned ViT")
        kind_detail += (", fc_norm (global average pooling)" if "fc_norm.weight" in head else "")
        kind_detail += "; no decoder: it classifies, it cannot reconstruct (load it with timm or main_finetune.py)"
    elif has_decoder:
        kind, kind_detail = "full", "encoder + decoder: it can reconstruct masked patches"
    else:
        kind, kind_detail = "encoder only", ("no decoder: features and fine-tuning only; reconstructions with a "
                                             "freshly initialised decoder are noise")

    kept, skipped = weight_files(p, detail.get("files", [])) if p.is_dir() else ([], [])
    info: dict[str, Any] = {
        "path": str(p), "bytes": _size(p, kept), "hashed_files": kept, "skipped_files": skipped,
        "format": read.format, "container": detail.get("container"),
        "naming": detail.get("naming"), "wrapper": detail.get("wrapper", []), "beside": detail.get("beside", []),
        "module_prefix": detail.get("module_prefix", False), "shards": detail.get("shards", 1),
        "variant": detected, "compared_with": against, "kind": kind, "kind_detail": kind_detail,
        "has_decoder": has_decoder, "dtypes": dtypes, "tensors": len(sd),
        "parameters": file_params, "official_parameters": official_all,
        "official_parameters_of_this_kind": official_part,
        "missing": missing, "unexpected": unexpected, "wrong_shape": wrong,
        "fits": not missing and not unexpected and not wrong,
    }
    config = detail.get("config") or {}
    release = None
    if hashes:
        info.update(file_hashes(p, kept))
        release = releases.match_md5(info["md5"])
    info["release"] = ({"name": release.name, "url": release.url, "kind": release.kind,
                        "md5_prefix": release.md5_prefix, "acc1": release.acc1, "acc5": release.acc5}
                       if release else None)
    if head:
        from ..finetune import detect_classifier

        spec = detect_classifier(sd)
        info["classifier"] = ({"name": spec.name, "num_classes": spec.num_classes, "global_pool": spec.global_pool,
                               "linear_probe": spec.linear_probe, "head": spec.head} if spec else None)
        if spec is not None:
            info["kind_detail"] = (f"a {spec.head} classifier ({spec.name}); no decoder: it classifies, it cannot "
                                   "reconstruct (mae classify runs it)")
    info["target"], info["target_certainty"] = _target(has_decoder, config, release, p)
    eps = config.get("layer_norm_eps")
    info["layer_norm_eps"] = eps
    info["layer_norm_eps_source"] = ("config.json" if eps is not None else
                                     "not recorded in the file (the official MAE uses 1e-6)")
    info["notes"] = list(read.notes)
    if skipped:
        info["notes"].append(f"size and hashes cover {', '.join(kept)} (the files read as weights); skipped "
                             f"{', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}")
    return info


def _target(has_decoder: bool, config: dict, release: releases.Release | None, p: Path) -> tuple[str, str]:
    """What the decoder predicts, and how sure that is."""
    if not has_decoder:
        return "nothing (no decoder)", "certain"
    if "norm_pix_loss" in config:
        pix = "per-patch normalised pixels (norm_pix_loss)" if config["norm_pix_loss"] else "raw pixels"
        return pix, "stated by config.json"
    if release is not None:
        return release.target, f"known: the file is the official {release.name}.pth (md5)"
    by_name = releases.find_release(p.name.removesuffix(".safetensors"))
    if by_name is not None and by_name.has_decoder:
        return by_name.target, f"guessed from the file name ({by_name.name}); the hash does not confirm it"
    return "unknown", ("the weights do not record it: official *_full files predict normalised pixels, "
                       "mae_visualize_* files raw pixels")
