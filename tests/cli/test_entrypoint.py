"""The installed entry point, as a user runs it: `python -m mae_cli` and the `mae` console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mae_core.models import create_model

LAUNCHERS = [pytest.param([sys.executable, "-m", "mae_cli"], id="python -m mae_cli")]
if shutil.which("mae"):
    LAUNCHERS.append(pytest.param([shutil.which("mae")], id="mae"))


def run(launcher: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*launcher, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_params_json_from_the_entry_point(launcher):
    proc = run(launcher, "params", "--variant", "base", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON document on stdout
    model = create_model("base", device="meta")
    assert doc["counts"]["total"] == sum(p.numel() for p in model.parameters()) == 111_907_840
    assert doc["verified"] is True


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_bad_input_from_the_entry_point(launcher):
    proc = run(launcher, "params", "--variant", "vit_giant")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("variants", "params", "shapes", "forward"):
        assert name in result.stdout


def test_params_does_not_import_heavy_packages():
    """`mae params` must start fast: no Pillow, timm or transformers behind it (benchmarks/cli_startup.py
    measures the time)."""
    code = (
        "import sys\n"
        "from mae_cli.app import app\n"
        "try:\n"
        "    app(['params', '--variant', 'huge', '--json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('\\n' + ' '.join(m for m in ('PIL', 'timm', 'transformers') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == ""
