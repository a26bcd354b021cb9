"""Images in and out of the model, as the official demo prepares them.

Loading: any file Pillow reads, converted to RGB, resized so the short side is ``img_size`` (bicubic),
centre-cropped to ``img_size x img_size``, scaled to [0, 1] and normalised with the ImageNet mean/std.
Without files, :func:`builtin_image` draws a built-in synthetic picture (no downloads).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_image(path: str | Path, img_size: int) -> np.ndarray:
    """One image file -> uint8 array (img_size, img_size, 3). ImageError if it is missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ImageError(f"image {str(p)!r} does not exist; check the path")
    try:
        with Image.open(p) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = img_size / min(w, h)
            im = im.resize((max(img_size, round(w * scale)), max(img_size, round(h * scale))), Image.BICUBIC)
            w, h = im.size
            left, top = (w - img_size) // 2, (h - img_size) // 2
            im = im.crop((left, top, left + img_size, top + img_size))
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"cannot read image {str(p)!r} ({type(exc).__name__}); pass a PNG, JPEG or other "
                       "file Pillow can open") from None


def builtin_image(img_size: int = 224, variant: int = 0) -> np.ndarray:
    """A built-in synthetic RGB picture (uint8, img_size x img_size x 3): sky, sun, hills and a
    checkered house, so a reconstruction has edges, flat areas and texture to show."""
    s = img_size
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
    """uint8 (B, H, W, 3) or a list of (H, W, 3) -> float32 (B, 3, H, W), ImageNet-normalised."""
    arr = np.stack(images) if isinstance(images, list) else images
    x = torch.from_numpy(arr).float().div(255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def denormalize(x: Tensor) -> Tensor:
    """Inverse of :func:`normalize`: (B, 3, H, W) normalised -> (B, 3, H, W) in [0, 1] (clipped)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def load_batch(paths: list[str] | None, img_size: int, batch: int, seed: int) -> tuple[Tensor, list[str]]:
    """The input batch of a command: the given images (normalised), or ``batch`` seeded random
    normal images when none are given. Returns the tensor and a description of each sample."""
    if paths:
        return normalize([load_image(p, img_size) for p in paths]), [str(p) for p in paths]
    g = torch.Generator().manual_seed(seed)
    described = [f"random normal #{i} (seed {seed})" for i in range(batch)]
    return torch.randn(batch, 3, img_size, img_size, generator=g), described
