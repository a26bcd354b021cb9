"""docs/cli.md is what docs/cli_reference.py writes from the app today (it cannot drift from --help)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "cli_reference.py")
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def test_cli_reference_is_generated_from_the_app():
    assert ref.OUT.read_text() == ref.reference(), "docs/cli.md is stale: run python3 docs/cli_reference.py"


def test_every_command_option_and_json_section_is_in_it():
    """Walked from the Click tree: every visible command has a section, every visible option a row, and
    every docstring's JSON paragraph is there (the JSON keys of each command)."""
    import typer.main

    from mae_cli.app import get_app

    text = ref.reference()
    group = typer.main.get_command(get_app())
    ctx = group.context_class(group, info_name="mae")
    commands = ref.walk(group, ctx, [])
    assert len(commands) >= 15
    for path, command in commands:
        assert f"## `mae {' '.join(path)}`" in text
        for param in command.params:
            if not getattr(param, "hidden", False) and getattr(param, "param_type_name", "") == "option":
                assert f"`{param.opts[0]}`" in text
        _, json_part = ref.split_help(command.help or "")
        assert json_part in text
    assert "## `mae forward`" in text and "latency_s" in text


def test_exit_codes_are_read_from_the_code():
    codes = ref.exit_codes()
    assert codes == {"OK": 0, "FAILED": 1, "BAD_INPUT": 2, "INTERNAL": 3, "INTERRUPTED": 130}
    assert set(codes) == set(ref.EXIT_MEANING), "say what each EXIT_ constant means in EXIT_MEANING"
    for name, code in codes.items():
        assert f"| {code} | {ref.EXIT_MEANING[name]} |" in ref.reference()


def test_option_rows_show_range_default_and_escape_markup():
    class Option:  # the attributes Click and every Typer share
        param_type_name, opts, secondary_opts, hidden = "option", ["--batch", "-b"], [], False
        multiple, nargs = False, 1
        is_flag, default, help, min, max, type_descriptor, type = False, 8, "a | b *_full.pth", 1, 64, None, None

    class Command:
        params = [Option()]

    row = ref.option_rows(Command())[-1]
    assert row == "| `--batch`, `-b` | text in 1..64 | `8` | a \\| b \\*_full.pth |"
