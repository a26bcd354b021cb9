"""The services behind ``mae compare-official``: what the command was given -> the comparison's report.

Paper: MAE Sec. 3 (the forward pass, stage by stage), Sec. 4 / Appendix A.1 (the classifier and the
training recipe). Three runs, one call each from the command:

    compare_given    an MAE (:func:`mae_core.views.prepare.prepare`, then
                     :func:`official_mae.compare.compare_prepared`), or a classifier when the variant or the
                     file is one (:func:`official_mae.classifier.compare_classifier_checkpoint`)
    steps_given      N optimizer steps of the published recipe against the official training loop
                     (:mod:`official_mae.steps`), sized and fit-checked by the pipeline's rules

Nothing here names a command-line flag of its own: a refused reference is
:class:`~official_mae.imports.ReferenceUnavailable`, a refused setting a :mod:`mae_core.errors` error.
``stage`` is a progress display for the slow steps, ``announce`` is called once the official source is
checked and about to be imported (the tool prints a note there).

Shapes: images (files) or a batch size in -> imgs (B, C, H, W), noise (B, L) -> a dict (plain data).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from .imports import ReferenceUnavailable

Stage = Callable[[str], AbstractContextManager]


def _quiet(_: str) -> AbstractContextManager:
    return nullcontext()


def _nothing() -> None:
    return None


def compare_given(variant: str | None, weights: Path | None, *, kind: str, official_src: Path | None,
                  images: list[Path], batch: int | None, seed: int, device: torch.device, img_size: str | None,
                  in_chans: int, resize: str, mask: str, mask_file: Path | None, mask_ratio: float,
                  norm_pix_loss: bool | None, atol: float, rtol: float, grad: bool, perturb: str | None,
                  stage: Stage = _quiet, announce: Callable[[], None] = _nothing) -> dict[str, Any]:
    """Our model against the ``kind`` reference on the same weights, images and noise: an MAE, or a classifier
    when ``variant`` names one or ``weights`` holds one (then stage by stage to the logits)."""
    from mae_core.errors import CheckpointError
    from mae_core.models import is_classifier
    from mae_core.views.prepare import prepare

    from .compare import check_comparable, compare_prepared
    from .official import check_official_source, official_source

    given = dict(images=images, batch=batch, seed=seed, resize=resize, kind=kind, official_src=official_src,
                 atol=atol, rtol=rtol, grad=grad, perturb=perturb, device=device, stage=stage)
    if variant is not None and is_classifier(variant):  # a fine-tuned classifier (models_vit.py), seeded
        return compare_classifier_given(None, variant, **given)
    if kind == "official":  # refused here if not a clone: read as text, nothing in it runs
        src = official_source(official_src)
        check_official_source(src.parent if src.name == "models_mae.py" else src)
    try:
        prep = prepare(variant, weights, images, batch, seed, device=device, img_size=img_size, in_chans=in_chans,
                       resize=resize, mask=mask, mask_file=mask_file, mask_ratio=mask_ratio,
                       norm_pix_loss=norm_pix_loss, stage=stage)
    except CheckpointError as exc:  # no pre-trained MAE: a fine-tuned or linear-probe classifier?
        if weights is None or variant is not None:
            raise
        return compare_classifier_given(weights, None, mae_error=exc, **given)
    if prep.plan is None:  # the file is a fine-tuned classifier: compared as one
        return compare_classifier_given(weights, None, **given)
    check_comparable(prep.variant, kind, prep.config.grid_size, perturb)  # before the note: nothing official runs
    if kind == "official":
        announce()
    with stage(f"comparing {prep.title} with the {kind} reference"):
        return compare_prepared(prep, reference=kind, official_src=official_src, atol=atol, rtol=rtol, grad=grad,
                                perturb=perturb)


def compare_classifier_given(weights: Path | None, variant: str | None, *, images: list[Path], batch: int | None,
                             seed: int, resize: str, kind: str, official_src: Path | None, atol: float, rtol: float,
                             grad: bool, perturb: str | None, device: torch.device, stage: Stage = _quiet,
                             mae_error: Exception | None = None) -> dict[str, Any]:
    """A classifier (official models_vit.py, timm's VisionTransformer, transformers'
    ViTForImageClassification) against ours: stage by stage to the logits, and the loss's gradients with
    ``grad``. ``mae_error``: why the MAE reader refused ``weights``, raised again if they hold no classifier."""
    from mae_core.errors import CheckpointError, MAEError
    from mae_core.finetune import read_classifier

    from .classifier import check_official_vit_source, compare_classifier_checkpoint
    from .official import official_source

    if weights is not None and mae_error is not None:
        try:
            read_classifier(weights)  # neither an MAE nor a classifier: the MAE reader's message stands
        except CheckpointError:
            raise mae_error from None
    if kind == "official":
        check_official_vit_source(official_source(official_src))
    try:
        with stage(f"comparing the classifier with the {kind} reference"):
            return compare_classifier_checkpoint(
                weights, [str(p) for p in images], classifier=variant, batch=batch or 2, seed=seed, resize=resize,
                reference=kind, official_src=official_src, atol=atol, rtol=rtol, grad=grad, perturb=perturb,
                device=device)
    except KeyError as exc:  # --perturb names no parameter of this classifier
        raise MAEError(str(exc.args[0])) from None


def steps_given(name: str, loaded: Any, *, train_stage: str, official_src: str | os.PathLike | None, steps: int,
                accum_iter: int, batch: int | None, images: list[Path], seed: int, mask_ratio: float,
                epoch: int | None, norm_pix_loss: bool | None, img_size: str | None, in_chans: int, resize: str,
                stage: Stage = _quiet, announce: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """N optimizer steps (``steps`` x ``accum_iter`` micro-batches) of ``train_stage`` (pretrain or finetune)
    of ``name`` (with ``loaded`` weights, from :func:`mae_core.views.prepare.read_weights`), ours against the
    official loop, after the size, the mask ratio, the memory and the work are checked by the pipeline's
    rules; ``announce()`` runs then, just before the official code is imported."""
    from mae_core.models import get_variant
    from mae_core.views.prepare import check_forward_fits
    from mae_core.views.sizes import check_mask_ratio, size_overrides

    from .official import ENV_VAR, official_source
    from .steps import compare_finetune_steps, compare_steps

    spec = get_variant(name)
    overrides = size_overrides(name, img_size, in_chans, pictures=bool(images))
    cfg = spec.config.replace(**overrides)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    b = len(images) or batch or 2
    from mae_core.views.memory_classifier import ClassifierStep

    classifier = ClassifierStep.fine_tuning(name) if train_stage == "finetune" else None
    # ours and the official loop, each steps x accum_iter micro-batches: one training step's memory, all steps' work
    check_forward_fits(cfg, spec.title, b, "cpu", mask_ratio=0.0 if classifier else mask_ratio,
                       weights_resident=loaded is not None, passes=2 * steps * accum_iter, train=True, models=2,
                       classifier=classifier,
                       what=f"{steps} {train_stage} step(s) x {accum_iter} micro-batch(es) of {spec.title}, ours and "
                            f"the official loop,")
    src = official_source(official_src)
    if src is None:
        raise ReferenceUnavailable(f"the optimizer steps run the official training code: pass the folder of your "
                                   f"facebookresearch/mae clone as official_src or set ${ENV_VAR}")
    announce()
    given = dict(official_src=str(src), steps=steps, accum_iter=accum_iter, batch=b,
                 images=[str(p) for p in images], seed=seed, epoch=epoch, overrides=overrides, resize=resize)
    with stage(f"{steps} {train_stage} optimizer step(s) x {accum_iter} micro-batch(es), ours and the official loop"):
        if train_stage == "finetune":
            return compare_finetune_steps(name, **given)
        return compare_steps(name, mask_ratio=mask_ratio, norm_pix_loss=norm_pix_loss, weights=loaded, **given)
