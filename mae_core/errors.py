"""The exceptions of ``mae_core``, in one place.

Every error that means "the input cannot be used" derives from :class:`MAEError` (a ``ValueError``), and
its message names the problem and the fix in plain words, without naming any command-line flag: the
``mae`` tool maps ``MAEError`` to exit code 2 and adds its own hints. Anything else that escapes
``mae_core`` is a bug.
"""

from __future__ import annotations


def preview(names: list[str], limit: int = 4) -> str:
    """The first ``limit`` names, then how many more: how every message lists keys."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit} more)" if len(names) > limit else "")


class MAEError(ValueError):
    """Bad input to mae_core (a name, a file, a size); the message names the problem and the fix.

    When the fix is another value of one argument, ``setting`` names that argument (``"variant"``) and
    ``value`` the value to try, if one is known, so that a front end can add its own words for it
    (the ``mae`` tool: ``pass --variant base``).
    """

    def __init__(self, message: str, *, setting: str | None = None, value: str | None = None):
        super().__init__(message)
        self.setting = setting
        self.value = value


class SettingError(MAEError):
    """A keyword argument of a service with a value it cannot take.

    ``setting`` is the argument's name (``"mode"``, ``"runs"``) and ``problem`` the rest of the message,
    so that a front end can name its own option instead (the ``mae`` tool prints ``--runs: ...``);
    ``given``, where set, is the refused value, shown after the name (``--in-chans 2: ...``).
    """

    def __init__(self, setting: str, problem: str, *, given: str | None = None):
        super().__init__(f"{setting} {given}: {problem}" if given is not None else f"{setting}: {problem}",
                         setting=setting)
        self.problem = problem
        self.given = given  # the value that was refused, where the message names it before the problem


class ConfigError(MAEError):
    """Sizes that do not make an MAE (an image size that is not a multiple of the patch, ...)."""


class MaskError(MAEError):
    """A mask that cannot be built or used (a ratio a strategy cannot reach, a bad mask file)."""


class UnknownModelError(MAEError):
    """A model name that is not in the registry; the message lists the valid names."""


class CheckpointMismatchError(MAEError):
    """A state dict whose keys or shapes do not fit the model; the message names them."""


class CheckpointError(MAEError):
    """A weight file that cannot be used; the message names the problem and the fix."""


class ClassifierCheckpointError(CheckpointError):
    """A fine-tuned classifier's file where a pre-trained MAE was asked for (no decoder); views that can run a
    classifier catch it and load the file as one."""


class SafetensorsError(CheckpointError):
    """The file is not a well-formed safetensors file."""


class HFLayoutError(CheckpointError):
    """A state dict that is not a complete transformers ViTMAE layout; the message names the keys."""


class ImageError(MAEError):
    """An image file that is missing, unreadable or too large to decode safely."""


class MemoryBudgetError(MAEError):
    """A step whose estimated memory exceeds what is available; the message gives the estimate and the largest batch."""


class WorkLimitError(MAEError):
    """A job estimated (in FLOPs, at this machine's measured throughput) to run longer than the limit."""
