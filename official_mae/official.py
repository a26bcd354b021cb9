"""The ``official`` reference: the user's own clone of facebookresearch/mae, run as it is.

Paper: MAE Sec. 3, as the authors coded it. ``--official-src DIR`` (or ``MAE_OFFICIAL_SRC``) names a
checkout holding ``models_mae.py`` (and its ``util/``). We import it with the compatibility shims of
``shims.py`` around the import only, and never write to the user's files.

Two things the official code does not offer, and how we get them without changing it:

* injecting the masking noise: its ``random_masking`` draws ``noise = torch.rand(N, L, device=...)``
  itself. During :meth:`OfficialReference.run` the name ``torch`` *inside that one module* points to a
  stand-in whose ``rand`` returns our noise (checked for shape; everything else is torch). The official
  argsort, gather and mask code then runs on the same noise as ours. If the draw never happens the run
  fails loudly instead of comparing different masks;
* ``ids_restore``: its ``forward`` does not return it, so :meth:`run` calls the official
  ``forward_encoder``, ``forward_decoder`` and ``forward_loss`` in turn, exactly as its ``forward`` does.

Shapes: as :mod:`official_mae.reference`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import types
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from mae_core.config import MAEConfig

from .imports import ReferenceUnavailable, require_timm
from .reference import OfficialNamedReference, ReferenceOutput
from .shims import _ProxyModule, compatibility_shims, isolated_import_path

ENV_VAR = "MAE_OFFICIAL_SRC"

_IMPORTED: dict[tuple[Path, str], tuple[types.ModuleType, list[str]]] = {}  # (source dir, module) -> (module, shims)


def official_source(official_src: str | os.PathLike | None) -> Path | None:
    """The official source directory from the argument, else ``$MAE_OFFICIAL_SRC``, else ``None``."""
    value = official_src if official_src not in (None, "") else os.environ.get(ENV_VAR) or None
    return Path(value).expanduser() if value is not None else None


MAX_SOURCE_BYTES = 1 << 20  # the official models_mae.py is about 9 KB


def check_kind(kind: str, official_src: str | os.PathLike | None, kinds: tuple[str, ...]) -> tuple[str, Path | None]:
    """``kind`` (``auto``, ``official``, ...) checked against ``kinds``, and the official source it may use
    (:func:`official_source`): the part of choosing a reference that the MAE and the classifier share.

    Raises:
        ReferenceUnavailable: unknown kind; ``official`` without a source.
    """
    kind = kind.strip().lower()
    if kind not in kinds:
        raise ReferenceUnavailable(f"unknown reference {kind!r}; choose one of {', '.join(kinds)}")
    src = official_source(official_src)
    if kind == "official" and src is None:
        raise ReferenceUnavailable(f"--reference official needs the official source: pass --official-src DIR "
                                   f"(a clone of facebookresearch/mae) or set ${ENV_VAR}")
    return kind, src


def check_source_file(path: Path, file: str, cls: str, what: str) -> None:
    """Refuse, before anything in it runs, a folder without ``file`` (a regular file under 1 MiB) whose text
    defines ``class <cls>``: read as bounded text, never imported. ``what`` names the file in the message."""
    from mae_core.errors import MAEError
    from mae_core.io.files import read_bounded

    source = path / file
    hint = f"pass the root of your facebookresearch/mae clone with --official-src or ${ENV_VAR}"
    if not path.is_dir():
        raise ReferenceUnavailable(f"official source {str(path)!r} is not a directory; {hint}")
    if not source.exists():
        raise ReferenceUnavailable(f"official source {str(path)!r} has no {file}; {hint}")
    try:
        text = read_bounded(source, MAX_SOURCE_BYTES, file).decode("utf-8", errors="replace")
    except MAEError as exc:
        raise ReferenceUnavailable(f"{exc}; {hint}") from None
    if not re.search(rf"^class\s+{cls}\b", text, flags=re.MULTILINE):
        raise ReferenceUnavailable(f"{str(source)!r} does not define class {cls}, so it is not {what}; "
                                   f"nothing in it was run; {hint}")


def check_official_source(path: Path) -> None:
    """Refuse, before anything in it runs, a folder that is not a clone of the official repository: it
    must hold a ``models_mae.py`` (a regular file under 1 MiB) whose text defines
    ``class MaskedAutoencoderViT``. Read as text, never imported, so a stray ``$MAE_OFFICIAL_SRC``
    pointing at some other folder cannot execute its code."""
    check_source_file(path, "models_mae.py", "MaskedAutoencoderViT", "the official MAE source")


def import_source_module(key: Path, module_name: str,
                         finish: Callable[[types.ModuleType], list[str]] | None = None
                         ) -> tuple[types.ModuleType, list[str]]:
    """Import ``<module_name>.py`` from the checked, resolved folder ``key`` with the shims, once per folder
    and module: the module and the shims applied (``finish`` may patch the module and name more)."""
    if (key, module_name) not in _IMPORTED:
        require_timm()  # the official code imports timm: fail with the install hint, not its traceback
        names = tuple(sorted({p.stem for p in key.iterdir() if p.suffix == ".py" or p.is_dir()}))
        try:
            with isolated_import_path(key, names), compatibility_shims() as applied:
                module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - whatever the user's code raises, say where it came from
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ReferenceUnavailable(
                f"importing {str(key / (module_name + '.py'))!r} failed ({type(exc).__name__}: {first}); "
                "is it the facebookresearch/mae source?"
            ) from None
        _IMPORTED[key, module_name] = (module, [*applied, *(finish(module) if finish else [])])
    return _IMPORTED[key, module_name]


def import_official(src: str | os.PathLike) -> tuple[types.ModuleType, list[str]]:
    """Import ``models_mae.py`` from ``src`` (a directory, or the file itself) with the shims.

    Returns the module and the list of shims that were needed. Imported once per directory.

    Raises:
        ReferenceUnavailable: no such directory or file, or its import fails (the message says why).
    """
    path = Path(src).expanduser()
    if path.is_file() and path.name == "models_mae.py":
        path = path.parent
    if not path.is_dir():
        raise ReferenceUnavailable(f"official source {str(path)!r} is not a directory; pass the folder of your "
                                   f"facebookresearch/mae clone with --official-src or ${ENV_VAR}")
    check_official_source(path)
    return import_source_module(path.resolve(), "models_mae")


@contextlib.contextmanager
def injected_noise(module: types.ModuleType, noise: Tensor, *, sequence: bool = False) -> Iterator[list[int]]:
    """Inside ``module`` only, ``torch.rand(*shape, ...)`` returns ``noise`` (same shape); with ``sequence``,
    the i-th draw returns ``noise[i]`` (one masking noise per micro-batch of a training loop). Yields the
    draw counter."""
    calls: list[int] = []
    draws = noise if sequence else noise.unsqueeze(0)

    def rand(*size, device=None, dtype=None, **_):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        if (sequence and len(calls) >= len(draws)) or tuple(shape) != tuple(draws.shape[1:]):
            raise RuntimeError(f"the official code drew torch.rand{tuple(shape)} (draw {len(calls) + 1}); the noise "
                               f"to inject has {len(draws)} draw(s) of shape {tuple(draws.shape[1:])}")
        out = draws[len(calls) if sequence else 0]
        calls.append(1)
        return out.to(device=device or out.device, dtype=dtype or out.dtype)

    original = module.__dict__.get("torch")
    if original is not torch:
        raise ReferenceUnavailable("the official models_mae.py does not `import torch` as `torch`; cannot inject "
                                   "the masking noise")
    module.torch = _ProxyModule(torch, {"rand": rand})
    try:
        yield calls
    finally:
        module.torch = original


class OfficialReference(OfficialNamedReference):
    """The official ``MaskedAutoencoderViT`` from the user's clone, behind the :class:`Reference` interface."""

    kind = "official"

    def __init__(self, config: MAEConfig, src: str | os.PathLike, device: torch.device | str = "cpu"):
        h, w = config.grid_size
        if h != w:  # its initialize_weights lays the table over int(sqrt(L)) x int(sqrt(L)) patches
            raise ReferenceUnavailable(f"the official models_mae.py builds its position table for a square patch "
                                       f"grid only, not {h}x{w}; compare a non-square size with --reference timm")
        self.module, self.shims = import_official(src)
        self.src = Path(src)
        with torch.device("meta"):  # the official __init__ initialises; on meta that costs nothing
            model = self._build(config)
        shims = ", ".join(self.shims) if self.shims else "none needed"
        super().__init__(model, config, f"official models_mae.py from {self.src} (shims: {shims})", device)

    def _build(self, config: MAEConfig) -> nn.Module:
        """The official factory of the matching variant, else the class with explicit sizes."""
        from mae_core.models import VARIANTS

        for variant in VARIANTS.values():
            same = variant.config.replace(norm_pix_loss=config.norm_pix_loss) == config
            factory = getattr(self.module, variant.official_name, None) or getattr(self.module, variant.name, None)
            if same and factory is not None:
                return factory(norm_pix_loss=config.norm_pix_loss)
        c = config
        return self.module.MaskedAutoencoderViT(
            img_size=c.img_size, patch_size=c.patch_size, in_chans=c.in_chans, embed_dim=c.embed_dim,
            depth=c.depth, num_heads=c.num_heads, decoder_embed_dim=c.decoder_embed_dim,
            decoder_depth=c.decoder_depth, decoder_num_heads=c.decoder_num_heads, mlp_ratio=c.mlp_ratio,
            norm_layer=partial(nn.LayerNorm, eps=c.ln_eps), norm_pix_loss=c.norm_pix_loss,
        )

    def run(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> ReferenceOutput:
        with injected_noise(self.module, noise) as calls:
            latent, mask, ids_restore = self.model.forward_encoder(imgs, mask_ratio)
        if not calls:
            raise ReferenceUnavailable("the official forward_encoder did not draw its masking noise with "
                                       "torch.rand, so the same noise cannot be injected")
        return self.finish(imgs, latent, mask, ids_restore)
