"""`mae compare-official`: prove, stage by stage, that our model computes what the official one does.

Paper: MAE Sec. 3 (every step of the forward pass is one row). Loads identical weights into our model
and a reference (the official source, the official composition on timm, or transformers' ViTMAE), feeds
both the same images and the same masking noise, and compares mask and ids_restore (exactly), the
patch embedding, every block's output, the latent, pred and loss (max abs / max rel difference), and with
``--grad`` every parameter's gradient. The logic lives in :mod:`official_mae.service` (the run) and
:mod:`official_mae.compare` (the rows); this module gathers the options and draws the table. Exit 1 when
any row fails, naming the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..model_args import resolve_variant
from ..options import (AccumIterOpt, AtolOpt, BatchOpt, DeviceOpt, GradOpt, ImageOpt, ImgSizeOpt, InChansOpt,
                       MaskFileOpt, MaskOpt, MaskRatioOpt, NormPixOpt, OfficialSrcOpt, ReferenceOpt, ResizeOpt, RtolOpt,
                       SeedOpt, StageOpt, VariantOpt, WeightsOpt, check_inputs, one_reference, resolve_device)
from ..output import esc, note, out, progress
from ..runner import VerificationFailed, reference_errors, run
from .compare_steps import EpochOpt, StepsOpt, official_source_note

PerturbOpt = Annotated[str | None, typer.Option(
    "--perturb", metavar="WEIGHT", show_default=False,
    help="Add 0.001 to this weight on the reference side only, to watch the check fail.")]


def command(
    variant: VariantOpt = None,
    weights: WeightsOpt = None,
    reference: ReferenceOpt = None,
    official_src: OfficialSrcOpt = None,
    batch: BatchOpt = 2,
    images: ImageOpt = None,
    seed: SeedOpt = 0,
    mask_ratio: MaskRatioOpt = 0.75,
    atol: AtolOpt = 1e-5,
    rtol: RtolOpt = 1e-6,
    grad: GradOpt = False,
    norm_pix_loss: NormPixOpt = None,
    perturb: PerturbOpt = None,
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
    mask: MaskOpt = "random",
    mask_file: MaskFileOpt = None,
    device: DeviceOpt = "cpu",
    resize: ResizeOpt = "stretch",
    steps: StepsOpt = None,
    accum_iter: AccumIterOpt = None,
    epoch: EpochOpt = None,
    stage: StageOpt = "pretrain",
) -> None:
    """Our model against the official code, stage by stage.

    Same weights, images and masking noise; exit 1 naming the first stage whose max abs difference
    exceeds --atol + --rtol x the reference's largest value there. --reference auto: official if a
    source is given, else timm, else hf. --grad adds every parameter's gradient. --perturb W adds 0.001
    to weight W on the reference side only, to watch the check fail. Without --weights our seeded
    initialisation is exported to the official layout. A classifier (--weights with a head, or --variant
    vit_base_patch16 / ...) is compared with models_vit.py, timm or transformers; --steps N runs N
    optimizer steps of the published recipe against the official training loop (docs/fidelity.md,
    docs/recipe.md).

    \b
    JSON (--json), one document with the keys: variant, title, reference,
      reference_detail, weights, seed, mask_ratio, norm_pix_loss,
      norm_pix_loss_from, atol, rtol, notes, images, size, mask_strategy, stages
      [{stage, shape, max_abs, max_rel, passed, detail, tolerance}], passed,
      first_failure, loss {ours, reference} (null with nothing masked), gradients
      (with --grad: [{name, max_abs, max_rel, passed, detail}]). A classifier adds
      classifier (true), batch, grad, top1 {ours, reference}. --steps: variant,
      title, stage, steps_requested, accum_iter, batch, images, seed, mask_ratio,
      norm_pix_loss, epoch, lr, weights, official_rule, shims, notes, groups
      [{group, weight_decay, ours, official, same}], steps [{step, loss {ours,
      official}, lr [{group, weight_decay, ours, official}], max_param_diff,
      worst_param, passed}], passed, first_failure.
    """
    def given() -> dict[str, Any]:  # called inside run(): a bad --reference is one line and exit 2
        return dict(variant=variant, weights=weights, reference=one_reference(reference), official_src=official_src,
                    batch=batch, images=images or [], seed=seed, mask_ratio=mask_ratio, grad=grad,
                    norm_pix_loss=norm_pix_loss, perturb=perturb, device=device, img_size=img_size, in_chans=in_chans,
                    mask=mask, mask_file=mask_file, resize=resize)

    if steps is not None or accum_iter is not None or epoch is not None or stage != "pretrain":
        from . import compare_steps

        return run(lambda: compare_steps.compute(steps=steps, accum_iter=accum_iter or 1, epoch=epoch, stage=stage,
                                                 **given()), compare_steps.render)
    run(lambda: compute(atol=atol, rtol=rtol, **given()), render)


# --- compute -------------------------------------------------------------------------------------

def compute(*, variant: str | None, weights: Path | None, reference: str, official_src: Path | None,
            images: list[Path], batch: int, device: str, **settings: Any) -> dict[str, Any]:
    """Check the files and the device, run :func:`official_mae.service.compare_given` (``settings``: its
    other arguments, atol, rtol, mask_ratio, ...), raise if our model and the reference differ."""
    from mae_core.models import is_classifier

    from official_mae import resolve_kind
    from official_mae.service import compare_given

    check_inputs(images, weights)
    dev = resolve_device(device)
    with reference_errors():
        kind = resolve_kind(reference, official_src)  # fail fast, before any model is built
        name = variant if variant is None or is_classifier(variant) else resolve_variant(variant)
        data = compare_given(name, weights, kind=kind, official_src=official_src, images=images,
                             batch=len(images) or batch, device=dev, stage=progress,
                             announce=lambda: note(official_source_note(official_src)), **settings)
    if not data["passed"]:
        raise VerificationFailed(data, f"{data['title']} differs from the {data['reference']} reference from stage "
                                       f"{data['first_failure']} on")
    return data


# --- render --------------------------------------------------------------------------------------

def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.2e}"


def render(data: dict[str, Any]) -> None:
    for line in data["notes"]:
        note(line)
    out.print(f"[bold]{esc(data['title'])}[/] ({esc(data['variant'])}) vs [bold]{esc(data['reference'])}[/]: "
              f"{esc(data['reference_detail'])}", highlight=False)
    images = f"{len(data['images'])} image(s)"
    first = f"{esc(data['images'][0], 100)}{', ...' if len(data['images']) > 1 else ''}"
    if data.get("classifier"):
        out.print(f"weights: {esc(data['weights'])}; input: {images} ({first}); loss: cross-entropy against labels "
                  f"of seed {data['seed']}", highlight=False)
    else:
        strategy = "" if data.get("mask_strategy", "random") == "random" else f" ({esc(data['mask_strategy'])} mask)"
        out.print(f"weights: {esc(data['weights'])}; input: {images} of {esc(data.get('size', '224 px'))} ({first}); "
                  f"masking noise seed {data['seed']}, mask ratio {data['mask_ratio']:g}{strategy}; loss on "
                  f"{'normalised' if data['norm_pix_loss'] else 'raw'} pixels", highlight=False)
    _render_table(data)


def _render_table(data: dict[str, Any]) -> None:
    table = Table(title=f"stage by stage (pass: max abs diff <= {data['atol']:g} + {data['rtol']:g} x max |reference|;"
                        " masks identical)")
    for col, justify in (("stage", "left"), ("shape", "left"), ("max abs diff", "right"), ("max rel diff", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("result")
    for row in data["stages"]:
        shape = row["shape"] if isinstance(row["shape"], str) else "x".join(map(str, row["shape"])) or "scalar"
        if row["stage"] == "masking":
            verdict = "[green]identical[/]" if row["passed"] else f"[bold red]FAIL[/] {esc(row['detail'])}"
        elif row["passed"] and row["max_abs"] is None and row["detail"]:  # nothing to compare (no masked patch)
            verdict = "[green]n/a[/] none masked"
        else:
            verdict = "[green]pass[/]" if row["passed"] else f"[bold red]FAIL[/] {esc(row['detail'])}"
        table.add_row(esc(row["stage"]), esc(shape), _num(row["max_abs"]), _num(row["max_rel"]), verdict)
    out.print(table)
    loss = data["loss"]
    if data.get("classifier"):
        out.print(f"loss: ours {loss['ours']:.8f}, reference {loss['reference']:.8f}; top-1 ours "
                  f"{data['top1']['ours']}, reference {data['top1']['reference']}", highlight=False)
    elif loss["ours"] is None:
        out.print("loss: undefined on both sides (no masked patches)", highlight=False)
    else:
        out.print(f"loss: ours {loss['ours']:.8f}, reference {loss['reference']:.8f}", highlight=False)
    if data["passed"]:
        out.print(f"[bold green]PASS[/]: all {len(data['stages'])} stages agree with the {esc(data['reference'])} "
                  "reference")
    else:
        out.print(f"[bold red]FAIL[/]: first diverging stage: [bold]{esc(data['first_failure'])}[/]")
