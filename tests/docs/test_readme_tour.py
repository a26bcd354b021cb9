"""docs/tour.md shows what the tool prints today, and the README's excerpts are cut from it.

The deterministic commands (no timing, no random weights) are re-run here; the others were run by
``python3 docs/readme_tour.py`` and are checked for being there. The README's front-page blocks must be
excerpts of docs/tour.md (so the two never disagree), and every command of the app must be in the tour.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "docs" / "readme_tour.py")
tour = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tour)

STALE = "run python3 docs/readme_tour.py (docs/tour.md and the README's excerpts)"


@pytest.mark.parametrize("command", [c for c, _, deterministic in tour.TOUR if deterministic])
def test_deterministic_outputs_match_the_tour(command):
    assert tour.block(command, tour.run(command)) in tour.TOUR_MD.read_text(), (
        f"docs/tour.md's output of `{command}` is stale: {STALE}")


def test_the_tour_lists_the_commands_of_TOUR_in_order():
    assert list(tour.recorded(tour.TOUR_MD.read_text())) == [c for c, _, _ in tour.TOUR], STALE


def test_readme_excerpts_are_cut_from_the_tour():
    readme = tour.README.read_text()
    section = readme[readme.index(tour.BEGIN) + len(tour.BEGIN) + 1: readme.index(tour.END)]
    assert section == tour.front(tour.recorded(tour.TOUR_MD.read_text())), (
        f"the README's excerpts differ from docs/tour.md: {STALE} --readme")
    assert len(tour.FRONT) >= 5


def test_excerpts_say_what_they_leave_out():
    output = "\n".join(f"line {i}" for i in range(10))
    assert tour.excerpt(output, 2, 1) == "line 0\nline 1\n... (7 more lines: docs/tour.md)\nline 9"
    assert tour.excerpt(output, None, 0) == output
    assert tour.excerpt(output, 8, 2) == output  # nothing left out: no elision line


def test_a_failing_command_shows_its_error_line():
    """What a user sees of a failure: the one stderr line and the exit code (issue 28: the download
    example showed an empty block)."""
    shown = tour.run("mae params --variant no-such-variant")
    assert shown.endswith("(exit 2)") and "error:" in shown and "no-such-variant" in shown
    recorded = tour.recorded(tour.TOUR_MD.read_text())
    for command, output in recorded.items():
        if output.endswith(")") and "(exit " in output.splitlines()[-1]:
            assert len(output.splitlines()) >= 2 and output.splitlines()[0].strip(), (
                f"`{command}` in docs/tour.md fails with no message shown: {STALE}")


def test_every_command_is_in_the_tour():
    from mae_cli.app import app

    names = {c.name for c in app.registered_commands}
    shown = {c.split()[1] for c, _, _ in tour.TOUR}
    assert names <= shown, f"commands missing from the tour (docs/readme_tour.py TOUR): {sorted(names - shown)}"
