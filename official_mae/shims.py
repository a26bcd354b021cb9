"""Compatibility shims that let the official MAE source import on today's libraries, without editing it.

Paper: none (engineering). The official ``models_mae.py`` (2021) was written for timm 0.3.2, NumPy < 1.24
and torch 1.8. Three things broke since, and each has a shim here:

* ``timm``'s ``Block`` no longer takes ``qk_scale`` (and renamed ``drop`` to ``proj_drop``): while the
  user's modules import, ``timm.models.vision_transformer`` resolves to a stand-in module whose ``Block``
  accepts and drops ``qk_scale=None`` (any other value is refused: today's timm cannot honour it);
* NumPy >= 1.24 removed the aliases ``np.float``, ``np.int``, ...: while they import, ``numpy`` resolves to
  a stand-in that adds the missing aliases (``np.float`` was the builtin ``float``, i.e. float64);
* ``torch._six`` is gone: while they import, a stand-in ``torch._six`` provides ``inf``, ``nan``,
  ``string_classes``, ``int_classes`` and ``container_abcs``.

Everything is temporary: ``sys.modules``, ``sys.path`` and the ``torch._six`` attribute are restored when
the ``with`` block ends. The stand-ins stay bound only inside the modules that imported them (their
``np`` / ``Block`` names), so later calls (building the model, which computes the sin-cos table with
``np.float``) keep working, and nothing else in the process sees a change. Each shim is applied only
when the installed library needs it.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import math
import sys
import types
from collections.abc import Iterator
from pathlib import Path

# NumPy 1.24 removed these aliases of Python builtins.
_NUMPY_ALIASES = {"float": float, "int": int, "bool": bool, "object": object, "complex": complex, "str": str}


class _ProxyModule(types.ModuleType):
    """A module that answers a few names itself and forwards every other attribute to ``target``."""

    def __init__(self, target: types.ModuleType, extra: dict[str, object]):
        super().__init__(target.__name__, getattr(target, "__doc__", None))
        self.__dict__.update(extra)
        self.__dict__["_target"] = target
        for attr in ("__file__", "__path__", "__spec__", "__package__", "__loader__"):
            if hasattr(target, attr):
                self.__dict__[attr] = getattr(target, attr)

    def __getattr__(self, name: str):  # only called when the name is not found normally
        return getattr(self.__dict__["_target"], name)

    def __dir__(self):
        return sorted(set(dir(self.__dict__["_target"])) | set(self.__dict__))


def compatible_block(block_cls: type) -> type:
    """timm's ``Block`` also accepting the removed ``qk_scale`` (``None`` only) and the old ``drop`` name."""
    params = inspect.signature(block_cls.__init__).parameters
    if "qk_scale" in params:  # old timm: nothing to do
        return block_cls

    class Block(block_cls):  # type: ignore[misc, valid-type]
        """timm's Block; ``qk_scale=None`` (the default scale hd**-0.5) is accepted and dropped."""

        def __init__(self, *args, qk_scale=None, drop=None, **kwargs):
            if qk_scale is not None:
                raise ValueError(
                    f"the official source passes qk_scale={qk_scale!r} to timm's Block; today's timm always "
                    "scales attention by head_dim**-0.5 and cannot honour another value"
                )
            if drop is not None and "proj_drop" in params:
                kwargs.setdefault("proj_drop", drop)
            super().__init__(*args, **kwargs)

    Block.__qualname__ = Block.__name__ = block_cls.__name__
    return Block


def _six_module() -> types.ModuleType:
    six = types.ModuleType("torch._six", "stand-in for torch._six (removed in torch 2.0), from mae-inspect")
    six.inf, six.nan = math.inf, math.nan
    six.string_classes = (str, bytes)
    six.int_classes = int
    six.container_abcs = collections.abc
    return six


@contextlib.contextmanager
def _temporary_module(name: str, module: types.ModuleType) -> Iterator[None]:
    missing = object()
    previous = sys.modules.get(name, missing)
    sys.modules[name] = module
    try:
        yield
    finally:
        if previous is missing:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous


@contextlib.contextmanager
def compatibility_shims() -> Iterator[list[str]]:
    """Apply the shims the installed libraries need; yields a list describing the ones applied."""
    import numpy
    import torch

    applied: list[str] = []
    with contextlib.ExitStack() as stack:
        try:
            import timm.models.vision_transformer as vit
        except ImportError:
            vit = None  # the user's import will fail with its own clear message
        if vit is not None:
            block = compatible_block(vit.Block)
            if block is not vit.Block:
                stack.enter_context(_temporary_module(vit.__name__, _ProxyModule(vit, {"Block": block})))
                applied.append("timm Block accepts qk_scale=None")

        missing = {k: v for k, v in _NUMPY_ALIASES.items() if k not in numpy.__dict__}
        if missing:
            stack.enter_context(_temporary_module("numpy", _ProxyModule(numpy, missing)))
            applied.append("numpy aliases " + ", ".join(f"np.{k}" for k in missing))

        has_six = "torch._six" in sys.modules or _spec_exists("torch._six")
        if not has_six:
            six = _six_module()
            stack.enter_context(_temporary_module("torch._six", six))
            stack.callback(lambda: torch.__dict__.pop("_six", None))
            torch._six = six
            applied.append("torch._six stand-in")
        yield applied


def _spec_exists(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def isolated_import_path(src: Path, names: tuple[str, ...]) -> Iterator[None]:
    """Import from ``src`` first, without clashing with modules of the same top-level ``names``
    already loaded (e.g. another package called ``util``); afterwards ``sys.path`` and those
    ``sys.modules`` entries are as before, and the modules loaded from ``src`` are removed from
    ``sys.modules`` (the caller keeps its own references). No bytecode is written into ``src``."""
    src = src.resolve()

    def clashes(name: str) -> bool:
        return any(name == n or name.startswith(n + ".") for n in names)

    saved = {k: v for k, v in sys.modules.items() if clashes(k)}
    for k in saved:
        del sys.modules[k]
    before = set(sys.modules)
    sys.path.insert(0, str(src))
    write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ folders in the user's clone
    try:
        yield
    finally:
        sys.dont_write_bytecode = write_bytecode
        with contextlib.suppress(ValueError):
            sys.path.remove(str(src))
        for k in set(sys.modules) - before:
            if clashes(k) or _lives_under(sys.modules[k], src):
                del sys.modules[k]
        sys.modules.update(saved)


def _lives_under(module: types.ModuleType | None, src: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        return Path(file).resolve().is_relative_to(src)
    except (OSError, ValueError):
        return False
