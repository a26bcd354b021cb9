"""The variant a command names, in the tool's words (the flag in each message, `mae variants` to list them).

Reading the weights and the size, mask and fit rules live in :mod:`mae_core.views.prepare` (the one input
pipeline: ``read_weights``, ``size_overrides``, ``check_forward_fits``); what is left here names the option
a user typed. Nothing heavy is imported until a function runs, so
``mae --version`` needs no torch. Paper: MAE Sec. 3.
"""

from __future__ import annotations


from .runner import BadInput


def resolve_variant(name: str) -> str:
    """Canonical registry name, or BadInput listing the valid names."""
    from mae_core.models import UnknownModelError, get_variant

    try:
        return get_variant(name).name
    except UnknownModelError as exc:
        raise BadInput(f"{exc}; see `mae variants`") from None
