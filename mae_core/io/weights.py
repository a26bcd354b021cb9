"""Weight files read safely: the containers, key namings and dtypes a checkpoint may come in.

Paper: none (engineering). The bottom of loading a checkpoint: :func:`read_weights` turns a file (or a
transformers directory) into a flat ``{name: tensor}`` dict in the official key layout, and nothing
else; recognising the variant and building a model from it is :mod:`mae_core.loading.weights`, above
the model.

Accepted files:
    * official ``.pth`` (``{'model': state_dict}``), bare state dicts, ``'state_dict'`` / ``'model'``
      wrappers, read with ``torch.load(..., weights_only=True)``: a file that would need arbitrary
      unpickling is refused and none of its code runs;
    * ``.safetensors`` files;
    * a transformers ViTMAE directory (``config.json`` + ``model.safetensors``, or ``pytorch_model.bin``,
      or their sharded ``*.index.json`` forms), and single files with transformers' names;
    * official key layout, ours (``encoder.* / decoder.*``) or transformers' (v4 or v5 names, see
      ``hf_layout.py``); always returned in the official layout;
    * encoder-only files (the official ``mae_pretrain_vit_*.pth``): no decoder keys.

Every read is bounded: the caller passes the most bytes a checkpoint may weigh (``max_bytes``).
Shapes: a file -> ``{official key: tensor}`` as stored (float32 after :func:`check_tensors`).
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError, MAEError
from . import checkpoint, hf_layout, hf_vit_layout, pickle_scan
from .files import read_bounded, regular_file, show_path
from .safetensors_file import DTYPES, SafetensorsError, read_header, read_safetensors

_WRAPPERS = ("model", "state_dict", "model_state", "module")
DECODER_KEYS = ("mask_token", "decoder_")  # official-layout prefixes of the decoder's parameters
_MAX_JSON_BYTES = 16 << 20  # config.json / *.index.json


@dataclass
class ReadWeights:
    """What a weight file holds, read but not yet checked against any model."""
    state_dict: dict[str, Tensor]  # official layout, dtypes as stored
    format: str  # "pth", "safetensors" or "transformers"
    notes: list[str] = field(default_factory=list)
    hints: dict[str, Any] = field(default_factory=dict)  # config the file states, e.g. {"norm_pix_loss": True}
    detail: dict[str, Any] = field(default_factory=dict)  # container, wrapper keys, naming, config (for info)


def sniff(path: str | Path) -> str | None:
    """The container of a regular file, from its first bytes: ``"zip"`` (torch.save), ``"legacy"``
    (torch.save before PyTorch 1.6), ``"safetensors"``, ``"pickle"`` (a bare pickle), or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(_LEGACY_TORCH_MAGIC):
        return "legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"\x80"):
        return "pickle"
    return None


def read_weights(path: str | Path, max_bytes: int) -> ReadWeights:
    """Read ``path`` (a file of at most ``max_bytes``, or a transformers directory whose weights weigh
    that much at most) into the official layout, dtypes as stored."""
    p = Path(path)
    if p.is_dir():
        return _read_transformers_dir(p, max_bytes)
    try:
        p = regular_file(p, "checkpoint", max_bytes)
    except CheckpointError:
        raise
    except MAEError as exc:  # missing, a device, a FIFO, too large: the fix is another weights file
        raise CheckpointError(str(exc), setting="weights") from None
    container = sniff(p)
    if container == "safetensors" or (container is None and p.suffix == ".safetensors"):
        tensors, fmt, detail = _read_safetensors_file(p), "safetensors", {"container": "safetensors"}
    else:
        obj = _torch_load(p, container)
        tensors, detail = _unwrap(obj, p)
        fmt, detail["container"] = "pth", container
    state_dict, naming, notes = _to_official(tensors, p)
    detail["naming"] = naming
    return ReadWeights(state_dict, fmt, notes, detail=detail)


def _to_official(tensors: dict[str, Tensor], p: Path) -> tuple[dict[str, Tensor], str, list[str]]:
    """Any accepted key naming -> the official layout; the naming found and a note on the conversion."""
    if hf_vit_layout.is_hf_vit_classifier(tensors):  # the fine-tuned classifier (mae_core.finetune reads it)
        version = hf_vit_layout.hf_vit_naming(list(tensors))
        return (hf_vit_layout.hf_to_official_classifier(tensors), f"transformers ViT {version}",
                [f"transformers ViTForImageClassification names ({version}) converted to the official layout"])
    if hf_layout.is_hf_layout(tensors):
        version = hf_layout.hf_version(tensors)
        return (_from_hf(tensors, p), f"transformers {version}",
                [f"transformers ViTMAE parameter names ({version}) converted to the official layout"])
    if not checkpoint.is_official_layout(tensors):
        try:
            return hf_layout.official_order(checkpoint.ours_to_official(tensors)), "ours", []
        except KeyError as exc:
            raise CheckpointError(f"checkpoint {show_path(p)} mixes naming schemes: {exc.args[0]}; "
                                  "pass a file saved from one model's state_dict()") from None
    return hf_layout.official_order(tensors), "official", []


def _read_safetensors_file(p: Path, skip: frozenset[str] = frozenset()) -> dict[str, Tensor]:
    """Every tensor of a ``.safetensors`` file but ``skip``, mapped lazily; dtypes checked in the header."""
    infos = _safetensors_header(p)
    try:
        return read_safetensors(p, [name for name in infos if name not in skip])[0]
    except SafetensorsError as exc:
        raise CheckpointError(f"checkpoint {show_path(p)} is not a valid safetensors file ({exc}); "
                              "download or export it again") from None


def _safetensors_header(p: Path) -> dict[str, Any]:
    """Name -> dtype and shape of a ``.safetensors`` file, validated by the library, dtypes checked."""
    try:
        infos, _ = read_header(p)
    except SafetensorsError as exc:
        raise CheckpointError(f"checkpoint {show_path(p)} is not a valid safetensors file ({exc}); "
                              "download or export it again") from None
    unknown = [name for name, info in infos.items() if info.dtype not in DTYPES]
    if unknown:
        raise CheckpointError(f"checkpoint {show_path(p)}: tensor {unknown[0]!r} has dtype "
                              f"{infos[unknown[0]].dtype}, which is not floating point; MAE weights are "
                              "float32/float16/bfloat16/float64: pass an MAE checkpoint")
    return infos


def _read_fused_qkv(headers: dict[Path, dict[str, Any]]) -> dict[str, Tensor]:
    """transformers' query/key/value tensors, read from safetensors shards straight into one fused buffer
    per block (``hf_layout.hf_to_official`` then takes that buffer as the official ``qkv`` without a copy)."""
    from .safetensors_file import read_into

    where = {name: (shard, info) for shard, infos in headers.items() for name, info in infos.items()}
    out: dict[str, Tensor] = {}
    for trio in hf_layout.qkv_groups(where):
        infos = [where[name][1] for name in trio]
        if len({(i.dtype, i.shape) for i in infos}) != 1 or not infos[0].shape:
            continue  # odd shapes: leave them to the general path, which names the problem
        rows = infos[0].shape[0]
        fused = torch.empty((3 * rows, *infos[0].shape[1:]), dtype=DTYPES[infos[0].dtype])
        try:
            for i, name in enumerate(trio):
                read_into(where[name][0], [name], fused[i * rows:(i + 1) * rows])
        except (SafetensorsError, OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {show_path(where[trio[0]][0])} is not a valid safetensors file "
                                  f"({exc}); download or export it again") from None
        for i, name in enumerate(trio):
            out[name] = fused[i * rows:(i + 1) * rows]
    return out


def _from_hf(state_dict: dict[str, Tensor], p: Path) -> dict[str, Tensor]:
    try:
        return hf_layout.hf_to_official(state_dict)
    except hf_layout.HFLayoutError as exc:
        raise CheckpointError(f"checkpoint {show_path(p)} looks like transformers' ViTMAE but does not convert: "
                              f"{exc}") from None


# A transformers model directory: the first of these that exists holds the weights.
_HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                    "pytorch_model.bin.index.json")

# config.json entries this loader reads or reports, and the JSON type each must have.
_HF_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "model_type": (str,), "layer_norm_eps": (int, float), "hidden_act": (str,), "norm_pix_loss": (bool,),
    "hidden_size": (int,), "num_hidden_layers": (int,), "num_attention_heads": (int,), "intermediate_size": (int,),
    "patch_size": (int,), "image_size": (int,), "num_channels": (int,), "mask_ratio": (int, float),
    "decoder_hidden_size": (int,), "decoder_num_hidden_layers": (int,), "decoder_num_attention_heads": (int,),
    "decoder_intermediate_size": (int,),
}


def read_hf_config(p: Path) -> dict[str, Any]:
    """``config.json`` of a transformers directory, with the entries we use checked for type and range."""
    config_file = p / "config.json"
    if not config_file.exists():
        raise CheckpointError(f"checkpoint {show_path(p)} is a directory without config.json; pass a .pth or "
                              ".safetensors file, or a transformers ViTMAE directory (config.json + model.safetensors)")
    raw = read_bounded(config_file, _MAX_JSON_BYTES, "transformers config")
    try:
        config = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # a 5000-digit integer: Python refuses to convert it (not a JSONDecodeError)
        if not isinstance(exc, (UnicodeDecodeError, json.JSONDecodeError)):
            raise CheckpointError(f"{show_path(config_file)} holds a number too long to read ({exc}); "
                                  "restore the file saved with the model") from None
        raise CheckpointError(f"{show_path(config_file)} is not valid JSON ({type(exc).__name__}); "
                              "restore the file saved with the model") from None
    except RecursionError as exc:
        raise CheckpointError(f"{show_path(config_file)} is not valid JSON ({type(exc).__name__}); "
                              "restore the file saved with the model") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{show_path(config_file)} is not a JSON object; restore the file saved with the model")
    for key, types in _HF_CONFIG_TYPES.items():
        if key not in config or config[key] is None:
            continue
        value = config[key]
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if ok and isinstance(value, (int, float)) and not isinstance(value, bool):
            ok = math.isfinite(value) and (value > 0 or key == "mask_ratio" and value >= 0)
        if not ok:
            want = {(str,): "a string", (bool,): "JSON true or false", (int,): "a positive whole number",
                    (int, float): "a positive number"}[types]
            raise CheckpointError(f"{show_path(config_file)}: {key} is {_json_preview(value)}, not {want}; "
                                  "fix the value or restore the file saved with the model")
    return config


def _json_preview(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_transformers_dir(p: Path, max_bytes: int) -> ReadWeights:
    """``config.json`` + weights saved by transformers' ``save_pretrained`` (ViTMAE), in the official layout."""
    config = read_hf_config(p)
    model_type = config.get("model_type", "vit_mae")
    if model_type == "vit":  # ViTForImageClassification: a fine-tuned classifier (mae classify)
        return _read_hf_vit_dir(p, config, max_bytes)
    if model_type != "vit_mae":
        raise CheckpointError(f"{show_path(p)} holds a transformers {model_type[:40]!r} model, not ViTMAE (model_type "
                              "'vit_mae'); pass an MAE checkpoint")
    name = next((f for f in _HF_WEIGHT_FILES if (p / f).exists()), None)
    if name is None:
        raise CheckpointError(f"transformers directory {show_path(p)} has no weights; expected one of "
                              + ", ".join(_HF_WEIGHT_FILES))
    tensors: dict[str, Tensor] = {}
    budget = max_bytes
    shards = _shards(p, name)
    headers: dict[Path, dict[str, Any]] = {}
    for shard in shards:
        shard = regular_file(shard, "checkpoint shard", budget)
        budget -= shard.stat().st_size
        container = sniff(shard)
        if container == "safetensors" or (container is None and shard.suffix == ".safetensors"):
            headers[shard] = _safetensors_header(shard)
        else:
            tensors.update(_unwrap(_torch_load(shard, container), shard)[0])
    fused = _read_fused_qkv(headers) if hf_layout.is_hf_layout(k for h in headers.values() for k in h) else {}
    for shard in headers:
        tensors.update(_read_safetensors_file(shard, skip=frozenset(fused)))
    tensors.update(fused)
    if not hf_layout.is_hf_layout(tensors):
        raise CheckpointError(f"transformers directory {show_path(p)}: {name} does not hold ViTMAE parameter "
                              "names (vit.embeddings...); pass the directory save_pretrained wrote")
    state_dict = _from_hf(tensors, p)
    version = hf_layout.hf_version(tensors)
    notes = [f"transformers ViTMAE directory ({name}, {version} parameter names) converted to the official layout"]
    hints: dict[str, Any] = {}
    eps = config.get("layer_norm_eps")
    if eps is not None and float(eps) != 1e-6:
        notes.append(f"its config.json sets layer_norm_eps={eps} (transformers' default is 1e-12); the official "
                     "MAE uses 1e-6, and so does this model: outputs follow the official model")
    if config.get("hidden_act", "gelu") != "gelu":
        notes.append(f"its config.json sets hidden_act={config['hidden_act'][:40]!r}; the official MAE uses exact "
                     "GELU, and so does this model")
    if config.get("norm_pix_loss") is True:
        hints["norm_pix_loss"] = True
        notes.append("its config.json sets norm_pix_loss: it predicts per-patch normalised pixels")
    read_files = ["config.json", *([name] if name.endswith(".index.json") else []),
                  *(str(s.relative_to(p)) for s in shards)]
    detail = {"container": "transformers directory", "weights_file": name, "shards": len(shards),
              "files": read_files,
              "naming": f"transformers {version}", "config": config}
    return ReadWeights(state_dict, "transformers", notes, hints, detail)


def _read_hf_vit_dir(p: Path, config: dict[str, Any], max_bytes: int) -> ReadWeights:
    """A transformers ``ViTForImageClassification`` directory (one weights file) in the official classifier layout."""
    name = next((f for f in ("model.safetensors", "pytorch_model.bin") if (p / f).exists()), None)
    if name is None:
        raise CheckpointError(f"transformers directory {show_path(p)} has no model.safetensors or pytorch_model.bin")
    f = regular_file(p / name, "checkpoint", max_bytes)
    container = sniff(f)
    tensors = (_read_safetensors_file(f) if container == "safetensors" or f.suffix == ".safetensors"
               else _unwrap(_torch_load(f, container), f)[0])
    if not hf_vit_layout.is_hf_vit_classifier(tensors):
        raise CheckpointError(f"transformers directory {show_path(p)}: {name} holds no ViTForImageClassification "
                              "names (vit.embeddings..., classifier.weight)")
    version = hf_vit_layout.hf_vit_naming(list(tensors))
    notes = [f"transformers ViTForImageClassification directory ({name}, {version} names) converted to the "
             "official layout"]
    detail = {"container": "transformers directory", "weights_file": name, "shards": 1,
              "naming": f"transformers ViT {version}", "config": config}
    return ReadWeights(hf_vit_layout.hf_to_official_classifier(tensors), "transformers", notes, {}, detail)


def _shards(p: Path, name: str) -> list[Path]:
    """The weight file itself, or the shard files a ``*.index.json`` lists (which must lie inside ``p``)."""
    if not name.endswith(".index.json"):
        return [p / name]
    index_file = p / name
    raw = read_bounded(index_file, _MAX_JSON_BYTES, "shard index")
    try:
        weight_map = json.loads(raw.decode("utf-8"))["weight_map"]
    except (ValueError, RecursionError, KeyError, TypeError) as exc:  # ValueError: also a 5000-digit number
        raise CheckpointError(f"{show_path(index_file)} is not a valid shard index ({type(exc).__name__}); "
                              "restore the file saved with the model") from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{show_path(index_file)}: weight_map is not a non-empty JSON object of "
                              "parameter name -> file name; restore the file saved with the model")
    bad = next((k for k, v in weight_map.items() if not isinstance(v, str) or not v), None)
    if bad is not None:
        raise CheckpointError(f"{show_path(index_file)}: weight_map[{bad[:80]!r}] is "
                              f"{_json_preview(weight_map[bad])}, not a file name; restore the file saved with the "
                              "model")
    files = sorted(set(weight_map.values()))
    root = p.resolve()
    outside = [f for f in files if not (p / f).resolve().is_relative_to(root)]
    if outside:
        raise CheckpointError(f"{show_path(index_file)} lists shard files outside the directory: "
                              f"{', '.join(show_path(f) for f in outside[:3])}")
    missing = [f for f in files if not (p / f).exists()]
    if missing:
        raise CheckpointError(f"{show_path(index_file)} lists shard files that are missing: "
                              f"{', '.join(show_path(f) for f in missing[:3])}")
    return [p / f for f in files]


# torch.save writes a zip archive; files from before PyTorch 1.6 start with this pickled magic number.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _torch_load(p: Path, container: str | None) -> Any:
    """``torch.load(p, weights_only=True)`` (memory-mapped when the format allows); a refusal is worded
    from the pickle's own globals (:mod:`pickle_scan`), the same on every torch version."""
    def corrupt(detail: str) -> CheckpointError:
        return CheckpointError(f"cannot read checkpoint {show_path(p)}: the file is corrupt or not a PyTorch "
                               f"checkpoint ({detail}); download or export it again")

    if container not in ("zip", "legacy"):
        _refuse_code(p)  # a bare pickle (any protocol) that would run code is named as such
        kind = _other_file_kind(p)
        if kind:
            raise CheckpointError(f"cannot read checkpoint {show_path(p)}: it is {kind}, not a checkpoint; pass a "
                                  ".pth, .safetensors or transformers folder (images go to --image)")
        raise corrupt("neither a zip archive nor a legacy torch.save file")
    if container == "zip" and not zipfile.is_zipfile(p):
        raise corrupt("a damaged zip archive")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols in broken files
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True, mmap=container == "zip")
    except Exception as exc:  # noqa: BLE001 - weights_only refusals and damaged files fail in many ways
        _refuse_code(p)
        detail = _plain(str(exc).strip().splitlines()[-1] if str(exc).strip() else "")
        if "Weights only load failed" in str(exc):
            detail = "it does not unpickle as plain tensors"
        raise corrupt(f"{type(exc).__name__}: {detail[:160]}" if detail else type(exc).__name__) from None


# First bytes of files people pass as --weights by mistake: named, so the error is not "corrupt".
_OTHER_KINDS = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
                (b"BM", "a BMP image"), (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive"),
                (b"RIFF", "a RIFF (WebP, WAV or AVI) file"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
                (b"\x93NUMPY", "a NumPy .npy array"), (b"\x89HDF", "an HDF5 (Keras .h5) file"))


def _other_file_kind(p: Path) -> str | None:
    """What the file is, when its first bytes say it is a picture, a document or another format."""
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    return next((kind for magic, kind in _OTHER_KINDS if head.startswith(magic)), None)


def _refuse_code(p: Path) -> None:
    """Raise the "refusing to load" error if the file's pickle names code or other non-tensor objects."""
    try:
        data = pickle_scan.pickle_of(p)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, RuntimeError):
        return
    code = pickle_scan.code_globals(data)
    if code:
        raise CheckpointError(f"refusing to load {show_path(p)}: it contains code (GLOBAL {_plain(code[0])[:80]}); "
                              "only plain tensors are read")
    objects = [g for g in pickle_scan.globals_in(data) if g in pickle_scan.KNOWN_OBJECTS]
    if objects:
        raise CheckpointError(f"refusing to load {show_path(p)}: it contains pickled objects besides tensors "
                              f"(GLOBAL {objects[0]}: {pickle_scan.KNOWN_OBJECTS[objects[0]]}); only plain tensors "
                              "are read; if you trust the file, re-save its state dict alone")


def _plain(text: str) -> str:
    """``text`` without ANSI escapes or other control characters (torch colours some messages)."""
    import re

    return re.sub(r"[\x00-\x1f\x7f]", "", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text))


def _unwrap(obj: Any, p: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Peel ``{'model': ...}``-style wrappers until a flat name -> tensor mapping is left; also say
    what was peeled (wrapper keys, the other entries beside the weights, a ``module.`` prefix)."""
    wrapper: list[str] = []
    beside: list[str] = []
    for _ in range(3):
        if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
            key = next((k for k in _WRAPPERS if k in obj and isinstance(obj[k], Mapping)), None)
            if key is None:
                break
            beside += [str(k) for k in obj if k != key]
            wrapper.append(key)
            obj = obj[key]
    if not isinstance(obj, Mapping) or not _is_tensor_dict(obj):
        bad = next((k for k, v in obj.items() if not isinstance(v, Tensor)), None) if isinstance(obj, Mapping) else None
        where = f" (entry {str(bad)[:60]!r} is a {type(obj[bad]).__name__}, not a tensor)" if bad is not None else ""
        raise CheckpointError(
            f"checkpoint {show_path(p)} holds no state dict of tensors{where} (looked under {', '.join(_WRAPPERS)}); "
            "pass a file saved from model.state_dict()"
        )
    state_dict = {str(k): v for k, v in obj.items()}
    # Checkpoints saved from DistributedDataParallel prefix every key with "module.".
    prefixed = all(k.startswith("module.") for k in state_dict)
    if prefixed:
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict, {"wrapper": wrapper, "beside": beside, "module_prefix": prefixed}


def check_tensors(state_dict: Mapping[str, Tensor],
                  path: str | Path) -> tuple[dict[str, Tensor], list[str], dict[str, int]]:
    """The state dict in float32, the notes on any cast, and the stored dtypes (name -> count).

    Floating tensors of another dtype are cast (float16, bfloat16 and float8 exactly: float32 holds
    all their values; float64 rounded to the nearest float32). Tensors that are not floating point
    (integers, booleans, complex), not dense, or without data (the ``meta`` device) raise
    :class:`CheckpointError` naming the key.
    """
    stored: dict[str, int] = {}
    for key, t in state_dict.items():
        if t.is_meta:
            raise CheckpointError(f"checkpoint {show_path(path)}: tensor {key!r} is on the meta device (a shape "
                                  "without values); save the checkpoint from a model with real weights")
        if t.layout != torch.strided or t.is_quantized:
            layout = str(t.layout).removeprefix("torch.") + (" quantized" if t.is_quantized else "")
            raise CheckpointError(f"checkpoint {show_path(path)}: tensor {key!r} is {layout}, not a dense tensor; "
                                  "save plain weights")
        if not t.is_floating_point():
            raise CheckpointError(f"checkpoint {show_path(path)}: tensor {key!r} is {_dtype_name(t.dtype)}, not "
                                  "floating point; MAE weights are float32/float16/bfloat16/float64: pass an MAE "
                                  "checkpoint")
        stored[_dtype_name(t.dtype)] = stored.get(_dtype_name(t.dtype), 0) + 1
    notes = []
    for name, count in stored.items():
        if name == "float32":
            continue
        if name == "float64":
            notes.append(f"the file stores {count} tensor(s) in float64; they are rounded to float32, the model's "
                         "precision (relative error at most 6e-8 per weight)")
        else:
            digits = {"float16": "about 3", "bfloat16": "about 2"}.get(name, "at most 2")
            notes.append(f"the file stores {count} tensor(s) in {name}; they are cast to float32 exactly, so the "
                         f"weights keep {name}'s precision ({digits} significant digits): outputs match a float32 "
                         "checkpoint only to that precision")
    if len(stored) == 1 and "float32" in stored:
        return dict(state_dict), notes, stored
    cast = {k: (t if t.dtype == torch.float32 else t.to(torch.float32)) for k, t in state_dict.items()}
    return cast, notes, stored


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _is_tensor_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(v, Tensor) for v in obj.values())


def has_decoder(state_dict: Mapping[str, Tensor]) -> bool:
    """True if the (official-layout) state dict carries decoder weights."""
    return any(k.startswith(DECODER_KEYS) for k in state_dict)
