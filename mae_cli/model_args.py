"""What a command was given, turned into the model's terms: variant, weights, size, channels, masking.

Kept together, verbatim from the former ``mae_cli/common.py``, while the input pipeline moves into
``mae_core`` (issue 22 item 1): model logic, not CLI plumbing. Paper: MAE Sec. 3 (masking, patch grid).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .options import check_exists
from .output import cut, esc, progress
from .runner import BadInput


# --- validation helpers shared by the commands -------------------------------------------------------

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
    from mae_core.io.weights import load_weights

    with progress(f"reading {cut(os.fspath(weights), 100)}"):
        loaded = load_weights(weights, name)
    return loaded.variant, loaded


def check_batch(batch: int) -> int:
    if batch < 1:
        raise BadInput(f"--batch must be at least 1, got {batch}")
    return batch


def check_mask_ratio(mask_ratio: float, num_patches: int) -> float:
    """Mask ratio in [0, 1) that keeps at least one patch visible."""
    from mae_core.masking import num_visible

    try:
        num_visible(num_patches, mask_ratio)
    except ValueError as exc:
        raise BadInput(f"--mask-ratio: {exc}") from None
    return mask_ratio



# --- image size, channels and masks ----------------------------------------------------------------

def parse_img_size(text: str | None) -> int | tuple[int, int] | None:
    """``"448"`` -> 448, ``"224x320"`` -> (224, 320), ``None`` -> None; BadInput otherwise."""
    if text is None:
        return None
    parts = text.strip().lower().replace("*", "x").split("x")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise BadInput(f"--img-size {text!r} is not a size; give pixels as 448 or HxW such as 224x320")
    return values[0] if len(values) == 1 else (values[0], values[1])


def size_overrides(variant: str, img_size: str | None, in_chans: int = 3, *,
                   pictures: bool = False) -> dict[str, Any]:
    """The config fields ``--img-size`` / ``--in-chans`` change on ``variant`` (empty at the defaults, so a
    default run builds exactly the registry's model), checked: BadInput naming the option and the fix.
    ``pictures``: the command reads image files, so only 1 or 3 channels."""
    from mae_core.errors import ConfigError
    from mae_core.models import get_variant

    if in_chans < 1:
        raise BadInput(f"--in-chans must be at least 1, got {in_chans}; use 3 (RGB) or 1 (grayscale)")
    if pictures and in_chans not in (1, 3):
        raise BadInput(f"--in-chans {in_chans}: image files are read as RGB (3) or grayscale (1)")
    size = parse_img_size(img_size)
    if size is not None:
        from mae_core.io.images import MAX_PIXELS

        H, W = (size, size) if isinstance(size, int) else size
        if H * W > MAX_PIXELS:
            raise BadInput(f"--img-size {esc(img_size, 40)} is {H * W:,} pixels, over the {MAX_PIXELS:,} "
                           "(8000x8000) any image may have here; use a smaller size such as 448 or 224x320")
    base = get_variant(variant).config
    overrides: dict[str, Any] = {}
    if size is not None:
        overrides["img_size"] = size
    if in_chans != base.in_chans:
        overrides["in_chans"] = in_chans
    try:
        cfg = base.replace(**overrides)
    except ConfigError as exc:
        raise BadInput(f"--img-size {img_size}: {str(exc).removeprefix('invalid MAEConfig: ')}") from None
    return {k: getattr(cfg, k) for k in overrides if getattr(cfg, k) != getattr(base, k)}


def sizes_for(img_size: str | None, in_chans: int = 3, *, pictures: bool = False):
    """:func:`size_overrides` for a variant known only once the weights are read: a function of the
    variant's name, as :func:`mae_core.views.prepare.prepare` takes it."""
    return lambda variant: size_overrides(variant, img_size, in_chans, pictures=pictures)


def check_fits_at_size(cfg, title: str, batch: int, device: Any, *, weights_resident: bool = False,
                       passes: int = 1) -> None:
    """Refuse (exit 2, the estimate in the message) a forward pass of ``cfg`` that cannot fit in the memory
    ``device`` has, before the images or the model are allocated; mask ratio 0, the largest case."""
    from mae_core.views.memory import check_fits

    check_fits(cfg, batch, 0.0, what=f"a {title} forward pass at {size_text(cfg)}", mode="inference",
               device=device, weights_resident=weights_resident, passes=passes)


def size_text(cfg) -> str:
    """``224 px`` or ``224x320 px``."""
    H, W = cfg.image_hw
    return f"{H} px" if H == W else f"{H}x{W} px"


@dataclasses.dataclass
class MaskingPlan:
    """The masking noise a command feeds the model, and how it was chosen."""

    noise: Any  # (B, L) float32 tensor
    mask_ratio: float  # the ratio given, or the one a mask file implies
    strategy: str  # random, block, grid, center, or file
    mask_file: str | None
    notes: list[str]


def masking_plan(strategy: str, mask_file: Path | None, cfg, batch: int, mask_ratio: float, seed: int) -> MaskingPlan:
    """``--mask`` / ``--mask-file`` -> the noise (B, L) for the model (see :mod:`mae_core.mask_strategies`).

    ``random`` is ``torch.rand(B, L)`` from a generator seeded with ``seed``: the noise of every command
    before strategies existed, bit for bit. Other strategies and files raise BadInput / MaskError (exit 2)
    when they cannot give the count the ratio asks for.
    """
    import torch

    from mae_core import mask_strategies as ms

    generator = torch.Generator().manual_seed(seed)
    strategy = strategy.strip().lower()
    if mask_file is not None:
        if strategy != "random":
            raise BadInput(f"--mask {strategy} and --mask-file both choose the mask; give one of them")
        from mae_core.io.images import load_mask

        removed = ms.removed_from_pixels(load_mask(mask_file, cfg.image_hw), cfg.patch_size)
        hidden = int(removed.sum())
        sample, ratio = ms.from_removed(removed.expand(batch, -1), generator)
        note = (f"mask from {mask_file}: {hidden} of {cfg.num_patches} patches hidden (by majority of their pixels), "
                f"so the mask ratio is {ratio:.4g}")
        return MaskingPlan(sample.noise, ratio, "file", str(mask_file), [note])
    if strategy not in ms.STRATEGIES:
        raise BadInput(f"--mask {strategy!r} is not a strategy; use one of {', '.join(ms.STRATEGIES)} "
                       "(or --mask-file FILE.png)")
    check_mask_ratio(mask_ratio, cfg.num_patches)
    sample = ms.sample(strategy, batch, cfg.grid_size, mask_ratio, generator)
    return MaskingPlan(sample.noise, mask_ratio, strategy, None, [])

