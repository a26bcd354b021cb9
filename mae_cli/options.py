"""The options of `mae`: one type per concept, one spelling, shared by every command that takes it.

Each ``...Opt`` is an ``Annotated`` Typer option; a command lists the ones it takes (``variant:
VariantOpt = None``). Validators that need no model (ratios, tolerances, devices, dtypes, paths) live
here too. ``--json`` / ``--debug`` are not here: :mod:`mae_cli.runner` gives them to every command.
Spellings replaced in 0.2 stay as hidden aliases for one release (``docs/cli.md``, "Renamed options").
Paper: none (engineering).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .output import cut
from .runner import BadInput

SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed accepts
MAX_BATCH = 65_536  # far above what fits any machine at 224 px (ViT-B: 39 GB of input alone)
MAX_THREADS = max(1, 4 * (os.cpu_count() or 1))  # more threads than 4x the cores only slows PyTorch down
MAX_REPEAT = 100_000


def _mask_ratio(value: float) -> float:
    if not 0 <= value < 1:  # NaN fails too
        raise typer.BadParameter(f"{value} is not in [0, 1); it is the fraction of patches removed, e.g. 0.75")
    return value


def _resize(value: str) -> str:
    from mae_core.io.images import RESIZE_PRESETS

    preset = value.strip().lower()
    if preset not in RESIZE_PRESETS:
        raise typer.BadParameter(f"{value!r} is not a preset; use {' or '.join(RESIZE_PRESETS)}")
    return preset


def check_tolerance(value: float) -> float:
    if not 0 <= value < math.inf:
        raise typer.BadParameter(f"{value} is not a finite number >= 0, e.g. 1e-5")
    return value


VariantOpt = Annotated[Optional[str], typer.Option(
    "--variant", "-m", show_default=False,
    help="Model: base, large, huge, or any registry name (`mae variants` lists them). Default: the variant "
         "of --weights where the command takes a checkpoint, else base.")]
WeightsOpt = Annotated[Optional[Path], typer.Option(
    "--weights", "-w", show_default=False,
    help="Checkpoint: an official .pth, a .safetensors (official or our layout) or a transformers ViTMAE "
         "folder; the variant is detected from its shapes. Default: the seeded random initialisation.")]
SeedOpt = Annotated[int, typer.Option(
    "--seed", min=SEED_MIN, max=SEED_MAX,
    help="Seed of the random initialisation, the masking noise and the random images.")]
BatchOpt = Annotated[Optional[int], typer.Option(
    "--batch", "-b", min=1, max=MAX_BATCH,
    help="Batch size B: images per forward pass (seeded random-normal images unless --image is given).")]
ImageOpt = Annotated[Optional[list[Path]], typer.Option(
    "--image", "-i", show_default=False,
    help="An image file Pillow reads (repeat for a batch); fitted to the model's size (--resize, where the "
         "command has it) and normalised with the ImageNet mean/std, as the official demo does.")]
MaskRatioOpt = Annotated[float, typer.Option(
    "--mask-ratio", callback=_mask_ratio, help="Fraction of patches removed, in [0, 1) (0: nothing masked).")]
NormPixOpt = Annotated[Optional[bool], typer.Option(
    "--norm-pix-loss/--raw-pix", show_default=False,
    help="Target of the loss and meaning of pred: per-patch normalised pixels (the official *_full.pth were "
         "trained so) or raw pixels. Default: what the checkpoint says (a transformers config.json), else raw.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda (cuda[:N]).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16.")]
ImgSizeOpt = Annotated[str | None, typer.Option(
    "--img-size", help="Image size in pixels: 448, or HxW such as 224x320 (multiples of the patch size). Weights "
                       "saved at 224 px load with the fixed position tables regenerated for the new grid. Default: "
                       "the variant's 224.", show_default=False)]
InChansOpt = Annotated[int, typer.Option(
    "--in-chans", help="Image channels: 3 (RGB) or 1 (grayscale images; the ImageNet mean/std averaged).")]
MaskOpt = Annotated[str, typer.Option(
    "--mask", help="Which patches to hide: random (the paper's uniform sampling), block (BEiT-style blocks), grid "
                   "(keep one patch in each 2x2, ratio 0.75 only), center (a central square).")]
MaskFileOpt = Annotated[Path | None, typer.Option(
    "--mask-file", help="A binary PNG of the model's image size, white = hidden: a patch is hidden when most of "
                        "its pixels are; the mask ratio follows from the file.", show_default=False)]
ResizeOpt = Annotated[str, typer.Option(
    "--resize", callback=_resize, help="How image files are fitted to the model's size: stretch (the official demo: "
                     "img.resize((224, 224)), bicubic; the same input tensor, bit for bit) or center-crop (short "
                     "side resized, then the centre square).")]
WarmupOpt = Annotated[int, typer.Option(
    "--warmup", min=0, max=MAX_REPEAT, help="Untimed runs before the timed ones (the first call pays one-off costs).")]
ThreadsOpt = Annotated[Optional[int], typer.Option(
    "--threads", min=1, max=MAX_THREADS, show_default=False,
    help=f"torch.set_num_threads, 1 to {MAX_THREADS} (4x this machine's cores). Default: PyTorch's choice.")]
OfficialSrcOpt = Annotated[Optional[Path], typer.Option(
    "--official-src", envvar="MAE_OFFICIAL_SRC", show_default=False,
    help="Folder of your facebookresearch/mae clone (holds models_mae.py); imported as it is, with "
         "compatibility shims, never modified. Checked (by reading, not running it) before it is imported.")]
OutOpt = Annotated[Path, typer.Option(
    "--out", "-o", help="File to write (its folder must exist); written to a temporary file beside it and "
                        "renamed, so a failed write never leaves a broken file.")]
FollowSymlinkOpt = Annotated[bool, typer.Option(
    "--follow-symlink", help="If --out is a symbolic link, replace the file it points to (default: refuse).")]



# --- validators -----------------------------------------------------------------------------------------

def check_exists(path: str | os.PathLike, option: str, what: str) -> None:
    """BadInput "<option>: <what> '<path>' does not exist" unless ``path`` names something on disk. A
    name this system cannot even encode (a NUL, a lone surrogate) cannot exist either, and is told so."""
    try:
        exists = os.path.exists(os.fsencode(path))
    except (ValueError, UnicodeError, OSError):
        exists = False
    if not exists:
        raise BadInput(f"{option}: {what} {cut(repr(os.fspath(path)), 200)} does not exist; check the path")


def check_images(paths: list[Path]) -> None:
    """Every ``--image`` exists and is a regular file (never a FIFO or a device: reading would block)."""
    from mae_core.io.files import regular_file

    for path in paths:
        check_exists(path, "--image", "image")
        regular_file(path, "image")


def resolve_device(device: str):
    """A torch.device, or BadInput when the device is unknown or not available here."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise BadInput(f"--device {device!r} is not a device name; use cpu or cuda") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInput("--device cuda: PyTorch sees no CUDA GPU on this machine "
                           "(torch.cuda.is_available() is False); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BadInput(f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible; use cuda:0")
    elif dev.type != "cpu":
        raise BadInput(f"--device {device!r} is not supported; use cpu or cuda")
    return dev


def resolve_dtype(dtype: str):
    import torch

    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    try:
        return table[dtype.lower()]
    except KeyError:
        raise BadInput(f"--dtype {dtype!r} is not supported; use float32, bfloat16 or float16") from None

