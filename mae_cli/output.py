"""Output of every `mae` command: the two consoles, one-line messages, notes, JSON, progress, escaping.

Stdout carries the data (Rich tables, or exactly one JSON document with ``--json``); stderr carries
progress, notes and errors. Every string a user typed (paths, names, metadata read from their files)
goes through :func:`esc` before it reaches Rich, so ``[red]`` or ``[/]`` in a file name is shown as
typed, never read as markup. Paper: none (engineering).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.markup import escape

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


# --- user text -----------------------------------------------------------------------------------------

def cut(text: str, limit: int = 300) -> str:
    """``text`` with control characters (and lone surrogates) escaped, cut in the middle when longer
    than ``limit``: what a path or a name looks like in a message or a table."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else f"{text[: limit * 2 // 3]}...{text[-(limit // 3 - 3):]}"


def esc(text: Any, limit: int = 300) -> str:
    """User-supplied text made safe for Rich: control characters escaped, cut, markup escaped."""
    return escape(cut(str(text), limit))



# --- messages, JSON, progress --------------------------------------------------------------------------

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


def fmt_int(n: int) -> str:
    return f"{n:,}"


# --- tables ---------------------------------------------------------------------------------------------

def facts_table(title: str, rows: list[tuple[str, object]], lines: list[tuple[str, str]] = ()) -> None:
    """Print a two-column table of (name, value) facts, every value escaped (user text is never markup),
    then ``lines`` (name, value) one per line, never wrapped: hashes a reader copies whole."""
    from rich.table import Table

    t = Table(title=title, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", overflow="fold")
    for name, value in rows:
        t.add_row(escape(name), escape(str(value)))
    out.print(t)
    for name, value in lines:
        out.print(f"{name} {value}", markup=False, highlight=False, soft_wrap=True)
