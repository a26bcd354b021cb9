"""Shared fixtures of the `mae` command tests: an in-process runner, small weight files, image files.

Every test of a command runs it through ``typer.testing.CliRunner`` (stdout and stderr kept apart),
parses ``--json`` output with ``json.loads(result.stdout)`` and checks it against numbers the test
computes itself from ``mae_core``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import Result
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core.models import create_model


def make_runner() -> CliRunner:
    """A CliRunner that keeps stderr apart from stdout on every supported Click (8.1 mixes them unless told;
    8.2 removed the switch and always keeps them apart)."""
    import inspect

    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


@pytest.fixture(scope="session")
def cli() -> Callable[..., Result]:
    """``cli("params", "--variant", "huge")`` runs `mae params --variant huge` in-process."""
    runner = make_runner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def cli_json(cli) -> Callable[..., dict]:
    """Run a command with ``--json``, require exit 0 and return the parsed document."""

    def invoke(*args: str, exit_code: int = 0) -> dict:
        result = cli(*args, "--json")
        assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)

    return invoke


def constant_checkpoint(path: Path, variant: str, value: float) -> Path:
    """An official-layout checkpoint of a real variant whose every tensor is ``value``, in a few KB.

    Each tensor is a stride-0 view of one stored number (``torch.zeros(()).expand(shape)``), and
    ``torch.save`` keeps views as they are: the file has the real key names and shapes (so the
    variant is detected from it) without writing hundreds of megabytes.
    """
    model = create_model(variant, device="meta")
    state = {k: torch.full((), value).expand(v.shape) for k, v in model.official_state_dict().items()}
    torch.save({"model": state}, path)
    return path


@pytest.fixture(scope="session")
def make_checkpoint() -> Callable[[Path, str, float], Path]:
    """``make_checkpoint(path, "base", value)``: see :func:`constant_checkpoint`."""
    return constant_checkpoint


@pytest.fixture(scope="session")
def base_zeros_checkpoint(tmp_path_factory) -> Path:
    """ViT-B/16 official layout, every weight 0."""
    return constant_checkpoint(tmp_path_factory.mktemp("ckpt") / "mae_base_zeros.pth", "base", 0.0)


@pytest.fixture(scope="session")
def image_files(tmp_path_factory) -> list[Path]:
    """Two small PNG files of different sizes (the command resizes and crops them)."""
    from PIL import Image

    from mae_core.io.images import builtin_image

    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i, size in enumerate((96, 160)):
        path = folder / f"picture{i}.png"
        Image.fromarray(builtin_image(size, variant=i)).save(path)
        paths.append(path)
    return paths
