"""Importing the optional reference libraries (timm, transformers) lazily, with one clear error.

Paper: none (engineering). ``official_mae`` must import without timm or transformers installed; each
reference imports its library only when it is built, through :func:`require_timm` /
:func:`require_transformers`. A missing or broken library becomes :class:`ReferenceUnavailable`, whose
message names the library, what went wrong and the install command.
"""

from __future__ import annotations

from types import SimpleNamespace

INSTALL = 'pip install "mae-inspect[reference]"'


class ReferenceUnavailable(Exception):
    """A reference that cannot be built here; the message names the problem and the fix.

    ``reason`` is the short cause alone (e.g. "timm: ImportError: No module named 'timm'").
    """

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def require_timm() -> SimpleNamespace:
    """``timm`` with its ``PatchEmbed`` and ``Block``; :class:`ReferenceUnavailable` if it cannot be used."""
    try:
        import timm
        from timm.models.vision_transformer import Block

        try:
            from timm.layers import PatchEmbed
        except ImportError:  # timm < 0.9 kept its layers under timm.models.layers
            from timm.models.layers import PatchEmbed
    except ImportError as exc:
        raise ReferenceUnavailable(
            f"timm is not installed or too old ({_first_line(exc)}); install the references with: {INSTALL}",
            f"timm: {_first_line(exc)}") from None
    except RuntimeError as exc:
        # A torchvision built for another torch makes `import timm` raise RuntimeError (its C++
        # operators fail to register), not ImportError.
        raise ReferenceUnavailable(
            f"importing timm failed with RuntimeError ({_first_line(exc)}); this usually means the installed "
            f"torchvision does not match torch: install the torchvision built for your torch, or run {INSTALL} "
            "in a fresh environment",
            f"timm: RuntimeError ({_first_line(exc)}), torchvision not matching torch?") from None
    except Exception as exc:  # noqa: BLE001 - any other failure of a third-party import is still "unavailable"
        raise ReferenceUnavailable(
            f"importing timm failed ({type(exc).__name__}: {_first_line(exc)}); reinstall it with: {INSTALL}",
            f"timm: {type(exc).__name__}: {_first_line(exc)}") from None
    return SimpleNamespace(timm=timm, version=timm.__version__, PatchEmbed=PatchEmbed, Block=Block)


def require_transformers() -> SimpleNamespace:
    """transformers' ``ViTMAEConfig`` and ``ViTMAEForPreTraining``; :class:`ReferenceUnavailable` if unusable."""
    try:
        import transformers
        from transformers import ViTMAEConfig, ViTMAEForPreTraining
    except ImportError as exc:
        raise ReferenceUnavailable(
            f"transformers is not installed or has no ViTMAE ({_first_line(exc)}); install the references "
            f"with: {INSTALL}",
            f"transformers: {_first_line(exc)}") from None
    except RuntimeError as exc:
        raise ReferenceUnavailable(
            f"importing transformers failed with RuntimeError ({_first_line(exc)}); this usually means the "
            f"installed torchvision does not match torch: install the torchvision built for your torch, or run "
            f"{INSTALL} in a fresh environment",
            f"transformers: RuntimeError ({_first_line(exc)}), torchvision not matching torch?") from None
    except Exception as exc:  # noqa: BLE001 - any other failure of a third-party import is still "unavailable"
        raise ReferenceUnavailable(
            f"importing transformers failed ({type(exc).__name__}: {_first_line(exc)}); reinstall it with: {INSTALL}",
            f"transformers: {type(exc).__name__}: {_first_line(exc)}") from None
    return SimpleNamespace(transformers=transformers, version=transformers.__version__,
                           ViTMAEConfig=ViTMAEConfig, ViTMAEForPreTraining=ViTMAEForPreTraining)
