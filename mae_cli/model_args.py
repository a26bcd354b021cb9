"""The variant and weights a command names, in the tool's words (the flag in each message).

The size, mask and fit rules themselves live in :mod:`mae_core.views.prepare` (the one input pipeline);
what is left here names the option a user typed. Nothing heavy is imported until a function runs, so
``mae --version`` needs no torch. Paper: MAE Sec. 3.
"""

from __future__ import annotations

import os
from typing import Any

from .options import check_exists
from .output import cut, progress
from .runner import BadInput


def resolve_variant(name: str) -> str:
    """Canonical registry name, or BadInput listing the valid names."""
    from mae_core.models import UnknownModelError, get_variant

    try:
        return get_variant(name).name
    except UnknownModelError as exc:
        raise BadInput(f"{exc}; see `mae variants`") from None


def resolve_weights(variant: str | None, weights: str | os.PathLike | None, default: str = "base"):
    """The variant to build and the checkpoint to load, for every command that takes ``--weights``.

    ``--variant`` wins (and the file must fit it); otherwise the variant is detected from the file's
    shapes; with neither, ``default``. Returns ``(canonical name, LoadedWeights or None)``.
    """
    name = resolve_variant(variant) if variant else None  # a typo fails before a large file is read
    if weights is None:
        return name or resolve_variant(default), None
    check_exists(weights, "--weights", "checkpoint")
    if not os.path.isdir(weights):  # a transformers folder, or a file: never a FIFO or a device (would block)
        from mae_core.io.files import regular_file

        regular_file(weights, "checkpoint")
    from mae_core.loading.weights import load_weights

    with progress(f"reading {cut(os.fspath(weights), 100)}"):
        loaded = load_weights(weights, name)
    return loaded.variant, loaded


def check_fits_at_size(cfg, title: str, batch: int, device: Any, *, weights_resident: bool = False,
                       passes: int = 1) -> None:
    """Refuse (exit 2, the estimate in the message) a forward pass of ``cfg`` that cannot fit in the memory
    ``device`` has, before the images or the model are allocated; mask ratio 0, the largest case."""
    from mae_core.views.memory_budget import check_fits
    from mae_core.views.prepare import size_text

    check_fits(cfg, batch, 0.0, what=f"a {title} forward pass at {size_text(cfg)}", mode="inference",
               device=device, weights_resident=weights_resident, passes=passes)
