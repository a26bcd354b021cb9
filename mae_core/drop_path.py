"""Stochastic depth ("drop path"): during training, skip a residual branch for whole samples at random.

Paper: MAE Appendix A.1, "End-to-end fine-tuning" (Table 9, drop path), after Huang et al. 2016 ("Deep
Networks with Stochastic Depth"); the official FINETUNE.md commands use ``--drop_path`` 0.1 / 0.2 / 0.3
for ViT-B / L / H, and ``main_finetune.py`` passes ``drop_path_rate`` to timm's ViT, which raises the rate
linearly from 0 at the first block to ``drop_path_rate`` at the last (:func:`drop_path_rates`).

Shapes: a residual branch (B, T, D) -> (B, T, D): each sample's branch is either zeroed or divided by
the keep probability ``1 - p``, so its expectation is unchanged. Outside training, or with ``p = 0``,
the branch is returned as it is (the same tensor: no arithmetic, so evaluation is bit-identical to a
model without drop path).
"""

from __future__ import annotations

import torch
from torch import Tensor


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Zero each sample's ``x`` with probability ``p`` (scaling the kept ones by ``1 / (1 - p)``) when
    ``training``; else ``x`` itself. One Bernoulli draw per sample (dimension 0), shared by its tokens."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # (B, 1, 1): one draw per sample
    kept = x.new_empty(shape).bernoulli_(keep)
    if keep > 0.0:
        kept.div_(keep)
    return x * kept


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """The per-block rates of timm's ViT: ``depth`` values evenly spaced from 0 to ``rate`` (float32
    ``torch.linspace``, as timm computes them)."""
    return [float(r) for r in torch.linspace(0, rate, depth, device="cpu")]
