"""Reading weight files safely, recognising the variant they belong to, and building a model from them.

Paper: none (engineering). Every command that takes ``--weights`` goes through :func:`load_weights`
and :func:`build_model`.

Accepted files:
    * official ``.pth`` (``{'model': state_dict}``), bare state dicts, ``'state_dict'`` / ``'model'``
      wrappers, read with ``torch.load(..., weights_only=True)``: a file that would need arbitrary
      unpickling is refused and none of its code runs;
    * ``.safetensors`` files;
    * a transformers ViTMAE directory (``config.json`` + ``model.safetensors``, or ``pytorch_model.bin``,
      or their sharded ``*.index.json`` forms), and single files with transformers' names;
    * official key layout, ours (``encoder.* / decoder.*``) or transformers' (v4 or v5 names, see
      ``hf_layout.py``); always returned in the official layout;
    * encoder-only files (the official ``mae_pretrain_vit_*.pth``): ``has_decoder`` is False.

Weights are loaded without a wasted random initialisation: the model is built on the ``meta``
device and the file's tensors are assigned to it.
"""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import checkpoint, hf_layout
from ..errors import CheckpointError
from ..mae import MaskedAutoencoderViT
from ..pos_embed import adapt_pos_embeds
from .safetensors_file import SafetensorsError, read_safetensors

_WRAPPERS = ("model", "state_dict", "model_state", "module")
_DECODER_KEYS = ("mask_token", "decoder_")


@dataclass
class LoadedWeights:
    state_dict: dict[str, Tensor]  # official key layout, tensors on CPU
    path: str
    format: str  # "pth" or "safetensors"
    variant: str | None  # canonical registry name whose shapes the file matches, if any
    has_decoder: bool  # False for encoder-only files
    notes: list[str] = field(default_factory=list)  # what a user should know (e.g. "no decoder")
    hints: dict[str, Any] = field(default_factory=dict)  # config the file states, e.g. {"norm_pix_loss": True}


@dataclass
class _Read:
    state_dict: dict[str, Tensor]
    format: str
    notes: list[str] = field(default_factory=list)
    hints: dict[str, Any] = field(default_factory=dict)


def read_state_dict(path: str | Path) -> tuple[dict[str, Tensor], str]:
    """Read a weight file (or transformers directory) into a flat ``{name: tensor}`` dict in the
    official layout, and its format (``"pth"``, ``"safetensors"`` or ``"transformers"``)."""
    read = _read(path)
    return read.state_dict, read.format


def _read(path: str | Path) -> _Read:
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist; check the path", setting="weights")
    if p.is_dir():
        return _read_transformers_dir(p)
    tensors = _read_file(p)
    fmt = "safetensors" if p.suffix == ".safetensors" else "pth"
    state_dict = _unwrap(tensors, p)
    notes: list[str] = []
    if hf_layout.is_hf_layout(state_dict):
        state_dict = _from_hf(state_dict, p)
        notes.append(f"transformers ViTMAE parameter names ({hf_layout.hf_version(state_dict)}) converted "
                     "to the official layout")
    elif not checkpoint.is_official_layout(state_dict):
        state_dict = checkpoint.ours_to_official(state_dict)
    return _Read(state_dict, fmt, notes)


def _read_file(p: Path) -> Any:
    if p.suffix == ".safetensors":
        try:
            return read_safetensors(p)[0]
        except SafetensorsError as exc:
            raise CheckpointError(f"checkpoint {str(p)!r} is not a valid safetensors file ({exc})") from None
    return _torch_load(p)


def _from_hf(state_dict: dict[str, Tensor], p: Path) -> dict[str, Tensor]:
    try:
        return hf_layout.hf_to_official(state_dict)
    except hf_layout.HFLayoutError as exc:
        raise CheckpointError(f"checkpoint {str(p)!r} looks like transformers' ViTMAE but does not convert: "
                              f"{exc}") from None


# A transformers model directory: the first of these that exists holds the weights.
_HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                    "pytorch_model.bin.index.json")


def _read_transformers_dir(p: Path) -> _Read:
    """``config.json`` + weights saved by transformers' ``save_pretrained`` (ViTMAE), in the official layout."""
    config_file = p / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} is a directory without config.json; pass a .pth or "
                              ".safetensors file, or a transformers ViTMAE directory (config.json + model.safetensors)")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{str(config_file)!r} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{str(config_file)!r} is not a JSON object")
    model_type = config.get("model_type", "vit_mae")
    if model_type != "vit_mae":
        raise CheckpointError(f"{str(p)!r} holds a transformers {model_type!r} model, not ViTMAE (model_type "
                              "'vit_mae'); pass an MAE checkpoint")
    name = next((f for f in _HF_WEIGHT_FILES if (p / f).is_file()), None)
    if name is None:
        raise CheckpointError(f"transformers directory {str(p)!r} has no weights; expected one of "
                              + ", ".join(_HF_WEIGHT_FILES))
    tensors: dict[str, Tensor] = {}
    for shard in _shards(p, name):
        tensors.update(_unwrap(_read_file(shard), shard))
    state_dict = _from_hf(tensors, p)
    notes = [f"transformers ViTMAE directory ({name}, {hf_layout.hf_version(tensors)} parameter names) "
             "converted to the official layout"]
    hints: dict[str, Any] = {}
    eps = config.get("layer_norm_eps")
    if eps is not None and float(eps) != 1e-6:
        notes.append(f"its config.json sets layer_norm_eps={eps} (transformers' default is 1e-12); the official "
                     "MAE uses 1e-6, and so does this model: outputs follow the official model")
    if config.get("hidden_act", "gelu") != "gelu":
        notes.append(f"its config.json sets hidden_act={config['hidden_act']!r}; the official MAE uses exact GELU, "
                     "and so does this model")
    if config.get("norm_pix_loss"):
        hints["norm_pix_loss"] = True
        notes.append("its config.json sets norm_pix_loss: it predicts per-patch normalised pixels")
    return _Read(state_dict, "transformers", notes, hints)


def _shards(p: Path, name: str) -> list[Path]:
    """The weight file itself, or the shard files a ``*.index.json`` lists (which must lie inside ``p``)."""
    if not name.endswith(".index.json"):
        return [p / name]
    try:
        weight_map = json.loads((p / name).read_text())["weight_map"]
        files = sorted(set(weight_map.values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{str(p / name)!r} is not a valid shard index ({type(exc).__name__}: {exc})") from None
    root = p.resolve()
    shards = [p / f for f in files]
    outside = [str(f) for f in files if not (p / f).resolve().is_relative_to(root)]
    missing = [str(s.name) for s in shards if not s.is_file()]
    if outside:
        raise CheckpointError(f"{str(p / name)!r} lists shard files outside the directory: {', '.join(outside)}")
    if missing:
        raise CheckpointError(f"{str(p / name)!r} lists shard files that are missing: {', '.join(missing)}")
    return shards


# torch.save writes a zip archive; files from before PyTorch 1.6 start with this pickled magic number.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _torch_load(p: Path) -> Any:
    def corrupt(detail: str) -> CheckpointError:
        return CheckpointError(f"cannot read checkpoint {str(p)!r}: the file is corrupt or not a PyTorch "
                               f"checkpoint ({detail}); download or export it again")

    with open(p, "rb") as f:
        head = f.read(len(_LEGACY_TORCH_MAGIC))
    legacy = head == _LEGACY_TORCH_MAGIC
    if not legacy and not zipfile.is_zipfile(p):
        raise corrupt("neither a zip archive nor a legacy torch.save file")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols in broken files
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True, mmap=not legacy)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a refused class: bytes that are no pickle at all
            raise corrupt("it does not unpickle") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"refusing to load {str(p)!r}: it holds pickled objects that are not plain tensors, and "
            f"unpickling them could run arbitrary code ({first[:160]}); re-save the state dict alone "
            "(torch.save(model.state_dict(), path)) or convert it to .safetensors"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail in many ways inside torch.load
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise corrupt(f"{type(exc).__name__}: {detail}") from None


def _unwrap(obj: Any, p: Path) -> dict[str, Tensor]:
    """Peel ``{'model': ...}``-style wrappers until a flat name -> tensor mapping is left."""
    for _ in range(3):
        if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
            inner = next((obj[k] for k in _WRAPPERS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping) or not _is_tensor_dict(obj) or not obj:
        raise CheckpointError(
            f"checkpoint {str(p)!r} holds no state dict of tensors (looked under {', '.join(_WRAPPERS)}); "
            "pass a file saved from model.state_dict()"
        )
    state_dict = {str(k): v for k, v in obj.items()}
    # Checkpoints saved from DistributedDataParallel prefix every key with "module.".
    if all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict


def _is_tensor_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(v, Tensor) for v in obj.values())


def has_decoder(state_dict: Mapping[str, Tensor]) -> bool:
    """True if the (official-layout) state dict carries decoder weights."""
    return any(k.startswith(_DECODER_KEYS) for k in state_dict)


@lru_cache(maxsize=None)
def official_shapes(variant: str) -> dict[str, tuple[int, ...]]:
    """Official-layout key -> shape of a registered variant, from a meta-device model (no memory)."""
    from ..models import create_model

    model = create_model(variant, device="meta")
    return {k: tuple(v.shape) for k, v in model.official_state_dict().items()}


def detect_variant(state_dict: Mapping[str, Tensor]) -> str | None:
    """The registered variant whose official key set and shapes the state dict matches (encoder part
    only for an encoder-only file), or ``None``."""
    from ..models import list_models

    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    decoder = has_decoder(state_dict)
    for name in list_models():
        expected = official_shapes(name)
        if not decoder:
            expected = {k: s for k, s in expected.items() if not k.startswith(_DECODER_KEYS)}
        if got == expected:
            return name
    return None


def load_weights(path: str | Path, variant: str | None = None) -> LoadedWeights:
    """Read ``path`` and check it against ``variant`` (a registry name), or detect the variant.

    Raises:
        CheckpointError: missing, unreadable, unsafe or corrupt file; or keys/shapes that do not fit
            ``variant`` (the message names the keys and the variant the file looks like).
    """
    from ..models import get_variant

    read = _read(path)
    state_dict, fmt = read.state_dict, read.format
    detected = detect_variant(state_dict)
    decoder = has_decoder(state_dict)
    if variant is not None:
        wanted = get_variant(variant).name
        if detected != wanted:
            expected = official_shapes(wanted)
            if not decoder:
                expected = {k: s for k, s in expected.items() if not k.startswith(_DECODER_KEYS)}
            looks = f"it looks like {detected}" if detected else "it matches no registered variant"
            try:
                shapes = {k: torch.empty(s, device="meta") for k, s in expected.items()}
                checkpoint.check_same_layout(state_dict, shapes, what=f"checkpoint {str(path)!r}")
            except checkpoint.CheckpointMismatchError as exc:
                short = _short(detected) or None
                fix = f"load it as variant {short!r}" if short else "name the variant the file was saved from"
                raise CheckpointError(f"{exc}; {looks}: {fix}", setting="variant", value=short) from None
    elif detected is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} matches none of the registered variants ({', '.join(_shorts())}) by its key "
            "names and shapes; name the variant it should be to see which keys differ", setting="variant")
    loaded = LoadedWeights(state_dict, str(path), fmt, variant and get_variant(variant).name or detected, decoder,
                           notes=list(read.notes), hints=dict(read.hints))
    if not decoder:
        loaded.notes.append("the file has no decoder weights (encoder-only checkpoint): the decoder is "
                            "initialised from the seed, so its predictions are not trained reconstructions")
    return loaded


def _short(name: str | None) -> str:
    from ..models import get_variant

    return get_variant(name).short if name else ""


def _shorts() -> list[str]:
    from ..models import VARIANTS

    return [v.short for v in VARIANTS.values()]


def build_model(variant: str, weights: LoadedWeights | None = None, *, device: torch.device | str = "cpu",
                seed: int = 0, pos_embed: str = "sincos", **overrides: Any) -> MaskedAutoencoderViT:
    """Build ``variant`` with the file's weights, or with the seeded official initialisation.

    With weights the model is created on ``meta`` and the tensors are assigned (no random init is
    computed and thrown away). An encoder-only file gets a decoder initialised from ``seed``.
    ``overrides`` may change the size (``img_size=448``): the file's position tables are then replaced
    as ``pos_embed`` says (see :func:`mae_core.pos_embed.adapt_pos_embeds`), and ``model.pos_embed_notes``
    says so.
    """
    from ..models import create_model

    if weights is None:
        torch.manual_seed(seed)
        return create_model(variant, device=device, **overrides)
    model = create_model(variant, device="meta", **overrides)
    # Weights saved for another image size: the position tables are regenerated for this model's grid
    # (model.pos_embed_notes says which), every other tensor is used as it is.
    state_dict, notes = adapt_pos_embeds(weights.state_dict, model.config.grid_size, pos_embed)
    if weights.has_decoder:
        model.load_state_dict(state_dict, assign=True)
    else:
        encoder_sd = {k: v for k, v in state_dict.items() if not k.startswith(_DECODER_KEYS)}
        model.encoder.load_state_dict(encoder_sd, assign=True)
        model.decoder.to_empty(device="cpu")
        torch.manual_seed(seed)
        with torch.no_grad():
            model.decoder.init_weights()
    model.pos_embed_notes = notes
    return model.to(device)
