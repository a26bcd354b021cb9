"""The `mae` entry point and the explicit list of its commands.

``mae = "mae_cli.app:main"`` (pyproject). This module imports only the standard library, so that
Ctrl-C at any moment of start-up is "interrupted" and exit 130, never a traceback: the Typer app (and
with it Typer, Rich and each command module) is built inside :func:`main`. ``from mae_cli.app import
app`` still gives the Typer app (built on first use), for tests and ``typer.testing.CliRunner``.

Run ``mae --help`` for the list. Every command prints Rich tables, or one JSON document with ``--json``;
exit codes 0 ok, 1 verification failed, 2 bad input, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Any

HELP = "Inspect and verify the from-scratch Masked Autoencoder (ViT-B/16, ViT-L/16, ViT-H/14)."

# (command name, module under mae_cli/commands/). Each module defines `command`: a function (one
# command) or a typer.Typer; or, for a group of sub-commands, SUBCOMMANDS (its function names) and
# GROUP_HELP. A module with neither is an error, never skipped.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("variants", "variants"),
    ("params", "params"),
    ("shapes", "shapes"),
    ("flops", "flops"),
    ("forward", "forward"),
    ("compare-official", "compare"),
    ("classify", "classify"),
    ("mask-demo", "mask_demo"),
    ("bench", "bench"),
    ("features", "features"),
    ("attention", "attention"),
    ("numerics", "numerics"),
    ("memory", "memory"),
    ("recipe", "recipe"),
    ("sweep", "sweep"),
    ("checkpoint", "checkpoint"),
    ("download", "download"),
)

_APP: Any = None


def version() -> str:
    """The installed package's version, read from its metadata (no torch import: `mae --version` is instant)."""
    from importlib import metadata

    try:
        return metadata.version("mae-inspect")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def build_app():
    """The Typer app with every command of :data:`COMMANDS`, in that order."""
    import importlib

    import typer

    from .group import MAEGroup, SubGroup
    from .runner import with_output_options

    def print_version(value: bool) -> None:
        if value:
            print(f"mae-inspect {version()}")
            raise typer.Exit()

    app = typer.Typer(name="mae", cls=MAEGroup, no_args_is_help=True, add_completion=False,
                      rich_markup_mode=None, pretty_exceptions_enable=False, help=HELP)

    @app.callback()
    def _root(
        show_version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True,
                                          help="Print the version and exit."),
        allow_long: bool = typer.Option(False, "--allow-long", help="Run a job estimated (in FLOPs, at this "
                                        "machine's measured speed) to take over 10 minutes; without it such a "
                                        "job is refused (exit 2) with the estimate. Same as MAE_ALLOW_LONG=1."),
    ) -> None:
        """Inspect and verify the from-scratch Masked Autoencoder (ViT-B/16, ViT-L/16, ViT-H/14)."""
        if allow_long:  # read by mae_core.views.flops.check_work (one place, every command)
            os.environ["MAE_ALLOW_LONG"] = "1"

    for name, module_name in COMMANDS:
        module = importlib.import_module(f"mae_cli.commands.{module_name}")
        if hasattr(module, "SUBCOMMANDS"):  # `mae checkpoint info|convert`
            group = typer.Typer(name=name, cls=SubGroup, no_args_is_help=True, add_completion=False,
                                rich_markup_mode=None, help=module.GROUP_HELP)
            for sub in module.SUBCOMMANDS:
                function = getattr(module, sub)
                group.command(sub, short_help=summary(function))(with_output_options(function))
            app.add_typer(group, name=name)
            continue
        command = module.command
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=name)
        else:
            app.command(name, short_help=summary(command))(with_output_options(command))
    return app


def summary(function: Any) -> str:
    """A command's line in `mae --help`: the first paragraph of its docstring, joined into one line (a
    hard line break would show as a break in mid-sentence)."""
    import inspect

    return " ".join((inspect.getdoc(function) or "").split("\n\n")[0].split())


def get_app():
    global _APP
    if _APP is None:
        _APP = build_app()
    return _APP


def __getattr__(name: str) -> Any:  # `from mae_cli.app import app` builds the app on first use
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The `mae` console script."""
    try:
        get_app()()
    except KeyboardInterrupt:  # Ctrl-C while the libraries load, before the group's own handling
        print("interrupted", file=sys.stderr)
        _exit(130)
    except SystemExit as done:
        if done.code == 130:
            _exit(130)
        raise


def _exit(code: int) -> None:
    """Leave at once with ``code``: after a Ctrl-C that fell inside code run by ``exec`` (dataclasses
    do that while torch imports), CPython would otherwise end the process by SIGINT instead."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or full stream: nothing more to say
            pass
    os._exit(code)
