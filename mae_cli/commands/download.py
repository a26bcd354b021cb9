"""`mae download NAME`: fetch an official MAE checkpoint, resumable and hash-checked.

Paper: none. Service: :func:`mae_core.loading.download.download`; the URLs are the table in
:mod:`mae_core.io.releases`. Progress goes to stderr; the report (a table, or JSON) to stdout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..output import err, facts_table, fmt_int, note
from ..runner import VerificationFailed, run


def command(
    name: Annotated[str, typer.Argument(help="An official release: mae_visualize_vit_{base,large,huge}, "
                                             "mae_visualize_vit_large_ganloss, mae_pretrain_vit_{base,large,huge}"
                                             "[_full].", show_default=False)],
    folder: Annotated[Path, typer.Option("--dir", "-d", help="Folder to put NAME.pth in.")] = Path("."),
    mirror: Annotated[Optional[str], typer.Option(
        "--mirror", help="Replace https://dl.fbaipublicfiles.com/mae by this URL prefix (a mirror or local server).",
        show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.")] = 30.0,
) -> None:
    """Fetch an official checkpoint, resumable, hash-checked.

    Download an official checkpoint into --dir: progress on stderr, a partial download resumed, the md5
    checked against the official README's published prefix before the file is moved into place.

    Exit 0 when in place (verified, or no hash is published: its sha256 is printed), 1 when the hash does
    not match (nothing is left in place), 2 when offline or the name is unknown.

    \b
    JSON (--json), one document with the keys:
      name, url, path, variant, kind, md5_prefix, resumed_from,
      already_present, bytes, md5, sha256, verified (true, false, or null when
      no hash is published), notes.
    """

    def compute():
        from mae_core.loading.download import download

        with _progress_bar(name) as update:
            data = download(name, folder, mirror=mirror, timeout=timeout, progress=update)
        if data["verified"] is False:
            raise VerificationFailed(data, "the downloaded file's md5 does not match the published one")
        return data

    run(compute, _render)


@contextlib.contextmanager
def _progress_bar(name: str) -> Iterator[Callable[[int, int | None], None]]:
    """A Rich progress bar on stderr (nothing when stderr is not a terminal); yields its update function."""
    if not err.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   console=err, transient=True)
    task = bar.add_task(escape(name), total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _render(d: dict) -> None:
    verified = {True: f"md5 matches the published {d['md5_prefix']}...", None: "no published hash (see sha256)",
                False: f"md5 {d.get('md5', '')[:6]}... is NOT the published {d['md5_prefix']}...: removed",
                }[d["verified"]]
    facts_table(f"{escape(d['name'])}.pth", [
        ("path", d["path"] if d["verified"] is not False else "nothing written"),
        ("from", d["url"]),
        ("what", f"{d['variant']}, {d['kind']}"),
        ("size", f"{fmt_int(d['bytes'])} bytes"
         + (f" (resumed at {fmt_int(d['resumed_from'])})" if d["resumed_from"] else "")
         + (" (already present)" if d["already_present"] else "")),
        ("check", verified),
    ], [("sha256", d["sha256"])] if d.get("sha256") else [])
    for line in d["notes"]:
        note(line)
