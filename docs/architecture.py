"""Bring docs/architecture.md's one-line-per-file tree in line with the files there are.

    python3 docs/architecture.py               # rewrite the tree in docs/architecture.md (instant, runs nothing)
    python3 docs/architecture.py --merge REF   # first take in the lines branch REF added or changed in its tree
                                               # (its docs/architecture.md, or its README's tree before the move)

Files that are still there keep their hand-written line (and order); a file that moved to another folder
keeps the line it had under its old place (matched by file name); a new file gets the first line of its
module docstring (edit it by hand if a shorter one reads better); a file that is gone loses its line.
``tests/docs/test_architecture.py`` fails while the tree and the file tree differ.

``--merge REF`` is for merging a branch that edited the tree (``git merge REF`` left a conflict, or the
branch still edits the README's old tree): the tree is merged three ways against the merge base, so the
lines REF added (in REF's order) or reworded come in, and this page's own lines stay.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
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


def tree_block(text: str) -> str:
    """The ```text block of the architecture section of a page (docs/architecture.md or an old README)."""
    section = text[re.search(r"^#+ Architecture", text, flags=re.M).start():]
    start = section.index("```text\n") + len("```text\n")
    return section[start: section.index("```", start)]


def merge(ours: list[Node], base: list[Node], theirs: list[Node]) -> list[Node]:
    """``ours`` with what ``theirs`` changed since ``base``: new entries (after their predecessor in
    ``theirs``) and reworded lines; folders merged the same way. Removals follow the files themselves."""
    base_by = {n.name: n for n in base}
    result = list(ours)
    for i, node in enumerate(theirs):
        names = [n.name for n in result]
        if node.name not in names and node.name not in base_by:  # they added it
            before = next((names.index(t.name) for t in reversed(theirs[:i]) if t.name in names), -1)
            result.insert(before + 1, node)
            continue
        if node.name in names:
            mine = result[names.index(node.name)]
            old = base_by.get(node.name)
            if old is not None and node.lines != old.lines:  # they reworded it
                mine.lines = node.lines
            mine.children = merge(mine.children, old.children if old else [], node.children)
    return result


def git_show(ref: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def tree_at(ref: str) -> list[Node]:
    for path in ("docs/architecture.md", "README.md"):
        text = git_show(ref, path)
        if text and re.search(r"^#+ Architecture", text, flags=re.M):
            return parse(tree_block(text))
    raise SystemExit(f"{ref} has no architecture tree")


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
    roots = parse(text[start:end])
    if "--merge" in sys.argv:
        ref = sys.argv[sys.argv.index("--merge") + 1]
        base = subprocess.run(["git", "merge-base", "HEAD", ref], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        roots = merge(roots, tree_at(base), tree_at(ref))
    PAGE.write_text(text[:start] + render(reconcile(roots, package_files())) + text[end:])
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
