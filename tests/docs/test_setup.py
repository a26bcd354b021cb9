"""The README is a front page whose two set-up commands work: the first leaves every command of the
tour working (issue 28: it installed `.` alone, so `mae compare-official` failed right after set-up),
the second is exactly what CI runs, and the extras they name exist in pyproject."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REFERENCE_MODULES = {"timm", "transformers"}  # what official_mae imports; the references need them


def setup_commands(text: str = README) -> list[str]:
    section = text[text.index("<!-- BEGIN setup -->"): text.index("<!-- END setup -->")]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def extras_of(command: str) -> set[str]:
    """The extras a `pip install -e ".[a,b]"` in ``command`` names (empty for `.` alone)."""
    found = re.findall(r'pip install[^&]*?-e\s+"?\.(?:\[([^\]]*)\])?"?', command)
    assert found, f"no `pip install -e .` in {command!r}"
    return {e.strip() for group in found for e in group.split(",") if e.strip()}


def requirements(extras: set[str]) -> set[str]:
    """The distribution names the extras bring, following `mae-inspect[x]` self-references."""
    optional = PYPROJECT["project"]["optional-dependencies"]
    names, todo = set(), list(extras)
    while todo:
        extra = todo.pop()
        assert extra in optional, f"the README installs the extra {extra!r}, which pyproject does not define"
        for requirement in optional[extra]:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
            inner = re.search(r"\[([^\]]*)\]", requirement)
            if name == PYPROJECT["project"]["name"] and inner:
                todo += [e.strip() for e in inner.group(1).split(",")]
            else:
                names.add(name.lower())
    return names


def test_two_setup_commands():
    assert len(setup_commands()) == 2, "the README's set-up section holds exactly two commands"


def test_ci_runs_exactly_the_readme_test_command():
    test_command = setup_commands()[1]
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in lines, ".ci/run must run exactly the README's second set-up command"


def test_main_command_installs_what_the_tour_needs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "docs" / "readme_tour.py")
    tour = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tour)
    main = setup_commands()[0]
    needs_reference = [c for c, _, _ in tour.TOUR if "compare-official" in c or "--reference" in c]
    assert needs_reference, "the tour shows the headline check"
    assert REFERENCE_MODULES <= requirements(extras_of(main)), (
        f"the README's first set-up command must install the extra with {sorted(REFERENCE_MODULES)}, "
        f"or {needs_reference} fail right after set-up")
    assert REFERENCE_MODULES <= requirements(extras_of(setup_commands()[1]))
    assert "mae compare-official" in main, "the main job runs the headline check"


def test_the_checks_can_fail():
    assert extras_of('pip install -e . && mae params') == set()
    assert not REFERENCE_MODULES <= requirements(set())
    assert requirements({"test"}) >= REFERENCE_MODULES  # test -> mae-inspect[reference]
    assert setup_commands("<!-- BEGIN setup -->\n```bash\na\n```\n<!-- END setup -->") == ["a"]


def test_readme_is_a_front_page():
    lines = README.splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines: move detail into docs/"
    first_picture = next(i for i, line in enumerate(lines) if line.startswith("!["))
    assert first_picture < 20 and "docs/images/mask_demo.png" in lines[first_picture], (
        "the mask-demo picture belongs on the first screen")
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to a missing file: {target}"
