"""The sizes a run is built at, checked before anything is read: image size, channels, mask ratio.

Paper: ViT Sec. 3.1 (an image of H x W pixels is (H/p) x (W/p) patches of p x p) and MAE Sec. 3
"Masking" (a ratio of the L patches is removed; at least one must stay visible). The rules every
command that sizes a model shares (:mod:`mae_core.views.prepare`, the FLOP count, the bench, the
memory estimate); nothing here knows a command-line flag: a refused value is a
:class:`~mae_core.errors.SettingError` naming the argument (``img_size``, ``in_chans``, ``mask_ratio``).

Shapes: a size (``448``, ``"224x320"``) and a channel count in -> the config fields they change; a
config -> ``"224 px"``.
"""

from __future__ import annotations

import math
from typing import Any

from ..config import MAEConfig
from ..errors import ConfigError, SettingError


def check_mask_ratio(mask_ratio: float, num_patches: int) -> float:
    """A mask ratio in [0, 1) that keeps at least one of ``num_patches`` visible, else an MAEError."""
    from ..masking import num_visible

    try:
        num_visible(num_patches, mask_ratio)
    except ValueError as exc:
        raise SettingError("mask_ratio", str(exc)) from None
    return mask_ratio


def parse_img_size(text: str | int | tuple[int, int] | None) -> int | tuple[int, int] | None:
    """``"448"`` -> 448, ``"224x320"`` -> (224, 320), ``None`` -> None (ints and pairs pass through)."""
    if text is None or isinstance(text, (int, tuple)):
        return text
    parts = text.strip().lower().replace("*", "x").split("x")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise SettingError("img_size", f"{text!r} is not a size; give pixels as 448 or HxW such as 224x320")
    return values[0] if len(values) == 1 else (values[0], values[1])


def size_overrides(variant: str, img_size: str | int | tuple[int, int] | None = None, in_chans: int = 3, *,
                   pictures: bool = False) -> dict[str, Any]:
    """The config fields an image size and a channel count change on ``variant`` (empty at the defaults, so
    a default run builds exactly the registry's model), checked. ``pictures``: image files are read, so
    only 1 or 3 channels."""
    from ..io.images import MAX_PIXELS
    from ..models import get_variant

    if in_chans < 1:
        raise SettingError("in_chans", f"must be at least 1, got {in_chans}; use 3 (RGB) or 1 (grayscale)")
    if pictures and in_chans not in (1, 3):
        raise SettingError("in_chans", "image files are read as RGB (3) or grayscale (1)", given=str(in_chans))
    size = parse_img_size(img_size)
    shown = str(img_size)[:40]
    if size is not None:
        H, W = (size, size) if isinstance(size, int) else size
        if H * W > MAX_PIXELS:
            side = math.isqrt(MAX_PIXELS)
            raise SettingError("img_size", f"{H * W:,} pixels, over the {MAX_PIXELS:,} ({side}x{side}) any image may "
                               "have here; use a smaller size such as 448 or 224x320", given=shown)
    base = get_variant(variant).config
    overrides: dict[str, Any] = {}
    if size is not None:
        overrides["img_size"] = size
    if in_chans != base.in_chans:
        overrides["in_chans"] = in_chans
    try:
        cfg = base.replace(**overrides)
    except ConfigError as exc:
        raise SettingError("img_size", str(exc).removeprefix("invalid MAEConfig: "), given=shown) from None
    return {k: getattr(cfg, k) for k in overrides if getattr(cfg, k) != getattr(base, k)}


def size_text(cfg: MAEConfig) -> str:
    """``224 px`` or ``224x320 px``."""
    H, W = cfg.image_hw
    return f"{H} px" if H == W else f"{H}x{W} px"
