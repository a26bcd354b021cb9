"""Fixtures of the reference tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_official_src_from_environment(monkeypatch):
    """Tests choose their reference explicitly; a developer's $MAE_OFFICIAL_SRC must not change them."""
    monkeypatch.delenv("MAE_OFFICIAL_SRC", raising=False)
