"""Hostile checkpoints and images (issue 12, classes 1, 4 and 5): each ends in ONE MAEError line.

Class 1, unbounded reads: devices, FIFOs, sparse giants, strip-shaped and bomb images are refused
before their content is read. These run in one child process under ``resource.setrlimit`` (address
space and CPU time) and a wall-clock timeout, so a regression fails the tests instead of taking the
machine down; the child times each case.
Class 4, values that are not float32: half precision and float64 load (cast, with a note); integer,
complex, boolean, sparse and meta tensors, malformed safetensors headers and transformers directories
with ill-typed config values are refused naming the key or the value.
Class 5, pickles that would run code: refused with "it contains code (GLOBAL module.name)", worded
from the pickle's own globals (no ANSI escapes, whatever torch version words its refusal).

Every file is generated on the fly and small (the giants are sparse).
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
import torch

from mae_core.errors import CheckpointError, ImageError, MAEError
from mae_core.io.images import load_image
from mae_core.io.weights import check_tensors
from mae_core.loading.weights import load_weights, read_state_dict

ROOT = Path(__file__).resolve().parents[2]


def assert_one_line(exc: BaseException, *needles: str) -> str:
    message = str(exc)
    assert "\n" not in message and "\x1b" not in message and "Traceback" not in message, message
    assert len(message) < 600, message
    for needle in needles:
        assert needle in message, message
    return message


# --- class 1: unbounded reads, in a child process with hard limits -----------------------------------

def _png(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (RGB, 8 bit), with the given pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = idat or zlib.compress(b"")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _strip_png(width: int, height: int) -> bytes:
    rows = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    return _png(width, height, zlib.compress(rows, 9))


def _make_unbounded(tmp: Path) -> dict[str, tuple[str, str, str]]:
    """case -> (kind: weights|image, path, what the one-line message must say)."""
    cases: dict[str, tuple[str, str, str]] = {
        "dev_zero_weights": ("weights", "/dev/zero", "not a regular file"),
        "dev_urandom_weights": ("weights", "/dev/urandom", "not a regular file"),
        "dev_null_weights": ("weights", "/dev/null", "not a regular file"),
        "dev_urandom_image": ("image", "/dev/urandom", "not a regular file"),
        "dev_zero_image": ("image", "/dev/zero", "not a regular file"),
    }
    fifo = tmp / "f.pth"
    os.mkfifo(fifo)
    cases["fifo_weights"] = ("weights", str(fifo), "not a regular file")
    fifo_img = tmp / "f.png"
    os.mkfifo(fifo_img)
    cases["fifo_image"] = ("image", str(fifo_img), "not a regular file")
    (tmp / "zero_link.pth").symlink_to("/dev/zero")
    cases["symlink_to_dev_zero"] = ("weights", str(tmp / "zero_link.pth"), "not a regular file")
    for suffix, head in ((".safetensors", struct.pack("<Q", 2) + b"{}"), (".pth", b"PK\x03\x04")):
        big = tmp / f"sparse_40gib{suffix}"
        with open(big, "wb") as f:
            f.write(head)
            f.truncate(40 << 30)  # 40 GiB, sparse: no disk used
        cases[f"sparse_40gib{suffix}"] = ("weights", str(big), "more than the")
    hf = tmp / "hf_dev_zero"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "vit_mae"}))
    (hf / "model.safetensors").symlink_to("/dev/zero")
    cases["hf_dir_weights_dev_zero"] = ("weights", str(hf), "not a regular file")
    hf2 = tmp / "hf_fifo_config"
    hf2.mkdir()
    os.mkfifo(hf2 / "config.json")
    cases["hf_dir_config_fifo"] = ("weights", str(hf2), "not a regular file")
    hf3 = tmp / "hf_sparse_index"
    hf3.mkdir()
    (hf3 / "config.json").write_text(json.dumps({"model_type": "vit_mae"}))
    with open(hf3 / "model.safetensors.index.json", "wb") as f:
        f.write(b'{"weight_map": {')
        f.truncate(1 << 30)
    cases["hf_dir_index_1gib"] = ("weights", str(hf3), "more than the")
    for name, data, needle in (
        ("strip_1x60000.png", _strip_png(1, 60000), "aspect ratio"),
        ("strip_60000x1.png", _strip_png(60000, 1), "aspect ratio"),
        ("bomb_50000x50000.png", _png(50000, 50000), "too many pixels"),
        ("declares_9000x9000.png", _png(9000, 9000), "pixels, more than"),
        ("declares_0x10.png", _png(0, 10), "cannot read image"),
    ):
        (tmp / name).write_bytes(data)
        cases[name] = ("image", str(tmp / name), needle)
    big_img = tmp / "sparse_1gib.png"
    with open(big_img, "wb") as f:
        f.write(_png(10, 10))
        f.truncate(1 << 30)
    cases["image_1gib"] = ("image", str(big_img), "more than the")
    return cases


CHILD = textwrap.dedent(r"""
    import json, resource, signal, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))   # 8 GiB of address space, then MemoryError
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    from mae_core.errors import MAEError
    from mae_core.io.images import load_image
    from mae_core.loading.weights import load_weights
    def timeout(*_):
        raise TimeoutError("case ran past 10 s")
    signal.signal(signal.SIGALRM, timeout)
    out = {}
    for name, (kind, path, _) in json.loads(sys.argv[1]).items():
        start = time.perf_counter()
        signal.alarm(10)
        try:
            load_weights(path) if kind == "weights" else load_image(path, 224)
            result = {"outcome": "loaded"}
        except MAEError as exc:
            result = {"outcome": "MAEError", "message": str(exc)}
        except BaseException as exc:
            result = {"outcome": type(exc).__name__, "message": str(exc)[:300]}
        signal.alarm(0)
        result["seconds"] = time.perf_counter() - start
        out[name] = result
    print(json.dumps(out))
""")

UNBOUNDED = ["dev_zero_weights", "dev_urandom_weights", "dev_null_weights", "dev_urandom_image", "dev_zero_image",
             "fifo_weights", "fifo_image", "symlink_to_dev_zero", "sparse_40gib.safetensors", "sparse_40gib.pth",
             "hf_dir_weights_dev_zero", "hf_dir_config_fifo", "hf_dir_index_1gib", "strip_1x60000.png",
             "strip_60000x1.png", "bomb_50000x50000.png", "declares_9000x9000.png", "declares_0x10.png",
             "image_1gib"]


@pytest.fixture(scope="module")
def unbounded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unbounded")
    cases = _make_unbounded(tmp)
    assert sorted(cases) == sorted(UNBOUNDED)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases)], capture_output=True, text=True,
                           env=env, timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    return cases, json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", UNBOUNDED)
def test_unbounded_input_is_refused_fast_in_one_line(unbounded, case):
    cases, results = unbounded
    result = results[case]
    assert result["outcome"] == "MAEError", result
    assert "\n" not in result["message"] and "Traceback" not in result["message"]
    assert cases[case][2] in result["message"], result["message"]
    assert result["seconds"] < 1.0, result  # nothing is read: no time spent


def test_cli_forward_dev_zero_and_fifo_exit_2_in_under_a_second(tmp_path):
    """`mae forward --weights /dev/zero` and a FIFO: exit 2, one stderr line, under a second after start-up
    (the child times the command from inside, past the imports, so torch's import time is not counted)."""
    fifo = tmp_path / "f.pth"
    os.mkfifo(fifo)
    script = textwrap.dedent("""
        import resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
        import torch, mae_core.io.weights, mae_cli.common
        from mae_cli.app import app
        start = time.perf_counter()
        try:
            app(["forward", "--weights", sys.argv[1], "--json"])
        except SystemExit as exc:
            code = exc.code
        print(f"{time.perf_counter() - start:.3f} {code}", file=sys.stderr)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for path in ("/dev/zero", str(fifo)):
        child = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, env=env,
                               timeout=120, check=False)
        lines = child.stderr.strip().splitlines()
        seconds, code = lines[-1].split()
        assert code == "2" and child.stdout == "", child.stderr
        assert len(lines) == 2 and lines[0].startswith("error: ") and "not a regular file" in lines[0], lines
        assert float(seconds) < 1.0, seconds


# --- class 4: values that are not float32 ----------------------------------------------------------

def _tiny_state_dict(dtype=torch.float32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"cls_token": torch.randn(1, 1, 8, generator=g).to(dtype),
            "blocks.0.attn.qkv.weight": torch.randn(24, 8, generator=g).to(dtype)}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.float8_e4m3fn])
def test_floating_dtypes_are_cast_to_float32_with_a_note(dtype):
    sd = _tiny_state_dict(dtype)
    cast, notes, stored = check_tensors(sd, "x.pth")
    name = str(dtype).removeprefix("torch.")
    assert stored == {name: 2}
    assert all(t.dtype == torch.float32 for t in cast.values())
    assert all(torch.equal(cast[k], sd[k].float()) for k in sd)
    assert len(notes) == 1 and name in notes[0] and "float32" in notes[0]
    assert ("rounded" in notes[0]) == (dtype == torch.float64)


def test_float32_is_passed_through_untouched():
    sd = _tiny_state_dict()
    cast, notes, stored = check_tensors(sd, "x.pth")
    assert notes == [] and stored == {"float32": 2} and all(cast[k] is sd[k] for k in sd)


BAD_TENSORS = {
    "int64": torch.arange(8).view(1, 1, 8),
    "int32": torch.zeros(1, 1, 8, dtype=torch.int32),
    "uint8": torch.zeros(1, 1, 8, dtype=torch.uint8),
    "bool": torch.zeros(1, 1, 8, dtype=torch.bool),
    "complex64": torch.zeros(1, 1, 8, dtype=torch.complex64),
    "meta": torch.empty(1, 1, 8, device="meta"),
    "sparse": torch.zeros(1, 8).to_sparse(),
}


@pytest.mark.parametrize("kind", list(BAD_TENSORS))
@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_non_floating_or_dataless_tensors_are_refused_naming_the_key(tmp_path, kind, fmt):
    if fmt == "safetensors" and kind in ("meta", "sparse"):
        pytest.skip("safetensors cannot store meta or sparse tensors")
    sd = _tiny_state_dict()
    sd["blocks.0.attn.qkv.bias"] = BAD_TENSORS[kind]
    path = tmp_path / f"w.{fmt}"
    if fmt == "pth":
        torch.save({"model": sd}, path)
    else:
        from safetensors.torch import save_file

        save_file(sd, str(path))
    with pytest.raises(CheckpointError) as info:
        load_weights(path)
    assert_one_line(info.value, "'blocks.0.attn.qkv.bias'")


def _safetensors(header: bytes | dict, body: bytes = b"\0" * 16, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


_OK = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
MALFORMED_SAFETENSORS = {
    "negative_shape": _safetensors({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}),
    "metadata_string": _safetensors({"__metadata__": "x", "a": _OK}),
    "metadata_list": _safetensors({"__metadata__": [1, 2], "a": _OK}),
    "metadata_non_string_values": _safetensors({"__metadata__": {"k": 1}, "a": _OK}),
    "nested_brackets": _safetensors(b"[" * 200_000 + b"]" * 200_000),
    "nested_objects": _safetensors(b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    "huge_declared_shape": _safetensors({"a": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}),
    "overflowing_shape": _safetensors({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}),
    "offsets_past_end": _safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1600]}}),
    "offsets_reversed": _safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}),
    "shape_does_not_fit_bytes": _safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}),
    "unknown_dtype": _safetensors({"a": {"dtype": "F31", "shape": [4], "data_offsets": [0, 16]}}),
    "header_not_an_object": _safetensors(b"[1, 2, 3]"),
    "header_not_json": _safetensors(b"{not json"),
    "header_not_utf8": _safetensors(b'{"\xff\xfe": 1}'),
    "header_length_past_end": _safetensors({"a": _OK}, length=10_000),
    "header_length_2_62": _safetensors({"a": _OK}, length=2**62),
    "truncated_header_length": b"\x05\x00\x00",
    "empty_file": b"",
    "tensor_entry_is_a_string": _safetensors({"a": "F32"}),
    "missing_data_offsets": _safetensors({"a": {"dtype": "F32", "shape": [4]}}),
}


@pytest.mark.parametrize("case", list(MALFORMED_SAFETENSORS))
def test_malformed_safetensors_headers_are_refused(tmp_path, case):
    path = tmp_path / "w.safetensors"
    path.write_bytes(MALFORMED_SAFETENSORS[case])
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path)
    assert_one_line(info.value, repr(str(path)))


def _hf_dir(tmp_path: Path, config, index=None) -> Path:
    d = tmp_path / "hf"
    d.mkdir()
    (d / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if index is not None:
        (d / "model.safetensors.index.json").write_text(json.dumps(index))
    else:
        from safetensors.torch import save_file

        save_file({"vit.embeddings.cls_token": torch.zeros(1, 1, 8)}, str(d / "model.safetensors"))
    return d


BAD_HF_CONFIGS = {
    "layer_norm_eps_string": ({"model_type": "vit_mae", "layer_norm_eps": "abc"}, "layer_norm_eps"),
    "layer_norm_eps_negative": ({"model_type": "vit_mae", "layer_norm_eps": -1e-6}, "layer_norm_eps"),
    "layer_norm_eps_bool": ({"model_type": "vit_mae", "layer_norm_eps": True}, "layer_norm_eps"),
    "norm_pix_loss_string_false": ({"model_type": "vit_mae", "norm_pix_loss": "false"}, "norm_pix_loss"),
    "norm_pix_loss_int": ({"model_type": "vit_mae", "norm_pix_loss": 1}, "norm_pix_loss"),
    "hidden_size_string": ({"model_type": "vit_mae", "hidden_size": "768"}, "hidden_size"),
    "hidden_size_zero": ({"model_type": "vit_mae", "hidden_size": 0}, "hidden_size"),
    "patch_size_float": ({"model_type": "vit_mae", "patch_size": 16.5}, "patch_size"),
    "hidden_act_list": ({"model_type": "vit_mae", "hidden_act": ["gelu"]}, "hidden_act"),
    "model_type_number": ({"model_type": 3}, "model_type"),
    "model_type_bert": ({"model_type": "bert"}, "not ViTMAE"),
    "config_a_list": ([1, 2], "not a JSON object"),
    "config_not_json": ("{oops", "not valid JSON"),
    "config_deeply_nested": ('{"a":' * 100_000 + "1" + "}" * 100_000, "not valid JSON"),
}


@pytest.mark.parametrize("case", list(BAD_HF_CONFIGS))
def test_transformers_config_values_are_validated(tmp_path, case):
    config, needle = BAD_HF_CONFIGS[case]
    with pytest.raises(CheckpointError) as info:
        load_weights(_hf_dir(tmp_path, config))
    assert_one_line(info.value, needle)


BAD_INDEXES = {
    "values_are_ints": ({"weight_map": {"vit.embeddings.cls_token": 1}}, "not a file name"),
    "weight_map_a_list": ({"weight_map": ["model.safetensors"]}, "weight_map"),
    "weight_map_empty": ({"weight_map": {}}, "weight_map"),
    "no_weight_map": ({"metadata": {}}, "not a valid shard index"),
    "shard_missing": ({"weight_map": {"a": "model-1.safetensors"}}, "missing"),
    "shard_outside": ({"weight_map": {"a": "../../etc/passwd"}}, "outside the directory"),
}


@pytest.mark.parametrize("case", list(BAD_INDEXES))
def test_transformers_shard_indexes_are_validated(tmp_path, case):
    index, needle = BAD_INDEXES[case]
    with pytest.raises(CheckpointError) as info:
        load_weights(_hf_dir(tmp_path, {"model_type": "vit_mae"}, index))
    assert_one_line(info.value, needle)


def test_norm_pix_loss_false_is_false(tmp_path):
    """JSON false is read as false (the string "false" used to be read as true; it is refused above)."""
    from mae_core.io.weights import read_hf_config

    d = _hf_dir(tmp_path, {"model_type": "vit_mae", "norm_pix_loss": False})
    assert read_hf_config(d)["norm_pix_loss"] is False


# --- class 5: pickles that would run code ----------------------------------------------------------

class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _marker_payloads(marker: Path) -> dict:
    return {
        "os_system": (_Reduce(os.system, (f"touch {marker}",)), "posix.system"),
        "builtins_eval": (_Reduce(builtins.eval, (f"open({str(marker)!r}, 'w')",)), "builtins.eval"),
        "builtins_exec": (_Reduce(builtins.exec, (f"open({str(marker)!r}, 'w')",)), "builtins.exec"),
        "builtins_open": (_Reduce(builtins.open, (str(marker), "w")), "io.open"),  # builtins.open is io.open
        "subprocess_popen": (_Reduce(subprocess.Popen, (["touch", str(marker)],)), "subprocess.Popen"),
        "os_remove": (_Reduce(os.remove, (str(marker),)), "posix.remove"),
    }


PAYLOADS = ["os_system", "builtins_eval", "builtins_exec", "builtins_open", "subprocess_popen", "os_remove"]
WRITERS = ["torch_save_zip", "torch_save_legacy", "bare_pickle_protocol_4", "bare_pickle_protocol_0"]


def _write(path: Path, obj, writer: str) -> None:
    if writer == "torch_save_zip":
        torch.save(obj, path)
    elif writer == "torch_save_legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=4 if writer.endswith("4") else 0)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path, payload, writer):
    marker = tmp_path / "pwned"
    obj, global_name = _marker_payloads(marker)[payload]
    path = tmp_path / "evil.pth"
    _write(path, {"model": {"cls_token": torch.zeros(1, 1, 8), "x": obj}}, writer)
    if payload == "os_remove":
        marker.write_text("keep me")
    with pytest.raises(CheckpointError) as info:
        load_weights(path)
    message = assert_one_line(info.value)
    assert message == (f"refusing to load {str(path)!r}: it contains code (GLOBAL {global_name}); "
                       "only plain tensors are read"), message
    assert marker.exists() == (payload == "os_remove")  # nothing ran: not created, not removed


def test_training_arguments_are_named_not_called_code(tmp_path):
    path = tmp_path / "checkpoint-799.pth"
    torch.save({"model": _tiny_state_dict(), "args": argparse.Namespace(lr=1e-3)}, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(path)
    assert_one_line(info.value, "refusing to load", "argparse.Namespace", "training arguments")
    assert "contains code" not in str(info.value)


def test_a_refusal_can_fail_open(tmp_path):
    """The payload is real: an ordinary unpickler runs it (so the tests above can fail)."""
    marker = tmp_path / "pwned"
    obj, _ = _marker_payloads(marker)["builtins_open"]
    pickle.loads(pickle.dumps(obj)).close()
    assert marker.exists()


def test_every_failure_is_an_mae_error():
    assert issubclass(CheckpointError, MAEError) and issubclass(ImageError, MAEError)
    with pytest.raises(ImageError):
        load_image("/nonexistent/x.png", 224)
