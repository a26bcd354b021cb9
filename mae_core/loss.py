"""The reconstruction loss: mean squared error on the removed patches only.

Paper: MAE Sec. 3 "Reconstruction target" ("our loss function computes the mean squared error (MSE)
between the reconstructed and original images in the pixel space. We compute the loss only on masked
patches") and its variant with per-patch normalised targets (Table 1d, "w/ norm").

Shapes: pred (B, L, p*p*C), target (B, L, p*p*C), mask (B, L) -> scalar.
"""

from __future__ import annotations

from torch import Tensor


def normalize_patches(target: Tensor, eps: float = 1e-6) -> Tensor:
    """Each patch minus its own mean, over sqrt(its own unbiased variance + eps), as the official code."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + eps) ** 0.5


def masked_mse_loss(pred: Tensor, target: Tensor, mask: Tensor, norm_pix_loss: bool = False) -> Tensor:
    """MSE per patch, averaged over the removed patches (mask == 1) only.

    Args:
        pred: (B, L, p*p*C) decoder output.
        target: (B, L, p*p*C) the patchified image.
        mask: (B, L), 1 = removed.
        norm_pix_loss: normalise each target patch first (:func:`normalize_patches`).

    Returns:
        0-dim tensor.
    """
    if norm_pix_loss:
        target = normalize_patches(target)
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, L)
    return (per_patch * mask).sum() / mask.sum()
