"""`mae checkpoint info | convert`: what a checkpoint file is, and the same weights in another layout.

Paper: none (engineering). A group of two sub-commands, one module each: :mod:`.checkpoint_info`
(:func:`mae_core.loading.info.checkpoint_info`) and :mod:`.checkpoint_convert`
(:func:`mae_core.finetune.convert_checkpoint`: an MAE by :mod:`mae_core.loading.convert`, or a classifier).
"""

from __future__ import annotations

from .checkpoint_convert import convert
from .checkpoint_info import info

# A group: `mae checkpoint info`, `mae checkpoint convert` (mae_cli/app.py builds it from these names).
SUBCOMMANDS = ("info", "convert")
GROUP_HELP = "Inspect a checkpoint, or convert it to another layout."

__all__ = ["GROUP_HELP", "SUBCOMMANDS", "convert", "info"]
