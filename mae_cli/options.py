"""The options of `mae`: one type per concept, one spelling, shared by every command that takes it.

Each ``...Opt`` is an ``Annotated`` Typer option; a command lists the ones it takes (``variant:
VariantOpt = None``). Validators that need no model (ratios, tolerances, devices, dtypes, paths) live
here too. ``--json`` / ``--debug`` are not here: :mod:`mae_cli.runner` gives them to every command.
Spellings replaced in 0.2 stay as hidden aliases for one release (``docs/renamed_options.md``).
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


def _mask_ratio(value: float | None) -> float | None:
    if value is not None and not 0 <= value < 1:  # NaN fails too
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



AtolOpt = Annotated[float, typer.Option(
    "--atol", metavar="X", callback=check_tolerance, help="Absolute difference a stage may show and pass.")]
RtolOpt = Annotated[float, typer.Option(
    "--rtol", metavar="X", callback=check_tolerance, help="Plus this fraction of the reference's largest value.")]

def _seed(value: int) -> int:
    """A seed torch.manual_seed accepts (checked here: a range in the help would print 40 digits)."""
    if not SEED_MIN <= value <= SEED_MAX:
        raise typer.BadParameter(f"{value} is out of range; use a whole number from -2**63 to 2**64-1, e.g. 0")
    return value


# Help texts are one short line (80-column terminals); details live in each command's description and
# in the docs. A concept has one option type and one spelling in every command that takes it.

def _non_empty_variant(value: str | None) -> str | None:
    """``--variant ''`` is a mistake (an unset shell variable), never the default: refuse it (issue 23)."""
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty; give base, large, huge or a registry name (`mae variants` lists them)")
    return value


VariantOpt = Annotated[Optional[str], typer.Option(
    "--variant", "-m", metavar="NAME", show_default=False, callback=_non_empty_variant,
    help="base, large, huge or a registry name (mae variants). Default: the variant of --weights, else base.")]
WeightsOpt = Annotated[Optional[Path], typer.Option(
    "--weights", "-w", metavar="PATH", show_default=False,
    help="Checkpoint: official .pth, .safetensors or a transformers folder. Default: seeded random weights.")]
SeedOpt = Annotated[int, typer.Option(
    "--seed", metavar="INT", callback=_seed, help="Seed of the random weights, masking noise and random images.")]
BatchOpt = Annotated[Optional[int], typer.Option(
    "--batch", "-b", metavar="N", min=1, max=MAX_BATCH,
    help="Images per forward pass (seeded random images unless --image).")]
ImageOpt = Annotated[Optional[list[Path]], typer.Option(
    "--image", "-i", metavar="FILE", show_default=False,
    help="An image file (repeat for a batch); fitted by --resize, normalised as the official demo.")]
MaskRatioOpt = Annotated[float, typer.Option(
    "--mask-ratio", metavar="R", callback=_mask_ratio, help="Fraction of patches hidden, in [0, 1).")]
NormPixOpt = Annotated[Optional[bool], typer.Option(
    "--norm-pix-loss/--raw-pix", show_default=False,
    help="Loss target: per-patch normalised or raw pixels. Default: the checkpoint's, else raw.")]
DeviceOpt = Annotated[str, typer.Option("--device", metavar="DEV", help="cpu, cuda or cuda:N.")]
DtypeOpt = Annotated[str, typer.Option(
    "--dtype", metavar="DTYPE", help="Precision of the run: float32, bfloat16 or float16.")]
AutocastOpt = Annotated[bool, typer.Option(
    "--autocast/--native", help="Low precision by torch.autocast (float32 weights) or weights cast to --dtype.")]
ModeOpt = Annotated[str, typer.Option(
    "--mode", metavar="MODE", help="inference (no autograd) or train (forward + backward).")]
BlocksOpt = Annotated[str, typer.Option(
    "--blocks", metavar="LIST", help="Encoder blocks: all, -1 (the last) or a list like 0,5,11.")]
GradOpt = Annotated[bool, typer.Option("--grad", help="Also compare every parameter's gradient (slower).")]
ReferenceOpt = Annotated[Optional[list[str]], typer.Option(
    "--reference", "-r", metavar="REF", show_default=False,
    help="A reference implementation: timm, hf or official (repeat where a command takes several).")]
ImgSizeOpt = Annotated[str | None, typer.Option(
    "--img-size", metavar="PX", show_default=False,
    help="Image size: 448, or HxW such as 224x320 (multiples of the patch size). Default: 224.")]
InChansOpt = Annotated[int, typer.Option(
    "--in-chans", metavar="C", help="Image channels: 3 (RGB) or 1 (grayscale).")]
MaskOpt = Annotated[str, typer.Option(
    "--mask", metavar="STRATEGY", help="Patches to hide: random, block, grid or center (sweep: a comma list).")]
MaskFileOpt = Annotated[Path | None, typer.Option(
    "--mask-file", metavar="PNG", show_default=False,
    help="A binary PNG at the model's size, white = hidden; sets the mask ratio.")]
ResizeOpt = Annotated[str, typer.Option(
    "--resize", metavar="HOW", callback=_resize,
    help="Fit image files: stretch (the official demo), center-crop or eval (256, crop 224).")]
AccumIterOpt = Annotated[Optional[int], typer.Option(
    "--accum-iter", metavar="N", min=1, max=64, show_default=False,
    help="Micro-batches per optimizer step (the official --accum_iter). Default: published / 1.")]
StageOpt = Annotated[str, typer.Option(
    "--stage", metavar="STAGE", help="Training stage: pretrain, finetune or linprobe.")]
WarmupOpt = Annotated[int, typer.Option(
    "--warmup", metavar="N", min=0, max=MAX_REPEAT, help="Untimed runs before the timed ones.")]
ThreadsOpt = Annotated[Optional[int], typer.Option(
    "--threads", metavar="N", min=1, max=MAX_THREADS, show_default=False,
    help="torch.set_num_threads. Default: PyTorch's choice.")]
OfficialSrcOpt = Annotated[Optional[Path], typer.Option(
    "--official-src", metavar="DIR", envvar="MAE_OFFICIAL_SRC", show_default=False,
    help="Your facebookresearch/mae clone (read first; imported, never modified).")]
OutOpt = Annotated[Optional[Path], typer.Option(
    "--out", "-o", metavar="FILE", show_default=False,
    help="File to write (the description says what); never left half-written.")]
FollowSymlinkOpt = Annotated[bool, typer.Option(
    "--follow-symlink", help="If --out is a symbolic link, replace the file it points to.")]


# --- renamed options: the old spelling still works, hidden from --help, until 0.3 ----------------------

RENAMED: dict[tuple[str, str], str] = {
    # (command, old spelling): new spelling. mae_cli.group rewrites the command line before parsing and
    # prints a note; docs/renamed_options.md lists these.
    ("memory", "--amp"): "--autocast",
    ("features", "--layers"): "--blocks",
    ("checkpoint convert", "--dtype"): "--save-dtype",
}
RENAMED_VALUES: dict[tuple[str, str, str], str] = {
    ("bench", "--mode", "forward"): "inference",  # bench said forward, memory inference: one word now
}


def rename_old_spellings(args: list[str], commands: set[str]) -> tuple[list[str], list[str]]:
    """``args`` with renamed options (and values) in their new spelling, and a note per rename.
    ``commands``: the command paths (``memory``, ``checkpoint convert``) that exist."""
    words = [a for a in args if not a.startswith("-")]
    path = " ".join(words[:2]) if " ".join(words[:2]) in commands else (words[0] if words else "")
    notes: list[str] = []
    renamed = list(args)
    for i, arg in enumerate(args):
        if arg == "--":
            break
        option, eq, value = arg.partition("=")
        new = RENAMED.get((path, option))
        if new is not None:
            renamed[i] = new + eq + value
            notes.append(f"{option} is now {new} (the old spelling goes in 0.3)")
            option = new
        for (where, opt, old), fresh in RENAMED_VALUES.items():
            if where != path or opt != option:
                continue
            if eq and value.strip().lower() == old:
                renamed[i] = f"{option}={fresh}"
            elif not eq and i + 1 < len(args) and args[i + 1].strip().lower() == old:
                renamed[i + 1] = fresh
            else:
                continue
            notes.append(f"{option} {old} is now {option} {fresh} (the old spelling goes in 0.3)")
    return renamed, notes


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


def one_reference(given: list[str] | None) -> str:
    """The one reference of ``--reference`` (repeated or comma-separated, as bench takes several); auto if none."""
    names = [n.strip().lower() for g in given or [] for n in g.split(",") if n.strip()]
    if len(set(names)) > 1:
        raise BadInput(f"--reference: compare-official compares with one reference at a time, got {', '.join(names)}; "
                       "run it once per reference")
    return names[0] if names else "auto"


def check_images(paths: list[Path]) -> None:
    """Every ``--image`` exists and is a regular file (never a FIFO or a device: reading would block)."""
    from mae_core.io.files import regular_file

    for path in paths:
        check_exists(path, "--image", "image")
        regular_file(path, "image")


def check_inputs(images: list[Path], weights: str | os.PathLike | None = None) -> None:
    """The files a command was given exist and can be read without blocking (never a FIFO or a device):
    checked here, so the message names the option; :func:`mae_core.views.prepare.prepare` reads them."""
    check_images(images or [])
    if weights is None:
        return
    check_exists(weights, "--weights", "checkpoint")
    if not os.path.isdir(weights):  # a transformers folder, or a file
        from mae_core.io.files import regular_file

        regular_file(weights, "checkpoint")


def check_png_out(path: Path, follow_symlink: bool) -> None:
    """Refuse an --out picture that cannot be written, before any work (the write itself is atomic)."""
    if path.is_symlink() and not follow_symlink:
        raise BadInput(f"--out {cut(repr(str(path)), 200)} is a symbolic link; refusing to write through it "
                       "(remove it, pass the real path, or add --follow-symlink)")
    if path.suffix.lower() != ".png":
        raise BadInput(f"--out {str(path)!r} must end in .png (the picture is written as PNG)")
    if path.is_dir():
        raise BadInput(f"--out {str(path)!r} is a directory; give a file name such as {str(path / 'mask_demo.png')!r}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(f"--out {str(path)!r}: the folder {str(parent)!r} does not exist; create it first")


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

