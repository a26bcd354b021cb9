"""The `mae` Typer app: registers one function per subcommand from ``mae_cli/commands/``.

Run ``mae --help`` for the list. Every command prints Rich tables, or one JSON document with ``--json``;
exit codes 0 ok, 1 verification failed, 2 bad input, 3 internal error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mae_core import __version__

app = typer.Typer(
    name="mae",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    help="Inspect and verify the from-scratch Masked Autoencoder (ViT-B/16, ViT-L/16, ViT-H/14).",
)


def _version(value: bool) -> None:
    if value:
        print(f"mae-inspect {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Inspect and verify the from-scratch Masked Autoencoder (ViT-B/16, ViT-L/16, ViT-H/14)."""


def _register() -> None:
    from .commands import (attention, bench, compare, features, flops, forward, mask_demo, memory, numerics,
                           params, shapes, sweep, variants)

    for module, name in ((variants, "variants"), (params, "params"), (shapes, "shapes"), (forward, "forward"),
                         (compare, "compare-official"), (mask_demo, "mask-demo"), (flops, "flops"),
                         (bench, "bench"), (features, "features"), (attention, "attention"),
                         (numerics, "numerics"), (memory, "memory"), (sweep, "sweep")):
        command = getattr(module, "command", None)
        if command is not None:
            app.command(name)(command)
    from .commands import checkpoint, download

    group = typer.Typer(name="checkpoint", no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                        help=checkpoint.GROUP_HELP)
    for name in checkpoint.SUBCOMMANDS:
        group.command(name)(getattr(checkpoint, name))
    app.add_typer(group, name="checkpoint")
    app.command("download")(download.command)


_register()


def main() -> None:
    app()
