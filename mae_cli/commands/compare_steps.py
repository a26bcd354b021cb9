"""`mae compare-official --steps N`: optimizer steps of pre-training, ours against the official training loop.

Paper: MAE Appendix A.1 (the pre-training recipe), as ``main_pretrain.py`` + ``engine_pretrain.py`` run it.
Service: :func:`official_mae.steps.compare_steps` (the rules: :mod:`mae_core.recipe`). Part of
``compare-official`` (its options), kept in its own module; exit 1 unless, after every step, the loss
of every micro-batch, the learning rate of every group and every weight are the same bits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..model_args import resolve_variant
from ..options import check_images, check_inputs
from ..output import cut, esc, note, out, progress
from ..runner import BadInput, VerificationFailed, reference_errors

StepsOpt = Annotated[Optional[int], typer.Option(
    "--steps", min=1, max=1000, show_default=False,
    help="N optimizer steps of the published recipe against the official training loop.")]
EpochOpt = Annotated[Optional[int], typer.Option(
    "--epoch", min=0, max=100000, show_default=False,
    help="With --steps: their epoch. Default: the last warm-up epoch.")]


def compute(*, variant: str | None, weights: Path | None, reference: str, official_src: Path | None,
            batch: int | None, images: list[Path], seed: int, mask_ratio: float, norm_pix_loss: bool | None,
            steps: int | None, accum_iter: int, epoch: int | None, img_size: str | None, in_chans: int,
            stage: str = "pretrain", device: str, resize: str, grad: bool, perturb: str | None, mask: str,
            mask_file: Path | None) -> dict[str, Any]:
    """Check the options, run :func:`official_mae.service.steps_given`, raise if the two loops differ."""
    from mae_core.views.prepare import read_weights

    from official_mae.service import steps_given

    check_options(steps, stage, reference, official_src, weights, mask_ratio, grad=grad, perturb=perturb,
                  mask=mask, mask_file=mask_file, device=device)
    check_images(images)
    name = resolve_variant(variant) if variant else None  # a typo fails before a large file is read
    check_inputs([], weights)
    name, loaded = read_weights(name, weights, progress)
    with reference_errors():
        data = steps_given(name, loaded, train_stage=stage, official_src=official_src, steps=steps,
                           accum_iter=accum_iter, batch=batch, images=images, seed=seed, mask_ratio=mask_ratio,
                           epoch=epoch, norm_pix_loss=norm_pix_loss, img_size=img_size, in_chans=in_chans,
                           resize=resize, stage=progress, announce=lambda: note(official_source_note(official_src)))
    if not data["passed"]:
        raise VerificationFailed(data, f"{data['title']} training differs from the official loop at "
                                       f"{data['first_failure']}")
    return data


def check_options(steps: int | None, stage: str, reference: str, official_src: Path | None, weights: Path | None,
                  mask_ratio: float, **others: Any) -> None:
    """The options --steps takes and those it cannot combine with (the steps run on the CPU, random masking,
    the recipe's own loss), each refused in the words of the flag."""
    from importlib.util import find_spec

    from official_mae.official import official_source

    if steps is None:
        raise BadInput("--accum-iter, --epoch and --stage go with --steps N (N optimizer steps); add --steps 3")
    defaults = {"grad": False, "perturb": None, "mask": "random", "mask_file": None, "device": "cpu"}
    unsupported = [f"--{k.replace('_', '-')}" for k, v in defaults.items() if others[k] != v]
    if unsupported:
        raise BadInput(f"{', '.join(unsupported)} cannot be combined with --steps (the steps run on the CPU, "
                       "random masking, the recipe's own loss); drop it")
    if reference not in ("auto", "official"):
        raise BadInput(f"--steps runs the official training code: use --reference official (not {reference!r}) "
                       "with --official-src")
    if official_source(official_src) is None:
        raise BadInput("--steps needs the official source: pass your facebookresearch/mae clone with "
                       "--official-src DIR or $MAE_OFFICIAL_SRC")
    if stage not in ("pretrain", "finetune"):
        raise BadInput(f"--stage {stage!r}: --steps compares pretrain or finetune (linear probing shares the "
                       "fine-tuning loop and LARS is compared in the tests)")
    if stage == "finetune" and weights is not None:
        raise BadInput("--stage finetune starts from our seeded classifier; drop --weights")
    if stage == "finetune" and find_spec("mae_core.classifier") is None:  # the classifier lands with issue 24
        raise BadInput("--stage finetune needs the classifier (mae_core.classifier), which this build does "
                       "not have; use --stage pretrain")
    if mask_ratio == 0 and stage == "pretrain":
        raise BadInput("--mask-ratio 0 leaves no masked patch, so the loss is undefined: use e.g. 0.75 with --steps")


def official_source_note(official_src: Path | None) -> str:
    """What will be imported, and whether $MAE_OFFICIAL_SRC chose it (the folder is checked by the service)."""
    from official_mae.official import ENV_VAR, official_source

    src, env = official_source(official_src), os.environ.get(ENV_VAR)
    why = f" (set by ${ENV_VAR})" if env and (official_src is None or str(official_src) == env) else ""
    return f"importing the official source {cut(str(src), 200)!r}{why}: its models_mae.py runs in this process"



def _pair(ours: list[Any], official: list[Any], fmt: str) -> str:
    """The values once when both sides agree, else ``ours / official`` in red."""
    def text(values: list[Any]) -> str:
        if len(values) > 3 and None not in values:  # many groups: the range
            return f"{len(values)} groups, {format(min(values), fmt)} .. {format(max(values), fmt)}"
        return ", ".join("-" if v is None else format(v, fmt) for v in values)

    return text(official) if ours == official else f"[bold red]{text(ours)} / {text(official)}[/]"


def render(data: dict[str, Any]) -> None:
    for line in data["notes"]:
        note(line)
    stage = data.get("stage", "pretrain")
    engine = "engine_finetune.py" if stage == "finetune" else "engine_pretrain.py"
    out.print(f"[bold]{esc(data['title'])}[/] {stage}, {len(data['steps'])} optimizer step(s) x "
              f"{data['accum_iter']} micro-batch(es) of {data['batch']} image(s), seed {data['seed']}: "
              f"ours (mae_core.recipe) vs the official {engine} loop; groups by {esc(data['official_rule'])}",
              highlight=False)
    differ = [g for g in data["groups"] if not g["same"]]
    sizes = ", ".join(str(len(g["official"])) for g in data["groups"])
    if not differ:
        out.print(f"{len(data['groups'])} parameter groups ({sizes} tensors): [green]the same tensors, weight decay "
                  "and lr scale on both sides[/]", highlight=False)
    for g in differ:
        scale = f", lr scale {g['lr_scale']:.4g}" if g.get("lr_scale") is not None else ""
        out.print(f"group {g['group']} (weight decay {g['weight_decay']}{scale}): {len(g['ours'])} tensors ours, "
                  f"{len(g['official'])} official: [bold red]differ[/]", highlight=False)
    table = Table(title="after each optimizer step (pass: identical bits; a difference shows ours / official)")
    for col in ("step", "loss per micro-batch", "lr per group", "max |param diff|", "result"):
        table.add_column(col, justify="left" if col == "result" else "right")
    for row in data["steps"]:
        table.add_row(str(row["step"]), _pair(row["loss"]["ours"], row["loss"]["official"], ".6f"),
                      _pair([r["ours"] for r in row["lr"]], [r["official"] for r in row["lr"]], ".4g"),
                      "0" if row["max_param_diff"] == 0 else f"{row['max_param_diff']:.2e} ({esc(row['worst_param'])})",
                      "[green]pass[/]" if row["passed"] else "[bold red]FAIL[/]")
    out.print(table)
    if data["passed"]:
        out.print(f"[bold green]PASS[/]: {len(data['steps'])} step(s) bit-identical to the official training code")
    else:
        out.print(f"[bold red]FAIL[/]: first difference at [bold]{esc(data['first_failure'])}[/]")
