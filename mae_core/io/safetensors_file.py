"""``.safetensors`` files, read and written with the ``safetensors`` library (Hugging Face).

Paper: none. Format (https://github.com/huggingface/safetensors, "Format"): 8 bytes little-endian
header length N, then N bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``
(plus an optional ``"__metadata__"`` of strings), then the raw little-endian tensor bytes.
Nothing in the file is executed: it is data only, which is why the format is welcome here.

Reading goes through ``safe_open``: the library validates the header (JSON, offsets that cover the
file exactly, shapes that fit their byte ranges) and maps the file, so a tensor's bytes are read only
when the tensor is asked for. Every failure of the library is one :class:`SafetensorsError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import SafetensorsError
from .files import atomic_path

# safetensors dtype names -> torch dtypes (the ones this torch has).
DTYPES = {name: getattr(torch, attr) for name, attr in (
    ("F64", "float64"), ("F32", "float32"), ("F16", "float16"), ("BF16", "bfloat16"),
    ("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2"), ("I64", "int64"), ("I32", "int32"),
    ("I16", "int16"), ("I8", "int8"), ("U8", "uint8"), ("BOOL", "bool"), ("C64", "complex64"),
) if hasattr(torch, attr)}


@dataclass(frozen=True)
class TensorInfo:
    """What the header says about one tensor, before any of its bytes are read."""

    dtype: str  # safetensors name, e.g. "F32"
    shape: tuple[int, ...]


def _error(exc: Exception) -> SafetensorsError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    detail = detail.removeprefix("Error while deserializing header: ")
    return SafetensorsError(detail[:200])


def read_header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor names -> dtype and shape, and the metadata, reading the header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            infos = {}
            for name in f.keys():
                piece = f.get_slice(name)
                infos[name] = TensorInfo(piece.get_dtype(), tuple(piece.get_shape()))
            return infos, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise _error(exc) from None


def read_safetensors(path: str | os.PathLike,
                     names: list[str] | None = None) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors (on CPU; ``names`` only, if given) and the metadata of a ``.safetensors`` file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            keys = list(f.keys()) if names is None else names
            return {name: f.get_tensor(name) for name in keys}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as exc:
        raise _error(exc) from None


def read_into(path: str | os.PathLike, names: list[str], out: Tensor) -> None:
    """Read tensors ``names`` of a (validated) file one after another into the contiguous ``out``.

    A plain read: the bytes land in ``out`` alone, so fusing q, k and v into one qkv costs no second copy
    (a memory-mapped read would leave the three parts resident beside the fused tensor).
    """
    import json
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = 8 + n
        buffer = memoryview(out.view(-1).view(torch.uint8).numpy())
        offset = 0
        for name in names:
            begin, end = header[name]["data_offsets"]
            f.seek(body + begin)
            if f.readinto(buffer[offset:offset + end - begin]) != end - begin:
                raise SafetensorsError(f"tensor {name!r} is cut short")
            offset += end - begin
    if offset != buffer.nbytes:
        raise SafetensorsError(f"tensors {', '.join(names)} do not fill the fused buffer")


def write_safetensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None,
                      what: str = "output") -> None:
    """Write CPU copies of ``tensors`` (contiguous, unshared) to ``path``, atomically."""
    with atomic_path(path, what=what) as tmp:
        save_safetensors(tmp, tensors, metadata)


def save_safetensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write CPU copies of ``tensors`` to ``path`` as it is (a temporary file of an atomic write: see
    :func:`write_safetensors`, :func:`mae_core.io.files.atomic_paths`)."""
    from safetensors.torch import save_file

    plain = {name: _own_storage(t.detach().to("cpu").contiguous()) for name, t in tensors.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()} or None
    save_file(plain, os.fspath(path), metadata=meta)


def _own_storage(t: Tensor) -> Tensor:
    """``t``, or a copy when it is a view into a larger storage (safetensors refuses shared memory)."""
    whole = t.storage_offset() == 0 and t.untyped_storage().nbytes() == t.numel() * t.element_size()
    return t if whole else t.clone()
