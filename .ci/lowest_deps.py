"""Print the lowest supported versions of the CLI's libraries, read from pyproject.toml's bounds.

    python .ci/lowest_deps.py      # -> typer==0.12.5 click==8.1.7 rich==13.0.0

`.ci/run` installs these (into a folder of their own, put first on PYTHONPATH) and runs the CLI tests
under them, so the stated lower bounds are tested, not hoped for; the main job tests the newest that
pip chooses. Paper: none (CI).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("typer", "click", "rich")


def lowest(pyproject: str) -> list[str]:
    """``name==low`` for each of :data:`LIBRARIES`, from ``"name>=low,<high"`` in the dependencies."""
    pins = []
    for name in LIBRARIES:
        match = re.search(rf'"{name}>=([0-9][0-9.]*)[^"]*"', pyproject)
        if match is None:
            sys.exit(f"pyproject.toml states no lower bound for {name} (\"{name}>=X,<Y\")")
        pins.append(f"{name}=={match.group(1)}")
    return pins


if __name__ == "__main__":
    print(" ".join(lowest((ROOT / "pyproject.toml").read_text())))
