"""Deprecated: the former home of everything the commands share, kept for one release (until 0.3).

It was split by job (issue 22): :mod:`mae_cli.options` (option types, validators), :mod:`mae_cli.output`
(consoles, JSON, notes, progress, escaping), :mod:`mae_cli.runner` (``run``, exit codes, Ctrl-C,
``--json`` / ``--debug``), :mod:`mae_cli.group` (the Click group, usage errors) and
:mod:`mae_cli.model_args` (the variant in the tool's words). Import from those; this module
only re-exports their names for code written before the split.
"""

from __future__ import annotations

from .group import *  # noqa: F403
from .group import MAEGroup, usage_line  # noqa: F401
from .model_args import *  # noqa: F403
from .model_args import resolve_variant  # noqa: F401
from .options import *  # noqa: F403
from .output import *  # noqa: F403
from .output import err, out  # noqa: F401
from .runner import *  # noqa: F403
from .runner import BadInput, DebugOpt, JsonOpt, VerificationFailed, run  # noqa: F401
