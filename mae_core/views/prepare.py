"""The one input pipeline: what a command was given -> the model, the images, the mask and the target.

Paper: Sec. 3 "Masking" (the noise whose argsort picks the visible patches; Fig. 6 / Table 1f's
strategies) and "Reconstruction target" (pixels, or per-patch normalised pixels: Table 1d's
``norm_pix_loss``). Every command that runs a model (forward, mask-demo, sweep, compare-official,
features, attention, numerics) calls :func:`prepare` once; nothing here knows any command-line flag
(errors are :class:`~mae_core.errors.SettingError` naming the argument: ``img_size``, ``mask``, ...).

In order, so that a typo never waits for a checkpoint and nothing large is allocated before it is
known to fit:
    1. the settings are checked (variant name, batch, image size and channels, mask ratio:
       :mod:`mae_core.views.sizes`);
    2. the weights are read (bounded, safe) and the variant detected, or checked against ``variant``;
    3. the config at that size; the masking noise (a strategy's, or a mask file's; :func:`masking_plan`);
    4. the reconstruction target, by ONE rule (:func:`mae_core.views.reconstruct.reconstruction_target`):
       the caller's choice, else the checkpoint's ``config.json``, else ``*_full.pth`` in the file name
       (the official full checkpoints were trained with ``norm_pix_loss``, the ``mae_visualize_*`` ones
       without), else raw pixels;
    5. the memory check, once (:func:`check_forward_fits`);
    6. the images, then the model with its weights (``norm_pix_loss`` in its config, so its own loss
       is on that target).

Another kind of model is one branch: a fine-tuned classifier checkpoint (refused by the MAE loader with
:class:`~mae_core.errors.ClassifierCheckpointError`) goes to :func:`_prepare_classifier`.

A training stage names its model the same way: :func:`stage_subject` turns a variant and a stage
(pretrain, finetune, linprobe) into the config and, for a classifier, its step (`mae memory`).

Shapes: image files or a batch size in -> a model and imgs (B, C, H, W), normalised like the training
data (ImageNet mean / std), or B seeded random-normal images (or the built-in picture); noise (B, L).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config import MAEConfig
from ..errors import ClassifierCheckpointError, SettingError
from ..mae import MaskedAutoencoderViT
from .sizes import check_mask_ratio, parse_img_size, size_overrides, size_text  # noqa: F401 (the pipeline's names)

Stage = Callable[[str], AbstractContextManager]  # a progress display for a slow step (the CLI's spinner)


def _quiet(_: str) -> AbstractContextManager:
    return nullcontext()


# --- the settings, checked before anything is read ------------------------------------------------------

def variant_name(variant: str | None, weights: str | Path | None, default: str = "base") -> str | None:
    """The canonical variant, cheaply: ``variant`` if given, ``default`` without weights, else None
    (the file decides). Raises :class:`~mae_core.errors.UnknownModelError` for an unknown name."""
    from ..models import get_variant

    if variant is not None:
        return get_variant(variant).name
    return get_variant(default).name if weights is None else None


def read_weights(variant: str | None, weights: str | Path | None, stage: Stage = _quiet) -> tuple[str, Any]:
    """The variant and the weights of a run: ``weights`` read (bounded, never unpickling objects) and their
    variant detected, or checked against ``variant``; without weights, ``variant`` (default base) and None.
    Returns ``(canonical name, LoadedWeights or None)``."""
    from ..loading.weights import load_weights

    name = variant_name(variant, weights)
    if weights is None:
        return name, None
    with stage(f"reading {str(weights)[:100]}"):
        loaded = load_weights(weights, name)
    return loaded.variant, loaded


def check_batch(batch: int) -> int:
    """A batch size of at least one."""
    if batch < 1:
        raise SettingError("batch", f"must be at least 1, got {batch}")
    return batch


def _prepare_classifier(weights: str | Path, images: list[str | Path] | None, batch: int | None, seed: int, *,
                        device: torch.device | str, builtin: bool, resize: str, dtype: torch.dtype,
                        kept_per_image: Callable[[MAEConfig], int] | None, passes: int) -> Prepared:
    """:func:`prepare` for a fine-tuned or linear-probe checkpoint: the classifier (``mae_core.classifier``) in
    evaluation mode, the images at its size; the memory and work check of its forward pass before either
    is built (:mod:`mae_core.views.memory_classifier`)."""
    from ..finetune import build_classifier, read_classifier
    from ..io.images import builtin_image, load_batch, normalize
    from ..models import get_classifier
    from .memory_classifier import ClassifierStep

    state_dict, spec = read_classifier(weights)
    cfg = get_classifier(spec.name).config  # built at the registered size (the position table is resized to it)
    check_forward_fits(cfg, get_classifier(spec.name).title, len(images or []) or batch or 1, device, dtype=dtype,
                       amp=True, weights_resident=True, kept_per_image=kept_per_image(cfg) if kept_per_image else 0,
                       passes=passes, classifier=ClassifierStep.of(spec))
    model = build_classifier(state_dict, spec, device=device)
    cfg = model.config
    if builtin and not images:
        imgs, inputs = normalize([builtin_image(cfg.img_size)] * (batch or 1)), ["built-in picture"] * (batch or 1)
    else:
        imgs, inputs = load_batch([str(p) for p in images or []], cfg.img_size, batch or 1, seed, resize=resize)
    notes = [f"the weights are a {spec.head} classifier ({spec.name}): every patch is seen, no masking, no decoder"]
    return Prepared(spec.name, f"{get_classifier(spec.name).title} classifier", model, imgs.to(device), inputs,
                    str(weights), notes)


def check_forward_fits(cfg: MAEConfig, title: str, batch: int, device: torch.device | str, *,
                       mask_ratio: float = 0.0, dtype: torch.dtype = torch.float32, amp: bool = False,
                       weights_resident: bool = False, kept_per_image: int = 0, passes: int = 1,
                       train: bool = False, classifier: Any = None, what: str | None = None, models: int = 1) -> None:
    """The one fit check of a run: refuse (:class:`~mae_core.errors.MemoryBudgetError`, the estimate in the
    message) ``passes`` forward passes of ``batch`` images of ``cfg`` that cannot fit in what ``device`` has,
    before the images or the model are allocated. Mask ratio 0 (every patch encoded) is the largest case.

    ``train``: size training steps instead (AdamW); ``passes`` then counts the steps. ``classifier``: the
    model is a classifier, sized by its closed form (its
    :class:`~mae_core.views.memory_classifier.ClassifierStep`), not the MAE. ``what``: the run, for the
    message (default: the forward pass or the steps). ``models``: copies of the model alive at once (ours
    and the official one)."""
    from .memory_budget import check_fits

    kind = f"{title} classifier" if classifier is not None else title
    what = what or (f"{passes} training step(s) of the {kind}" if train else f"a {kind} forward pass")
    check_fits(cfg, batch, mask_ratio, what=f"{what} at {size_text(cfg)}", mode="train" if train else "inference",
               dtype=dtype, amp=amp, device=device, weights_resident=weights_resident,
               kept_per_image=kept_per_image, passes=passes, step=classifier,
               optimizer="adamw" if train else "none", models=models)


@dataclass(frozen=True)
class Subject:
    """The model a training stage runs: a registered variant's config and, for a classifier, its step
    (:mod:`mae_core.views.memory_classifier`); what `mae memory` sizes."""

    name: str  # the MAE variant (mae_vit_base_patch16) or the classifier (vit_base_patch16)
    title: str  # "ViT-B/16" / "ViT-B/16 classifier"
    stage: str  # pretrain, finetune or linprobe
    config: MAEConfig
    step: Any  # a ClassifierStep, or None: the MAE
    overrides: dict[str, Any] = field(default_factory=dict)  # the config fields the size and channels changed


def stage_subject(variant: str, stage: str | None = None, img_size: str | None = None,
                   in_chans: int = 3) -> Subject:
    """The model ``variant`` names, for ``stage``: a classifier name (``vit_large_patch16``) means fine-tuning
    unless ``stage`` says linprobe; an MAE name means pre-training unless ``stage`` says finetune or linprobe
    (then its classifier). Fine-tuning takes FINETUNE.md's drop path for the size, 1000 classes and label
    smoothing 0.1. Raises :class:`~mae_core.errors.SettingError` for a stage the model cannot run."""
    from ..models import get_classifier, get_variant, is_classifier
    from ..recipe import STAGES
    from .memory_classifier import ClassifierStep

    if stage is not None and stage not in STAGES:
        raise SettingError("stage", f"{stage!r} is not a stage; use pretrain, finetune or linprobe")
    if is_classifier(variant):
        classifier = get_classifier(variant)
        if stage == "pretrain":
            raise SettingError("stage", f"{classifier.name} is a fine-tuned classifier: use finetune or linprobe, or "
                                        f"--variant {get_variant(classifier.pretrained).short} for pre-training")
        stage = stage or "finetune"
    else:
        spec = get_variant(variant)
        stage = stage or "pretrain"
        if stage == "pretrain":
            overrides = size_overrides(spec.name, img_size, in_chans)
            return Subject(spec.name, spec.title, stage, spec.config.replace(**overrides), None, overrides)
        classifier = get_classifier(spec.name)
    overrides = size_overrides(classifier.pretrained, img_size, in_chans)
    step = ClassifierStep.fine_tuning(classifier.name) if stage == "finetune" else ClassifierStep(stage)
    return Subject(classifier.name, f"{classifier.title} classifier", stage,
                   classifier.config.replace(**overrides), step, overrides)


# --- the mask -------------------------------------------------------------------------------------------

@dataclass
class MaskingPlan:
    """The masking noise a run feeds the model, and how it was chosen."""

    noise: Tensor  # (B, L) float32
    mask_ratio: float  # the ratio given, or the one a mask file implies
    strategy: str  # random, block, grid, center, or file
    mask_file: str | None
    notes: list[str]


def masking_plan(strategy: str, mask_file: str | Path | None, cfg: MAEConfig, batch: int, mask_ratio: float,
                 seed: int) -> MaskingPlan:
    """A strategy or a mask file -> the noise (B, L) for the model (see :mod:`mae_core.mask_strategies`).

    ``random`` is ``torch.rand(B, L)`` from a generator seeded with ``seed``
    (:func:`mae_core.views.reconstruct.masking_noise`, bit for bit). Other strategies and files raise
    :class:`~mae_core.errors.MaskError` / :class:`SettingError` when they cannot give the count the ratio asks for.
    """
    from .. import mask_strategies as ms

    generator = torch.Generator().manual_seed(seed)
    strategy = strategy.strip().lower()
    if mask_file is not None:
        if strategy != "random":
            raise SettingError("mask", f"{strategy!r} and a mask file both choose the mask; give one of them")
        from ..io.images import load_mask

        removed = ms.removed_from_pixels(load_mask(mask_file, cfg.image_hw), cfg.patch_size)
        hidden = int(removed.sum())
        sample, ratio = ms.from_removed(removed.expand(batch, -1), generator)
        note = (f"mask from {mask_file}: {hidden} of {cfg.num_patches} patches hidden (by majority of their pixels), "
                f"so the mask ratio is {ratio:.4g}")
        return MaskingPlan(sample.noise, ratio, "file", str(mask_file), [note])
    if strategy not in ms.STRATEGIES:
        raise SettingError("mask", f"{strategy!r} is not a strategy; use one of {', '.join(ms.STRATEGIES)} "
                           "(or a mask file)")
    check_mask_ratio(mask_ratio, cfg.num_patches)
    sample = ms.sample(strategy, batch, cfg.grid_size, mask_ratio, generator)
    return MaskingPlan(sample.noise, mask_ratio, strategy, None, [])


# --- the pipeline ---------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """Everything a run needs, built once: the variant, the model with its weights, the batch, the mask."""

    variant: str  # canonical registry name
    title: str  # "ViT-B/16"
    model: MaskedAutoencoderViT  # float32, eval mode, on the device
    imgs: Tensor  # (B, C, H, W) on the device
    inputs: list[str]  # one description per sample
    weights: str | None  # the checkpoint's path, or None (seeded random initialisation)
    notes: list[str] = field(default_factory=list)  # what the user should know (printed on stderr)
    config: MAEConfig | None = None  # the model's config (size, channels, norm_pix_loss)
    overrides: dict[str, Any] = field(default_factory=dict)  # the size fields changed on the variant
    loaded: Any = None  # the LoadedWeights, or None
    plan: MaskingPlan | None = None  # the masking noise (B, L) and how it was chosen
    norm_pix_loss: bool = False  # the reconstruction target: per-patch normalised pixels?
    norm_pix_loss_from: str = "default"  # why: "option", "config.json", "file name" or "default"
    seed: int = 0  # what seeded the initialisation, the random images and the masking noise

    @property
    def trained_decoder(self) -> bool:
        return self.loaded is not None and self.loaded.has_decoder

    @property
    def file_notes(self) -> list[str]:
        """The notes on the weights alone: regenerated position tables, what the loader noticed in the file."""
        return list(self.model.pos_embed_notes) + (list(self.loaded.notes) if self.loaded is not None else [])


def prepare(variant: str | None, weights: str | Path | None, images: Sequence[str | Path] | None,
            batch: int | None, seed: int, *, device: torch.device | str = "cpu", builtin: bool = False,
            img_size: str | int | tuple[int, int] | None = None, in_chans: int = 3, resize: str = "stretch",
            mask: str = "random", mask_file: str | Path | None = None, mask_ratio: float = 0.75,
            fit_mask_ratio: float | None = None, norm_pix_loss: bool | None = None,
            dtype: torch.dtype = torch.float32, stage: Stage = _quiet, classifiers: bool = False,
            kept_per_image: Callable[[MAEConfig], int] | None = None, passes: int = 1) -> Prepared:
    """Load (or seed) the model, the images and the masking noise, in the order of the module docstring.

    Args:
        variant: registry name, or None to detect it from ``weights`` (base without weights).
        weights: checkpoint path, or None for the seeded official initialisation.
        images: image files; without them ``batch`` (default 1) seeded random-normal images, or with
            ``builtin`` the built-in picture (``batch`` copies), for pictures a person looks at.
        batch: the batch size; must equal the number of images when both are given.
        seed: seeds the initialisation, the random images and the masking noise (its own generator).
        device: where the model and the images go.
        img_size, in_chans: another image size (``448``, ``"224x320"``) or channel count.
        resize: how image files are fitted to the size (:data:`mae_core.io.images.RESIZE_PRESETS`).
        mask, mask_file, mask_ratio: the masking (:func:`masking_plan`); ``prep.plan.mask_ratio`` is the
            ratio the run uses (a mask file's own).
        fit_mask_ratio: the ratio the memory check assumes (default: the run's; a sweep passes its smallest).
        norm_pix_loss: the reconstruction target; None: decided from the checkpoint (module docstring).
        dtype: the precision the forward pass will run in (autocast), for the memory check.
        stage: a context manager factory shown around the slow steps (reading, building).
        classifiers: a fine-tuned classifier file is run as it is (the recorder views); otherwise it is refused
            (:class:`~mae_core.errors.ClassifierCheckpointError`: no decoder to reconstruct with).
        kept_per_image: bytes per image the caller keeps beyond a plain forward (recorded hidden states), as a
            function of the sized config: the memory check counts them (issue 23).
        passes: forward passes the caller will run (repeats, a sweep's cells): the work check counts them.
    """
    from ..io.images import builtin_image, load_batch, normalize
    from ..models import get_variant
    from .reconstruct import reconstruction_target

    images = [str(p) for p in images or []]
    if batch is not None:
        check_batch(batch)
    if images and batch is not None and batch != len(images):
        raise SettingError("batch", f"{batch} but {len(images)} image(s) given; drop the batch size or pass "
                           f"{batch} images")
    pictures = bool(images) or builtin
    name = variant_name(variant, weights)
    if name is not None:  # a bad size or ratio is refused before any weights are read
        check_mask_ratio(mask_ratio, get_variant(name).config.replace(
            **size_overrides(name, img_size, in_chans, pictures=pictures)).num_patches)
    try:
        name, loaded = read_weights(name, weights, stage)
    except ClassifierCheckpointError:  # a fine-tuned / linear-probe classifier: run it as it is
        if name is not None or not classifiers:
            raise
        return _prepare_classifier(weights, images, batch, seed, device=device, builtin=builtin, resize=resize,
                                   dtype=dtype, kept_per_image=kept_per_image, passes=passes)
    info = get_variant(name)
    overrides = size_overrides(name, img_size, in_chans, pictures=pictures)
    cfg = info.config.replace(**overrides)
    count = len(images) or batch or 1
    plan = masking_plan(mask, mask_file, cfg, count, mask_ratio, seed)
    norm_pix, norm_pix_from = reconstruction_target(norm_pix_loss, Path(weights).name if weights else None,
                                                    loaded.hints if loaded is not None else {})
    target = {"norm_pix_loss": norm_pix} if norm_pix != cfg.norm_pix_loss else {}  # only a change is passed on
    cfg = cfg.replace(**target)
    check_forward_fits(cfg, info.title, count, device, dtype=dtype, amp=True, weights_resident=loaded is not None,
                       mask_ratio=plan.mask_ratio if fit_mask_ratio is None else fit_mask_ratio,
                       kept_per_image=kept_per_image(cfg) if kept_per_image else 0, passes=passes)
    if builtin and not images:
        imgs = normalize([builtin_image(cfg.img_size, channels=cfg.in_chans)] * count)
        inputs = ["built-in test image"] * count
    else:
        imgs, inputs = load_batch(images, cfg.img_size, count, seed, cfg.in_chans, resize=resize)
    with stage(f"building {info.title} on {torch.device(device)}"):
        model = _build(name, loaded, device, seed, {**overrides, **target})
    notes = list(model.pos_embed_notes) + (list(loaded.notes) if loaded is not None else [
        f"no weights: the model has the seeded random initialisation (seed {seed}), not a trained one"])
    return Prepared(name, info.title, model, imgs.to(device), inputs, str(weights) if weights else None, notes,
                    config=cfg, overrides=overrides, loaded=loaded, plan=plan, norm_pix_loss=norm_pix,
                    norm_pix_loss_from=norm_pix_from, seed=seed)


def _build(name: str, loaded: Any, device: torch.device | str, seed: int,
           overrides: dict[str, Any]) -> MaskedAutoencoderViT:
    """The model of a pre-trained MAE checkpoint (or the seeded initialisation). Another kind of model (a
    fine-tuned classifier) is another branch here, on the kind its loader reports."""
    from ..loading import weights as loading  # looked up at call time (tests replace build_model)

    return loading.build_model(name, loaded, device=device, seed=seed, **overrides).eval()
