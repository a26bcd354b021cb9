"""`mae download` against a loopback HTTP server on 127.0.0.1 (no test reaches the internet).

The server (``http.server`` in a thread) serves a small file under the real release path
(``/pretrain/mae_pretrain_vit_base.pth``), honours ``Range`` requests, and can be told to cut the
connection after N bytes or to serve other bytes. The release's published md5 prefix is set to the small
file's for the test; ``--mirror`` points the command at the server.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading

import pytest
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core.io import releases

runner = CliRunner()
NAME = "mae_pretrain_vit_base"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    body = PAYLOAD
    cut_after: int | None = None  # close the connection after this many bytes of the body
    requests: list = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        type(self).requests.append((self.path, self.headers.get("Range")))
        if self.path != f"/pretrain/{NAME}.pth":
            self.send_error(404)
            return
        body, start = self.body, 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        data = body[start:]
        if self.cut_after is not None:
            data = data[: self.cut_after]
        self.wfile.write(data)
        if self.cut_after is not None:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def server(monkeypatch):
    _Handler.body, _Handler.cut_after, _Handler.requests = PAYLOAD, None, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    rel = releases.RELEASES[NAME]
    md5 = hashlib.md5(PAYLOAD, usedforsecurity=False).hexdigest()
    monkeypatch.setitem(releases.RELEASES, NAME, type(rel)(**{**rel.__dict__, "md5_prefix": md5[:6]}))
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _download(mirror: str, folder, *extra: str):
    return runner.invoke(app, ["download", NAME, "--dir", str(folder), "--mirror", mirror, "--json", *extra])


def test_complete_download_is_verified_and_in_place(server, tmp_path):
    result = _download(server, tmp_path)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verified"] is True and data["resumed_from"] == 0 and data["bytes"] == len(PAYLOAD)
    assert (tmp_path / f"{NAME}.pth").read_bytes() == PAYLOAD
    assert data["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert list(tmp_path.iterdir()) == [tmp_path / f"{NAME}.pth"]  # no partial file left
    again = _download(server, tmp_path)
    assert again.exit_code == 0 and json.loads(again.stdout)["already_present"] is True


def test_interrupted_download_is_resumed(server, tmp_path):
    _Handler.cut_after = 300_000
    first = _download(server, tmp_path)
    assert first.exit_code == 2 and "resume" in first.stderr, first.output
    part = tmp_path / f".{NAME}.pth.part"
    assert part.stat().st_size == 300_000 and not (tmp_path / f"{NAME}.pth").exists()
    _Handler.cut_after = None
    second = _download(server, tmp_path)
    assert second.exit_code == 0, second.output
    data = json.loads(second.stdout)
    assert data["resumed_from"] == 300_000 and data["verified"] is True
    assert _Handler.requests[-1][1] == "bytes=300000-"
    assert (tmp_path / f"{NAME}.pth").read_bytes() == PAYLOAD and not part.exists()


def test_corrupted_download_exits_1_and_leaves_nothing(server, tmp_path):
    _Handler.body = PAYLOAD[:-1] + b"\x00"  # one byte differs: the md5 does not match
    result = _download(server, tmp_path)
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["verified"] is False
    assert list(tmp_path.iterdir()) == []  # nothing in place, no partial file


def test_offline_is_exit_2_in_one_line(tmp_path):
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _download(f"http://127.0.0.1:{port}", tmp_path, "--timeout", "5")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot download") and "network" in lines[0]


def test_unknown_name_lists_the_releases(tmp_path):
    result = runner.invoke(app, ["download", "mae_vit_gigantic", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "mae_visualize_vit_large_ganloss" in result.stderr


# The official repository's published values (facebookresearch/mae, commit efb2a80), written once here as
# facts, not copied from mae_core.io.releases: README.md "Pre-trained checkpoints" (URL, md5 prefix under
# each), FINETUNE.md (URL, md5 prefix, and the `main_finetune.py --eval` Acc@1 / Acc@5 lines), and the two
# URLs demo/mae_visualize.ipynb downloads.
PUBLISHED = {
    "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth": ("8cad7c", None),
    "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_large.pth": ("b8b06e", None),
    "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_huge.pth": ("9bdbb0", None),
    "https://dl.fbaipublicfiles.com/mae/finetune/mae_finetuned_vit_base.pth": ("1b25e9", (83.664, 96.530)),
    "https://dl.fbaipublicfiles.com/mae/finetune/mae_finetuned_vit_large.pth": ("51f550", (85.952, 97.570)),
    "https://dl.fbaipublicfiles.com/mae/finetune/mae_finetuned_vit_huge.pth": ("2541f2", (86.928, 98.088)),
}
DEMO_URLS = {"https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_large.pth",
             "https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_large_ganloss.pth"}
VARIANT_OF = {"base": "mae_vit_base_patch16", "large": "mae_vit_large_patch16", "huge": "mae_vit_huge_patch14"}


def test_every_release_url_is_in_the_one_table():
    """Each published URL is in the table with its own published hash (a swapped pair fails), the demo's
    URLs are there, and no file the official pages give no hash for claims one."""
    by_url = {r.url: r for r in releases.RELEASES.values()}
    assert len(by_url) == len(releases.RELEASES)  # one row per URL
    for url, (md5, accuracy) in PUBLISHED.items():
        row = by_url[url]
        assert row.md5_prefix == md5, url
        assert row.variant == VARIANT_OF[url.rsplit("_", 1)[1].removesuffix(".pth")] and not row.has_decoder
        if accuracy:
            assert (row.kind, row.acc1, row.acc5) == ("finetune", *accuracy)
        else:
            assert row.kind == "pretrain"
    assert DEMO_URLS <= set(by_url)
    assert all(r.md5_prefix is None for u, r in by_url.items() if u not in PUBLISHED)
    assert all(u.startswith("https://dl.fbaipublicfiles.com/mae/") for u in by_url)
