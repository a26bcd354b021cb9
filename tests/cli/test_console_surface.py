"""The surface a user meets first, through the REAL console entry point (a subprocess, not CliRunner).

Issue 28 / 23: with typer 0.29 a missing positional argument printed a ~48-line traceback (the usage
line asked Typer's argument object for Click's ``human_readable_name``) and `mae` / `mae checkpoint`
alone printed their help twice; CliRunner did not show either. Here every group alone, every command
that needs an argument without it, and ``--help`` of every command run as `python -m mae_cli` (and
the installed `mae` script where it is on PATH).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mae_cli.app import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = [pytest.param([sys.executable, "-m", "mae_cli"], id="python-m")]
if shutil.which("mae"):
    LAUNCHERS.append(pytest.param([shutil.which("mae")], id="mae"))


def _commands() -> list[tuple[str, ...]]:
    """Every command path: ("params",), ("checkpoint", "info"), ..."""
    paths = []
    for name, module_name in COMMANDS:
        module = importlib.import_module(f"mae_cli.commands.{module_name}")
        subs = getattr(module, "SUBCOMMANDS", None)
        paths += [(name, sub) for sub in subs] if subs else [(name,)]
    return paths


GROUPS = [(), ("checkpoint",)]
# Commands with a required positional argument: alone, they are a usage error.
NEEDS_ARGUMENT = {("checkpoint", "info"): "PATH", ("checkpoint", "convert"): "SRC", ("download",): "NAME"}


def mae(launcher: list[str], *args: str, columns: int = 80, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MAE_DEBUG", None)
    return subprocess.run([*launcher, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd or ROOT)


def test_the_command_list_is_complete():
    assert ("checkpoint", "info") in _commands() and ("download",) in _commands() and len(_commands()) == 16


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(("mae", *g)))
def test_a_group_alone_prints_its_help_once(launcher, group):
    proc = mae(launcher, *group)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Usage:") == 1, proc.stdout  # typer 0.29 printed it twice
    assert proc.stderr == ""
    assert "Commands" in proc.stdout


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("path", sorted(NEEDS_ARGUMENT), ids=" ".join)
def test_a_missing_argument_is_one_line_and_exit_2(launcher, path):
    proc = mae(launcher, *path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: missing argument {NEEDS_ARGUMENT[path]}"), lines
    assert f"see `mae {' '.join(path)} --help`" in lines[0]


@pytest.mark.parametrize("launcher", LAUNCHERS[:1])
def test_convert_without_its_output_names_it(launcher, tmp_path):
    proc = mae(launcher, "checkpoint", "convert", str(tmp_path / "W.pth"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: missing argument OUT"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("launcher", LAUNCHERS[:1])
@pytest.mark.parametrize("path", [*GROUPS[1:], *_commands()], ids=" ".join)
def test_help_of_every_command(launcher, path):
    proc = mae(launcher, *path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.count("Usage:") == 1
    if path not in GROUPS:  # --json and --debug reach every command, from one declaration
        assert "--json" in proc.stdout and "--debug" in proc.stdout, path


@pytest.mark.parametrize("launcher", LAUNCHERS[:1])
@pytest.mark.parametrize("path", [("variants",), ("params",), ("shapes",), ("flops",), ("memory",)], ids=" ".join)
def test_quick_commands_with_no_arguments_run(launcher, path):
    """The commands that need nothing and run in a second: alone, they run with their defaults (the
    others, alone, run a model for seconds to minutes; their defaults are covered by their own tests)."""
    proc = mae(launcher, *path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and "Traceback" not in proc.stderr
