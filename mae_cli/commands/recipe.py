"""`mae recipe`: the optimizer's parameter groups, the absolute learning rate and the schedule of a stage.

Paper: MAE Appendix A.1-A.3 (Tables 8-10), as the official ``main_pretrain.py`` / ``main_finetune.py`` /
``main_linprobe.py`` build them. Service: :func:`mae_core.views.recipe.recipe_report` (meta-device
models: no weights allocated); the rules are :mod:`mae_core.recipe`'s; the plot is
:func:`mae_core.views.recipe.schedule_picture`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..model_args import resolve_variant
from ..options import AccumIterOpt, StageOpt, VariantOpt
from ..output import esc, fmt_int, out
from ..runner import BadInput, run


def _opt(flag: str, kind: type, text: str) -> Any:
    return Annotated[Optional[kind], typer.Option(flag, show_default=False, help=text + " Default: published.")]


BatchSizeOpt = _opt("--batch-size", int, "Batch per GPU (the official --batch_size).")
WorldOpt = _opt("--world-size", int, "Number of GPUs (nodes x 8 in the published runs).")
BlrOpt = _opt("--blr", float, "Base learning rate; lr = blr x batch x accum x GPUs / 256.")
EpochsOpt = _opt("--epochs", float, "Training epochs (the cosine ends here).")
WarmupOpt = _opt("--warmup-epochs", float, "Linear warm-up epochs, from 0 (below --epochs).")
MinLrOpt = _opt("--min-lr", float, "Where the cosine ends.")
WdOpt = _opt("--weight-decay", float, "Weight decay of the decayed group(s).")
LayerDecayOpt = _opt("--layer-decay", float, "Layer-wise lr decay, in (0, 1] (fine-tuning only).")
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", show_default=False, help="Write the learning rate over the epochs to this PNG (one line per layer "
                                       "scale when fine-tuning); written to a temporary file and renamed.")]

def command(variant: VariantOpt = None, stage: StageOpt = "pretrain", batch_size: BatchSizeOpt = None,
            accum_iter: AccumIterOpt = None, world_size: WorldOpt = None, blr: BlrOpt = None, epochs: EpochsOpt = None,
            warmup_epochs: WarmupOpt = None, min_lr: MinLrOpt = None, weight_decay: WdOpt = None,
            layer_decay: LayerDecayOpt = None, plot: PlotOpt = None) -> None:
    """The training recipe: parameter groups, lr, schedule.

    As the official code runs it: the optimizer's parameter groups (which tensors get weight decay, each
    group's lr scale), the absolute learning rate from the base rate and the effective batch, and the
    per-iteration schedule (linear warm-up, half-cycle cosine). Every option defaults to the published
    value for the stage and variant (docs/recipe.md lists the sources).

    JSON (--json), one document with the keys:
      stage, variant, title, settings {batch_size, accum_iter, world_size, blr, epochs,
      warmup_epochs, min_lr, weight_decay, layer_decay}, effective_batch, lr, optimizer,
      param_groups (list of {weight_decay, lr_scale, params (official names), tensors,
      parameters, kinds, layer_id (finetune), lars_exempt (linprobe)}), frozen, lr_scales,
      schedule (list of {epoch, lr}, lr at scale 1), published (the published settings with
      their sources and the paper/repository differences), overridden, plot (path or null).
    """
    run(lambda: compute(variant=variant, stage=stage, plot=plot, settings=dict(
        batch_size=batch_size, accum_iter=accum_iter, world_size=world_size, blr=blr, epochs=epochs,
        warmup_epochs=warmup_epochs, min_lr=min_lr, weight_decay=weight_decay, layer_decay=layer_decay)),
        render)


def compute(*, variant: str | None, stage: str, plot: Path | None, settings: dict[str, Any]) -> dict[str, Any]:
    """Check --stage and --plot, run :func:`mae_core.views.recipe.recipe_report` (a refused setting is named as
    its option by :mod:`mae_cli.runner`), and write the plot."""
    from mae_core.recipe import STAGES
    from mae_core.views.recipe import recipe_report, write_schedule_picture

    if stage not in STAGES:
        raise BadInput(f"--stage {stage!r} is not a stage; use one of {', '.join(STAGES)}")
    name = resolve_variant(variant or "base")
    if plot is not None and plot.suffix.lower() != ".png":
        raise BadInput(f"--plot {str(plot)!r} must end in .png")
    if plot is not None and plot.exists() and not plot.is_file() and not plot.is_dir():
        raise BadInput(f"--plot {str(plot)!r} is not a regular file (a device or pipe); pass a file name")
    data = recipe_report(stage, name, **settings)
    data["plot"] = None if plot is None else write_schedule_picture(data, plot, what="--plot")
    return data


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in kinds.items())


def render(data: dict[str, Any]) -> None:
    s = data["settings"]
    out.print(f"[bold]{esc(data['title'])}[/] {data['stage']}: {esc(data['optimizer'])}", highlight=False)
    out.print(f"lr = blr {s['blr']:g} x batch {s['batch_size']} x accum {s['accum_iter']} x GPUs {s['world_size']} "
              f"/ 256 = [bold]{data['lr']:.6g}[/] (effective batch {fmt_int(data['effective_batch'])})",
              highlight=False)
    table = Table(title=f"parameter groups ({len(data['param_groups'])}), in the optimizer's order")
    for col, justify in (("group", "right"), ("tensors", "right"), ("parameters", "right"), ("kinds", "left"),
                         ("lr scale", "right"), ("weight decay", "right")):
        table.add_column(col, justify=justify)
    if data["stage"] == "finetune":
        table.add_column("layer id", justify="right")
    for i, g in enumerate(data["param_groups"]):
        cells = [str(i), str(g["tensors"]), fmt_int(g["parameters"]), esc(_kinds(g["kinds"]), 200),
                 f"{g['lr_scale']:.4g}", f"{g['weight_decay']:g}"]
        if data["stage"] == "finetune":
            cells.append(str(g["layer_id"]))
        table.add_row(*cells)
    out.print(table)
    tokens = {n: g["weight_decay"] > 0 for g in data["param_groups"] for n in g["params"]
              if n in ("cls_token", "mask_token", "pos_embed")}
    if tokens:
        out.print("tokens: " + ", ".join(f"{n} {'decayed' if d else 'not decayed'}" for n, d in tokens.items()),
                  highlight=False)
    if data["frozen"]:
        out.print(f"not trained: {len(data['frozen'])} tensor(s) ({esc(', '.join(data['frozen'][:4]))}"
                  f"{', ...' if len(data['frozen']) > 4 else ''})", highlight=False)
    for g in data["param_groups"]:
        if g.get("lars_exempt"):
            out.print(f"LARS: no weight decay and no trust ratio for {', '.join(g['lars_exempt'])} (1-D)",
                      highlight=False)
    sched = data["schedule"]
    peak = max(sched, key=lambda p: p["lr"])
    out.print(f"schedule (per iteration, from the fractional epoch): 0 at epoch 0, linear to {data['lr']:.4g} at epoch "
              f"{s['warmup_epochs']:g}, half-cycle cosine to {s['min_lr']:g} at epoch {s['epochs']:g} "
              f"({len(sched)} points; peak {peak['lr']:.4g} at {peak['epoch']:g})", highlight=False)
    if data["overridden"]:
        changed = ", ".join("--" + k.replace("_", "-") for k in data["overridden"])
        out.print(f"changed from the published recipe: {changed}", highlight=False)
    for line in data["published"]["differences"]:
        out.print(f"paper vs repository: {esc(line, 400)}", highlight=False)
    if data["plot"]:
        out.print(f"plot: [bold]{esc(data['plot'])}[/]")
