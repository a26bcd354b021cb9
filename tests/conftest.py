"""Shared test fixtures: paths to the data shipped with the repository (tests never read ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


@pytest.fixture(scope="session")
def official_reference() -> dict:
    """The official variants' parameter listing (counts, keys in order, shapes)."""
    return json.loads((DATA / "official_mae_state_dicts.json").read_text())
