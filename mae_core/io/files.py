"""Files in and out, safely: only regular files are read, and nothing is read without a bound; outputs
are written to a temporary file beside the target and renamed into place, so a failed write never
leaves a truncated file where a good one was, and a symlink is never followed to overwrite its target.

Every failure is an :class:`~mae_core.errors.MAEError` whose message names the file and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import MAEError, SettingError


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
    """:func:`atomic_write` for writers that want a file name (``safetensors.torch.save_file``): yields the
    path of an empty temporary file beside ``path``, synced and renamed onto ``path`` when the block ends
    without error, removed otherwise."""
    with atomic_paths([path], follow_symlink=follow_symlink, what=what) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike], *, follow_symlink: bool = False,
                 what: str = "output") -> Iterator[list[Path]]:
    """:func:`atomic_path` for files that belong together (a transformers folder: ``config.json`` beside
    ``model.safetensors``): one temporary file each; when the block ends without error every one is synced
    first, then all are renamed onto their paths, so a failure while writing or syncing any of them leaves
    every old file as it was (only the renames themselves, one after another, are not one step)."""
    targets = [_checked_target(Path(p), follow_symlink, what) for p in paths]
    temps: list[str] = []
    try:
        for p in targets:
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:40]}.", suffix=".part", dir=p.parent)
            os.close(fd)
            temps.append(tmp)
    except OSError as exc:
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise MAEError(f"cannot write {what} {_show(paths[len(temps)])} ({exc.strerror or type(exc).__name__}); "
                       "choose a writable folder") from None
    try:
        yield [Path(t) for t in temps]
        for tmp, p in zip(temps, targets, strict=True):
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            if p.exists():
                with contextlib.suppress(OSError):
                    os.chmod(tmp, stat.S_IMODE(p.stat().st_mode))
            else:
                os.chmod(tmp, 0o666 & ~_umask())
        for tmp, p in zip(temps, targets, strict=True):
            os.replace(tmp, p)
    except BaseException as exc:
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        reason = write_failure(exc, targets[0].parent)
        if reason is not None:
            shown = " and ".join(_show(p) for p in paths)
            raise MAEError(f"cannot write {what} {shown}: {reason}; nothing was changed; free some space, "
                           "raise the file-size limit or choose another path") from None
        raise


def _checked_target(p: Path, follow_symlink: bool, what: str) -> Path:
    """The file an atomic write replaces: never through a symlink (unless asked), a directory, a device or a
    FIFO; its folder must exist."""
    shown = p
    if p.is_symlink():
        if not follow_symlink:
            raise MAEError(f"{what} {_show(shown)} is a symbolic link; refusing to write through it "
                           "(remove it or pass the real path)")
        p = p.resolve()
    if p.is_dir():
        raise MAEError(f"{what} {_show(shown)} is a directory; pass a file name")
    _refuse_special(p, what)
    if not p.parent.is_dir():
        raise MAEError(f"{what} {_show(shown)}: folder {_show(p.parent)} does not exist; create it first")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- one output guard for every command that writes (issue 23) --------------------------------------------

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))
MAX_INPUT_FILES = 10_000  # files looked at inside one input folder (a weights directory)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    return next((word for test, word in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a regular file")


def _refuse_special(p: Path, what: str) -> None:
    """Refuse an existing ``p`` that is a device, FIFO or socket: renaming onto it would replace the node."""
    try:
        st = os.lstat(p)
    except (OSError, ValueError):
        return
    kind = _kind(st.st_mode)
    if kind is not None and not stat.S_ISLNK(st.st_mode):
        raise MAEError(f"{what} {_show(p)} is {kind}; refusing to replace it: pass the name of a regular file")


def write_failure(exc: BaseException, folder: Path | None = None) -> str | None:
    """Why a writer failed, in words, when ``exc`` is a failed write (None for anything else).

    ``OSError`` says it itself; torch's zip writer and safetensors raise their own errors whose text
    carries no errno, so the folder's free space is looked at to name the likely cause.
    """
    if isinstance(exc, OSError):
        if exc.errno == errno.EFBIG:
            return "file too large (a file-size limit, ulimit -f)"
        if exc.errno == errno.ENOSPC:
            return "no space left on device"
        return (exc.strerror or type(exc).__name__).lower()
    if not (type(exc).__name__ == "SafetensorError" or isinstance(exc, RuntimeError)):
        return None  # the writers' blocks only write: their RuntimeError is torch's zip writer failing
    if folder is not None:
        with contextlib.suppress(OSError):
            vfs = os.statvfs(folder)
            if vfs.f_bavail * vfs.f_frsize < (1 << 20):
                return "no space left on device"
    import resource

    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY:
        return f"file too large (the file-size limit, ulimit -f, is {soft:,} bytes)"
    return "the write failed (no space left on device?)"


def input_files(paths: Iterable[str | os.PathLike | None]) -> list[Path]:
    """Every file a command reads: each path itself, and every file inside a path that is a folder (a
    transformers weights directory), without following symlinks out of it; at most ``MAX_INPUT_FILES``."""
    found: list[Path] = []
    for path in paths:
        if path is None:
            continue
        p = Path(path)
        found.append(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):  # os.walk does not follow symlinked folders
                for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
                    found.append(Path(root) / name)
                    if len(found) > MAX_INPUT_FILES:
                        return found
    return found


def _identity(p: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(p)  # follows symlinks: an input reached through a link is the file it names
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_outputs(outputs: Iterable[tuple[str | os.PathLike | None, str]],
                  inputs: Iterable[str | os.PathLike | None] = (), *, follow_symlink: bool = False) -> None:
    """Refuse, before any work, every output that would destroy something: ``outputs`` are
    ``(path, what)`` pairs (``what`` names the option, e.g. ``"--out"``; a None path is skipped).

    An output that exists must be a regular file (a symlink is judged by what it names), never a device,
    FIFO, socket or directory; and it must not be the same file (device and inode) as any input: each
    path in ``inputs``, every file inside an input folder. A symlink output is refused unless
    ``follow_symlink`` (as the atomic writer does). Raises :class:`MAEError` naming both.
    """
    ids: dict[tuple[int, int], Path] = {}
    for p in input_files(inputs):
        ident = _identity(p)
        if ident is not None:
            ids.setdefault(ident, p)
    written: dict[tuple[int, int] | Path, str] = {}
    for path, what in outputs:
        if path is None:
            continue
        p = Path(path)
        key: tuple[int, int] | Path = _identity(p) or Path(os.path.abspath(p))
        if key in written:
            raise MAEError(f"{what} {_show(path)} is also {written[key]}; give each output its own file")
        written[key] = what
        if p.is_symlink() and not follow_symlink:
            raise MAEError(f"{what} {_show(path)} is a symbolic link; refusing to write through it "
                           "(remove it or pass the real path)")
        parent = Path(os.path.abspath(p)).parent
        if not parent.is_dir():
            raise MAEError(f"{what} {_show(path)}: folder {_show(parent)} does not exist; create it first")
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:  # a dangling or looping link, a name too long, a NUL
            if p.is_symlink():
                continue  # a dangling link followed on purpose: the writer replaces its target
            raise MAEError(f"{what} {_show(path)} cannot be checked ({type(exc).__name__}); check the path") from None
        kind = _kind(st.st_mode)
        if kind is not None:
            fix = "pass a file name (not a folder)" if stat.S_ISDIR(st.st_mode) else "pass the name of a regular file"
            raise MAEError(f"{what} {_show(path)} is {kind}; refusing to write there: {fix}")
        same = ids.get((st.st_dev, st.st_ino))
        if same is not None:
            raise MAEError(f"{what} {_show(path)} is the same file as the input {_show(same)}; refusing to overwrite "
                           "an input: choose another output path")


def check_output_folder(folder: str | os.PathLike, names: Iterable[str], what: str,
                        inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """:func:`check_outputs` for a command that writes a folder of files (``names`` inside ``folder``):
    the folder, if it exists, must be a real directory, and each file written is checked."""
    p = Path(folder)
    if p.is_symlink():
        raise MAEError(f"{what} {_show(folder)} is a symbolic link; refusing to write through it (pass the real path)")
    if p.exists() and not p.is_dir():
        try:
            kind = _kind(os.stat(p).st_mode) or "a file"
        except OSError:
            kind = "not a folder"
        raise MAEError(f"{what} {_show(folder)} is {kind}; it must be a folder: pass a new folder name")
    if not p.exists():
        parent = Path(os.path.abspath(p)).parent
        if not parent.is_dir():
            raise MAEError(f"{what} {_show(folder)}: folder {_show(parent)} does not exist; create it first")
        return  # a new folder: nothing in it to clash with
    check_outputs([(p / name, f"{what} file") for name in names], inputs)


# --- numbers and URLs from options and files that Python can refuse ----------------------------------------

def finite_float(text: str | float, setting: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """``text`` as a finite float within ``[low, high]`` (``(low, high]`` if ``low_open``); anything else
    (not a number, nan, inf, an overflow) is a :class:`SettingError` naming ``setting``."""
    shown = repr(str(text)[:80])
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        raise SettingError(setting, f"{shown} is not a number") from None
    if not math.isfinite(value):
        raise SettingError(setting, f"{shown} is not a finite number; give a number such as 30")
    if low is not None and (value < low or low_open and value <= low):
        raise SettingError(setting, f"{shown} must be {'above' if low_open else 'at least'} {low:g}")
    if high is not None and value > high:
        raise SettingError(setting, f"{shown} must be at most {high:g}")
    return value


def http_url(text: str, setting: str) -> str:
    """``text`` if it is an http(s) URL Python can parse (host, port, brackets), else a SettingError."""
    import urllib.parse

    shown = repr(text[:80])
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        raise SettingError(setting, f"{shown} is not a valid URL ({exc}); give one like https://host/path") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(setting, f"{shown} is not an http(s) URL with a host; give one like https://host/path")
    if any(ord(c) < 33 for c in text):
        raise SettingError(setting, f"{shown} holds spaces or control characters; give one like https://host/path")
    return text


def open_regular(path: str | os.PathLike, *, write: bool = False, append: bool = False, what: str = "file") -> int:
    """A file descriptor on ``path``, which must be a regular file reached without a symlink.

    ``O_NOFOLLOW`` refuses a symlink at the last component; ``O_NONBLOCK`` keeps a FIFO from blocking the
    open, and ``fstat`` then refuses anything that is not a regular file (a FIFO, a device). With
    ``write``, the file is created if missing, truncated unless ``append``. Raises :class:`MAEError`.
    """
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    flags |= (os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)) if write else os.O_RDONLY
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MAEError(f"{what} {_show(path)} is a symbolic link; refusing to use it (remove it)") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):
            kind = "a directory" if exc.errno == errno.EISDIR else "a FIFO or device"
            raise MAEError(f"{what} {_show(path)} is {kind}; remove it or choose another folder") from None
        raise MAEError(f"cannot open {what} {_show(path)}: {(exc.strerror or type(exc).__name__).lower()}") from None
    st = os.fstat(fd)
    kind = _kind(st.st_mode)
    if kind is not None:
        os.close(fd)
        raise MAEError(f"{what} {_show(path)} is {kind}; remove it or choose another folder")
    os.set_blocking(fd, True)
    return fd
