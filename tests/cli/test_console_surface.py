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
    assert ("checkpoint", "info") in _commands() and ("download",) in _commands() and len(_commands()) >= 16


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
    too_wide = [line for line in proc.stdout.splitlines() if len(line) > 80]
    assert not too_wide, too_wide  # readable in an 80-column terminal (issue 28)
    assert len(proc.stdout.splitlines()) <= 90, "keep option help short; details go in the description/docs"
    if "--seed" in proc.stdout:
        assert "18446744073709551615" not in proc.stdout  # the range is checked, not printed (40 digits)


@pytest.mark.parametrize("launcher", LAUNCHERS[:1])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(("mae", *g)))
def test_group_help_gives_each_command_one_whole_line(launcher, group):
    """`mae --help`: each summary on its own line, never cut ("...") nor broken mid-sentence."""
    proc = mae(launcher, *group, "--help")
    listing = proc.stdout.split("Commands:")[1].splitlines()[1:]
    names = [line.split()[0] for line in listing if line.strip()]
    assert all(line.startswith("  ") and not line.startswith("   ") for line in listing if line.strip()), listing
    assert "..." not in "\n".join(listing) and len(names) == len(set(names)) >= 2, listing


def test_usage_line_names_match_the_text():
    usage = mae(LAUNCHERS[0].values[0], "checkpoint", "convert", "--help").stdout.splitlines()[0]
    assert "SRC" in usage and "OUT" in usage, usage  # the text says SRC and OUT, not {src} {dst}


@pytest.mark.parametrize("launcher", LAUNCHERS[:1])
@pytest.mark.parametrize("path", [("variants",), ("params",), ("shapes",), ("flops",), ("memory",)], ids=" ".join)
def test_quick_commands_with_no_arguments_run(launcher, path):
    """The commands that need nothing and run in a second: alone, they run with their defaults (the
    others, alone, run a model for seconds to minutes; their defaults are covered by their own tests)."""
    proc = mae(launcher, *path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and "Traceback" not in proc.stderr


# --- one spelling per concept (issue 22) -------------------------------------------------------------------

def _options_by_name() -> dict[str, dict[str, object]]:
    """{"--dtype": {"forward": <param>, ...}, ...} over every command."""
    import typer.main

    from mae_cli.app import get_app

    group = typer.main.get_command(get_app())
    found: dict[str, dict[str, object]] = {}
    for name in group.list_commands(None):
        command = group.commands[name]
        subs = getattr(command, "commands", None) or {"": command}
        for sub, cmd in subs.items():
            for param in cmd.params:
                for opt in [o for o in getattr(param, "opts", []) if o.startswith("--")]:
                    found.setdefault(opt, {})[f"{name} {sub}".strip()] = param
    return found


def test_every_option_name_has_one_definition():
    """An option spelled the same in two commands is the same option: same help, type and flag shape.
    (bench said --mode forward where memory said inference; --blocks and --layers were one concept;
    --out had three definitions, --grad two, --dtype three meanings.)"""
    for opt, where in _options_by_name().items():
        shapes = {(p.help, p.is_flag if hasattr(p, "is_flag") else None, tuple(p.secondary_opts), p.multiple)
                  for p in where.values()}
        assert len(shapes) == 1, (opt, sorted(where))


@pytest.mark.parametrize("old, new, command", [
    ("--amp", "--autocast", "memory"), ("--layers", "--blocks", "features"),
    ("--dtype", "--save-dtype", "checkpoint convert")])
def test_renamed_options_are_hidden_and_the_new_one_is_shown(old, new, command):
    options = _options_by_name()
    assert command in options[new]
    assert command not in options.get(old, {})  # the old spelling is not an option: the group renames it


def test_the_old_spellings_still_work_with_a_note(cli):
    old = cli("memory", "--batch", "8", "--dtype", "bfloat16", "--amp", "--json")
    new = cli("memory", "--batch", "8", "--dtype", "bfloat16", "--autocast", "--json")
    assert old.exit_code == new.exit_code == 0 and old.stdout == new.stdout
    assert "note: --amp is now --autocast" in old.stderr and new.stderr == ""


def test_old_spellings_are_rewritten_for_their_command_only():
    from mae_cli.options import rename_old_spellings

    paths = {"bench", "memory", "checkpoint convert"}
    assert rename_old_spellings(["bench", "--mode", "forward"], paths)[0] == ["bench", "--mode", "inference"]
    assert rename_old_spellings(["bench", "--mode=forward"], paths)[0] == ["bench", "--mode=inference"]
    assert rename_old_spellings(["memory", "--mode", "forward"], paths)[0] == ["memory", "--mode", "forward"]
    assert rename_old_spellings(["checkpoint", "convert", "a.pth", "b.pth", "--dtype=bfloat16"], paths)[0][-1] == \
        "--save-dtype=bfloat16"
    assert rename_old_spellings(["memory", "--", "--amp"], paths)[0] == ["memory", "--", "--amp"]


# --- the small things a new user notices (issue 28) --------------------------------------------------------

def test_a_variant_typo_gets_a_suggestion(cli):
    result = cli("params", "--variant", "hug")
    assert result.exit_code == 2 and "did you mean huge?" in result.stderr, result.stderr


def test_an_image_passed_as_weights_is_named(cli, tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "demo.png")
    result = cli("forward", "--weights", tmp_path / "demo.png")
    assert result.exit_code == 2 and "it is a PNG image, not a checkpoint" in result.stderr, result.stderr
    assert "corrupt" not in result.stderr


@pytest.mark.parametrize("to, name, words", [
    ("timm", "out.safetensors", "name it out.pth or pass --to safetensors"),
    ("ours", "out.safetensors", "name it out.pth"), ("official", "out", "name it out.pth"),
    ("safetensors", "out.pth", "name it out.safetensors"), ("hf", "out.safetensors", "pass a folder name")])
def test_convert_output_extension_agrees_with_to_before_any_work(cli, tmp_path, to, name, words):
    """Checked before anything is read: SRC does not even exist here, and nothing is written."""
    result = cli("checkpoint", "convert", tmp_path / "missing.pth", tmp_path / name, "--to", to)
    assert result.exit_code == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_numerics_bfloat16_has_no_float16_range_column(cli):
    from mae_cli.commands.numerics import render

    stage = {"name": "encoder.blocks.0", "max_abs_float32": 1.0, "max_abs": 1.0, "finite": True,
             "float16_share": 1 / 65504, "max_abs_error": 0.0, "rel_error": 0.0}
    report = {"title": "ViT-B/16", "precision": "bfloat16 autocast", "stages": [stage], "grad": False,
              "loss_float32": 1.0, "loss": 1.0, "ok": True}
    import io

    from rich.console import Console

    from mae_cli import output

    for dtype, shown in (("float16", True), ("bfloat16", False)):
        buffer = io.StringIO()
        saved, output.out = output.out, Console(file=buffer, width=120)
        try:
            import mae_cli.commands.numerics as numerics

            numerics.out = output.out
            render({**report, "dtype": dtype})
        finally:
            output.out = numerics.out = saved
        assert ("of 65504" in buffer.getvalue()) is shown, buffer.getvalue()


def test_flops_columns_say_their_unit(cli):
    result = cli("flops", "--variant", "base")
    assert result.exit_code == 0
    assert "GFLOPs counted" in result.stdout and "GFLOPs closed form" in result.stdout


def test_memory_names_the_block_count_as_a_count(cli):
    result = cli("memory", "--variant", "huge")
    assert result.exit_code == 0
    assert "32 encoder blocks (65 tokens each)" in result.stdout and "32 x 65" not in result.stdout
