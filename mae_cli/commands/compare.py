"""`mae compare-official`: prove, stage by stage, that our model computes what the official one does.

Paper: MAE Sec. 3 (every step of the forward pass is one row). Loads identical weights into our model
and a reference (the official source, the official composition on timm, or transformers' ViTMAE), feeds
both the same images and the same masking noise, and compares mask and ids_restore (exactly), the
patch embedding, every block's output, the latent, pred and loss (max abs / max rel difference), and with
``--grad`` every parameter's gradient. The logic lives in :mod:`official_mae.compare`; this module
gathers the options and draws the table. Exit 1 when any row fails, naming the first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..model_args import check_fits_at_size, check_mask_ratio, masking_plan, resolve_weights, size_overrides, size_text
from ..options import (BatchOpt, DeviceOpt, GradOpt, ImageOpt, ImgSizeOpt, InChansOpt, MaskFileOpt, MaskOpt,
                       MaskRatioOpt, NormPixOpt, OfficialSrcOpt, ReferenceOpt, ResizeOpt, SeedOpt, VariantOpt,
                       WeightsOpt, check_images, check_tolerance, resolve_device)
from ..output import cut, esc, note, out, progress
from ..runner import BadInput, VerificationFailed, run

AtolOpt = Annotated[float, typer.Option(
    "--atol", metavar="X", callback=check_tolerance, help="Absolute difference a stage may show and pass.")]
RtolOpt = Annotated[float, typer.Option(
    "--rtol", metavar="X", callback=check_tolerance, help="Plus this fraction of the reference's largest value.")]
StepsOpt = Annotated[Optional[int], typer.Option(
    "--steps", min=1, max=1000, show_default=False,
    help="Instead of one forward pass: N pre-training optimizer steps under the published recipe (groups, "
         "AdamW, per-iteration lr), ours against the official engine_pretrain.py loop from your clone "
         "(--official-src); exit 1 unless loss, every group's lr and every weight agree bit for bit.")]
AccumIterOpt = Annotated[int, typer.Option(
    "--accum-iter", min=1, max=64, help="With --steps: micro-batches per optimizer step (gradient accumulation).")]
StepsStageOpt = Annotated[str, typer.Option(
    "--stage", help="With --steps: pretrain (MAE, engine_pretrain.py) or finetune (the classifier, layer decay, "
                    "drop path, label smoothing; engine_finetune.py, no mixup/cutmix).")]
EpochOpt = Annotated[Optional[int], typer.Option(
    "--epoch", min=0, max=100000, show_default=False,
    help="With --steps: the epoch the steps run in. Default: the last warm-up epoch.")]
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
    accum_iter: AccumIterOpt = 1,
    epoch: EpochOpt = None,
    stage: StepsStageOpt = "pretrain",
) -> None:
    """Our model against the official code, stage by stage.

    Identical weights, images and masking noise; exit 1 when a stage differs, naming the first. One
    --reference: official (your clone, needs --official-src), timm (the official composition on timm),
    hf (transformers' ViTMAE), or auto (the default): official if a source is given, else timm, else
    hf. A stage passes when its max abs difference is at most --atol + --rtol x the reference's largest
    magnitude in that stage (float32 rounding scales with it; --rtol 0 is a pure absolute test).
    --grad also compares every parameter's gradient after loss.backward() (slower, more memory).
    --perturb blocks.3.mlp.fc2.bias adds 0.001 to the first entry of that weight (official name) on
    the reference side only, to watch the check fail where the change first shows. Without --weights
    our seeded initialisation is exported to the official layout. With --mask-ratio 0 nothing is
    masked: the loss is undefined on both sides (null) and every other stage is compared.

    With --img-size the reference is built at that size by its own code (the official constructor, timm's
    PatchEmbed, ViTMAEConfig(image_size=...)); 224-px weights load into both with the fixed position
    tables regenerated for the new grid. The official code builds square grids only: compare a
    non-square size with --reference timm.

    \b
    JSON (--json), one document with the keys:
      variant, title, reference, reference_detail, weights, seed, mask_ratio,
      norm_pix_loss, atol, rtol, notes (list of str), images (list of str),
      size, mask_strategy,
      stages (list of {stage, shape, max_abs, max_rel, passed, detail,
      tolerance}), passed, first_failure (stage or null),
      loss {ours, reference} (null with nothing masked),
      gradients (with --grad: list of {name, max_abs, max_rel, passed, detail}).

    A fine-tuned or linear-probe classifier (--weights FILE holding a head, or --variant vit_base_patch16 /
    vit_large_patch16 / vit_huge_patch14 seeded with a global-pool head) is compared with the official
    models_vit.py (your clone, shimmed for today's timm), timm's VisionTransformer or transformers'
    ViTForImageClassification (cls token + Linear head only): rows patch_embed, blocks.{i}, features (what
    the head reads), logits, loss (cross-entropy against labels of --seed), grad rows with --grad; its JSON
    has classifier: true, variant, title, reference, reference_detail, weights, images, batch, seed, atol,
    rtol, grad, notes, stages, passed, first_failure, loss {ours, reference}, top1 {ours, reference}
    (lists of class indices), gradients (with --grad).

    With --steps N [--stage pretrain|finetune] (fine-tuning: no mixup/cutmix), instead:
      variant, title, stage, steps_requested, accum_iter, batch, images, seed, mask_ratio,
      norm_pix_loss, epoch, lr, weights, official_rule, shims, notes,
      groups (list of {group, weight_decay, ours, official, same}),
      steps (list of {step, loss {ours, official} (one per micro-batch), lr (list of {group,
      weight_decay, ours, official}), max_param_diff, worst_param, passed}),
      passed, first_failure.
    """
    if steps is not None or accum_iter != 1 or epoch is not None or stage != "pretrain":
        from .compare_steps import compute as compute_steps
        from .compare_steps import render as render_steps

        run(lambda: compute_steps(variant=variant, weights=weights, reference=one_reference(reference),
                                  official_src=official_src,
                                  batch=batch, images=images or [], seed=seed, mask_ratio=mask_ratio,
                                  norm_pix_loss=norm_pix_loss, steps=steps, accum_iter=accum_iter, epoch=epoch,
                                  img_size=img_size, in_chans=in_chans, device=device, resize=resize, grad=grad,
                                  perturb=perturb, mask=mask, mask_file=mask_file, stage=stage),
            render_steps)
        return
    run(lambda: compute(variant=variant, weights=weights, reference=one_reference(reference),
                        official_src=official_src,
                        batch=batch, images=images or [], seed=seed, mask_ratio=mask_ratio, atol=atol, rtol=rtol,
                        grad=grad, norm_pix_loss=norm_pix_loss, perturb=perturb, device=device, img_size=img_size,
                        in_chans=in_chans, mask=mask, mask_file=mask_file, resize=resize),
        render)


# --- compute -------------------------------------------------------------------------------------

def one_reference(given: list[str] | None) -> str:
    """The one reference of ``--reference`` (repeated or comma-separated, as bench takes several); auto if none."""
    names = [n.strip().lower() for g in given or [] for n in g.split(",") if n.strip()]
    if len(set(names)) > 1:
        raise BadInput(f"--reference: compare-official compares with one reference at a time, got {', '.join(names)}; "
                       "run it once per reference")
    return names[0] if names else "auto"


def compute(*, variant: str | None, weights: Path | None, reference: str, official_src: Path | None, batch: int,
            images: list[Path], seed: int, mask_ratio: float, atol: float, rtol: float, grad: bool,
            norm_pix_loss: bool | None,
            perturb: str | None, device: str, img_size: str | None = None, in_chans: int = 3, mask: str = "random",
            mask_file: Path | None = None, resize: str = "stretch") -> dict[str, Any]:
    """Validate the options, run :func:`official_mae.compare.compare_official`, raise if it failed."""
    from mae_core.models import get_variant
    from mae_core.io.weights import official_shapes

    from official_mae import ReferenceUnavailable, resolve_kind
    from official_mae.compare import compare_official

    from mae_core.io.images import load_batch

    if images and batch != len(images):
        batch = len(images)
    check_images(images)
    dev = resolve_device(device)
    try:
        kind = resolve_kind(reference, official_src)  # fail fast, before any model is built
    except ReferenceUnavailable as exc:
        raise BadInput(str(exc)) from None
    from mae_core.errors import CheckpointError
    from mae_core.models import is_classifier

    if variant is not None and is_classifier(variant):  # a fine-tuned classifier (models_vit.py), seeded
        return _compare_classifier(None, variant, locals())
    source = _official_source(official_src) if kind == "official" else None  # refused here if not a clone
    try:
        name, loaded = resolve_weights(variant, weights)
    except CheckpointError as exc:  # no pre-trained MAE: a fine-tuned or linear-probe classifier?
        if weights is None or variant is not None:
            raise
        return _compare_classifier(weights, None, locals(), exc)
    overrides = size_overrides(name, img_size, in_chans, pictures=bool(images))
    cfg = get_variant(name).config.replace(**overrides)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    if perturb is not None and perturb not in official_shapes(name):
        near = [k for k in official_shapes(name) if perturb.split(".")[0] in k][:3] or ["blocks.0.attn.qkv.weight"]
        raise BadInput(f"--perturb {perturb!r} is not a parameter of {name}; use an official name such as "
                       + ", ".join(near))
    check_fits_at_size(cfg, get_variant(name).title, batch or len(images) or 1, dev,
                       weights_resident=loaded is not None)
    imgs, described = load_batch([str(p) for p in images], cfg.img_size, batch, seed, cfg.in_chans, resize=resize)
    plan = masking_plan(mask, mask_file, cfg, imgs.shape[0], mask_ratio, seed)

    if source is not None:
        h, w = cfg.grid_size
        if h != w:  # refused before the note: nothing of the official source is imported then
            raise BadInput(f"the official models_mae.py builds its position table for a square patch grid "
                           f"only, not {h}x{w}; compare a non-square size with --reference timm")
        note(source)
    try:
        with progress(f"comparing {get_variant(name).title} with the {kind} reference"):
            data = compare_official(name, imgs, weights=loaded, reference=kind, official_src=official_src,
                                    seed=seed, mask_ratio=plan.mask_ratio, atol=atol, rtol=rtol,
                                    grad=grad, norm_pix_loss=norm_pix_loss, perturb=perturb, device=dev,
                                    overrides=overrides, noise=plan.noise)
    except ReferenceUnavailable as exc:
        raise BadInput(str(exc)) from None
    data["images"] = described
    data["size"] = size_text(cfg)
    data["mask_strategy"] = plan.strategy
    data["notes"] = data["notes"] + plan.notes
    if not data["passed"]:
        raise VerificationFailed(data, f"{data['title']} differs from the {kind} reference from stage "
                                       f"{data['first_failure']} on")
    return data


def _compare_classifier(weights: Path | None, variant: str | None, opts: dict[str, Any],
                        mae_error: Exception | None = None) -> dict[str, Any]:
    """compare-official on a classifier (official models_vit.py, timm's VisionTransformer, transformers'
    ViTForImageClassification): stage by stage to the logits, and the loss's gradients with --grad."""
    from mae_core.errors import CheckpointError
    from mae_core.finetune import read_classifier

    from official_mae import ReferenceUnavailable
    from official_mae.classifier import check_official_vit_source, compare_classifier_checkpoint
    from official_mae.official import official_source

    if weights is not None and mae_error is not None:
        try:
            read_classifier(weights)  # neither an MAE nor a classifier: the MAE reader's message stands
        except CheckpointError:
            raise mae_error from None
    if opts["kind"] == "official":
        try:
            check_official_vit_source(official_source(opts["official_src"]))
        except ReferenceUnavailable as exc:
            raise BadInput(str(exc)) from None
    try:
        with progress("comparing the classifier with the " + opts["kind"] + " reference"):
            data = compare_classifier_checkpoint(
                weights, [str(p) for p in opts["images"]], classifier=variant, batch=opts["batch"] or 2,
                seed=opts["seed"], resize=opts["resize"], reference=opts["kind"], official_src=opts["official_src"],
                atol=opts["atol"], rtol=opts["rtol"], grad=opts["grad"], perturb=opts["perturb"], device=opts["dev"])
    except ReferenceUnavailable as exc:
        raise BadInput(str(exc)) from None
    except KeyError as exc:
        raise BadInput(str(exc.args[0])) from None
    if not data["passed"]:
        raise VerificationFailed(data, f"{data['title']} differs from the {data['reference']} reference from stage "
                                       f"{data['first_failure']} on")
    return data


def _official_source(official_src: Path | None) -> str:
    """Check the official source folder by reading it (nothing in it runs); the note that says what will
    be imported, and whether $MAE_OFFICIAL_SRC chose it."""
    from official_mae import ReferenceUnavailable
    from official_mae.official import ENV_VAR, check_official_source, official_source

    src = official_source(official_src)
    try:
        check_official_source(src.parent if src.name == "models_mae.py" else src)
    except ReferenceUnavailable as exc:
        raise BadInput(str(exc)) from None
    env = os.environ.get(ENV_VAR)
    why = f" (set by ${ENV_VAR})" if env and (official_src is None or str(official_src) == env) else ""
    return f"importing the official source {cut(str(src), 200)!r}{why}: its models_mae.py runs in this process"


# --- render --------------------------------------------------------------------------------------

def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.2e}"


def _render_classifier(data: dict[str, Any]) -> None:
    out.print(f"[bold]{esc(data['title'])}[/] ({esc(data['variant'])}) vs [bold]{esc(data['reference'])}[/]: "
              f"{esc(data['reference_detail'])}", highlight=False)
    out.print(f"weights: {esc(data['weights'])}; input: {len(data['images'])} image(s) "
              f"({esc(data['images'][0], 100)}{', ...' if len(data['images']) > 1 else ''}); loss: cross-entropy "
              f"against labels of seed {data['seed']}", highlight=False)


def render(data: dict[str, Any]) -> None:
    if data.get("classifier"):
        for line in data["notes"]:
            note(line)
        _render_classifier(data)
        return _render_table(data)
    for line in data["notes"]:
        note(line)
    out.print(f"[bold]{esc(data['title'])}[/] ({esc(data['variant'])}) vs [bold]{esc(data['reference'])}[/]: "
              f"{esc(data['reference_detail'])}",
              highlight=False)
    strategy = "" if data.get("mask_strategy", "random") == "random" else f" ({esc(data['mask_strategy'])} mask)"
    out.print(f"weights: {esc(data['weights'])}; input: {len(data['images'])} image(s) of "
              f"{esc(data.get('size', '224 px'))} ({esc(data['images'][0], 100)}"
              f"{', ...' if len(data['images']) > 1 else ''}); masking noise seed {data['seed']}, mask ratio "
              f"{data['mask_ratio']:g}{strategy}; loss on {'normalised' if data['norm_pix_loss'] else 'raw'} pixels",
              highlight=False)
    _render_table(data)


def _render_table(data: dict[str, Any]) -> None:
    table = Table(title=f"stage by stage (pass: max abs diff <= {data['atol']:g} + {data['rtol']:g} x max |reference|;"
                        " masks identical)")
    table.add_column("stage", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("max abs diff", justify="right", no_wrap=True)
    table.add_column("max rel diff", justify="right", no_wrap=True)
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
