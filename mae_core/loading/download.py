"""Fetch an official checkpoint: resumable, hash-checked before it is moved into place.

Paper: none (engineering; huggingface_hub's habits). The file is streamed into ``.NAME.pth.part`` beside
the target, continuing a previous partial download with an HTTP ``Range`` request; its md5 is computed
on the way and compared with the prefix the official README publishes (where it publishes one) before
the file is renamed to ``NAME.pth``. A mismatch removes the partial file and leaves nothing in place.
No network, or a server that refuses, is an :class:`~mae_core.errors.MAEError` (the partial file is kept
for the next try). URLs live in :mod:`mae_core.io.releases` only; ``mirror`` replaces their common prefix.
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MAEError
from ..io import releases
from ..io.files import finite_float, http_url, open_regular, show_path, write_failure
from .weights import official_shapes

CHUNK = 1 << 20


class DownloadError(MAEError):
    """The download could not be done (no network, server error, no space); the message says why."""


def download(name: str, folder: str | Path = ".", *, mirror: str | None = None, timeout: float = 30.0,
             progress: Callable[[int, int | None], None] | None = None) -> dict[str, Any]:
    """Download the official release ``name`` into ``folder``; returns what happened.

    ``verified`` is True when the published md5 prefix matched, None when none is published, False on a
    mismatch (then nothing is left: the caller exits 1). ``progress(done_bytes, total_bytes or None)``
    is called as bytes arrive.
    """
    release = releases.find_release(name)
    if release is None:
        raise MAEError(f"{name[:80]!r} is not an official MAE release; choose one of {', '.join(releases.RELEASES)}")
    timeout = finite_float(timeout, "timeout", low=0, low_open=True, high=24 * 3600)
    if mirror is not None:
        http_url(mirror, "mirror")
    folder = Path(folder)
    if not folder.is_dir():
        raise MAEError(f"folder {show_path(folder)} does not exist; create it first")
    url = release.url if mirror is None else mirror.rstrip("/") + release.url[len(releases.BASE_URL):]
    http_url(url, "mirror")
    dest = folder / f"{release.name}.pth"
    part = folder / f".{release.name}.pth.part"
    result: dict[str, Any] = {"name": release.name, "url": url, "path": str(dest), "variant": release.variant,
                              "kind": release.kind, "md5_prefix": release.md5_prefix, "resumed_from": 0,
                              "already_present": False, "notes": []}
    limit = max_release_bytes(release)
    for path, what in ((dest, "target"), (part, "partial download")):
        if os.path.lexists(path):  # a regular file, never a symlink, FIFO, device or folder
            os.close(open_regular(path, what=what))
    if dest.exists():
        md5, sha = _hash_file(dest, limit)
        result.update(already_present=True, bytes=dest.stat().st_size, md5=md5, sha256=sha,
                      verified=_verified(release, md5))
        if result["verified"] is False:
            result["notes"].append(f"{dest.name} is already there but its md5 {md5[:6]}... is not the published "
                                   f"{release.md5_prefix}...: remove it and download again")
        return result

    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    have = part.stat().st_size if part.exists() else 0
    if have > limit:
        raise DownloadError(f"partial download {show_path(part)} is {have:,} bytes, more than {release.name}.pth can "
                            f"be ({limit:,}); remove it and run again")
    if have:
        _hash_into(part, limit, md5, sha)
    try:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    except ValueError as exc:
        raise MAEError(f"{url[:80]!r} is not a valid URL ({exc}); check the mirror") from None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # http(s) only: checked above
            status = response.status
            if have and status == 200:  # the server ignored Range: start again
                have = 0
                md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            if total is not None and total > limit:
                if not have:
                    part.unlink(missing_ok=True)
                raise DownloadError(f"{url} announces {total:,} bytes, more than {release.name}.pth can be "
                                    f"({limit:,}); refusing it")
            result["resumed_from"] = have
            done = have
            with os.fdopen(open_regular(part, write=True, append=bool(have), what="partial download"), "wb") as f:
                if progress:
                    progress(done, total)
                while chunk := response.read(CHUNK):
                    done += len(chunk)
                    if done > limit:  # what came is not the release: nothing of it is kept
                        f.close()
                        part.unlink(missing_ok=True)
                        raise DownloadError(f"{url} sent more than {release.name}.pth can be ({limit:,} bytes); "
                                            "stopped")
                    try:
                        f.write(chunk)
                    except OSError as exc:
                        raise DownloadError(f"cannot write {show_path(part)}: {write_failure(exc)}; free some space "
                                            "and run again to resume") from None
                    md5.update(chunk)
                    sha.update(chunk)
                    if progress:
                        progress(done, total)
            if total is not None and done != total:
                raise DownloadError(f"the connection ended after {done:,} of {total:,} bytes; run the command "
                                    "again to resume")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the partial file is the whole file
            pass
        else:
            raise DownloadError(f"{url} answered HTTP {exc.code} ({exc.reason}); try again later or download it "
                                "by hand") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, ValueError) as exc:
        if isinstance(exc, MAEError):
            raise
        if isinstance(exc, ValueError):  # http.client's refusals of a URL (a bad port, a bad host)
            raise MAEError(f"{url[:80]!r} is not a valid URL ({exc}); check the mirror") from None
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        kept = " (the partial file is kept: run again to resume)" if part.exists() and part.stat().st_size else ""
        raise DownloadError(f"cannot download {url}: {reason}; check the network connection{kept}") from None

    result.update(bytes=part.stat().st_size, md5=md5.hexdigest(), sha256=sha.hexdigest())
    result["verified"] = _verified(release, result["md5"])
    if result["verified"] is False:
        part.unlink(missing_ok=True)
        result["notes"].append(f"md5 {result['md5'][:6]}... is not the published {release.md5_prefix}...: the "
                               "download is corrupt and was removed")
        return result
    if result["verified"] is None:
        result["notes"].append(f"the official README publishes no hash for {release.name}.pth; its sha256 is "
                               f"{result['sha256']} (check it with `mae checkpoint info`)")
    os.replace(part, dest)
    return result


def _verified(release: releases.Release, md5_hex: str) -> bool | None:
    return None if release.md5_prefix is None else md5_hex.startswith(release.md5_prefix)


def max_release_bytes(release: releases.Release) -> int:
    """The most bytes a release's file can be: its tensors in float32 (the encoder alone for a ``pretrain``
    file), times ``releases.SIZE_FACTOR[kind]`` (a ``full`` file may carry the optimiser's two moments), plus
    ``releases.SIZE_SLACK`` for the pickle. A download stops there (issue 23)."""
    shapes = official_shapes(release.variant)
    numel = sum(math.prod(s) for k, s in shapes.items()
                if release.has_decoder or not k.startswith(("mask_token", "decoder_")))
    return numel * 4 * releases.SIZE_FACTOR.get(release.kind, 1) + releases.SIZE_SLACK

def _hash_into(path: Path, limit: int, *hashes) -> None:
    """Hash a regular file (never through a symlink, never a FIFO or device) of at most ``limit`` bytes."""
    done = 0
    with os.fdopen(open_regular(path, what="file"), "rb") as f:
        while chunk := f.read(CHUNK):
            done += len(chunk)
            if done > limit:
                raise DownloadError(f"{show_path(path)} is larger than the release can be ({limit:,} bytes); "
                                    "remove it and run again")
            for h in hashes:
                h.update(chunk)


def _hash_file(path: Path, limit: int) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    _hash_into(path, limit, md5, sha)
    return md5.hexdigest(), sha.hexdigest()
