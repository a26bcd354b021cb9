"""Every `mae ...` command line written by hand in the docs names a command and options that exist.

The generated pages (docs/cli.md, docs/tour.md) cannot drift; the prose around them can: an option
renamed in the app would leave `mae attention --layers 0,11` in docs/guide.md. Each code span and each
line of a code block that runs `mae <command>` is checked against the app itself: the command exists and
every `--option` after it is one of that command's visible spellings (a hidden alias kept for one release
does not count: the docs show the current spelling).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = {"docs/cli.md", "docs/tour.md"}  # written from the app by docs/cli_reference.py, docs/readme_tour.py
PAGES = ["README.md", "benchmarks/README.md"] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md") if str(p.relative_to(ROOT)) not in GENERATED)


def command_lines(text: str) -> list[str]:
    """The code a page shows: its inline code spans and each line of its fenced blocks."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return [line for block in fenced for line in block.splitlines()] + re.findall(r"`([^`\n]+)`", rest)


def spellings() -> dict[str, tuple[set[str], set[str]]]:
    """command path ('forward', 'checkpoint info') -> (visible option spellings, hidden ones)."""
    import typer.main

    from mae_cli.app import get_app

    group = typer.main.get_command(get_app())
    ctx = group.context_class(group, info_name="mae")
    found = {}

    def walk(g, path):
        for name in g.list_commands(ctx):
            command = g.get_command(ctx, name)
            if hasattr(command, "list_commands"):
                found[" ".join([*path, name])] = ({"--help"}, set())
                walk(command, [*path, name])
                continue
            visible, hidden = {"--help"}, set()
            for p in command.params:
                names = set(p.opts) | set(getattr(p, "secondary_opts", []))
                (hidden if getattr(p, "hidden", False) else visible).update(names)
            found[" ".join([*path, name])] = (visible, hidden)

    walk(group, [])
    return found


def problems(lines: list[str], known: dict[str, tuple[set[str], set[str]]]) -> list[str]:
    found = []
    for line in lines:
        for match in re.finditer(r"(?:^|[\s$=(])mae ([a-z][a-z-]*)((?: [a-z][a-z-]*)?)([^|&;#]*)", line):
            first, second, rest = match.group(1), match.group(2).strip(), match.group(3)
            path = f"{first} {second}" if f"{first} {second}" in known else first
            if path not in known:
                if first not in ("is", "and", "or", "the", "with"):  # prose that happens to follow "mae"
                    found.append(f"{line.strip()!r}: no command `mae {first}`")
                continue
            rest = (match.group(2) if path == first else "") + rest
            visible, hidden = known[path]
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
                if option not in visible:
                    what = "a hidden alias: show the current spelling" if option in hidden else "no such option"
                    found.append(f"{line.strip()!r}: `mae {path} {option}`: {what}")
    return found


@pytest.mark.parametrize("page", PAGES)
def test_hand_written_command_lines_match_the_app(page):
    text = (ROOT / page).read_text()
    assert problems(command_lines(text), spellings()) == []


def test_the_check_can_fail():
    known = {"forward": ({"--batch", "--help"}, {"--bs"}), "checkpoint info": ({"--help"}, set())}
    assert problems(["mae forward --batch 2 | head", "$ mae checkpoint info F"], known) == []
    assert len(problems(["mae forward --layers 0", "mae forward --bs 2", "mae nosuch"], known)) == 3
    assert len(problems(["pip install . && mae forward --batch 1 && mae forward --layers 0"], known)) == 1
    assert command_lines("a `mae forward --x` b\n```bash\nmae y\n```\n") == ["mae y", "mae forward --x"]


WRITTEN_BY_A_RUN = {"benchmarks/gpu_results/"}  # output folders, created by the script that fills them


def missing_paths(text: str, root: Path = ROOT) -> list[str]:
    """Repository paths a page names in code spans (`mae_core/io/weights.py`, `tests/cli/`) that do not exist:
    a file moved (issue 22 moves mae_core's modules) must take the docs' mentions with it."""
    top = "(?:mae_core|mae_cli|official_mae|benchmarks|tests|docs|notebooks)/[\\w./-]*"
    named = re.findall(rf"`({top})`", text) + re.findall(rf"\]\(((?:\.\./)?{top})\)", text)
    return sorted({p for p in named if not (root / p.removeprefix("../")).exists() and p not in WRITTEN_BY_A_RUN})


@pytest.mark.parametrize("page", PAGES)
def test_paths_named_in_the_docs_exist(page):
    assert missing_paths((ROOT / page).read_text()) == [], f"{page} names files that are not there"


def test_the_path_check_can_fail(tmp_path):
    (tmp_path / "mae_core").mkdir()
    (tmp_path / "mae_core" / "a.py").write_text("")
    assert missing_paths("`mae_core/a.py` and `mae_core/b.py`, [x](../mae_core/c.py)", tmp_path) == [
        "../mae_core/c.py", "mae_core/b.py"]
