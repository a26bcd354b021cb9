"""Images in and out of the model, as the official demo prepares them.

Loading: any file Pillow reads, converted to RGB (or to grayscale for a 1-channel model), resized so it
just covers the model's H x W (bicubic; for a square size: the short side becomes ``img_size``),
centre-cropped to H x W, scaled to [0, 1] and normalised with the ImageNet mean/std (grayscale: the mean
of the three channels' mean and std, 0.449 and 0.226). Without files, :func:`builtin_image` draws a
built-in synthetic picture (no downloads). :func:`load_mask` reads a user's binary mask picture.

Sizes: ``img_size`` is an int (square) or (H, W); arrays are uint8 (H, W, C), tensors (B, C, H, W).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError, MaskError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN = (0.449,)  # the mean of IMAGENET_MEAN: a grayscale model's input statistics
GRAY_STD = (0.226,)  # the mean of IMAGENET_STD
MAX_MASK_BYTES = 64 * 2**20  # a mask picture is small; refuse anything larger before decoding it


def image_hw(img_size: int | tuple[int, int]) -> tuple[int, int]:
    """(H, W) of an ``img_size`` (an int means square)."""
    return (img_size, img_size) if isinstance(img_size, int) else (int(img_size[0]), int(img_size[1]))


def _stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    if channels == 1:
        return GRAY_MEAN, GRAY_STD
    raise ImageError(f"images have 1 (grayscale) or 3 (RGB) channels; a {channels}-channel model cannot read "
                     "picture files (pass tensors instead)")


def load_image(path: str | Path, img_size: int | tuple[int, int], channels: int = 3) -> np.ndarray:
    """One image file -> uint8 array (H, W, 3), or (H, W, 1) with ``channels=1`` (grayscale).
    ImageError if it is missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    _stats(channels)
    H, W = image_hw(img_size)
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"image {str(p)!r} does not exist; check the path")
    try:
        with Image.open(p) as im:
            im = im.convert("RGB" if channels == 3 else "L")
            w, h = im.size
            scale = max(W / w, H / h)  # for H = W: img_size / min(w, h)
            im = im.resize((max(W, round(w * scale)), max(H, round(h * scale))), Image.BICUBIC)
            w, h = im.size
            left, top = (w - W) // 2, (h - H) // 2
            im = im.crop((left, top, left + W, top + H))
            return np.asarray(im, dtype=np.uint8).reshape(H, W, channels).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"cannot read image {str(p)!r} ({type(exc).__name__}); pass a PNG, JPEG or other "
                       "file Pillow can open") from None


def builtin_image(img_size: int | tuple[int, int] = 224, variant: int = 0, channels: int = 3) -> np.ndarray:
    """A built-in synthetic picture (uint8, H x W x 3, or H x W x 1 in grayscale): sky, sun, hills and a
    checkered house, so a reconstruction has edges, flat areas and texture to show. A non-square size
    draws the square picture of its longer side and centre-crops it."""
    H, W = image_hw(img_size)
    s = max(H, W)
    if (H, W) != (s, s):
        top, left = (s - H) // 2, (s - W) // 2
        return builtin_image(s, variant, channels)[top:top + H, left:left + W].copy()
    if channels == 1:
        from PIL import Image

        return np.asarray(Image.fromarray(builtin_image(s, variant)).convert("L"), dtype=np.uint8)[..., None].copy()
    y, x = np.mgrid[0:s, 0:s].astype(np.float64) / s
    img = np.zeros((s, s, 3))
    img[...] = np.stack([0.35 + 0.3 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], axis=-1)  # sky gradient
    sun = (x - 0.75 - 0.05 * variant) ** 2 + (y - 0.25) ** 2 < 0.012
    img[sun] = (1.0, 0.85, 0.2)
    hills = y > 0.62 + 0.08 * np.sin(2 * np.pi * (x * 1.5 + 0.1 * variant))
    img[hills] = np.stack([0.2 + 0.1 * x, 0.55 + 0.15 * np.sin(20 * x), 0.2 + 0 * x], axis=-1)[hills]
    house = (x > 0.18) & (x < 0.45) & (y > 0.45) & (y < 0.75)
    checker = ((x * 24).astype(int) + (y * 24).astype(int)) % 2
    img[house] = np.where(checker[house, None] == 1, (0.75, 0.2, 0.15), (0.95, 0.9, 0.85))
    roof = (y < 0.45) & (y > 0.3) & (np.abs(x - 0.315) < (y - 0.3) * 1.0)
    img[roof] = (0.35, 0.2, 0.1)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def normalize(images: np.ndarray | list[np.ndarray]) -> Tensor:
    """uint8 (B, H, W, C) or a list of (H, W, C), C = 3 or 1 -> float32 (B, C, H, W), normalised with the
    ImageNet mean/std (grayscale: :data:`GRAY_MEAN` / :data:`GRAY_STD`)."""
    arr = np.stack(images) if isinstance(images, list) else images
    x = torch.from_numpy(arr).float().div(255.0).permute(0, 3, 1, 2)
    C = x.shape[1]
    mean, std = _stats(C)
    return (x - torch.tensor(mean).view(1, C, 1, 1)) / torch.tensor(std).view(1, C, 1, 1)


def denormalize(x: Tensor) -> Tensor:
    """Inverse of :func:`normalize`: (B, C, H, W) normalised -> (B, C, H, W) in [0, 1] (clipped)."""
    C = x.shape[1]
    mean, std = _stats(C)
    mean = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, C, 1, 1)
    std = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, C, 1, 1)
    return (x * std + mean).clamp(0, 1)


def load_batch(paths: list[str] | None, img_size: int | tuple[int, int], batch: int, seed: int,
               channels: int = 3) -> tuple[Tensor, list[str]]:
    """The input batch of a command: the given images (normalised), or ``batch`` seeded random
    normal images (B, channels, H, W) when none are given. Returns the tensor and a description of each sample."""
    if paths:
        return normalize([load_image(p, img_size, channels) for p in paths]), [str(p) for p in paths]
    H, W = image_hw(img_size)
    g = torch.Generator().manual_seed(seed)
    described = [f"random normal #{i} (seed {seed})" for i in range(batch)]
    return torch.randn(batch, channels, H, W, generator=g), described


def load_mask(path: str | Path, img_size: int | tuple[int, int]) -> np.ndarray:
    """A user's mask picture -> bool (H, W), True = hidden (white), False = visible (black).

    The picture must have exactly the model's H x W pixels and only two levels, black and white (any
    mode Pillow reads; 0 and 255 in grayscale, or a 1-bit PNG). Raises MaskError naming what is wrong.
    """
    from PIL import Image, UnidentifiedImageError

    from .files import regular_file

    H, W = image_hw(img_size)
    p = regular_file(path, "mask file", MAX_MASK_BYTES)
    try:
        with Image.open(p) as im:
            if im.size != (W, H):
                raise MaskError(f"mask file {str(p)!r} is {im.size[1]}x{im.size[0]} px (HxW) but the model takes "
                                f"{H}x{W}; draw the mask at the image size")
            levels = np.asarray(im.convert("L"), dtype=np.uint8)
    except MaskError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MaskError(f"cannot read mask file {str(p)!r} ({type(exc).__name__}); pass a PNG") from None
    values = np.unique(levels)
    if not set(values.tolist()) <= {0, 255}:
        shown = ", ".join(str(v) for v in values[:6]) + (" ..." if values.size > 6 else "")
        raise MaskError(f"mask file {str(p)!r} is not binary: it has the gray levels {shown}; use only black "
                        "(visible) and white (hidden)")
    return levels == 255
