"""The `mae` command group: usage errors as one line, help printed once, streams and Ctrl-C at any moment.

Click/Typer would draw usage errors as boxes, print a traceback on a closed or full stdout, on a missing
argument (Typer's argument objects lack attributes Click's have) and on Ctrl-C outside a command's
work, and, with typer 0.29, print a group's help twice when it is run alone. Paper: none (engineering).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any

import typer
import typer.core

from .output import cut, error, note
from .runner import (EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, INTERRUPTS, _watch_interrupts, interrupted,
                     stdout_failed)

# Click's exceptions, from whichever Click this Typer uses (Typer >= 0.20 vendors its own copy).
_click_errors = sys.modules[typer.BadParameter.__module__]
UsageError: type[Exception] = _click_errors.UsageError
ClickException: type[Exception] = _click_errors.ClickException
NoArgsIsHelpError: type[Exception] = getattr(_click_errors, "NoArgsIsHelpError", type("_Never", (Exception,), {}))
MissingParameter: type[Exception] = _click_errors.MissingParameter


def print_help(ctx: Any) -> None:
    """The help of ``ctx``'s command on stdout, once. With Rich, Typer's ``get_help`` prints the help
    itself and returns ""; without, it returns the text. (typer 0.29's ``NoArgsIsHelpError`` calls it
    on creation, so printing the exception's help as well showed it twice.)"""
    text = ctx.get_help()
    if text.strip():
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


class HelpWhenAlone:
    """A group run with nothing after it (`mae`, `mae checkpoint`) prints its help once, exit 0."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            print_help(ctx)
            raise typer.Exit(EXIT_OK)
        return super().parse_args(ctx, args)  # type: ignore[misc]


class SubGroup(HelpWhenAlone, typer.core.TyperGroup):
    """A group of sub-commands under `mae` (`mae checkpoint info|convert`)."""


class MAEGroup(HelpWhenAlone, typer.core.TyperGroup):
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

    def command_paths(self) -> set[str]:
        """``params``, ``checkpoint info``, ...: every command, as typed after `mae`."""
        paths = set()
        for name, command in self.commands.items():
            subs = getattr(command, "commands", None)
            paths |= {f"{name} {sub}" for sub in subs} if subs else {name}
        return paths

    def _run_watched(self, args: list[str], prog_name: str, extra: dict[str, Any]) -> int:
        from .options import rename_old_spellings

        args, renamed = rename_old_spellings(args, self.command_paths())
        code = self._parse_and_invoke(args, prog_name, extra)
        if code in (EXIT_OK, EXIT_FAILED):  # after the work: a usage error stays one line
            for line in renamed:
                note(line)
        return code

    def _parse_and_invoke(self, args: list[str], prog_name: str, extra: dict[str, Any]) -> int:
        try:
            try:
                with self.make_context(prog_name, args, **extra) as ctx:
                    self.invoke(ctx)
                sys.stdout.flush()
                return EXIT_OK
            except NoArgsIsHelpError as exc:  # a group alone that is not a HelpWhenAlone: its help, once
                text = exc.format_message()  # the help text; "" where Rich has printed it already
                if text.strip():
                    sys.stdout.write(text + "\n")
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
    if isinstance(exc, MissingParameter) and param is not None:  # `mae checkpoint info` without its PATH
        name = _param_name(param)
        kind = "option" if any(o.startswith("-") for o in getattr(param, "opts", [])) else "argument"
        what = _first_sentence(getattr(param, "help", None) or "")
        return f"error: missing {kind} {name}{f' ({what})' if what else ''}; see {where}"
    if isinstance(exc, typer.BadParameter) and param is not None:
        opts = list(getattr(param, "opts", []))
        name = _param_name(param)
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


def _param_name(param: Any) -> str:
    """How the help names a parameter: its long option, else the argument's metavar (``PATH``, ``SRC``).
    Typer's argument objects lack Click's ``human_readable_name`` (typer >= 0.20): never ask for it."""
    opts = list(getattr(param, "opts", None) or [])
    long = next((o for o in opts if o.startswith("--")), None)
    if long:
        return long
    metavar = getattr(param, "metavar", None)
    if metavar:
        return str(metavar).strip("[]. ")
    name = getattr(param, "name", None) or (opts[0] if opts else "value")
    return str(name).upper()


def _first_sentence(text: str) -> str:
    """The first sentence of a help text, as a hint (at most 80 characters)."""
    text = " ".join(text.split())
    first = text.split(". ")[0].rstrip(".")
    first = first[:1].lower() + first[1:] if first[:2] != first[:2].upper() else first
    return first if len(first) <= 80 else ""


def _given(args: list[str], opts: list[str]) -> str | None:
    """What the user typed after one of ``opts`` (``--batch 1.5`` or ``--batch=1.5``), quoted."""
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return repr(args[i + 1])
            if arg.startswith(opt + "=") and opt.startswith("--"):
                return repr(arg[len(opt) + 1:])
    return None

