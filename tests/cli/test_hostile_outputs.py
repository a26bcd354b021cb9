"""Hostile input, second round (issue 23): outputs onto inputs and special files, write failures, numbers
Python refuses, work without bound, order and wording.

Every case runs `python -m mae_cli` in a subprocess under resource limits (address space, CPU time, and a
file-size limit where writes are meant to fail: :func:`tests.cli.test_hostile.mae`) and checks the
contract (:func:`tests.cli.test_hostile.assert_contract`: exit code, one ``error:`` line on exit 2, no
traceback). Every input file is checked unchanged afterwards, by hash and by file type (a device stays a
device, a FIFO a FIFO), and a failed write leaves nothing behind. The cases that need an HTTP server or a
patched limit run in-process (the server lives in the test process). We run as root: ``os.mknod`` makes
real character devices (``/dev/null``'s numbers) in a temporary folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import socket
import stat
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_hostile import assert_contract, mae

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="devices, FIFOs and rlimits as on Linux")


# --- helpers ---------------------------------------------------------------------------------------------

def fingerprint(path: Path) -> tuple:
    """What must not change: the file type, and for a regular file its sha256 (a symlink: its target)."""
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        return kind, hashlib.sha256(path.read_bytes()).hexdigest()
    if stat.S_ISLNK(st.st_mode):
        return kind, os.readlink(path)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return kind, st.st_rdev
    return (kind,)


def snapshot(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): fingerprint(p) for p in sorted(folder.rglob("*"))}


def run2(folder: Path, *args, words: tuple[str, ...] = (), file_size: int | None = None, expected: int = 2,
         timeout: float = 180, absent: tuple[str, ...] = ()):
    """Run, require ``expected`` and the contract, and every file of ``folder`` unchanged (nothing added
    but ``absent`` must stay absent: no half-made output). Notes printed before a failure that comes
    after the work (a write) are allowed: the error is still the one line after them."""
    before = snapshot(folder)
    proc = mae(*map(str, args), file_size=file_size, timeout=timeout)
    stderr = "".join(line for line in proc.stderr.splitlines(True) if not line.startswith("note: "))
    assert_contract(proc.returncode, proc.stdout, stderr, expected, words=words)
    after = snapshot(folder)
    if expected == 2:
        assert after == before, (before, after)
    for name in absent:
        assert not os.path.lexists(folder / name), name
    return proc


def make_node(path: Path, kind: str) -> Path:
    if kind == "chardev":
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with contextlib.closing(socket.socket(socket.AF_UNIX)) as s:
            s.bind(str(path))
    elif kind == "dir":
        path.mkdir()
    return path


@pytest.fixture()
def work(tmp_path, base_zeros_checkpoint, png) -> Path:
    """A folder with W.pth (ViT-B/16, every weight 0: a few KB) and X.png (64 px)."""
    (tmp_path / "W.pth").write_bytes(base_zeros_checkpoint.read_bytes())
    (tmp_path / "X.png").write_bytes(png.read_bytes())
    return tmp_path


@pytest.fixture(scope="module")
def png(tmp_path_factory) -> Path:
    from PIL import Image

    from mae_core.io.images import builtin_image

    path = tmp_path_factory.mktemp("img") / "picture.png"
    Image.fromarray(builtin_image(64)).save(path)
    return path


# --- 1. outputs onto inputs ------------------------------------------------------------------------------

def test_features_out_hardlinked_to_the_weights_is_refused(work):
    os.link(work / "W.pth", work / "W.safetensors")  # the same file under a writable name
    run2(work, "features", "--weights", work / "W.pth", "--out", work / "W.safetensors",
         words=("same file as the input",))


def test_features_out_symlinked_to_the_weights_is_refused(work):
    (work / "L.safetensors").symlink_to(work / "W.pth")
    run2(work, "features", "--weights", work / "W.pth", "--out", work / "L.safetensors", words=("--out",))


def test_features_out_onto_an_input_image_is_refused(work):
    os.link(work / "X.png", work / "X.npz")
    run2(work, "features", "--image", work / "X.png", "--out", work / "X.npz", words=("same file",))


def test_convert_into_its_own_hf_folder_is_refused(work):
    hf = work / "hf"
    hf.mkdir()
    os.link(work / "W.pth", hf / "model.safetensors")
    run2(work, "checkpoint", "convert", hf / "model.safetensors", hf, "--to", "hf", words=("same file",))


def test_convert_to_hf_where_config_json_is_the_input_is_refused(work):
    hf = work / "hf"
    hf.mkdir()
    os.link(work / "W.pth", hf / "config.json")
    run2(work, "checkpoint", "convert", work / "W.pth", hf, "--to", "hf", words=("config.json", "same file"))


def test_convert_onto_a_file_inside_the_input_folder_is_refused(work):
    hf = work / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    os.link(work / "W.pth", hf / "model.safetensors")
    os.link(work / "W.pth", work / "out.pth")  # the output is the folder's weights file under another name
    run2(work, "checkpoint", "convert", hf, work / "out.pth", words=("same file",))


def test_convert_onto_a_hardlink_of_the_input_is_refused(work):
    os.link(work / "W.pth", work / "copy.pth")
    run2(work, "checkpoint", "convert", work / "W.pth", work / "copy.pth", words=("input",))


@pytest.mark.parametrize("option", ["--png", "--out"])
def test_attention_outputs_onto_the_input_image_are_refused(work, option):
    target = work / "X.png" if option == "--png" else work / "X.safetensors"
    if option == "--out":
        os.link(work / "X.png", target)
    run2(work, "attention", "--image", work / "X.png", option, target, words=(option, "same file"))


def test_attention_png_and_out_being_one_file_is_refused(work):
    (work / "both.png").write_bytes(b"old")
    os.link(work / "both.png", work / "both.safetensors")
    run2(work, "attention", "--png", work / "both.png", "--out", work / "both.safetensors", words=("also",))


def test_sweep_out_onto_its_input_picture_is_refused(work):
    run2(work, "sweep", work / "X.png", "--out", work / "X.png", words=("same file",))


def test_mask_demo_out_onto_its_input_picture_is_refused(work):
    run2(work, "mask-demo", "--image", work / "X.png", "--out", work / "X.png", words=("same file",))


def test_mask_demo_out_onto_a_hardlink_of_its_input_is_refused(work):
    os.link(work / "X.png", work / "Y.png")
    run2(work, "mask-demo", work / "X.png", "--out", work / "Y.png", words=("same file",))


def test_mask_demo_out_onto_its_mask_file_is_refused(work):
    from PIL import Image

    Image.fromarray(np.zeros((224, 224), np.uint8)).save(work / "M.png")
    run2(work, "mask-demo", "--mask-file", work / "M.png", "--out", work / "M.png", words=("same file",))


def test_mask_demo_out_onto_its_weights_is_refused(work):
    os.link(work / "W.pth", work / "W.png")
    run2(work, "mask-demo", "--weights", work / "W.pth", "--out", work / "W.png", words=("same file",))


# --- 1. outputs that are devices, FIFOs, sockets, folders --------------------------------------------------

WRITERS = {
    "features --out": (lambda w, n: ["features", "--out", n], ".safetensors"),
    "attention --png": (lambda w, n: ["attention", "--png", n], ".png"),
    "attention --out": (lambda w, n: ["attention", "--out", n], ".safetensors"),
    "sweep --out": (lambda w, n: ["sweep", "--out", n], ".png"),
    "mask-demo --out": (lambda w, n: ["mask-demo", "--out", n], ".png"),
    "convert official": (lambda w, n: ["checkpoint", "convert", w / "W.pth", n], ".pth"),
    "convert safetensors": (lambda w, n: ["checkpoint", "convert", w / "W.pth", n, "--to", "safetensors"],
                            ".safetensors"),
}


@pytest.mark.parametrize("kind", ["chardev", "fifo", "socket"])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_an_output_that_is_a_special_file_is_refused_and_kept(work, writer, kind):
    args, suffix = WRITERS[writer]
    node = make_node(work / f"n{suffix}", kind)
    start = time.perf_counter()
    run2(work, *args(work, node), words=("refusing",))
    assert time.perf_counter() - start < 60
    assert {"chardev": stat.S_ISCHR, "fifo": stat.S_ISFIFO, "socket": stat.S_ISSOCK}[kind](os.lstat(node).st_mode)


def test_checkpoint_convert_onto_a_mknod_character_device_keeps_it(work):
    """The issue's must-show: `mae checkpoint convert W.pth NODE`, NODE a character device: exit 2, and
    NODE is still a character device (without the guard, run as root, the rename replaced it)."""
    for name, words in (("NODE", ()), ("NODE.pth", ("character device",))):  # NODE: its extension is refused too
        node = make_node(work / name, "chardev")
        run2(work, "checkpoint", "convert", work / "W.pth", node, words=words)
        assert stat.S_ISCHR(os.lstat(node).st_mode) and os.lstat(node).st_rdev == os.makedev(1, 3)


@pytest.mark.parametrize("kind", ["chardev", "fifo", "dir"])
def test_convert_to_hf_checks_each_file_it_writes(work, kind):
    hf = work / "hf"
    hf.mkdir()
    make_node(hf / "config.json", kind)
    run2(work, "checkpoint", "convert", work / "W.pth", hf, "--to", "hf", words=("config.json",))


@pytest.mark.parametrize("kind", ["chardev", "fifo", "file"])
def test_convert_to_hf_into_something_that_is_not_a_folder_is_refused(work, kind):
    target = work / "hf"
    make_node(target, kind) if kind != "file" else target.write_bytes(b"keep")
    run2(work, "checkpoint", "convert", work / "W.pth", target, "--to", "hf", words=("folder",))


# --- 4. order: every output checked before any work ------------------------------------------------------

def test_sweep_checks_out_before_its_forward_passes(work):
    (work / "d.png").mkdir()
    proc = run2(work, "sweep", "--out", work / "d.png", "--ratios", "0.25,0.5,0.75,0.9", words=("directory",))
    assert "forward passes" not in proc.stderr


def test_attention_checks_png_before_writing_out(work):
    run2(work, "attention", "--out", work / "a.safetensors", "--png", work / "missing" / "a.png",
         words=("--png", "does not exist"), absent=("a.safetensors",))


def test_attention_png_that_is_a_folder_is_refused_before_out_is_written(work):
    (work / "p.png").mkdir()
    run2(work, "attention", "--out", work / "a.safetensors", "--png", work / "p.png", words=("--png",),
         absent=("a.safetensors",))


# --- 2. write failures: exit 2, nothing half-made ----------------------------------------------------------

@pytest.mark.parametrize("to", ["official", "ours", "timm", "safetensors", "hf"])
def test_convert_past_a_file_size_limit_is_exit_2_and_leaves_nothing(work, to):
    out = work / ("out" if to == "hf" else "out.safetensors" if to == "safetensors" else "out.pth")
    run2(work, "checkpoint", "convert", work / "W.pth", out, "--to", to, file_size=4 << 20,
         words=("cannot write", "file too large"), absent=(out.name,))
    assert not any(p.name.endswith(".part") for p in work.iterdir())


@pytest.mark.parametrize("command, option, name", [
    ("features", "--out", "f.safetensors"), ("features", "--out", "f.npz"), ("attention", "--out", "a.safetensors"),
    ("attention", "--png", "a.png"), ("mask-demo", "--out", "m.png"), ("sweep", "--out", "s.png"),
])
def test_a_view_past_a_file_size_limit_is_exit_2_and_leaves_nothing(work, command, option, name):
    run2(work, command, option, work / name, file_size=4096, words=("cannot write",), absent=(name,))
    assert not any(p.name.endswith(".part") for p in work.iterdir())


# --- 2. numbers and URLs Python can refuse -----------------------------------------------------------------

def hf_dir(work: Path, config: str) -> Path:
    hf = work / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(config)
    (hf / "model.safetensors").write_bytes(b"\0" * 16)
    return hf


@pytest.mark.parametrize("config", [
    '{"model_type": "vit_mae", "hidden_size": ' + "9" * 5000 + "}",
    '{"model_type": "vit_mae", "layer_norm_eps": 1' + "0" * 4400 + "}",
    '{"model_type": "vit_mae", "patch_size": -' + "7" * 4500 + "}",
])
@pytest.mark.parametrize("command", ["info", "convert"])
def test_a_huge_integer_in_config_json_is_exit_2_naming_the_file(work, config, command):
    hf = hf_dir(work, config)
    args = ["checkpoint", "info", hf] if command == "info" else ["checkpoint", "convert", hf, work / "o.pth"]
    run2(work, *args, words=("config.json",))


def test_a_huge_integer_in_a_shard_index_is_exit_2(work):
    hf = hf_dir(work, '{"model_type": "vit_mae"}')
    (hf / "model.safetensors").unlink()
    (hf / "model.safetensors.index.json").write_text('{"weight_map": {"a": ' + "1" * 5000 + "}}")
    run2(work, "checkpoint", "info", hf, words=("index",))


@pytest.mark.parametrize("budget", ["1e300TiB", "1e308GiB", "1e400", "2EiB", "9" * 400 + "TiB"])
def test_memory_budgets_beyond_any_machine_are_exit_2(tmp_path, budget):
    run2(tmp_path, "memory", "--budget", budget, words=("--budget",))


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf", "-inf", "1e400"])
def test_download_timeouts_that_are_not_positive_finite_are_exit_2(tmp_path, timeout):
    run2(tmp_path, "download", "mae_pretrain_vit_base", "--dir", tmp_path, "--timeout", timeout,
         "--mirror", "http://127.0.0.1:9", words=("--timeout",))


@pytest.mark.parametrize("mirror", ["http://[::1", "http://127.0.0.1:99999", "http://h:port", "ftp://x/y",
                                    "http://", "http://a b/c", "file:///etc"])
def test_download_mirrors_python_refuses_are_exit_2(tmp_path, mirror):
    run2(tmp_path, "download", "mae_pretrain_vit_base", "--dir", tmp_path, "--mirror", mirror, words=("--mirror",))


# --- 1/3. download: target and .part only as regular files, never through a symlink -------------------------

TARGET, PART = "mae_pretrain_vit_base.pth", ".mae_pretrain_vit_base.pth.part"


@pytest.mark.parametrize("name", [TARGET, PART])
@pytest.mark.parametrize("kind", ["dir", "fifo", "chardev", "dev-zero-link", "victim-link"])
def test_download_target_and_part_must_be_regular_files(tmp_path, name, kind):
    folder = tmp_path / "d"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    if kind == "dev-zero-link":
        (folder / name).symlink_to("/dev/zero")
    elif kind == "victim-link":
        (folder / name).symlink_to(victim)
    else:
        make_node(folder / name, kind)
    start = time.perf_counter()
    run2(folder, "download", "mae_pretrain_vit_base", "--dir", folder, "--mirror", "http://127.0.0.1:9",
         "--timeout", "2", words=(name,), timeout=60)
    assert time.perf_counter() - start < 30  # a FIFO or /dev/zero is never read
    assert victim.read_bytes() == b"precious"


class _Endless(http.server.BaseHTTPRequestHandler):
    """Serves an endless body (no Content-Length), or one announcing more bytes than the release."""

    announce: int | None = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        if self.announce is not None:
            self.send_header("Content-Length", str(self.announce))
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(1 << 16):
                self.wfile.write(b"\0" * 65536)


@pytest.fixture()
def endless():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("announce", [None, 10**15])
def test_download_stops_at_the_release_size_bound(endless, tmp_path, monkeypatch, announce):
    from typer.testing import CliRunner

    from mae_cli.app import app
    from mae_core.loading import download

    monkeypatch.setattr(download, "max_release_bytes", lambda release: 3 << 20)
    monkeypatch.setattr(_Endless, "announce", announce)
    result = CliRunner().invoke(app, ["download", "mae_pretrain_vit_base", "--dir", str(tmp_path), "--mirror",
                                      f"http://127.0.0.1:{endless.server_address[1]}"])
    assert_contract(result.exit_code, result.stdout, result.stderr, 2)
    part = tmp_path / PART
    assert not part.exists()  # what came was not the release: nothing of it is kept
    assert not (tmp_path / TARGET).exists()


def test_every_release_has_a_size_bound_in_the_table():
    from mae_core.io import releases
    from mae_core.loading.download import max_release_bytes

    bounds = {r.name: max_release_bytes(r) for r in releases.RELEASES.values()}
    assert bounds["mae_pretrain_vit_base"] < bounds["mae_visualize_vit_base"] < bounds["mae_pretrain_vit_base_full"]
    assert all(100 << 20 < b < 10 << 30 for b in bounds.values())


# --- 3. bounded work: checkpoint info, FLOPs, memory ------------------------------------------------------

@pytest.fixture()
def hf_checkpoint(tmp_path):
    """A real transformers directory of ViT-B/16 (zeros, 447 MB), removed after the test."""
    import shutil

    import torch

    from mae_core.loading.convert import _write
    from mae_core.models import create_model

    folder = tmp_path / "hf"
    model = create_model("base", device="meta")
    state = {k: torch.zeros(()).expand(v.shape) for k, v in model.official_state_dict().items()}
    _write(state, folder, "hf", name="mae_vit_base_patch16", has_decoder=True, norm_pix=False, hf_version="v5")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_checkpoint_info_hashes_only_the_weight_files_and_names_the_rest(hf_checkpoint):
    big = hf_checkpoint / "optimizer.bin"
    with open(big, "wb") as f:  # 40 GiB, sparse: hashing it would take minutes
        f.truncate(40 << 30)
    (hf_checkpoint / "zero.bin").symlink_to("/dev/zero")  # a symlink out of the folder, endless
    try:
        start = time.perf_counter()
        proc = mae("checkpoint", "info", str(hf_checkpoint), "--json", timeout=120)
        assert_contract(proc.returncode, proc.stdout, proc.stderr, 0, json_out=True)
        assert time.perf_counter() - start < 90
        data = json.loads(proc.stdout)
        assert data["hashed_files"] == ["config.json", "model.safetensors"]
        assert {"optimizer.bin", "zero.bin"} <= set(data["skipped_files"])
        assert any("skipped" in n and "optimizer.bin" in n for n in data["notes"])
        assert data["bytes"] < 1 << 30
    finally:
        big.unlink()


@pytest.mark.parametrize("args", [
    ("forward", "--batch", "8"), ("forward", "--repeat", "10"), ("features", "--batch", "8"),
    ("numerics", "--batch", "8"), ("attention", "--batch", "8"), ("mask-demo", "--img-size", "896"),
    ("sweep", "--ratios", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"),
])
def test_a_job_over_the_limit_is_refused_with_its_estimate_in_minutes(tmp_path, args):
    """A stated throughput of 1 MFLOP/s (MAE_GFLOPS) makes every job over 1e11 FLOPs take days: each
    command that runs forward passes must estimate its work and refuse, before any pass."""
    out = ("--out", tmp_path / "m.png") if args[0] in ("mask-demo", "sweep") else ()
    before = snapshot(tmp_path)
    proc = mae(*args, *map(str, out), env={"MAE_GFLOPS": "0.001"})
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 2, words=("TFLOP", "minutes", "--allow-long"))
    assert snapshot(tmp_path) == before


def test_a_job_of_hours_is_refused_at_the_measured_speed(tmp_path):
    """No stated throughput: 4,000 ViT-B forward passes at 448 px (about 700 TFLOP) take hours on any CPU
    (at 224 px, 160 TFLOP, a quiet 2-core machine measured ~320 GFLOP/s: under the 10-minute limit)."""
    ratios = ",".join(f"{r / 1000:.3f}" for r in range(1, 990))
    start = time.perf_counter()
    run2(tmp_path, "sweep", "--ratios", ratios, "--mask", "random,block,grid,center", "--img-size", "448",
         "--out", tmp_path / "s.png",
         words=("TFLOP", "minutes", "matmul"))
    assert time.perf_counter() - start < 60


def test_the_work_check_lets_an_explicit_request_through():
    from mae_core.errors import WorkLimitError
    from mae_core.views.flops import check_work

    with pytest.raises(WorkLimitError, match="minutes"):
        check_work(1e18, "a job", allow=False)
    assert check_work(1e18, "a job", allow=True) > 10
    assert check_work(1e9, "a small job", allow=False) is None  # small jobs are never timed


def test_the_memory_check_respects_rlimit_as(tmp_path):
    start = time.perf_counter()
    run2(tmp_path, "forward", "--batch", "512", words=("RLIMIT_AS",))  # mae() limits AS to 6 GiB
    assert time.perf_counter() - start < 60


def test_the_memory_check_counts_what_features_keep(monkeypatch):
    from mae_core.errors import MemoryBudgetError
    from mae_core.models import get_variant
    from mae_core.views import memory
    from mae_core.views import memory_budget as budget
    from mae_core.views.features import kept_bytes

    cfg = get_variant("base").config
    monkeypatch.setattr(budget, "available_memory", lambda device="cpu": budget.Available(2 << 30, "test"))
    plain = memory.largest_batch(lambda b: memory.estimate(cfg, b, 0.0, mode="inference").total <= 2 << 30)
    budget.check_fits(cfg, plain, 0.0, what="a plain forward")
    with pytest.raises(MemoryBudgetError):
        budget.check_fits(cfg, plain, 0.0, what="features", kept_per_image=kept_bytes(cfg, False))
    assert kept_bytes(cfg, False) == 4 * (13 * 197 * 768 + 768)  # 12 blocks + latent, and the pooled vector


# --- 4. wording ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["params", "shapes", "forward", "features", "checkpoint info"])
def test_an_empty_variant_is_refused_not_read_as_base(tmp_path, base_zeros_checkpoint, command):
    args = command.split() + ([str(base_zeros_checkpoint)] if command == "checkpoint info" else [])
    run2(tmp_path, *args, "--variant", "", words=("--variant", "empty"))


def test_a_one_patch_image_hint_says_ratio_0(tmp_path):
    proc = run2(tmp_path, "forward", "--img-size", "16", "--mask-ratio", "0.5", words=("ratio 0",))
    assert "0.0000" not in proc.stderr


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nan_or_inf_in_a_float_tiff_mask_is_refused(work, bad):
    from PIL import Image

    pixels = np.zeros((224, 224), np.float32)
    pixels[:, :112] = 255.0
    pixels[5, 5] = bad
    Image.fromarray(pixels, mode="F").save(work / "m.tif")
    run2(work, "mask-demo", "--mask-file", work / "m.tif", "--out", work / "o.png", words=("NaN",),
         absent=("o.png",))


@pytest.mark.parametrize("path", ["/dev/zero", "fifo", "missing.pth"])
@pytest.mark.parametrize("command", ["info", "convert"])
def test_checkpoint_errors_do_not_name_an_option_the_command_lacks(tmp_path, path, command):
    src = tmp_path / path if path != "/dev/zero" else Path(path)
    if path == "fifo":
        os.mkfifo(src)
    args = ["checkpoint", "info", src] if command == "info" else ["checkpoint", "convert", src, tmp_path / "o.pth"]
    proc = run2(tmp_path, *args)
    assert "--weights" not in proc.stderr
