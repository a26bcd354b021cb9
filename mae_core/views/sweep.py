"""Reconstruction loss against mask ratio (and mask strategy) for one set of images and weights.

Paper: MAE Sec. 4 "Masking ratio" (Fig. 5: accuracy against ratio, best near 75 %) and Table 1f / Fig. 6
(mask sampling: random, block, grid). The sweep measures what the weights a user has do at each
ratio: the loss the model reports (MSE over the masked patches), image by image and on average.

Shapes: images (B, C, H, W) -> for each (strategy, ratio): loss per image (B,), their mean; and
:func:`sweep_png`, the plot of those means (one line per strategy), as a PNG.

Every strategy draws its mask from a generator seeded with ``seed`` afresh for each cell, so a cell does
not depend on which other cells were asked for; ``random`` at ratio r is the mask every other command
draws with that seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import MaskError, SettingError
from ..mae import MaskedAutoencoderViT
from ..mask_strategies import sample
from ..patch_embed import patchify
from .reconstruct import per_image_loss


@dataclass
class SweepCell:
    strategy: str
    mask_ratio: float
    num_masked: int | None  # patches removed per image (None when the strategy cannot reach this ratio)
    loss: float | None  # mean over the images of each image's loss
    losses: list[float]  # per image
    reason: str = ""  # why the cell is empty


@dataclass
class SweepResult:
    strategies: list[str]
    ratios: list[float]
    num_patches: int
    norm_pix_loss: bool
    cells: list[SweepCell]

    def loss(self, strategy: str, ratio: float) -> float | None:
        return next(c.loss for c in self.cells if c.strategy == strategy and c.mask_ratio == ratio)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def loss_sweep(model: MaskedAutoencoderViT, images: Tensor, ratios: list[float], strategies: list[str], *,
               seed: int = 0, norm_pix_loss: bool = False) -> SweepResult:
    """The model's loss for every (strategy, ratio) pair.

    Args:
        model: any :class:`MaskedAutoencoderViT` (eval mode).
        images: (B, C, H, W) at the model's size, normalised like its training data.
        ratios: mask ratios in [0, 1).
        strategies: names from :data:`mae_core.mask_strategies.STRATEGIES`.
        seed: seed of every cell's mask generator.
        norm_pix_loss: score against per-patch normalised pixels.
    """
    cfg = model.config
    B = images.shape[0]
    target = patchify(images, cfg.patch_size)
    cells = []
    for strategy in strategies:
        for ratio in ratios:
            try:
                s = sample(strategy, B, cfg.grid_size, ratio, torch.Generator().manual_seed(seed))
            except MaskError as exc:
                cells.append(SweepCell(strategy, ratio, None, None, [], str(exc)))
                continue
            latent, mask, ids_restore = model.forward_encoder(images, ratio, s.noise.to(images.device))
            pred = model.forward_decoder(latent, ids_restore)
            losses = per_image_loss(pred, target, mask, norm_pix_loss)
            cells.append(SweepCell(strategy, ratio, int(mask[0].sum()), float(losses.mean()),
                                   [float(v) for v in losses]))
    return SweepResult(list(strategies), list(ratios), cfg.num_patches, norm_pix_loss, cells)


def sweep_png(result: SweepResult, path: str | Path, *, title: str, what: str = "out") -> Any:
    """Draw the loss against the mask ratio, one line per strategy (:func:`mae_core.views.plot.line_plot`),
    and write it to ``path`` atomically; returns the picture. ``what`` names the argument in errors."""
    from ..io.files import atomic_write
    from .plot import line_plot

    series = {s: [(c.mask_ratio, c.loss) for c in result.cells if c.strategy == s] for s in result.strategies}
    target = "per-patch normalised pixels" if result.norm_pix_loss else "pixels"
    picture = line_plot(series, title=title, xlabel="mask ratio", ylabel=f"loss (MSE, {target})")
    try:
        with atomic_write(path, what=f"--{what}") as f:
            picture.save(f, format="PNG")
    except OSError as exc:
        raise SettingError(what, f"cannot write {str(path)!r} ({exc.strerror or exc}); choose a writable "
                           "path") from None
    return picture


def sweep_report(prep: Any, ratios: list[float], strategies: list[str], path: str | Path, *, seed: int = 0,
                 resize: str = "stretch", notes: list[str] | None = None) -> dict[str, Any]:
    """``mae sweep`` as plain data: :func:`loss_sweep` on a :class:`~mae_core.views.prepare.Prepared` (its
    images, its reconstruction target), the plot written to ``path`` (:func:`sweep_png`), and what was run."""
    from .sizes import check_mask_ratio, size_text

    cfg = prep.config
    for r in ratios:
        check_mask_ratio(r, cfg.num_patches)
    result = loss_sweep(prep.model, prep.imgs, ratios, strategies, seed=seed, norm_pix_loss=prep.norm_pix_loss)
    picture = sweep_png(result, path, title=f"MAE {prep.title} ({size_text(cfg)}): loss on the masked patches vs mask "
                        f"ratio, {len(prep.inputs)} image(s), seed {seed}")
    return {
        "variant": prep.variant, "title": prep.title, "weights": prep.weights, "trained_decoder": prep.trained_decoder,
        "norm_pix_loss": prep.norm_pix_loss, "norm_pix_loss_from": prep.norm_pix_loss_from,
        "img_size": cfg.to_dict()["img_size"], "size": size_text(cfg), "in_chans": cfg.in_chans, "resize": resize,
        "seed": seed, "images": prep.inputs, "num_patches": result.num_patches, "strategies": strategies,
        "ratios": ratios, "output": str(path), "picture_size": list(picture.size), "notes": list(notes or []),
        "cells": [c.__dict__ for c in result.cells],
    }
