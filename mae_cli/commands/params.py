"""`mae params`: parameter counts of a variant, per module, checked against the official model.

Paper: MAE Sec. 3 (encoder, light decoder, fixed sin-cos positions) and Table 3 (variants).
Service: :func:`mae_core.views.params.parameter_report` (a meta-device model: no weights allocated).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..model_args import resolve_variant
from ..options import VariantOpt
from ..output import esc, fmt_int, out
from ..runner import VerificationFailed, run

DepthOpt = Annotated[int, typer.Option(
    "--depth", "-d", min=0, max=64,
    help="Depth of the per-module breakdown: 1 encoder/decoder, 2 their parts, 3 each block, "
                          "0 none.")]


def command(variant: VariantOpt = None, depth: DepthOpt = 2) -> None:
    """Parameter counts, checked against the official model.

    Total / trainable / fixed parameters, encoder vs decoder, a per-module breakdown, and the
    official count beside ours (exit 1 if they differ).

    The official count is summed at run time from the shapes in the
    official state-dict listing shipped with the package
    (mae_core/models/official_state_dicts.json). "fixed" are the parameters
    that are never trained: the two sin-cos position tables.

    \b
    JSON (--json), one document with the keys:
      variant, title, counts {total, trainable, fixed, encoder, decoder},
      official (same keys, or null),
      difference (same keys, ours - official, or null),
      fixed_names, mismatches (list of str), verified (true, false or null),
      depth, modules (list of {name, depth, kind, params, trainable, share}),
      classifier (true for --variant vit_base_patch16 / vit_large_patch16 / vit_huge_patch14: encoder is
      then the trunk, decoder the head, official the published models_vit.py count).
    """
    run(lambda: compute(variant, depth), render, to_json=lambda r: r.to_dict())


def compute(variant: str | None, depth: int):
    from mae_core.views.params import parameter_report

    from mae_core.models import is_classifier

    name = variant or "base"
    report = parameter_report(name if is_classifier(name) else resolve_variant(name), depth)
    if report.verified is False:
        raise VerificationFailed(report, "parameter counts differ from the official model")
    return report


def render(report) -> None:
    from rich.table import Table

    counts, official, diff = report.counts, report.official, report.difference
    summary = Table(title=f"{esc(report.title)} ({esc(report.variant)}) parameters")
    summary.add_column("")
    summary.add_column("ours", justify="right")
    if official is not None:
        summary.add_column("official", justify="right")
        summary.add_column("difference", justify="right")
    labels = (("total", "total"), ("trainable", "trainable"), ("fixed", "fixed (sin-cos tables)"),
              ("encoder", "encoder"), ("decoder", "decoder"))
    if report.classifier:
        labels = (("total", "total"), ("trainable", "trainable"), ("fixed", "fixed"),
                  ("encoder", "trunk (encoder parts, fc_norm)"), ("decoder", "head (1000 classes)"))
    for key, label in labels:
        row = [label, fmt_int(getattr(counts, key))]
        if official is not None:
            d = diff[key]
            row += [fmt_int(getattr(official, key)), f"[green]{d:+,}[/green]" if d == 0 else f"[red]{d:+,}[/red]"]
        summary.add_row(*row)
    out.print(summary)

    if report.modules:
        table = Table(title=f"per module (depth {report.depth})")
        width = len(fmt_int(report.counts.total))
        table.add_column("module", overflow="fold")
        table.add_column("kind", overflow="fold")
        table.add_column("parameters", justify="right", min_width=width, no_wrap=True)
        table.add_column("trainable", justify="right", min_width=width, no_wrap=True)
        table.add_column("share", justify="right", min_width=8, no_wrap=True)
        for m in report.modules:
            table.add_row(esc(_tree_label(m.name)), esc(m.kind), fmt_int(m.params), fmt_int(m.trainable),
                          f"{100 * m.share:.2f} %")
        out.print(table)

    out.print(f"fixed (not trained): {esc(', '.join(report.fixed_names))}")
    if report.verified is None:
        out.print("[yellow]no official listing for this variant: nothing to verify against[/yellow]")
    elif report.verified and report.classifier:
        out.print(f"[green]PASS[/green] equal to the official models_vit.py count: {fmt_int(counts.total)} parameters")
    elif report.verified:
        out.print(f"[green]PASS[/green] equal to the official model: {fmt_int(counts.total)} parameters, "
                  "every key and shape as in the official state dict")
    else:
        out.print("[red]FAIL[/red] differs from the official model:")
        for line in report.mismatches[:20] or ["counts differ (see the difference column)"]:
            out.print(f"  {line}", markup=False)
        if len(report.mismatches) > 20:
            out.print(f"  ... and {len(report.mismatches) - 20} more")


def _tree_label(name: str) -> str:
    """``encoder.blocks.0.attn`` -> indented ``attn``; a numbered child keeps its list name (``blocks.0``)."""
    parts = name.split(".")
    label = ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]
    return "  " * (len(parts) - 1) + label
