"""Files in and out, safely: only regular files are read, and nothing is read without a bound; outputs
are written to a temporary file beside the target and renamed into place, so a failed write never
leaves a truncated file where a good one was, and a symlink is never followed to overwrite its target.

Every failure is an :class:`~mae_core.errors.MAEError` whose message names the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import MAEError


def _show(path: str | os.PathLike) -> str:
    """The path as it goes into a message: quoted, control characters escaped, cut when very long."""
    text = repr(os.fspath(path))
    return text if len(text) <= 200 else text[:120] + "..." + text[-60:]


show_path = _show  # the same, for the other modules of mae_core.io


def regular_file(path: str | os.PathLike, what: str = "file", max_bytes: int | None = None) -> Path:
    """``path`` as a Path if it names an existing regular file of at most ``max_bytes`` bytes.

    FIFOs, devices (``/dev/zero``), sockets and directories are refused before anything is opened, so
    reading never blocks or runs without end. Raises :class:`MAEError` naming the problem.
    """
    p = Path(path)
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise MAEError(f"{what} {_show(path)} does not exist; check the path") from None
    except (OSError, ValueError) as exc:  # name too long, embedded NUL, permission on a parent
        raise MAEError(f"{what} {_show(path)} cannot be opened ({type(exc).__name__}); check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise MAEError(f"{what} {_show(path)} is a directory; pass a file")
    if not stat.S_ISREG(st.st_mode):
        raise MAEError(f"{what} {_show(path)} is not a regular file (a pipe, device or socket); "
                       "pass a file saved on disk")
    if max_bytes is not None and st.st_size > max_bytes:
        raise MAEError(f"{what} {_show(path)} is {st.st_size:,} bytes, more than the {max_bytes:,} it can "
                       "need; check that it is the right file")
    return p


def read_bounded(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (checked before and while reading)."""
    p = regular_file(path, what, max_bytes)
    with p.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise MAEError(f"{what} {_show(path)} is larger than the {max_bytes:,} bytes it can need")
    return data


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, follow_symlink: bool = False, what: str = "output") -> Iterator[BinaryIO]:
    """Write ``path`` all or nothing: yields a binary file in the same folder, renamed onto ``path``
    only when the block ends without error (and removed otherwise).

    A ``path`` that is a symlink is refused unless ``follow_symlink`` (then its target is replaced);
    a directory, or a folder that does not exist, is refused with the fix.
    """
    with atomic_path(path, follow_symlink=follow_symlink, what=what) as tmp, open(tmp, "wb") as f:
        yield f


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, follow_symlink: bool = False, what: str = "output") -> Iterator[Path]:
    """:func:`atomic_write` for writers that want a file name (``safetensors.torch.save_file``, a
    directory of files): yields the path of an empty temporary file beside ``path``, synced and renamed
    onto ``path`` when the block ends without error, removed otherwise."""
    p = Path(path)
    if p.is_symlink():
        if not follow_symlink:
            raise MAEError(f"{what} {_show(path)} is a symbolic link; refusing to write through it "
                           "(remove it or pass the real path)")
        p = p.resolve()
    if p.is_dir():
        raise MAEError(f"{what} {_show(path)} is a directory; pass a file name")
    folder = p.parent
    if not folder.is_dir():
        raise MAEError(f"{what} {_show(path)}: folder {_show(folder)} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:40]}.", suffix=".part", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise MAEError(f"cannot write {what} {_show(path)} ({exc.strerror or type(exc).__name__}); "
                       "choose a writable folder") from None
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if p.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(p.stat().st_mode))
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise MAEError(f"cannot write {what} {_show(path)} ({exc.strerror or type(exc).__name__}); "
                           "nothing was changed; free some space or choose another path") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
