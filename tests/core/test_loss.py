"""The loss: MSE on the removed patches only; norm_pix_loss normalises each target patch."""

from __future__ import annotations

import torch

from mae_core.loss import masked_mse_loss, normalize_patches


def test_only_masked_patches_count():
    pred, target = torch.zeros(1, 4, 2), torch.tensor([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]])
    mask = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    assert masked_mse_loss(pred, target, mask).item() == (4 + 16) / 2


def test_norm_pix_target_unbiased_variance():
    t = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]])
    n = normalize_patches(t)
    var = ((t - 3.0) ** 2).sum() / 3  # unbiased, as torch.var's default and the official code
    torch.testing.assert_close(n, (t - 3.0) / (var + 1e-6) ** 0.5)
    mask = torch.ones(1, 1)
    torch.testing.assert_close(masked_mse_loss(n, t, mask, norm_pix_loss=True), torch.tensor(0.0))
