"""The layers keep their shape: who may import what, and how thin a command is.

Read from the source with ``ast`` (every import, also the lazy ones inside functions), so nothing is
imported or run:

* ``mae_core`` imports only torch, numpy, safetensors and the standard library (Pillow lazily, inside
  the functions that read or draw images), never ``mae_cli`` or ``official_mae``;
* inside ``mae_core`` the layers only point down (:data:`LAYERS`): errors, then ``io/`` (file formats and
  safety: it knows no model), ``kernels/``, the model files, the recipe, ``loading/`` (a checkpoint as a model), then
  ``views/``; and no two modules import each other through any path (no circle);
* ``official_mae`` never imports ``mae_cli``; the notebooks import nothing from ``mae_cli``;
* a command module (``mae_cli/commands/*.py``) parses options, makes one call and renders: it imports
  no numerical library (torch, numpy, Pillow, timm, transformers: tensors are a service's business),
  no private name of another package, and does no work on import (declarations only at module level);
* docs/architecture.md's tree and ``mae_core``'s package map list exactly the files there are.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE_ALLOWED = {"torch", "numpy", "safetensors"} | set(sys.stdlib_module_names)
CORE_LAZY_ONLY = {"PIL"}  # a dependency of the package, imported where an image is read or drawn
NUMERICAL = {"torch", "numpy", "PIL", "timm", "transformers"}


def imports(path: Path, package: str | None = None) -> list[tuple[str, list[str], bool, int]]:
    """(absolute module, imported names, at module level?, line) of every import in ``path``.

    ``package`` is the package the file belongs to, for relative imports (default: from its place in
    the repository).
    """
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    if package is None:
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = ".".join(parts if path.name == "__init__.py" else parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], id(node) in top_level, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, [a.name for a in node.names], id(node) in top_level, node.lineno))
    return found


def core_violations(path: Path, package: str | None = None) -> list[str]:
    problems = []
    for module, _, top_level, line in imports(path, package):
        root = module.split(".")[0]
        where = f"{path.name}:{line} imports {module}"
        if root in ("mae_cli", "official_mae"):
            problems.append(f"{where}: mae_core must not depend on the layers above it")
        elif root in CORE_LAZY_ONLY:
            if top_level:
                problems.append(f"{where} at module level; import it inside the function that needs it")
        elif root != "mae_core" and root not in CORE_ALLOWED:
            problems.append(f"{where}: mae_core imports torch, numpy and safetensors only")
    return problems


def command_violations(path: Path, package: str = "mae_cli.commands") -> list[str]:
    """Why this rule: a command that imports torch or numpy is doing a service's work (building tensors,
    the numbers its JSON reports), which a notebook or a Python user then cannot reach without the CLI;
    a private name (``_helper``) of another package is logic that belongs behind that package's API;
    a statement run at import (a loop, a call, a condition) is machinery that belongs in
    ``mae_cli/runner.py`` (or its siblings) or a service, and slows every ``mae`` start-up."""
    problems = []
    declarations = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    for node in ast.parse(path.read_text()).body:  # at module level: declarations only, no work on import
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if not (docstring or isinstance(node, declarations)):
            problems.append(f"{path.name}:{node.lineno}: {type(node).__name__} at module level; "
                            "a command declares its options and functions, it does no work on import")
    for module, names, _, line in imports(path, package):
        root = module.split(".")[0]
        where = f"{path.name}:{line} imports {module}"
        if root in NUMERICAL:
            problems.append(f"{where}: move the computation into a mae_core service")
        if root in ("mae_core", "official_mae") and any(n.startswith("_") for n in names):
            problems.append(f"{where} {[n for n in names if n.startswith('_')]}: call the package's public API")
    return problems


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


COMMANDS = sorted((ROOT / "mae_cli" / "commands").glob("*.py"))
NOTEBOOK_SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb")) + [ROOT / "notebooks" / "make_notebooks.py"]


@pytest.mark.parametrize("path", sources("mae_core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_mae_core_imports_only_torch_numpy_safetensors(path):
    assert core_violations(path) == []


@pytest.mark.parametrize("path", sources("official_mae"), ids=lambda p: str(p.relative_to(ROOT)))
def test_official_mae_never_imports_the_cli(path):
    assert [m for m, *_ in imports(path) if m.split(".")[0] == "mae_cli"] == []


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_a_command_computes_nothing_itself(path):
    assert command_violations(path) == []


def cli_imports_in_notebook(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    else:
        code = path.read_text()
    return [line.strip() for line in code.splitlines() if line.strip().startswith(("import mae_cli", "from mae_cli"))]


@pytest.mark.parametrize("path", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_notebooks_never_import_the_cli(path):
    assert cli_imports_in_notebook(path) == []


def test_the_rules_can_fail(tmp_path):
    """Each rule flags a file that breaks it, lazy (inside a function) and relative imports included."""
    bad_core = tmp_path / "bad_core.py"
    bad_core.write_text("from PIL import Image\n\ndef f():\n    from ...mae_cli.common import out\n"
                        "    import official_mae\n    import rich\n")
    assert len(core_violations(bad_core, "mae_core.views")) == 4
    bad_command = tmp_path / "bad_command.py"
    bad_command.write_text("def compute():\n    import torch\n"
                           "    from mae_core.kernels.linear import _onednn_product\n"
                           "CELL = '##'\nfor i in range(2):\n    pass\nprint(CELL)\n")
    assert len(command_violations(bad_command)) == 4  # torch, the private name, the loop, the call
    bad_notebook = tmp_path / "bad.py"
    bad_notebook.write_text("x = 1\nfrom mae_cli.picture import render\n")
    assert cli_imports_in_notebook(bad_notebook) == ["from mae_cli.picture import render"]


# --- inside mae_core: layers that only point down, and no circle -------------------------------------

# Bottom first. A module may import its own layer or one below it. A name matches its longest prefix.
MODEL_FILES = ("config", "patch_embed", "pos_embed", "masking", "mask_strategies", "attention", "mlp", "block",
               "encoder", "decoder", "loss", "mae", "init", "record", "models", "drop_path", "classifier")
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("errors", ("mae_core.errors",)),
    ("io: file formats and safety", ("mae_core.io",)),
    ("kernels", ("mae_core.kernels",)),
    ("the model", tuple(f"mae_core.{m}" for m in MODEL_FILES)),
    ("the recipe: optimizer groups, lr schedule", ("mae_core.recipe",)),
    ("loading: a checkpoint as a model", ("mae_core.loading", "mae_core.finetune")),
    ("views", ("mae_core.views",)),
    ("the package", ("mae_core",)),
]


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of a ``mae_core`` module (its longest matching prefix)."""
    best, length = len(LAYERS) - 1, 0
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = i, len(prefix)
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if path.name == "__init__.py" else parts)


def core_edges(path: Path, package: str | None = None) -> set[str]:
    """The ``mae_core`` modules ``path`` imports (``from . import x`` names the submodule x where it is one)."""
    edges = set()
    for module, names, _, _ in imports(path, package):
        if module.split(".")[0] != "mae_core":
            continue
        subs = [f"{module}.{n}" for n in names if (ROOT / Path(*f"{module}.{n}".split("."))).with_suffix(".py").exists()
                or (ROOT / Path(*f"{module}.{n}".split("."))).is_dir()]
        edges |= set(subs) if subs else {module}
    return edges


def layer_violations(path: Path, package: str | None = None) -> list[str]:
    own = layer_of(package + ".x" if package else module_name(path))
    return [f"{path.name} ({LAYERS[own][0]}) imports {m} ({LAYERS[layer_of(m)][0]}): a layer only imports the ones "
            "below it" for m in sorted(core_edges(path, package)) if layer_of(m) > own]


def core_graph() -> dict[str, set[str]]:
    return {module_name(p): {m for m in core_edges(p) if m != module_name(p)} for p in sources("mae_core")}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (each a circle of imports), Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("path", sources("mae_core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_mae_core_layers_point_down(path):
    assert layer_violations(path) == []


def test_mae_core_has_no_circle():
    assert circles(core_graph()) == []


# The upward arrows issue 22 removed, each planted again where it stood: the rules must catch every one.
REMOVED_ARROWS = [
    ("mae_core.io", "from ..mae import MaskedAutoencoderViT"),  # io/weights.py built models
    ("mae_core.io", "from ..pos_embed import adapt_pos_embeds"),  # io/weights.py adapted position tables
    ("mae_core.io", "def f():\n    from ..models import create_model, list_models\n"),  # io/weights.py, lazily
    ("mae_core.io", "def f():\n    from ..models import get_variant, list_models\n"),  # io/checkpoint_info.py
    ("mae_core.io", "def f():\n    from ..models import get_variant\n"),  # io/convert.py
    ("mae_core.io", "def f():\n    from ..loading.weights import max_checkpoint_bytes\n"),  # io/download.py
    ("mae_core.kernels", "def f():\n    from ..attention import Attention\n"),  # kernels/switch.py
]


@pytest.mark.parametrize("package, code", REMOVED_ARROWS, ids=[c.split("import ")[1].split("\n")[0] + f" in {p}"
                                                               for p, c in REMOVED_ARROWS])
def test_each_removed_upward_import_would_fail(tmp_path, package, code):
    planted = tmp_path / "planted.py"
    planted.write_text(code + "\n")
    assert len(layer_violations(planted, package)) == 1


@pytest.mark.parametrize("edge", [
    ("mae_core.views.picture", "mae_core.views.attention"),  # the colormaps lived in attention.py
    ("mae_core.kernels.linear", "mae_core.kernels.switch"),  # a circle inside one layer
], ids=lambda e: " -> ".join(e))
def test_a_circle_would_fail(edge):
    graph = core_graph()
    assert circles(graph) == []
    graph[edge[0]] = graph[edge[0]] | {edge[1]}
    assert circles(graph) != [], f"planting {edge} makes no circle: the graph misses an edge"


def test_the_graph_sees_relative_and_lazy_imports():
    assert "mae_core.views.picture" in core_graph()["mae_core.views.attention"]  # lazily, ``from .picture``
    assert "mae_core.io.checkpoint" in core_graph()["mae_core.mae"]  # ``from .io import checkpoint``


# --- the maps: README's tree and mae_core's package map list every file --------------------------------

PACKAGES = ("mae_cli", "official_mae", "mae_core")


def package_files() -> set[str]:
    return {str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".md")}


def readme_tree(text: str) -> set[str]:
    """The files the architecture tree (docs/architecture.md) lists, as paths (depth from the tree's indentation)."""
    section = text[text.index("# Architecture"):]
    block = section[section.index("```text\n") + len("```text\n"):]
    block = block[: block.index("```")]
    listed, stack = set(), []
    for line in block.splitlines():
        match = re.match(r"^([│├└─ ]*)(\S+)", line)
        if not match:
            continue
        prefix, name = match.groups()
        if not (name.endswith("/") or re.search(r"\.(py|json|md)$", name)):
            continue  # a continued description
        depth = len(prefix) // 4
        stack = stack[:depth] + [name]
        if not name.endswith("/"):
            listed.add("".join(stack))
    return listed


def test_architecture_tree_lists_exactly_the_files():
    listed, actual = readme_tree((ROOT / "docs" / "architecture.md").read_text()), package_files()
    hint = " (python3 docs/architecture.py adds and drops them)"
    assert sorted(actual - listed) == [], "add these files to docs/architecture.md's tree" + hint
    assert sorted(listed - actual) == [], "docs/architecture.md's tree lists files that do not exist" + hint


def test_mae_core_package_map_lists_every_file():
    import mae_core

    doc = mae_core.__doc__
    missing = [path for path in sorted(package_files()) if path.startswith("mae_core/") and path.endswith(".py")
               and path.removeprefix("mae_core/") not in doc]
    assert missing == [], "add these files to the package map in mae_core/__init__.py"


def test_the_tree_reader_sees_depth():
    text = "## Architecture\n```text\na/   x\n├── b.py   y\n└── c/\n    └── d.py  z\n│     more words\n```\n"
    assert readme_tree(text) == {"a/b.py", "a/c/d.py"}
