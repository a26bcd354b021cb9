"""What every `mae` command shares: option types, JSON vs Rich output, errors and exit codes, progress.

A command module defines ``command`` (its options, each an option type from here: one definition per
concept), ``compute`` (checks the options and makes one call into ``mae_core`` / ``official_mae`` that
returns plain data) and ``render`` (Rich tables for people). ``command`` hands both to :func:`run`,
which prints either the tables or exactly one JSON document (``--json``) on stdout; progress, notes and
errors go to stderr.

Exit codes: 0 ok, 1 verification failed, 2 bad input (one line on stderr naming the problem and the
fix), 3 internal error (a bug: please report it), 130 interrupted (Ctrl-C).

Every string a user typed (paths, names, metadata read from their files) goes through :func:`esc`
before it reaches Rich, so ``[red]`` or ``[/]`` in a file name is shown as typed, never read as markup.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import typer.core
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
FALLBACK_WIDTH = 80  # when the terminal's width is unknown or absurd (COLUMNS=0)
MIN_WIDTH = 20


class _Console(Console):
    """A Rich console whose width falls back to 80 columns when COLUMNS says 0 (or anything too narrow
    to draw a table in): Rich would otherwise print nothing at all."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if size.width >= MIN_WIDTH else ConsoleDimensions(FALLBACK_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def on_broken_pipe(self) -> None:
        """The reader closed the pipe: stop printing and let :func:`run` end quietly with the command's
        own exit code (Rich's default exits 1, which would read as "verification failed")."""
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


out = _Console(soft_wrap=False)  # stdout: the tables
err = _Console(stderr=True)  # stderr: progress, notes, errors


class BadInput(Exception):
    """The user asked for something impossible; the message names the problem and the fix."""


class VerificationFailed(Exception):
    """Raised by a service after it has produced its report, when the report says "fail"."""

    def __init__(self, data: Any, message: str):
        super().__init__(message)
        self.data = data


# --- option types: every concept defined once, used by every command that takes it -------------------

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


def _non_empty_variant(value: str | None) -> str | None:
    """``--variant ''`` is a mistake (an unset shell variable), never the default: refuse it (issue 23)."""
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty; give base, large, huge or a registry name (`mae variants` lists them)")
    return value


VariantOpt = Annotated[Optional[str], typer.Option(
    "--variant", "-m", show_default=False, callback=_non_empty_variant,
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="On error, show the full traceback.")]


# --- user text -----------------------------------------------------------------------------------------

def cut(text: str, limit: int = 300) -> str:
    """``text`` with control characters (and lone surrogates) escaped, cut in the middle when longer
    than ``limit``: what a path or a name looks like in a message or a table."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else f"{text[: limit * 2 // 3]}...{text[-(limit // 3 - 3):]}"


def esc(text: Any, limit: int = 300) -> str:
    """User-supplied text made safe for Rich: control characters escaped, cut, markup escaped."""
    return escape(cut(str(text), limit))


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
    :class:`VerificationFailed` (carrying its report) for exit 1. A reader that closes the pipe early
    (``mae params | head``) ends the command quietly with its own exit code.
    """
    debug = debug or os.environ.get("MAE_DEBUG") == "1"
    code = EXIT_OK
    try:
        _import_torch()
        data = compute()
    except VerificationFailed as failure:
        data, code = failure.data, EXIT_FAILED
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        interrupted()
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line (or a traceback with --debug)
        if INTERRUPTS:  # Ctrl-C inside a C extension's import can surface as an ImportError: it was Ctrl-C
            interrupted()
            raise typer.Exit(EXIT_INTERRUPTED) from None
        try:
            bad_input = isinstance(exc, _bad_input_types())
            message = _one_line(_flag_hint(exc)) or type(exc).__name__
        except Exception:  # noqa: BLE001 - mae_core itself failed to import (e.g. out of address space)
            bad_input, message = False, _one_line(str(exc)) or type(exc).__name__
        if debug:
            err.print_exception()
        if bad_input:
            error(f"error: {message}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        error(f"internal error: {type(exc).__name__}: {message} (rerun with --debug for the traceback)")
        raise typer.Exit(EXIT_INTERNAL) from None
    if INTERRUPTS:  # Ctrl-C that a library swallowed (numpy's import does): the user still asked to stop
        interrupted()
        raise typer.Exit(EXIT_INTERRUPTED)
    try:
        if json_out:
            print_json(to_json(data) if to_json else data)
        else:
            render(data)
        sys.stdout.flush()
    except OSError as exc:
        raise typer.Exit(stdout_failed(exc, code)) from None
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


def stdout_failed(exc: OSError, code: int = EXIT_OK) -> int:
    """The exit code after writing stdout failed: a closed pipe ends quietly with ``code`` (the reader
    had what it wanted, as with ``cat``); any other failure (a full disk) is one line and exit 2."""
    _discard_stdout()
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return code
    error(f"error: cannot write to stdout ({exc.strerror or type(exc).__name__}); "
          "redirect it to a file on a disk with free space, or to /dev/null")
    return EXIT_BAD_INPUT


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered cannot fail again when Python exits."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _import_torch() -> None:
    """Import torch with Ctrl-C held back. A SIGINT inside the initialisation of its C extensions can
    abort the process (SIGABRT), be swallowed, or become an unrelated ImportError; held back, it
    arrives the moment the import is done (under 2 s) and ends the command with 130 like anywhere else."""
    if "torch" in sys.modules:
        return
    hold = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hold else None
    try:
        import torch  # noqa: F401
    finally:
        if hold:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


INTERRUPTS: list[int] = []  # the SIGINTs received while the current command runs


def interrupted() -> None:
    error("interrupted")


@contextlib.contextmanager
def _watch_interrupts() -> Iterator[None]:
    """Remember every Ctrl-C while a command runs (and still raise KeyboardInterrupt as Python does), so
    that one a library swallows, or turns into another error, still ends the command with 130. Only
    where Python's own handler is in place (not under SIG_IGN, nor someone else's handler)."""
    INTERRUPTS.clear()
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def handler(signum, frame):
        INTERRUPTS.append(signum)
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def error(message: str) -> None:
    """One plain line on stderr (no Rich markup, no wrapping; control characters escaped, very long
    user text cut), whatever the message holds."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(cut(message, 600) + "\n")
        stream.flush()


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
    """A spinner on stderr while a slow step runs (nothing when stderr is not a terminal, so logs and
    the one-line error contract stay clean)."""
    if err.is_terminal:
        with err.status(esc(message)):
            yield
    else:
        yield


def note(message: str) -> None:
    """A ``note:`` line on stderr (notes are never part of the data on stdout)."""
    error(f"note: {message}")


# --- validation helpers shared by the commands -------------------------------------------------------

def resolve_variant(name: str) -> str:
    """Canonical registry name, or BadInput listing the valid names."""
    from mae_core.models import UnknownModelError, get_variant

    try:
        return get_variant(name).name
    except UnknownModelError as exc:
        raise BadInput(f"{exc}; see `mae variants`") from None


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


# --- the process: usage errors, streams, Ctrl-C ----------------------------------------------------------

# Click's exceptions, from whichever Click this Typer uses (Typer >= 0.20 vendors its own copy).
_click_errors = sys.modules[typer.BadParameter.__module__]
UsageError: type[Exception] = _click_errors.UsageError
ClickException: type[Exception] = _click_errors.ClickException
NoArgsIsHelpError: type[Exception] = getattr(_click_errors, "NoArgsIsHelpError", type("_Never", (Exception,), {}))


class MAEGroup(typer.core.TyperGroup):
    """The `mae` command group, run the way well-behaved CLIs run (git, ripgrep, the hf CLI).

    Click/Typer would draw usage errors as boxes, print a traceback on a closed or full stdout and on
    Ctrl-C outside a command's work, and crash on text the terminal's encoding cannot hold. Here:
    a usage error is one line on stderr and exit 2; `mae` alone prints the help (stdout, exit 0);
    Ctrl-C is "interrupted" and exit 130 at any moment; a closed pipe ends quietly; a closed or full
    stdout is one line and exit 2; characters the output encoding lacks are replaced.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        sys.exit(self._run(list(sys.argv[1:] if args is None else args), prog_name or "mae", extra))

    def _run(self, args: list[str], prog_name: str, extra: dict[str, Any]) -> int:
        _tolerant_streams()
        if sys.stdout is None:  # started with stdout closed (`mae params >&-`)
            error("error: stdout is closed; run with stdout open (redirect it to a file or to /dev/null)")
            return EXIT_BAD_INPUT
        with _watch_interrupts():
            return self._run_watched(args, prog_name, extra)

    def _run_watched(self, args: list[str], prog_name: str, extra: dict[str, Any]) -> int:
        try:
            try:
                with self.make_context(prog_name, args, **extra) as ctx:
                    self.invoke(ctx)
                sys.stdout.flush()
                return EXIT_OK
            except NoArgsIsHelpError as exc:  # `mae` (or a sub-group) alone: its help
                sys.stdout.write(exc.ctx.get_help() + "\n")
                sys.stdout.flush()
                return EXIT_OK
            except typer.Exit as exc:
                sys.stdout.flush()
                return exc.exit_code
        except UsageError as exc:
            error(usage_line(exc, args))
            return EXIT_BAD_INPUT
        except ClickException as exc:
            error(f"error: {_sentence(exc.format_message())}")
            return exc.exit_code if exc.exit_code else EXIT_BAD_INPUT
        except (KeyboardInterrupt, typer.Abort):
            interrupted()
            return EXIT_INTERRUPTED
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO):  # writing stdout failed
                return stdout_failed(exc)
            if INTERRUPTS:
                interrupted()
                return EXIT_INTERRUPTED
            raise
        except Exception:
            if INTERRUPTS:  # an import broken by Ctrl-C, outside a command's own work
                interrupted()
                return EXIT_INTERRUPTED
            raise


def _tolerant_streams() -> None:
    """Text the output encoding cannot hold (PYTHONIOENCODING=ascii, LANG=C, latin-1 and a "Δ") is
    replaced instead of raising UnicodeEncodeError; stdin/stderr closed become /dev/null."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # lives as long as the process
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="replace" if stream is sys.stdout else "backslashreplace")


def _sentence(message: str) -> str:
    """Click's message as the middle of one line: no final full stop, first letter lower case."""
    message = " ".join(message.split()).rstrip(".")
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def usage_line(exc: Exception, args: list[str] | None = None) -> str:
    """One line for a usage error: what is wrong, and where the help is.

    ``--batch 1.5`` -> ``error: --batch: '1.5' is not a whole number (e.g. 8); see `mae forward --help```.
    """
    ctx = getattr(exc, "ctx", None)
    command = next((a for a in args or [] if not a.startswith("-")), None)  # the sub-command typed, if any
    where = (f"`{ctx.command_path} --help`" if ctx is not None
             else f"`mae {cut(command, 40)} --help`" if command else "`mae --help`")
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and param is not None:
        opts = list(getattr(param, "opts", []))
        name = next((o for o in opts if o.startswith("--")), None) or param.human_readable_name
        message = _sentence(exc.message)
        given = _given(args or [], opts)
        if "can't encode" in message or "surrogates" in message:  # a path no file system can hold
            message = f"{given or 'the path'} does not exist (it is not even a valid file name); check the path"
        elif "integer" in message and "range" not in message:
            message = f"{given or 'the value'} is not a whole number (e.g. 8)"
        elif ("float" in message or "number" in message) and "range" not in message and "[" not in message:
            message = f"{given or 'the value'} is not a number (e.g. 0.75)"
        return f"error: {name}: {message}; see {where}"
    message = _sentence(exc.format_message()).replace("requires an argument", "needs a value")
    if message.lower().startswith("no such command") and ctx is not None and hasattr(ctx.command, "list_commands"):
        message += f" (the commands are: {', '.join(ctx.command.list_commands(ctx))})"
    return f"error: {message}; see {where}"


def _given(args: list[str], opts: list[str]) -> str | None:
    """What the user typed after one of ``opts`` (``--batch 1.5`` or ``--batch=1.5``), quoted."""
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return repr(args[i + 1])
            if arg.startswith(opt + "=") and opt.startswith("--"):
                return repr(arg[len(opt) + 1:])
    return None


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
