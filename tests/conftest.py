"""Shared test fixtures: paths to the data shipped with the repository (tests never read ../shared)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


@pytest.fixture(scope="session")
def official_reference() -> dict:
    """The official variants' parameter listing (counts, keys in order, shapes), as shipped in the
    package (one copy: ``mae_core/models/official_state_dicts.json``, taken from the official code)."""
    return json.loads((Path(__file__).parents[1] / "mae_core" / "models" / "official_state_dicts.json").read_text())


@pytest.fixture
def tmp_path(request, tmp_path_factory) -> Path:
    """pytest's ``tmp_path``, removed as soon as the test ends (kept only when the test failed).

    Many tests write a full ViT-B checkpoint (about 430 MB); pytest's own fixture keeps every one of
    them until the session ends, about 12 GB for one run of the suite, which once filled the disk of
    the machine CI runs on. This keeps the suite's peak near the size of the session-scoped files.
    """
    name = re.sub(r"\W", "_", request.node.name)[:30]
    path = tmp_path_factory.mktemp(name, numbered=True)
    yield path
    report = getattr(request.node, "rep_call", None)
    if report is None or report.passed or report.skipped:
        shutil.rmtree(path, ignore_errors=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each test's call report on its node, so ``tmp_path`` knows whether the test passed."""
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
