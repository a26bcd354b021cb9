"""Refusing sides and exact edges of the checks the tool makes on a user's behalf (issue 27).

Each check is tested one unit inside and one unit outside its edge, and each refusal from two angles: the
function itself and the ``mae`` command that relies on it. Expected values are facts written here once
(the official README's published hashes, hand-built pickles), never read back from the code under test.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import pickle
import threading
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core.errors import MAEError
from mae_core.loading import download as dl
from mae_core.io import pickle_scan, releases
from mae_core.io.files import atomic_path, atomic_write, read_bounded, regular_file

runner = CliRunner()

# --- the hash comparison: every one of the six digits, and the prefix found elsewhere ----------------------

def _one_digit_off(prefix: str, i: int) -> str:
    digit = "0" if prefix[i] != "0" else "1"
    return prefix[:i] + digit + prefix[i + 1:]


@pytest.mark.parametrize("i", range(6))
def test_md5_differing_in_one_digit_is_refused(i):
    rel = releases.RELEASES["mae_pretrain_vit_base"]
    md5 = _one_digit_off("8cad7c", i) + "0" * 26
    assert dl._verified(rel, md5) is False
    assert releases.match_md5(md5) is None
    assert dl._verified(rel, "8cad7c" + "0" * 26) is True  # the inside of the edge
    assert releases.match_md5("8cad7c" + "f" * 26) is rel


def test_md5_containing_the_prefix_elsewhere_is_refused():
    rel = releases.RELEASES["mae_pretrain_vit_base"]
    md5 = "0" + "8cad7c" + "0" * 25
    assert dl._verified(rel, md5) is False and releases.match_md5(md5) is None


NAME = "mae_pretrain_vit_base"
PAYLOAD = bytes(range(256)) * 64  # 16 KiB
PAYLOAD_MD5 = hashlib.md5(PAYLOAD, usedforsecurity=False).hexdigest()


class _Plain(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)


@pytest.fixture
def mirror():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _publish(monkeypatch, prefix: str) -> None:
    rel = releases.RELEASES[NAME]
    monkeypatch.setitem(releases.RELEASES, NAME, type(rel)(**{**rel.__dict__, "md5_prefix": prefix}))


def _run_download(mirror: str, folder):
    return runner.invoke(app, ["download", NAME, "--dir", str(folder), "--mirror", mirror, "--json"])


@pytest.mark.parametrize("prefix", [PAYLOAD_MD5[:6]] + [_one_digit_off(PAYLOAD_MD5[:6], i) for i in range(6)]
                         + [PAYLOAD_MD5[1:7], PAYLOAD_MD5[-6:]],
                         ids=["exact"] + [f"digit{i}" for i in range(6)] + ["shifted", "suffix"])
def test_download_cli_refuses_every_near_miss(mirror, tmp_path, monkeypatch, prefix):
    _publish(monkeypatch, prefix)
    result = _run_download(mirror, tmp_path)
    data = json.loads(result.stdout)
    if prefix == PAYLOAD_MD5[:6]:
        assert result.exit_code == 0 and data["verified"] is True
        assert (tmp_path / f"{NAME}.pth").read_bytes() == PAYLOAD
    else:
        assert result.exit_code == 1 and data["verified"] is False, result.output
        assert list(tmp_path.iterdir()) == []


def test_download_cli_refuses_a_present_file_with_a_near_miss(mirror, tmp_path, monkeypatch):
    (tmp_path / f"{NAME}.pth").write_bytes(PAYLOAD)
    _publish(monkeypatch, _one_digit_off(PAYLOAD_MD5[:6], 5))
    result = _run_download(mirror, tmp_path)
    assert result.exit_code == 1 and json.loads(result.stdout)["verified"] is False
    _publish(monkeypatch, PAYLOAD_MD5[:6])
    assert _run_download(mirror, tmp_path).exit_code == 0


def test_download_size_limit_edge(mirror, tmp_path, monkeypatch):
    """The download stops one byte past the variant's bound and passes at exactly the bound."""
    _publish(monkeypatch, PAYLOAD_MD5[:6])
    import mae_core.loading.download as download

    monkeypatch.setattr(download, "max_release_bytes", lambda release: len(PAYLOAD) - 1)
    refused = _run_download(mirror, tmp_path)
    assert refused.exit_code == 2 and "more than" in refused.stderr and not (tmp_path / f"{NAME}.pth").exists()
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    monkeypatch.setattr(download, "max_release_bytes", lambda release: len(PAYLOAD))
    assert _run_download(mirror, tmp_path).exit_code == 0


# --- the bounded reader --------------------------------------------------------------------------------------

def test_bounded_reader_edge(tmp_path):
    f = tmp_path / "x.json"
    f.write_bytes(b"a" * 100)
    assert read_bounded(f, 100) == b"a" * 100  # exactly the bound: read
    assert regular_file(f, max_bytes=100) == f
    with pytest.raises(MAEError, match="100 bytes, more than the 99"):
        read_bounded(f, 99)
    with pytest.raises(MAEError, match="more than the 99"):
        regular_file(f, max_bytes=99)


def test_bounded_reader_edge_seen_from_the_cli(tmp_path, monkeypatch):
    """A transformers config.json one byte over the bound is refused by `mae checkpoint info` (exit 2)."""
    import mae_core.io.weights as weights

    folder = tmp_path / "hf"
    folder.mkdir()
    cfg = folder / "config.json"
    cfg.write_text(json.dumps({"model_type": "vit_mae"}))
    monkeypatch.setattr(weights, "_MAX_JSON_BYTES", cfg.stat().st_size - 1)
    over = runner.invoke(app, ["checkpoint", "info", str(folder)])
    assert over.exit_code == 2 and "more than the" in over.stderr, over.output
    monkeypatch.setattr(weights, "_MAX_JSON_BYTES", cfg.stat().st_size)
    inside = runner.invoke(app, ["checkpoint", "info", str(folder)])
    assert "more than the" not in inside.stderr


# --- the atomic writer: a failed write leaves the old file byte for byte ------------------------------------

OLD = bytes(range(256)) * 3


def test_failed_write_leaves_the_old_file(tmp_path):
    p = tmp_path / "out.png"
    p.write_bytes(OLD)
    with pytest.raises(MAEError, match="nothing was changed"), atomic_write(p) as f:
        f.write(b"half a picture")
        raise RuntimeError("the writer failed")  # any failure inside is a failed write (issue 23)
    assert p.read_bytes() == OLD and os.listdir(tmp_path) == ["out.png"]
    with pytest.raises(MAEError, match="nothing was changed"), atomic_path(p) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert p.read_bytes() == OLD and os.listdir(tmp_path) == ["out.png"]
    with atomic_write(p) as f:  # the inside: a write that ends well replaces it
        f.write(b"new")
    assert p.read_bytes() == b"new"


def test_failed_write_from_the_cli_leaves_the_old_file(tmp_path, monkeypatch):
    import mae_core.io.files as files

    p = tmp_path / "demo.png"
    p.write_bytes(OLD)

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    result = runner.invoke(app, ["mask-demo", "--variant", "mae_vit_base_patch16", "--img-size", "32",
                                 "--out", str(p)])
    assert result.exit_code != 0 and "nothing was changed" in result.stderr, result.output
    assert p.read_bytes() == OLD and os.listdir(tmp_path) == ["demo.png"]


# --- the pickle scan: protocols 0-5, STACK_GLOBAL, memoised strings ----------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize("protocol", range(6))
def test_pickle_scan_finds_code_in_every_protocol(protocol):
    data = pickle.dumps({"w": _Evil()}, protocol=protocol)
    assert pickle_scan.code_globals(data) == [f"{os.system.__module__}.system"]
    assert pickle_scan.code_globals(pickle.dumps({"w": 1.0}, protocol=protocol)) == []


@pytest.mark.parametrize("protocol", range(6))
def test_pickle_scan_finds_a_bare_global_in_every_protocol(protocol):
    """The object itself at the top: protocol 4's STACK_GLOBAL is preceded by exactly its two strings."""
    assert pickle_scan.globals_in(pickle.dumps(_Evil(), protocol=protocol))[0] == f"{os.system.__module__}.system"
    assert pickle_scan.code_globals(pickle.dumps(eval, protocol=protocol)) == ["builtins.eval"]


def _stack_global_from_memo() -> bytes:
    """Protocol 4: 'builtins' and 'eval' memoised, popped, two decoy strings pushed and popped, the two
    fetched back with BINGET, then STACK_GLOBAL."""
    def short(s: str) -> bytes:
        return b"\x8c" + bytes([len(s)]) + s.encode()
    return (b"\x80\x04" + short("builtins") + b"\x94" + short("eval") + b"\x94" + b"00"  # MEMOIZE x2, POP x2
            + short("math") + short("pi") + b"00"  # decoys: the last two strings pushed are not the operands
            + b"h\x00h\x01" + b"\x93" + short("1") + b"\x85R.")  # BINGET 0, BINGET 1, STACK_GLOBAL, call


def test_pickle_scan_follows_memoised_strings():
    data = _stack_global_from_memo()
    assert pickle_scan.globals_in(data) == ["builtins.eval"]
    assert pickle_scan.code_globals(data) == ["builtins.eval"]


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_scan_refusal_from_the_cli(tmp_path, protocol):
    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2)}, evil)
    for payload in ({"w": _Evil()}, _Evil()):
        evil.write_bytes(pickle.dumps(payload, protocol=protocol))
        result = runner.invoke(app, ["checkpoint", "info", str(evil)])
        assert result.exit_code == 2 and "system" in result.stderr, result.output
    memo = tmp_path / "memo.pth"
    memo.write_bytes(_stack_global_from_memo())
    result = runner.invoke(app, ["checkpoint", "info", str(memo)])
    assert result.exit_code == 2 and "builtins.eval" in result.stderr, result.output


# --- the same-file guard of `mae checkpoint convert` (the input is never overwritten) -------------------------

@pytest.mark.parametrize("how", ["same", "hardlink", "symlink", "inside"])
def test_convert_refuses_its_own_input(tmp_path, how):
    from mae_core.errors import CheckpointError
    from mae_core.loading.convert import convert

    src = tmp_path / "in.pth"
    src.write_bytes(OLD)
    dst = {"same": src, "hardlink": tmp_path / "link.pth", "symlink": tmp_path / "sym.pth",
           "inside": tmp_path / "in.pth"}[how]
    if how == "hardlink":
        os.link(src, dst)
    elif how == "symlink":
        dst.symlink_to(src)
    elif how == "inside":  # a directory input and an output inside it
        src.unlink()
        src.mkdir()
        (src / "model.safetensors").write_bytes(OLD)
        dst = src / "out.safetensors"
    to = "safetensors" if how == "inside" else "official"  # OUT's extension agrees with --to (issue 28)
    with pytest.raises(CheckpointError, match="is the input"):
        convert(src, dst, to)
    result = runner.invoke(app, ["checkpoint", "convert", str(src), str(dst), "--to", to])
    assert result.exit_code == 2 and "is the input" in result.stderr, result.output
    assert (src / "model.safetensors" if how == "inside" else src).read_bytes() == OLD


def test_convert_takes_a_copy_with_the_same_bytes(tmp_path):
    """The inside of the edge: another file with identical bytes is not the input (the guard lets it through,
    and the garbage is then refused for what it is)."""
    src, dst = tmp_path / "in.pth", tmp_path / "copy.pth"
    src.write_bytes(OLD)
    dst.write_bytes(OLD)
    result = runner.invoke(app, ["checkpoint", "convert", str(src), str(dst), "--to", "safetensors"])
    assert result.exit_code == 2 and "is the input" not in result.stderr, result.output
    assert src.read_bytes() == OLD


# --- the image bounds: pixels and aspect ratio, at the edge ---------------------------------------------------

def _png(path, w: int, h: int):
    from PIL import Image

    Image.new("RGB", (w, h), (200, 100, 50)).save(path)
    return path


def test_pixel_bound_edge(tmp_path, monkeypatch):
    from mae_core.errors import ImageError
    from mae_core.io import images

    pic = _png(tmp_path / "p.png", 40, 30)
    monkeypatch.setattr(images, "MAX_PIXELS", 1200)
    assert images.load_image(pic, 16).shape == (16, 16, 3)  # exactly the bound
    monkeypatch.setattr(images, "MAX_PIXELS", 1199)
    with pytest.raises(ImageError, match="1,200 pixels, more than the 1,199"):
        images.load_image(pic, 16)
    result = runner.invoke(app, ["mask-demo", str(pic), "--variant", "mae_vit_base_patch16", "--img-size", "32",
                                 "--out", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "more than the 1,199" in result.stderr, result.output
    assert not (tmp_path / "o.png").exists()


def test_aspect_bound_edge(tmp_path):
    from mae_core.errors import ImageError
    from mae_core.io import images

    assert images.load_image(_png(tmp_path / "ok.png", 50, 1), 16).shape == (16, 16, 3)  # 1:50 exactly
    strip = _png(tmp_path / "strip.png", 51, 1)
    with pytest.raises(ImageError, match="beyond 1:50"):
        images.load_image(strip, 16)
    result = runner.invoke(app, ["mask-demo", str(strip), "--variant", "mae_vit_base_patch16", "--img-size", "32",
                                 "--out", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "beyond 1:50" in result.stderr, result.output


def test_a_failed_hf_conversion_leaves_the_folders_old_pair(tmp_path, monkeypatch):
    """`--to hf` into a folder that holds a transformers checkpoint already: config.json and model.safetensors
    are one unit. A failure after the new weights are written (here: syncing config.json finds the disk full)
    leaves both old files, byte for byte, and no temporary file: never new weights beside an old config."""
    import mae_core.io.files as files
    import mae_core.loading.convert as convert_module
    from mae_core.loading.convert import convert
    from mae_core.models import create_model

    model = create_model("base", device="meta")
    state = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in model.official_state_dict().items()}
    src = tmp_path / "in.pth"
    torch.save({"model": state}, src)
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_bytes(b'{"old": true}')
    (folder / "model.safetensors").write_bytes(OLD)
    monkeypatch.setattr(convert_module, "save_safetensors", lambda path, *_: Path(path).write_bytes(b"new weights"))
    calls = []
    real_fsync = files.os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the second file of the pair
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(MAEError, match="nothing was changed"):
        convert(src, folder, "hf")
    assert (folder / "model.safetensors").read_bytes() == OLD
    assert (folder / "config.json").read_bytes() == b'{"old": true}'
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors"]
