"""Images in and out of the model, prepared as the official demo prepares them (by default, bit for bit).

Paper: none (the official ``demo/mae_visualize.ipynb``). Two presets, both with Pillow's bicubic filter:

    stretch      (default) the demo's pipeline: ``img.resize((224, 224))`` whatever the aspect ratio,
                 ``np.array(img) / 255.`` in float64, minus the ImageNet mean, over its std (float64),
                 then cast to float32. :func:`load_image` + :func:`normalize` reproduce its tensor exactly.
    center-crop  the short side resized to ``img_size``, then the centre ``img_size`` x ``img_size`` crop
                 (the evaluation transform of the official fine-tuning code, without its 0.875 crop ratio).

Files are checked before any pixel is decoded: only regular files up to :data:`MAX_IMAGE_BYTES`, at most
:data:`MAX_PIXELS` pixels and an aspect ratio of at most :data:`MAX_ASPECT` (Pillow reads the size from the
header); Pillow's own decompression-bomb guard is an :class:`ImageError` too.
Without files, :func:`builtin_image` draws a built-in synthetic picture (no downloads).

Shapes: :func:`load_image` -> uint8 (H, W, 3); :func:`normalize` uint8 (B, H, W, 3) -> float32 (B, 3, H, W).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError
from .files import regular_file, show_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RESIZE_PRESETS = ("stretch", "center-crop")
MAX_IMAGE_BYTES = 256 << 20  # a 256 MB file is far beyond any photo MAE is shown
MAX_PIXELS = 64_000_000  # 8000 x 8000; Pillow itself warns at 89 M and refuses at 179 M
MAX_ASPECT = 50  # 1:50 and beyond is a strip, not a picture (and centre-crop would upscale it enormously)


def load_image(path: str | Path, img_size: int, *, resize: str = "stretch") -> np.ndarray:
    """One image file -> uint8 array (img_size, img_size, 3), RGB, resized with the ``resize`` preset.

    Raises:
        ImageError: missing, not a regular file, too large, too many pixels, too elongated, or unreadable.
    """
    from PIL import Image, UnidentifiedImageError

    if resize not in RESIZE_PRESETS:
        raise ImageError(f"resize preset {resize!r} is unknown; use one of {', '.join(RESIZE_PRESETS)}")
    try:
        p = regular_file(path, "image", MAX_IMAGE_BYTES)
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - regular_file raises MAEError; images report ImageError
        raise ImageError(str(exc)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                _check_size(p, w, h)
                im = im.convert("RGB")
                if resize == "stretch":
                    im = im.resize((img_size, img_size), Image.BICUBIC)
                else:
                    scale = img_size / min(w, h)
                    im = im.resize((max(img_size, round(w * scale)), max(img_size, round(h * scale))), Image.BICUBIC)
                    w, h = im.size
                    left, top = (w - img_size) // 2, (h - img_size) // 2
                    im = im.crop((left, top, left + img_size, top + img_size))
                return np.asarray(im, dtype=np.uint8).copy()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image {show_path(p)} declares too many pixels to decode safely ({_first_line(exc)}); "
                         "pass an ordinary photo") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"cannot read image {show_path(p)} ({type(exc).__name__}); pass a PNG, JPEG or other "
                         "file Pillow can open") from None


def _check_size(p: Path, w: int, h: int) -> None:
    """Refuse, before decoding, an image whose header declares too many pixels or a strip-like shape."""
    if w < 1 or h < 1:
        raise ImageError(f"image {show_path(p)} declares {w} x {h} pixels; pass an ordinary photo")
    if w * h > MAX_PIXELS:
        raise ImageError(f"image {show_path(p)} declares {w} x {h} = {w * h:,} pixels, more than the "
                         f"{MAX_PIXELS:,} decoded safely; shrink it first")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"image {show_path(p)} is {w} x {h} pixels, an aspect ratio beyond 1:{MAX_ASPECT}; "
                         "crop it to the part to show")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


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
    """uint8 (B, H, W, 3) or a list of (H, W, 3) -> float32 (B, 3, H, W), ImageNet-normalised.

    The official demo's arithmetic, in its order and precision: ``x / 255.`` in float64, minus the mean,
    over the std (float64 arrays), cast to float32 last, so its input tensor is reproduced bit for bit.
    """
    arr = np.stack(images) if isinstance(images, list) else images
    x = (arr / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)  # float64 (B, H, W, 3)
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().contiguous()


def denormalize(x: Tensor) -> Tensor:
    """Inverse of :func:`normalize`: (B, 3, H, W) normalised -> (B, 3, H, W) in [0, 1] (clipped)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def load_batch(paths: list[str] | None, img_size: int, batch: int, seed: int, *,
               resize: str = "stretch") -> tuple[Tensor, list[str]]:
    """The input batch of a command: the given images (normalised, resized with the ``resize`` preset),
    or ``batch`` seeded random normal images when none are given. Returns the tensor and a description
    of each sample."""
    if paths:
        return normalize([load_image(p, img_size, resize=resize) for p in paths]), [str(p) for p in paths]
    g = torch.Generator().manual_seed(seed)
    described = [f"random normal #{i} (seed {seed})" for i in range(batch)]
    return torch.randn(batch, 3, img_size, img_size, generator=g), described
