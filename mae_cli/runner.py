"""How every `mae` command runs: ``compute`` then ``render`` (or JSON), exit codes, Ctrl-C, stdout failures.

A command module defines ``command`` (its options), ``compute`` (checks the options and makes one call
into ``mae_core`` / ``official_mae`` that returns plain data) and ``render`` (Rich tables for people).
``command`` hands both to :func:`run`, which prints either the tables or exactly one JSON document on
stdout. ``--json`` and ``--debug`` are declared once, here (:func:`with_output_options`, applied to
every command by ``mae_cli/app.py``): a command never lists them.

Exit codes: 0 ok, 1 verification failed, 2 bad input (one line on stderr naming the problem and the
fix), 3 internal error (a bug: please report it), 130 interrupted (Ctrl-C). Paper: none (engineering).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import inspect
import os
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from .output import err, error, print_json

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


# --- --json and --debug: declared once, for every command ------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="On error, show the full traceback.")]


@dataclasses.dataclass
class OutputSettings:
    """What ``--json`` / ``--debug`` said for the command running now (read by :func:`run`)."""

    json: bool = False
    debug: bool = False


SETTINGS = OutputSettings()


def with_output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with ``--json`` and ``--debug`` added to its options (Typer reads the signature), so
    no command declares them: the wrapper records them in :data:`SETTINGS` for :func:`run`."""
    hints = typing.get_type_hints(command, include_extras=True)
    signature = inspect.signature(command, eval_str=True)
    taken = {"json_out", "debug"} & set(signature.parameters)
    if taken:
        raise TypeError(f"{command.__module__}.{command.__name__} declares {sorted(taken)}; "
                        "--json and --debug come from mae_cli.runner.with_output_options")
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=kind)
             for name, kind in (("json_out", JsonOpt), ("debug", DebugOpt))]

    @functools.wraps(command)
    def wrapper(*args: Any, json_out: bool = False, debug: bool = False, **kwargs: Any) -> Any:
        previous = dataclasses.replace(SETTINGS)
        SETTINGS.json, SETTINGS.debug = json_out, debug
        try:
            return command(*args, **kwargs)
        finally:
            SETTINGS.json, SETTINGS.debug = previous.json, previous.debug

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**hints, "json_out": JsonOpt, "debug": DebugOpt}
    return wrapper


# --- outcomes --------------------------------------------------------------------------------------------

class BadInput(Exception):
    """The user asked for something impossible; the message names the problem and the fix."""


class VerificationFailed(Exception):
    """Raised by a service after it has produced its report, when the report says "fail"."""

    def __init__(self, data: Any, message: str):
        super().__init__(message)
        self.data = data



@contextlib.contextmanager
def file_argument() -> Iterator[None]:
    """For a command that takes the checkpoint as an argument (``mae checkpoint info PATH``): a core error
    about the file drops its "(pass --weights)" hint, an option that command does not have (issue 23)."""
    from mae_core.errors import MAEError

    try:
        yield
    except MAEError as exc:
        if exc.setting == "weights":
            exc.setting = None
        raise


@contextlib.contextmanager
def reference_errors(prefix: str = "") -> Iterator[None]:
    """A reference that cannot be built here (``official_mae.ReferenceUnavailable``: a library missing, a
    folder that is not the official clone) is bad input: its message, after ``prefix``, already names the fix."""
    from official_mae import ReferenceUnavailable

    try:
        yield
    except ReferenceUnavailable as exc:
        raise BadInput(f"{prefix}{exc}") from None


def _bad_input_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "bad input": ours, and every mae_core error (imported lazily: start-up)."""
    from mae_core.errors import MAEError

    return (BadInput, MAEError)


def run(
    compute: Callable[[], Any],
    render: Callable[[Any], None],
    *,
    json_out: bool | None = None,
    debug: bool | None = None,
    to_json: Callable[[Any], Any] | None = None,
) -> None:
    """Run a command: ``compute()`` returns plain data; print it as JSON or with ``render``; exit.

    ``compute`` raises :class:`BadInput` (or a core error that means bad input) for exit 2, and
    :class:`VerificationFailed` (carrying its report) for exit 1. A reader that closes the pipe early
    (``mae params | head``) ends the command quietly with its own exit code. ``json_out`` / ``debug``
    default to the command line's ``--json`` / ``--debug`` (:func:`with_output_options`).
    """
    json_out = SETTINGS.json if json_out is None else json_out
    debug = (SETTINGS.debug if debug is None else debug) or os.environ.get("MAE_DEBUG") == "1"
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
        given = f" {exc.given}" if getattr(exc, "given", None) is not None else ""
        return f"{_option(exc.setting)}{given}: {exc.problem}"
    if isinstance(exc, MAEError) and exc.setting:
        return f"{_one_line(str(exc))} (pass {_option(exc.setting)}{' ' + exc.value if exc.value else ''})"
    return str(exc)


SETTING_OPTIONS = {"layers": "--blocks"}  # a core setting whose option has another name (encoder blocks)


def _option(setting: str) -> str:
    """The option that sets a core setting: ``runs`` -> ``--runs``, ``layers`` -> ``--blocks``."""
    return SETTING_OPTIONS.get(setting, f"--{setting.replace('_', '-')}")


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

