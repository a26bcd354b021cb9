"""Reading weight files safely, recognising the variant they belong to, and building a model from them.

Paper: none (engineering). Every command that takes ``--weights`` goes through :func:`load_weights`
and :func:`build_model`.

Accepted files:
    * official ``.pth`` (``{'model': state_dict}``), bare state dicts, ``'state_dict'`` / ``'model'``
      wrappers, read with ``torch.load(..., weights_only=True)``: a file that would need arbitrary
      unpickling is refused and none of its code runs;
    * ``.safetensors`` files;
    * official key layout or ours (``encoder.* / decoder.*``); always returned in the official layout;
    * encoder-only files (the official ``mae_pretrain_vit_*.pth``): ``has_decoder`` is False.

Weights are loaded without a wasted random initialisation: the model is built on the ``meta``
device and the file's tensors are assigned to it.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import checkpoint
from .mae import MaskedAutoencoderViT
from .safetensors_file import SafetensorsError, read_safetensors

_WRAPPERS = ("model", "state_dict", "model_state", "module")
_DECODER_KEYS = ("mask_token", "decoder_")


class CheckpointError(ValueError):
    """A weight file that cannot be used; the message names the problem and the fix."""


@dataclass
class LoadedWeights:
    state_dict: dict[str, Tensor]  # official key layout, tensors on CPU
    path: str
    format: str  # "pth" or "safetensors"
    variant: str | None  # canonical registry name whose shapes the file matches, if any
    has_decoder: bool  # False for encoder-only files
    notes: list[str] = field(default_factory=list)  # what a user should know (e.g. "no decoder")


def read_state_dict(path: str | Path) -> tuple[dict[str, Tensor], str]:
    """Read a weight file into a flat ``{name: tensor}`` dict in the official layout, and its format."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist; check the path given to --weights")
    if p.is_dir():
        raise CheckpointError(f"checkpoint {str(p)!r} is a directory; pass a .pth or .safetensors file")
    if p.suffix == ".safetensors":
        try:
            tensors, _ = read_safetensors(p)
        except SafetensorsError as exc:
            raise CheckpointError(f"checkpoint {str(p)!r} is not a valid safetensors file ({exc})") from None
        fmt = "safetensors"
    else:
        tensors = _torch_load(p)
        fmt = "pth"
    state_dict = _unwrap(tensors, p)
    if not checkpoint.is_official_layout(state_dict):
        state_dict = checkpoint.ours_to_official(state_dict)
    return state_dict, fmt


def _torch_load(p: Path) -> Any:
    try:
        try:
            return torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # the legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"refusing to load {str(p)!r}: it holds pickled objects that are not plain tensors, and "
            f"unpickling them could run arbitrary code ({first[:160]}); re-save the state dict alone "
            "(torch.save(model.state_dict(), path)) or convert it to .safetensors"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read checkpoint {str(p)!r}: the file is corrupt or not a PyTorch checkpoint "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}); "
            "download or export it again"
        ) from None


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
    from .models import create_model

    model = create_model(variant, device="meta")
    return {k: tuple(v.shape) for k, v in model.official_state_dict().items()}


def detect_variant(state_dict: Mapping[str, Tensor]) -> str | None:
    """The registered variant whose official key set and shapes the state dict matches (encoder part
    only for an encoder-only file), or ``None``."""
    from .models import list_models

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
    from .models import get_variant

    state_dict, fmt = read_state_dict(path)
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
                checkpoint.check_same_layout(state_dict, {k: torch.empty(s, device="meta") for k, s in expected.items()},
                                             what=f"checkpoint {str(path)!r}")
            except checkpoint.CheckpointMismatchError as exc:
                raise CheckpointError(f"{exc}; {looks}: pass --variant {_short(detected) if detected else 'matching the file'}") from None
    elif detected is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} matches none of the variants (base, large, huge) by its key names and "
            "shapes; pass --variant to see which keys differ"
        )
    loaded = LoadedWeights(state_dict, str(path), fmt, variant and get_variant(variant).name or detected, decoder)
    if not decoder:
        loaded.notes.append("the file has no decoder weights (encoder-only checkpoint): the decoder is "
                            "initialised from the seed, so its predictions are not trained reconstructions")
    return loaded


def _short(name: str | None) -> str:
    from .models import get_variant

    return get_variant(name).short if name else ""


def build_model(variant: str, weights: LoadedWeights | None = None, *, device: torch.device | str = "cpu",
                seed: int = 0, **overrides: Any) -> MaskedAutoencoderViT:
    """Build ``variant`` with the file's weights, or with the seeded official initialisation.

    With weights the model is created on ``meta`` and the tensors are assigned (no random init is
    computed and thrown away). An encoder-only file gets a decoder initialised from ``seed``.
    """
    from .models import create_model

    if weights is None:
        torch.manual_seed(seed)
        return create_model(variant, device=device, **overrides)
    model = create_model(variant, device="meta", **overrides)
    if weights.has_decoder:
        model.load_state_dict(weights.state_dict, assign=True)
    else:
        encoder_sd = {k: v for k, v in weights.state_dict.items() if not k.startswith(_DECODER_KEYS)}
        model.encoder.load_state_dict(encoder_sd, assign=True)
        model.decoder.to_empty(device="cpu")
        torch.manual_seed(seed)
        with torch.no_grad():
            model.decoder.init_weights()
    return model.to(device)
