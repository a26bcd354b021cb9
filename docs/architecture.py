"""Bring docs/architecture.md's one-line-per-file tree in line with the files there are.

    python3 docs/architecture.py      # rewrite the tree in docs/architecture.md (instant, runs nothing)

Files that are still there keep their hand-written line (and order); a file that moved to another folder
keeps the line it had under its old place (matched by file name); a new file gets the first line of its
module docstring (edit it by hand if a shorter one reads better); a file that is gone loses its line.
``tests/docs/test_architecture.py`` fails while the tree and the file tree differ.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("mae_cli", "official_mae", "mae_core")
COLUMN = 28


class Node:
    def __init__(self, name: str, lines: list[str] | None = None) -> None:
        self.name, self.lines, self.children = name, lines or [], []  # lines: description, continuations

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)


def package_files() -> set[str]:
    return {str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".md")}


def parse(block: str) -> list[Node]:
    """The tree of the ```text block: nodes with their description lines, in order."""
    roots: list[Node] = []
    stack: list[Node] = []
    for line in block.splitlines():
        match = re.match(r"^([│├└─ ]*)(\S+)(.*)$", line)
        if not match:
            continue
        prefix, name, rest = match.groups()
        if name.endswith("/") or re.search(r"\.(py|json|md)$", name):
            node = Node(name, [rest.strip()] if rest.strip() else [])
            depth = len(prefix) // 4
            stack = stack[:depth]
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
        elif stack:  # a continued description
            stack[-1].lines.append(line.strip(" │"))
    return roots


def summary(path: Path) -> str:
    if path.suffix != ".py":
        return ""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")


def reconcile(roots: list[Node], files: set[str]) -> list[Node]:
    old: dict[str, list[str]] = {}

    def remember(node: Node) -> None:
        if not node.name.endswith("/"):
            old.setdefault(node.name, node.lines)
        for c in node.children:
            remember(c)

    for r in roots:
        remember(r)
    by_name = {r.name: r for r in roots}
    result = [by_name.get(f"{p}/") or Node(f"{p}/", [summary(ROOT / p / "__init__.py")]) for p in PACKAGES]

    def fill(node: Node, folder: Path) -> None:
        here = {Path(f).name for f in files if str(Path(f).parent) == str(folder.relative_to(ROOT))}
        subdirs = {Path(f).relative_to(folder.relative_to(ROOT)).parts[0] + "/" for f in files
                   if Path(f).is_relative_to(folder.relative_to(ROOT)) and len(Path(f).relative_to(
                       folder.relative_to(ROOT)).parts) > 1}
        kept = [c for c in node.children if (c.name in here) or (c.name in subdirs)]
        names = {c.name for c in kept}
        for name in sorted(here - names):
            kept.append(Node(name, old.get(name) or [summary(folder / name)]))
        for name in sorted(subdirs - names):
            kept.append(Node(name, [summary(folder / name / "__init__.py")]))
        node.children = kept
        for c in kept:
            if c.name.endswith("/"):
                fill(c, folder / c.name.rstrip("/"))

    for node, package in zip(result, PACKAGES, strict=True):
        fill(node, ROOT / package)
    return result


def render(roots: list[Node]) -> str:
    out: list[str] = []

    def line(head: str, text: str) -> str:
        return (head.ljust(COLUMN) if len(head) < COLUMN else head + " ") + text if text else head

    def walk(node: Node, prefix: str, last: bool, root: bool) -> None:
        head = node.name if root else prefix + ("└── " if last else "├── ") + node.name
        out.append(line(head, node.lines[0] if node.lines else "").rstrip())
        inner = "" if root else prefix + ("    " if last else "│   ")
        more = (inner + "│") if node.children else inner
        for extra in node.lines[1:]:
            out.append(line(more, extra).rstrip())
        for i, c in enumerate(node.children):
            walk(c, inner, i == len(node.children) - 1, False)

    for r in roots:
        walk(r, "", True, True)
    return "\n".join(out) + "\n"


def main() -> None:
    text = PAGE.read_text()
    start = text.index("```text\n") + len("```text\n")
    end = text.index("```", start)
    PAGE.write_text(text[:start] + render(reconcile(parse(text[start:end]), package_files())) + text[end:])
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
