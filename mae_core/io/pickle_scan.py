"""What a pickle would import, read without unpickling it: the evidence behind "it contains code".

Paper: none (engineering). ``torch.load(..., weights_only=True)`` refuses a pickle that names anything
but plain tensors and containers, but each torch version words that refusal differently (and some add
ANSI escapes). So when a ``weights_only`` load fails, the file's pickle is walked here with
:mod:`pickletools` (which decodes opcodes and never executes them), and the globals it names
(``GLOBAL posix system``, or protocol 4's ``STACK_GLOBAL`` on two strings) are compared with what a file
of plain tensors needs. Nothing here imports or calls what it finds.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

MAX_PICKLE_BYTES = 64 << 20  # a state dict's pickle is small (ViT-H: about 100 KB); never read more

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
               "STRING"}

# Objects that are data, not code, but that weights_only refuses all the same (what they are, for a message).
KNOWN_OBJECTS = {
    "argparse.Namespace": "the training arguments the official training script saves beside the weights",
    "numpy.core.multiarray.scalar": "a NumPy scalar",
    "numpy._core.multiarray.scalar": "a NumPy scalar",
    "numpy.dtype": "a NumPy dtype",
    "numpy.core.multiarray._reconstruct": "a NumPy array",
    "numpy._core.multiarray._reconstruct": "a NumPy array",
    "torch.storage._load_from_bytes": "tensors pickled with pickle.dump instead of torch.save",
}

# torch.save writes only these for a state dict of tensors (plus torch's storage classes and dtypes).
_PLAIN = {"collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.slice",
          "_codecs.encode", "torch.device", "torch.Size", "torch.serialization._get_layout",
          "torch._tensor._rebuild_from_type_v2"}


def pickle_of(path: str | Path) -> bytes:
    """The pickle bytes of a ``torch.save`` file (its ``data.pkl`` member), or the file itself."""
    p = Path(path)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            member = next((i for i in zf.infolist() if i.filename.endswith("data.pkl")), None)
            if member is None:
                return b""
            with zf.open(member) as f:
                return f.read(MAX_PICKLE_BYTES)
    with open(p, "rb") as f:
        return f.read(MAX_PICKLE_BYTES)


def globals_in(data: bytes) -> list[str]:
    """Every ``module.name`` the pickle would import, in order, each once (stops at damaged bytes).

    A legacy ``torch.save`` file is several pickles in a row: all are read. Protocol 0-2 names are
    mapped to Python 3's as the unpickler would (``__builtin__.eval`` -> ``builtins.eval``).
    """
    found: list[str] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data) and _scan_one(stream, found):
        pass
    return list(dict.fromkeys(found))


def _scan_one(stream: io.BytesIO, found: list[str]) -> bool:
    """Scan one pickle from ``stream`` into ``found``; False when the bytes stop being a pickle."""
    strings: list[str] = []
    memo: dict[int, str | None] = {}
    last_string: str | None = None
    try:
        for op, arg, _ in pickletools.genops(stream):
            name = op.name
            pushed = None
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                found.append(_python3_name(module, attr))
            elif name in _STRING_OPS:
                pushed = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
                strings.append(pushed)
            elif name == "MEMOIZE":
                memo[len(memo)] = last_string
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = last_string
            elif name in ("BINGET", "LONG_BINGET", "GET") and memo.get(int(arg)) is not None:
                pushed = memo[int(arg)]
                strings.append(pushed)
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(_python3_name(strings[-2], strings[-1]))
            if name not in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
                last_string = pushed
    except Exception:  # noqa: BLE001 - damaged or hostile bytes: what was decoded so far is the answer
        return False
    return True


def _python3_name(module: str, name: str) -> str:
    """The name Python 3's unpickler resolves (``fix_imports``): Python 2 modules map to their successors."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


def is_plain(name: str) -> bool:
    """True for the globals a ``torch.save`` of plain tensors names (rebuild functions, storages, dtypes)."""
    if name in _PLAIN:
        return True
    module, _, attr = name.rpartition(".")
    if module == "torch._utils" and attr.startswith("_rebuild_"):
        return True
    return module == "torch" and (attr.endswith("Storage") or attr in _TORCH_DTYPES or attr in _TORCH_LAYOUTS)


def code_globals(data: bytes) -> list[str]:
    """The globals of the pickle that are neither plain tensor machinery nor known data objects, those
    outside torch first (the one to name in a message)."""
    code = [g for g in globals_in(data) if not is_plain(g) and g not in KNOWN_OBJECTS]
    return sorted(code, key=lambda g: g.startswith("torch."))


_TORCH_DTYPES = {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
                 "complex64", "complex128", "float8_e4m3fn", "float8_e5m2", "half", "float", "double", "long",
                 "int", "short"}
_TORCH_LAYOUTS = {"strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn"}
