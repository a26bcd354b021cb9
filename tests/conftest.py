"""Shared test fixtures: paths to the data shipped with the repository (tests never read ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


@pytest.fixture(scope="session")
def official_reference() -> dict:
    """The official variants' parameter listing (counts, keys in order, shapes), as shipped in the
    package (one copy: ``mae_core/models/official_state_dicts.json``, taken from the official code)."""
    return json.loads((Path(__file__).parents[1] / "mae_core" / "models" / "official_state_dicts.json").read_text())
