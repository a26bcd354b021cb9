"""Bad input: exit code 2, exactly one line on stderr naming the problem, no traceback, nothing on stdout.

Each case builds what it needs (a text file posing as an image, random bytes posing as a checkpoint, a real
ViT-B/16-layout checkpoint given to --variant large) and runs the command in-process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


OFFICIAL_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "official_fixture"


def text_file(tmp: Path, name: str = "notes.png") -> Path:
    path = tmp / name
    path.write_text("this is text, not a picture\n")
    return path


def random_bytes(tmp: Path) -> Path:
    path = tmp / "corrupt.pth"
    path.write_bytes(os.urandom(4096))
    return path


def truncated_zip(tmp: Path) -> Path:
    """The first half of a real (tiny) torch.save file."""
    whole = tmp / "whole.pth"
    torch.save({"model": {"x": torch.zeros(1000)}}, whole)
    path = tmp / "truncated.pth"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return path


# (id, args, words the message must contain); args may hold callables of (tmp_path, fixtures) -> path.
CASES: list[tuple[str, list, list[str]]] = [
    ("unknown variant: params", ["params", "--variant", "vit_giant"], ["vit_giant", "base"]),
    ("unknown variant: shapes", ["shapes", "--variant", "vit_giant"], ["vit_giant"]),
    ("unknown variant: forward", ["forward", "--variant", "vit_giant"], ["vit_giant"]),
    ("batch 0: shapes", ["shapes", "--batch", "0"], ["--batch"]),
    ("batch 0: forward", ["forward", "--batch", "0"], ["--batch"]),
    ("mask ratio 1.0: shapes", ["shapes", "--mask-ratio", "1.0"], ["--mask-ratio"]),
    ("mask ratio 1.0: forward", ["forward", "--mask-ratio", "1.0"], ["--mask-ratio"]),
    ("mask ratio -0.1: shapes", ["shapes", "--mask-ratio", "-0.1"], ["--mask-ratio"]),
    ("mask ratio -0.1: forward", ["forward", "--mask-ratio", "-0.1"], ["--mask-ratio"]),
    ("mask ratio keeps no patch", ["shapes", "--mask-ratio", "0.999"], ["keeps no patch"]),
    ("missing image", ["forward", "--image", lambda tmp, fx: tmp / "no_such_picture.jpg"], ["no_such_picture.jpg"]),
    ("text file as image", ["forward", "--image", lambda tmp, fx: text_file(tmp)], ["notes.png"]),
    ("batch and images disagree", ["forward", "--batch", "3", "--image", lambda tmp, fx: fx["image_files"][0]],
     ["--batch"]),
    ("corrupt checkpoint: random bytes", ["forward", "--weights", lambda tmp, fx: random_bytes(tmp)],
     ["corrupt.pth", "corrupt or not"]),
    ("corrupt checkpoint: truncated", ["forward", "--weights", lambda tmp, fx: truncated_zip(tmp)],
     ["truncated.pth", "corrupt or not"]),
    ("missing checkpoint", ["forward", "--weights", lambda tmp, fx: tmp / "absent.pth"], ["absent.pth", "--weights"]),
    ("checkpoint of another variant",
     ["forward", "--variant", "large", "--weights", lambda tmp, fx: fx["base_zeros_checkpoint"]],
     ["mae_base_zeros.pth", "pass --variant base"]),  # the core names the setting, the CLI its flag
    ("cuda without CUDA", ["forward", "--device", "cuda"], ["cuda", "--device cpu"]),
    ("unknown device", ["forward", "--device", "tpu"], ["tpu"]),
    ("unknown dtype", ["forward", "--dtype", "int8"], ["int8"]),
    ("repeat 0", ["forward", "--repeat", "0"], ["--repeat"]),
    ("negative depth", ["params", "--depth", "-1"], ["--depth"]),
    ("two references: compare-official", ["compare-official", "--reference", "timm,hf"],
     ["--reference", "one reference at a time"]),
    ("two references: compare-official --steps", ["compare-official", "--steps", "1", "--reference", "timm",
                                                  "--reference", "hf"], ["--reference", "one reference at a time"]),
    ("--steps with nothing masked", ["compare-official", "--steps", "1", "--mask-ratio", "0", "--official-src",
                                     lambda tmp, fx: OFFICIAL_FIXTURE], ["--mask-ratio 0", "loss is undefined"]),
]


@pytest.fixture()
def fixtures(request) -> dict[str, object]:
    return {name: request.getfixturevalue(name) for name in ("image_files", "base_zeros_checkpoint")}


@pytest.mark.parametrize("json_out", [False, True], ids=["table", "json"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(cli, tmp_path, fixtures, case, json_out):
    name, args, words = case
    if name == "cuda without CUDA" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = [str(a(tmp_path, fixtures)) if isinstance(a, Callable) else a for a in args]
    result = cli(*argv, *(["--json"] if json_out else []))

    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_debug_shows_the_traceback(cli):
    result = cli("params", "--variant", "vit_giant", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_typer_usage_errors_exit_2(cli):
    assert cli("params", "--no-such-option").exit_code == 2
    assert cli("shapes", "--batch", "two").exit_code == 2
