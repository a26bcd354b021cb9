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


def test_constant_patch_normalises_to_finite_zeros():
    """A flat patch (sky, a black border) has variance 0: the official ``+1e-6`` keeps it finite, 0 / 1e-3."""
    flat = torch.full((2, 3, 12), 0.75)  # exact in float32, so its mean is exact too
    torch.testing.assert_close(normalize_patches(flat), torch.zeros_like(flat), rtol=0, atol=0)
    pred, mask = torch.full((2, 3, 12), 0.5), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    loss = masked_mse_loss(pred, flat, mask, norm_pix_loss=True)
    assert torch.isfinite(loss) and loss.item() == 0.25  # (0.5 - 0)^2 on every masked patch


def test_constant_image_trains_with_norm_pix_loss():
    """The whole model on a uniform image with norm_pix_loss: finite loss and finite gradients."""
    from mae_core import MaskedAutoencoderViT

    torch.manual_seed(0)
    model = MaskedAutoencoderViT(img_size=16, patch_size=4, embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=8,
                                 decoder_depth=1, decoder_num_heads=2, norm_pix_loss=True)
    loss = model(torch.full((1, 3, 16, 16), -0.3)).loss
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
