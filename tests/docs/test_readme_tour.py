"""The README's command tour shows what the tool prints today (deterministic commands re-run here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "docs" / "readme_tour.py")
tour = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tour)


@pytest.mark.parametrize("command", [c for c, _, deterministic in tour.TOUR if deterministic])
def test_deterministic_outputs_match_readme(command):
    readme = (ROOT / "README.md").read_text()
    assert tour.block(command, tour.run(command)) in readme, (
        f"the README's output of `{command}` is stale: run python3 docs/readme_tour.py")


def test_every_command_is_in_the_tour():
    from mae_cli.app import app

    names = {c.name for c in app.registered_commands}
    shown = {c.split()[1] for c, _, _ in tour.TOUR}
    assert names <= shown, f"commands missing from the README tour: {sorted(names - shown)}"
