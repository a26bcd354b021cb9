"""Write docs/cli.md, the `mae` command reference, from the app itself.

    python3 docs/cli_reference.py          # rewrite docs/cli.md (about 5 s: it imports the app, runs nothing)

Nothing in the reference is typed by hand except the error contract's prose (docs/error_contract.md, included): the
commands and groups are walked in the app's own order (``mae --help``), each command's text is its
docstring (its ``--help``, with the JSON keys it prints), and each option's spelling, kind, range,
default and help are read off the Click parameter Typer built. The exit codes are read from the
``EXIT_*`` constants of the ``mae_cli`` sources (wherever they live). ``tests/docs/test_cli_reference.py``
regenerates the file and fails if docs/cli.md differs, so a renamed option or a changed help text
cannot leave the reference behind.

Only attributes that Click and every Typer release since 0.12 share are read (``opts``,
``secondary_opts``, ``help``, ``default``, ``multiple``, ``hidden``; the value's kind from ``type`` or,
where Typer keeps its own parameter class, from ``type_descriptor``), so the text does not depend on
which Typer draws ``--help``.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
import sys
import typing
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"

# What each exit code means; the numbers are read from the code (EXIT_<NAME> = n). A new EXIT_ constant
# without a line here fails the generator (and so the test).
EXIT_MEANING = {
    "OK": "done",
    "FAILED": "a verification failed (a count, a shape, a comparison, a non-finite loss): the report is "
              "still printed",
    "BAD_INPUT": "bad input: exactly one line on stderr, `error: <what is wrong>; <the fix>`, stdout empty, "
                 "no traceback",
    "INTERNAL": "a bug: one line, please report it; `--debug` or `MAE_DEBUG=1` shows the traceback",
    "INTERRUPTED": "Ctrl-C at any moment: the line `interrupted`",
}

# The error contract's prose, hand-written (it describes tests, not the app): included after the exit codes.
CONTRACT = ROOT / "docs" / "error_contract.md"


def exit_codes() -> dict[str, int]:
    """``{NAME: code}`` of every ``EXIT_<NAME> = <int>`` assignment in the mae_cli sources (read with ast)."""
    found: dict[str, int] = {}
    for path in sorted((ROOT / "mae_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                for name, value in zip(names, values, strict=False):
                    if (isinstance(name, ast.Name) and name.id.startswith("EXIT_")
                            and isinstance(value, ast.Constant) and isinstance(value.value, int)):
                        found[name.id.removeprefix("EXIT_")] = value.value
    return found


def cell(text: str) -> str:
    """One table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def prose(text: str) -> str:
    """A docstring paragraph as Markdown text: characters Markdown would take for markup are escaped."""
    return re.sub(r"([*<])", r"\\\1", text)


def kind(param: Any) -> str:
    """What the option takes: int, float, text, path, or a choice list; '' for a flag."""
    if getattr(param, "is_flag", False) and not getattr(param, "count", False):
        return ""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and getattr(descriptor, "annotation", None) is not None:
        annotation = descriptor.annotation
        args = typing.get_args(annotation)
        if args and typing.get_origin(annotation) in (list, tuple):
            annotation = args[0]
        name = getattr(annotation, "__name__", str(annotation))
        return {"int": "int", "float": "float", "str": "text", "Path": "path", "bool": "bool"}.get(name, name)
    ptype = getattr(param, "type", None)
    choices = getattr(ptype, "choices", None)
    if choices:
        return "|".join(map(str, choices))
    name = getattr(ptype, "name", "text")
    return {"integer": "int", "integer range": "int", "float range": "float", "filename": "path",
            "boolean": "bool"}.get(name, name)


def value_range(param: Any) -> str:
    low = getattr(param, "min", None)
    high = getattr(param, "max", None)
    if low is None and high is None and getattr(param, "type", None) is not None:
        low, high = getattr(param.type, "min", None), getattr(param.type, "max", None)
    if low is None and high is None:
        return ""
    return f"{'' if low is None else low}..{'' if high is None else high}"


def default_text(param: Any) -> str:
    default = param.default
    if default is None or default == () or default == []:
        return ""
    if getattr(param, "is_flag", False) and getattr(param, "secondary_opts", None) == [] and default is False:
        return ""
    if callable(default):
        return ""
    if isinstance(default, bool) and param.secondary_opts:
        return param.opts[0] if default else param.secondary_opts[0]
    return f"`{default}`"


def option_rows(command: Any) -> list[str]:
    rows = ["| option | takes | default | what |", "| --- | --- | --- | --- |"]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if getattr(param, "param_type_name", "") == "argument":
            name = param.name.upper() + ("..." if param.nargs != 1 else "")
            spelling = f"`{name}`" + ("" if param.required else " (optional)")
        else:
            spelling = ", ".join(f"`{o}`" for o in param.opts)
            if param.secondary_opts:
                spelling += " / " + ", ".join(f"`{o}`" for o in param.secondary_opts)
        takes = kind(param)
        if takes and value_range(param):
            takes += f" in {value_range(param)}"
        if takes and getattr(param, "multiple", False):
            takes += ", repeatable"
        rows.append(f"| {spelling} | {cell(takes)} | {cell(default_text(param))} | {cell(prose(param.help or ''))} |")
    return rows


def usage(path: list[str], command: Any) -> str:
    pieces = []
    for param in command.params:
        if getattr(param, "param_type_name", "") == "argument":
            name = param.name.upper() + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
    return " ".join(["mae", *path, "[OPTIONS]", *pieces])


def split_help(text: str) -> tuple[str, str]:
    """(description, the JSON paragraph and what follows it) of a command's docstring."""
    text = inspect.cleandoc(text or "")
    match = re.search(r"^JSON\b.*", text, flags=re.M | re.S)
    if not match:
        return text, ""
    return text[: match.start()].rstrip(), match.group(0).rstrip()


def command_section(path: list[str], command: Any) -> list[str]:
    description, json_part = split_help(command.help or "")
    parts = [f"## `mae {' '.join(path)}`", "", f"`{usage(path, command)}`", ""]
    parts += [prose(p.replace("\n", " ")) + "\n" for p in description.split("\n\n") if p.strip()]
    if json_part:
        parts += ["```text", json_part, "```", ""]
    parts += option_rows(command) + [""]
    return parts


def walk(group: Any, ctx: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """(path, command) of every visible command under ``group``, in the app's order, groups expanded."""
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        if hasattr(command, "list_commands"):
            found.append(([*path, name], command))
            found += walk(command, ctx, [*path, name])
        else:
            found.append(([*path, name], command))
    return found


def reference() -> str:
    import typer.main

    from mae_cli.app import HELP, get_app

    group = typer.main.get_command(get_app())
    ctx = group.context_class(group, info_name="mae")
    commands = walk(group, ctx, [])
    codes = exit_codes()
    unknown = sorted(set(codes) - set(EXIT_MEANING))
    if unknown or not codes:
        raise SystemExit(f"docs/cli_reference.py: say what exit code(s) {unknown or 'EXIT_*'} mean in EXIT_MEANING")
    lines = ["# The `mae` command reference", "",
             "<!-- Generated by python3 docs/cli_reference.py from the app itself; "
             "tests/docs/test_cli_reference.py fails if it drifts. Do not edit by hand. -->", "",
             f"{HELP} Every command prints Rich tables for people, or with `--json` exactly one JSON document on "
             "stdout; notes, progress and errors go to stderr. `mae COMMAND --help` prints the same text as "
             "this page. Examples with their real output: [the tour](tour.md).", "",
             "| command | what |", "| --- | --- |"]
    for path, command in commands:
        anchor = "mae-" + "-".join(path).replace("_", "-")
        summary = inspect.cleandoc(command.help or "").split("\n\n")[0].replace("\n", " ")
        summary = re.split(r"(?<=\.)\s", summary, maxsplit=1)[0]
        lines.append(f"| [`mae {' '.join(path)}`](#{anchor}) | {cell(summary)} |")
    lines += ["", "Options of `mae` itself (before the command):", ""] + option_rows(group)
    lines += ["", "## Exit codes and the error contract", "", "| exit code | meaning |", "| ---: | --- |"]
    lines += [f"| {code} | {EXIT_MEANING[name]} |" for name, code in sorted(codes.items(), key=lambda kv: kv[1])]
    lines += ["", CONTRACT.read_text().split("-->\n", 1)[-1].rstrip(), ""]
    for path, command in commands:
        if hasattr(command, "list_commands"):
            lines += [f"## `mae {' '.join(path)}`", "", prose(inspect.cleandoc(command.help or "").replace("\n", " ")),
                      "", f"Sub-commands: {', '.join(f'`{sub}`' for sub in command.list_commands(ctx))}.", ""]
        else:
            lines += command_section(path, command)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    OUT.write_text(reference())
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
