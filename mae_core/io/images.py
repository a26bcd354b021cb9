"""Images in and out of the model, prepared as the official demo prepares them (by default, bit for bit).

Paper: none (the official ``demo/mae_visualize.ipynb``). Loading: any file Pillow reads, converted to RGB
(or to grayscale for a 1-channel model), fitted to the model's H x W with one of three presets, all with
Pillow's bicubic filter:

    stretch      (default) the demo's pipeline: ``img.resize((W, H))`` (224 x 224 for the official size)
                 whatever the aspect ratio, ``np.array(img) / 255.`` in float64, minus the ImageNet mean,
                 over its std (float64), then cast to float32. :func:`load_image` + :func:`normalize`
                 reproduce its tensor exactly.
    center-crop  resized so it just covers H x W (for a square size: the short side becomes ``img_size``),
                 then the centre H x W crop (the evaluation transform of the official fine-tuning code,
                 without its 0.875 crop ratio).
    eval         the official evaluation transform of fine-tuning (``util/datasets.py``): the short side to
                 256 (``int(224 / 0.875)``), then the centre 224 x 224, torchvision's rounding
                 (:func:`eval_resize_crop`; ``mae classify``'s default; :func:`eval_normalize` divides in
                 float32 as torchvision's ``ToTensor`` + ``Normalize`` do).

Grayscale is normalised with the mean of the three channels' mean and std (0.449 and 0.226).

Files are checked before any pixel is decoded: only regular files up to :data:`MAX_IMAGE_BYTES`, at most
:data:`MAX_PIXELS` pixels and an aspect ratio of at most :data:`MAX_ASPECT` (Pillow reads the size from the
header); Pillow's own decompression-bomb guard is an :class:`ImageError` too.
Without files, :func:`builtin_image` draws a built-in synthetic picture (no downloads). :func:`load_mask`
reads a user's binary mask picture.

Sizes: ``img_size`` is an int (square) or (H, W). Shapes: :func:`load_image` -> uint8 (H, W, C), C = 3 or 1;
:func:`normalize` uint8 (B, H, W, C) -> float32 (B, C, H, W).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError, MaskError
from .files import regular_file, show_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN = (0.449,)  # the mean of IMAGENET_MEAN: a grayscale model's input statistics
GRAY_STD = (0.226,)  # the mean of IMAGENET_STD
MAX_MASK_BYTES = 64 * 2**20  # a mask picture is small; refuse anything larger before decoding it

RESIZE_PRESETS = ("stretch", "center-crop", "eval")
MAX_IMAGE_BYTES = 256 << 20  # a 256 MB file is far beyond any photo MAE is shown
MAX_PIXELS = 64_000_000  # 8000 x 8000; Pillow itself warns at 89 M and refuses at 179 M
MAX_ASPECT = 50  # 1:50 and beyond is a strip, not a picture (and centre-crop would upscale it enormously)


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


def load_image(path: str | Path, img_size: int | tuple[int, int], channels: int = 3, *,
               resize: str = "stretch") -> np.ndarray:
    """One image file -> uint8 array (H, W, 3), or (H, W, 1) with ``channels=1`` (grayscale), resized with
    the ``resize`` preset.

    Raises:
        ImageError: missing, not a regular file, too large, too many pixels, too elongated, or unreadable.
    """
    from PIL import Image, UnidentifiedImageError

    if resize not in RESIZE_PRESETS:
        raise ImageError(f"resize preset {resize!r} is unknown; use one of {', '.join(RESIZE_PRESETS)}")
    _stats(channels)
    H, W = image_hw(img_size)
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
                im = im.convert("RGB" if channels == 3 else "L")
                if resize == "stretch":
                    im = im.resize((W, H), Image.BICUBIC)
                elif resize == "eval":
                    im = eval_resize_crop(im, (H, W))
                else:
                    scale = max(W / w, H / h)  # for H = W: img_size / min(w, h)
                    im = im.resize((max(W, round(w * scale)), max(H, round(h * scale))), Image.BICUBIC)
                    w, h = im.size
                    left, top = (w - W) // 2, (h - H) // 2
                    im = im.crop((left, top, left + W, top + H))
                return np.asarray(im, dtype=np.uint8).reshape(H, W, channels).copy()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image {show_path(p)} declares too many pixels to decode safely ({_first_line(exc)}); "
                         "pass an ordinary photo") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"cannot read image {show_path(p)} ({type(exc).__name__}); pass a PNG, JPEG or other "
                         "file Pillow can open") from None


def eval_short_side(size: int) -> int:
    """The short side the official evaluation resizes to before its centre crop of ``size`` (``util/datasets.py``:
    crop_pct = 224 / 256 up to 224 px, else 1): 256 for 224."""
    return int(size / (224 / 256)) if size <= 224 else size


def eval_resize_crop(im: Any, hw: tuple[int, int]) -> Any:
    """The official evaluation transform's geometry (``util/datasets.py build_transform(is_train=False)``, with
    torchvision's rounding): the short side resized bicubically to :func:`eval_short_side` of ``max(H, W)``
    (the long side to ``int(short * long / short_before)``), then the centre ``H x W`` (offsets rounded)."""
    from PIL import Image

    H, W = hw
    short = eval_short_side(max(H, W))
    w, h = im.size
    if w <= h:
        size = (short, int(short * h / w))
    else:
        size = (int(short * w / h), short)
    im = im.resize(size, Image.BICUBIC)
    w, h = im.size
    top, left = int(round((h - H) / 2.0)), int(round((w - W) / 2.0))
    return im.crop((left, top, left + W, top + H))


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
    ImageNet mean/std (grayscale: :data:`GRAY_MEAN` / :data:`GRAY_STD`).

    The official demo's arithmetic, in its order and precision: ``x / 255.`` in float64, minus the mean,
    over the std (float64 arrays), cast to float32 last, so its input tensor is reproduced bit for bit.
    """
    arr = np.stack(images) if isinstance(images, list) else images
    mean, std = _stats(arr.shape[-1])
    x = (arr / 255.0 - np.array(mean)) / np.array(std)  # float64 (B, H, W, C)
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().contiguous()


def eval_normalize(images: list[np.ndarray]) -> Tensor:
    """uint8 (H, W, 3) arrays -> float32 (B, 3, H, W) as torchvision's ``ToTensor()`` then
    ``Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)`` compute it (the official evaluation input,
    bit for bit): ``x / 255`` in float32, minus the float32 mean, over the float32 std."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)
    mean, std = _stats(x.shape[1])
    C = x.shape[1]
    return x.sub(torch.tensor(mean).view(1, C, 1, 1)).div(torch.tensor(std).view(1, C, 1, 1)).contiguous()


def denormalize(x: Tensor) -> Tensor:
    """Inverse of :func:`normalize`: (B, C, H, W) normalised -> (B, C, H, W) in [0, 1] (clipped)."""
    C = x.shape[1]
    mean, std = _stats(C)
    mean = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, C, 1, 1)
    std = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, C, 1, 1)
    return (x * std + mean).clamp(0, 1)


def load_pictures(paths: list, img_size: int | tuple[int, int] = 224, channels: int = 3, *,
                  resize: str = "stretch") -> tuple[list[np.ndarray], list[str]]:
    """The pictures a person looks at (mask-demo, sweep): the image files as uint8 arrays with their names,
    or, without files, the built-in picture."""
    if not paths:
        return [builtin_image(img_size, channels=channels)], ["built-in test image"]
    return [load_image(p, img_size, channels, resize=resize) for p in paths], [str(p) for p in paths]


def load_batch(paths: list[str] | None, img_size: int | tuple[int, int], batch: int, seed: int,
               channels: int = 3, *, resize: str = "stretch") -> tuple[Tensor, list[str]]:
    """The input batch of a command: the given images (normalised, resized with the ``resize`` preset),
    or ``batch`` seeded random normal images (B, channels, H, W) when none are given. Returns the tensor
    and a description of each sample."""
    if paths:
        return (normalize([load_image(p, img_size, channels, resize=resize) for p in paths]),
                [str(p) for p in paths])
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

    H, W = image_hw(img_size)
    p = regular_file(path, "mask file", MAX_MASK_BYTES)
    try:
        with Image.open(p) as im:
            if im.size != (W, H):
                raise MaskError(f"mask file {str(p)!r} is {im.size[1]}x{im.size[0]} px (HxW) but the model takes "
                                f"{H}x{W}; draw the mask at the image size")
            if im.mode in ("F", "I", "I;16", "I;16B", "I;16L"):  # float or wide TIFF: NaN/inf are not black
                raw = np.asarray(im, dtype=np.float64)
                if not np.isfinite(raw).all():
                    raise MaskError(f"mask file {str(p)!r} holds NaN or infinite pixels; use only black (visible) "
                                    "and white (hidden)")
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
