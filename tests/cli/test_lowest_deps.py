"""The supported ranges of typer, click and rich are stated in pyproject.toml and the lowest is tested.

`.ci/run`'s second job installs the lower bounds (``.ci/lowest_deps.py``) first on PYTHONPATH with
``MAE_LOWEST_DEPS=1`` and runs the CLI tests; here, that they really were the ones imported.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lowest_deps", ROOT / ".ci" / "lowest_deps.py")
lowest_deps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lowest_deps)


def test_every_cli_library_has_a_tested_range():
    text = (ROOT / "pyproject.toml").read_text()
    for name in lowest_deps.LIBRARIES:
        assert re.search(rf'"{name}>=[0-9.]+,<[0-9.]+"', text), f"state {name}'s supported range as >=low,<high"
    assert lowest_deps.lowest(text) == [f"{n}=={v}" for n, v in (
        re.search(rf'"({n})>=([0-9.]+),', text).groups() for n in lowest_deps.LIBRARIES)]


@pytest.mark.skipif(os.environ.get("MAE_LOWEST_DEPS") != "1", reason="only in .ci/run's lowest-versions job")
def test_the_lowest_versions_are_the_ones_imported():
    import click
    import rich  # noqa: F401 - its version is read from the metadata beside the imported package
    import typer

    from importlib import metadata

    pins = dict(p.split("==") for p in lowest_deps.lowest((ROOT / "pyproject.toml").read_text()))
    assert typer.__version__ == pins["typer"]
    assert metadata.version("click") == pins["click"]
    assert click.__file__.startswith(os.environ["PYTHONPATH"].split(os.pathsep)[0])
    assert metadata.version("rich") == pins["rich"]
