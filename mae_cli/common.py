"""What every `mae` command shares: option types, JSON vs Rich output, errors and exit codes, progress.

A command gathers its options, calls one function in ``mae_core`` / ``official_mae`` that returns plain
data, and hands that data to :func:`run`, which prints either Rich tables (for people) or exactly one
JSON document (``--json``, for machines) on stdout. Progress and logs go to stderr.

Exit codes: 0 ok, 1 verification failed, 2 bad input, 3 internal error (a bug: please report it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

out = Console(soft_wrap=False)  # stdout: the tables
err = Console(stderr=True)  # stderr: progress, notes, errors


class BadInput(Exception):
    """The user asked for something impossible; the message names the problem and the fix."""


class VerificationFailed(Exception):
    """Raised by a service after it has produced its report, when the report says "fail"."""

    def __init__(self, data: Any, message: str):
        super().__init__(message)
        self.data = data


# --- option types shared by the commands -----------------------------------------------------------

VariantOpt = Annotated[str, typer.Option(
    "--variant", "-m", help="Model: base, large, huge, or any registry name (mae variants lists them).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="On error, show the full traceback.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the initialisation, the masking noise and the images.")]
MaskRatioOpt = Annotated[float, typer.Option("--mask-ratio", help="Fraction of patches removed, in [0, 1).")]
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
    "--resize", help="How image files are fitted to the model's size: stretch (the official demo: "
                     "img.resize((224, 224)), bicubic; the same input tensor, bit for bit) or center-crop (short "
                     "side resized, then the centre square).")]


def _bad_input_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "bad input": ours, and every mae_core error (imported lazily: start-up)."""
    from mae_core.errors import MAEError

    return (BadInput, MAEError)


def run(
    compute: Callable[[], Any],
    render: Callable[[Any], None],
    *,
    json_out: bool,
    debug: bool = False,
    to_json: Callable[[Any], Any] | None = None,
) -> None:
    """Run a command: ``compute()`` returns plain data; print it as JSON or with ``render``; exit.

    ``compute`` raises :class:`BadInput` (or a core error that means bad input) for exit 2, and
    :class:`VerificationFailed` (carrying its report) for exit 1.
    """
    debug = debug or os.environ.get("MAE_DEBUG") == "1"
    code = EXIT_OK
    try:
        data = compute()
    except VerificationFailed as failure:
        data, code = failure.data, EXIT_FAILED
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line (or a traceback with --debug)
        bad_input = isinstance(exc, _bad_input_types())
        if debug:
            err.print_exception()
        message = _one_line(_flag_hint(exc)) or type(exc).__name__
        if bad_input:
            error(f"error: {message}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        error(f"internal error: {type(exc).__name__}: {message} (rerun with --debug for the traceback)")
        raise typer.Exit(EXIT_INTERNAL) from None
    if json_out:
        print_json(to_json(data) if to_json else data)
    else:
        render(data)
    if code:
        raise typer.Exit(code)


def _flag_hint(exc: BaseException) -> str:
    """A core error in the tool's words: the setting it names is this tool's option (``runs`` -> ``--runs``)."""
    from mae_core.errors import MAEError, SettingError

    if isinstance(exc, SettingError):
        return f"--{exc.setting.replace('_', '-')}: {exc.problem}"
    if isinstance(exc, MAEError) and exc.setting:
        return f"{_one_line(str(exc))} (pass --{exc.setting.replace('_', '-')}{' ' + exc.value if exc.value else ''})"
    return str(exc)


def _one_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def error(message: str) -> None:
    """One plain line on stderr (no Rich markup, no wrapping)."""
    print(message, file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    """Exactly one JSON document on stdout (NaN/inf become null, tuples lists)."""
    sys.stdout.write(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:  # numpy / torch scalars
        return _jsonable(x.item())
    return x


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr while a slow step runs (plain text when stderr is not a terminal)."""
    if err.is_terminal:
        with err.status(message):
            yield
    else:
        yield


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
    from mae_core.io.weights import load_weights

    with progress(f"reading {weights}"):
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


def fmt_int(n: int) -> str:
    return f"{n:,}"


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
