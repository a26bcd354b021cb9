"""The inputs of a view: a variant with its weights (or the seeded initialisation) and a batch of images.

Paper: none (plumbing shared by ``features``, ``attention`` and ``numerics``).

Shapes: image files or a batch size in -> a model and imgs (B, C, H, W), normalised like the training
data (ImageNet mean / std), or B seeded random-normal images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ClassifierCheckpointError, SettingError
from ..mae import MaskedAutoencoderViT


@dataclass
class Prepared:
    variant: str  # canonical registry name
    title: str  # "ViT-B/16"
    model: MaskedAutoencoderViT  # float32, eval mode
    imgs: Tensor  # (B, C, H, W)
    inputs: list[str]  # one description per sample
    weights: str | None  # the checkpoint's path, or None (seeded random initialisation)
    notes: list[str] = field(default_factory=list)  # what the user should know (printed on stderr)


def variant_name(variant: str | None, weights: str | Path | None, default: str = "base") -> str | None:
    """The canonical variant, cheaply: ``variant`` if given, ``default`` without weights, else None
    (the file decides). Raises :class:`~mae_core.errors.UnknownModelError` for an unknown name."""
    from ..models import get_variant

    if variant is not None:
        return get_variant(variant).name
    return get_variant(default).name if weights is None else None


def prepare(variant: str | None, weights: str | Path | None, images: list[str | Path] | None, batch: int | None,
            seed: int, *, device: torch.device | str = "cpu", builtin: bool = False,
            overrides: dict[str, Any] | Callable[[str], dict[str, Any]] | None = None,
            resize: str = "stretch", kept_per_image: Callable[[Any], int] | None = None) -> Prepared:
    """Load (or seed) the model and the images.

    Args:
        variant: registry name, or None to detect it from ``weights`` (base without weights).
        weights: checkpoint path, or None for the seeded official initialisation.
        images: image files; without them ``batch`` (default 1) seeded random-normal images.
        batch: the batch size; must equal the number of images when both are given.
        seed: seeds the initialisation and the random images.
        device: where the model and the images go.
        builtin: without image files, use the built-in picture (``batch`` copies of it) instead of
            random-normal images, for pictures a person looks at.
        overrides: config fields to change (``{"img_size": (224, 320), "in_chans": 1}``), or a function of
            the variant's name that returns (and checks) them: called once before the weights are read
            when the variant is known, and again for the variant the file turned out to be.
        resize: how image files are fitted to the size (:data:`mae_core.io.images.RESIZE_PRESETS`).
        kept_per_image: bytes per image the caller keeps beyond a plain forward (recorded hidden states),
            as a function of the sized config: the memory check counts them (issue 23).
    """
    from ..io.images import load_batch
    from ..io.weights import build_model, load_weights
    from ..models import get_variant

    if batch is not None and batch < 1:
        raise SettingError("batch", f"must be at least 1, got {batch}")
    if images and batch is not None and batch != len(images):
        raise SettingError("batch", f"{batch} but {len(images)} image(s) given; drop the batch size or pass "
                           f"{batch} images")
    sized = overrides if callable(overrides) else (lambda _name: dict(overrides or {}))
    name = variant_name(variant, weights)
    if name is not None:
        sized(name)  # a bad size is refused before any weights are read
    try:
        loaded = load_weights(weights, name) if weights is not None else None
    except ClassifierCheckpointError:  # a fine-tuned / linear-probe classifier: run it as it is
        if name is not None:
            raise
        return _prepare_classifier(weights, images, batch, seed, device=device, builtin=builtin, resize=resize)
    name = loaded.variant if loaded is not None else name
    info = get_variant(name)
    changes = sized(name)
    cfg = info.config.replace(**changes)
    from .memory import check_fits

    check_fits(cfg, len(images) if images else batch or 1, 0.0, what=f"a {info.title} forward pass",
               device=device, weights_resident=loaded is not None,  # before the images or the model exist
               kept_per_image=kept_per_image(cfg) if kept_per_image else 0)
    notes = list(loaded.notes) if loaded is not None else [
        f"no weights: the model has the seeded random initialisation (seed {seed}), not a trained one"]
    if builtin and not images:
        from ..io.images import builtin_image, normalize

        imgs = normalize([builtin_image(cfg.img_size, channels=cfg.in_chans)] * (batch or 1))
        inputs = ["built-in picture"] * (batch or 1)
    else:
        imgs, inputs = load_batch([str(p) for p in images or []], cfg.img_size, batch or 1, seed, cfg.in_chans,
                                  resize=resize)
    model = build_model(name, loaded, device=device, seed=seed, **changes).eval()
    notes = list(model.pos_embed_notes) + notes
    return Prepared(name, info.title, model, imgs.to(device), inputs, str(weights) if weights else None, notes)


def _prepare_classifier(weights: str | Path, images: list[str | Path] | None, batch: int | None, seed: int, *,
                        device: torch.device | str, builtin: bool, resize: str) -> Prepared:
    """:func:`prepare` for a fine-tuned or linear-probe checkpoint: the classifier (``mae_core.classifier``) in
    evaluation mode, the images at its size."""
    from ..finetune import build_classifier, read_classifier
    from ..io.images import builtin_image, load_batch, normalize
    from ..models import get_classifier

    state_dict, spec = read_classifier(weights)
    model = build_classifier(state_dict, spec, device=device)
    cfg = model.config
    if builtin and not images:
        imgs, inputs = normalize([builtin_image(cfg.img_size)] * (batch or 1)), ["built-in picture"] * (batch or 1)
    else:
        imgs, inputs = load_batch([str(p) for p in images or []], cfg.img_size, batch or 1, seed, resize=resize)
    notes = [f"the weights are a {spec.head} classifier ({spec.name}): every patch is seen, no masking, no decoder"]
    return Prepared(spec.name, f"{get_classifier(spec.name).title} classifier", model, imgs.to(device), inputs,
                    str(weights), notes)


def check_mask_ratio(mask_ratio: float, num_patches: int) -> float:
    """A mask ratio in [0, 1) that keeps at least one of ``num_patches`` visible, else an MAEError."""
    from ..masking import num_visible

    try:
        num_visible(num_patches, mask_ratio)
    except ValueError as exc:
        raise SettingError("mask_ratio", str(exc)) from None
    return mask_ratio
