"""mae_core.views.reconstruct: the Figure 2 panels, checked against independent computations on tiny models."""

from __future__ import annotations

import pytest
import torch

from mae_core.views.reconstruct import (denormalize_prediction, mask_to_pixels, masking_noise, per_image_loss,
                                          reconstruct, target_fit, visible_patch_stats)
from mae_core.loss import normalize_patches
from mae_core.models import create_model
from mae_core.patch_embed import patchify

TINY = dict(embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)


def tiny_model(**overrides):
    torch.manual_seed(0)
    return create_model("base", **{**TINY, "img_size": 32, "patch_size": 8, **overrides}).eval()


def pixel_mask_by_loops(mask: torch.Tensor, p: int, w: int, size: int) -> torch.Tensor:
    """(B, L) patch mask -> (B, size, size) bool, one patch at a time (row-major patch order)."""
    out = torch.zeros(mask.shape[0], size, size, dtype=torch.bool)
    for b in range(mask.shape[0]):
        for index in range(mask.shape[1]):
            if mask[b, index]:
                r, c = divmod(index, w)
                out[b, r * p:(r + 1) * p, c * p:(c + 1) * p] = True
    return out


@pytest.fixture
def run():
    model = tiny_model()
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    noise = masking_noise(3, 16, seed=2)
    return model, images, noise, reconstruct(model, images, mask_ratio=0.75, noise=noise)


def test_masking_noise_is_the_seeded_uniform_draw():
    assert torch.equal(masking_noise(2, 5, 7), torch.rand(2, 5, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(masking_noise(2, 5, 7), masking_noise(2, 5, 8))


def test_prediction_and_mask_are_the_models_own(run):
    model, images, noise, rec = run
    with torch.no_grad():
        loss, pred, mask = model(images, 0.75, noise)
    assert torch.equal(rec.mask, mask)
    assert torch.equal(rec.pred, pred)
    assert rec.grid.shape == (3, 4, 4) and torch.equal(rec.grid.flatten(1).float(), mask)
    assert rec.grid.sum(dim=(1, 2)).tolist() == [12, 12, 12]  # L - int(16 * 0.25) = 12 masked per image
    # The batch loss is the mean over every masked patch; each image has 12, so it is the mean of the per-image losses.
    assert torch.allclose(rec.loss.mean(), loss, atol=1e-6)


def test_per_image_loss_by_hand(run):
    _, images, _, rec = run
    patches = patchify(images, 8)
    for b in range(3):
        masked = rec.mask[b].bool()
        expected = ((rec.pred[b][masked] - patches[b][masked]) ** 2).mean()
        assert torch.allclose(rec.loss[b], expected, atol=1e-6)


def test_masked_panel_is_zero_exactly_on_masked_patches(run):
    _, images, _, rec = run
    hidden = pixel_mask_by_loops(rec.mask, 8, 4, 32).unsqueeze(1).expand(-1, 3, -1, -1)
    assert torch.all(rec.masked[hidden] == 0)
    assert torch.equal(rec.masked[~hidden], images[~hidden])


def test_pasted_is_input_on_visible_and_reconstruction_on_masked(run):
    _, images, _, rec = run
    hidden = pixel_mask_by_loops(rec.mask, 8, 4, 32).unsqueeze(1).expand(-1, 3, -1, -1)
    assert torch.equal(rec.pasted[~hidden], images[~hidden])
    assert torch.equal(rec.pasted[hidden], rec.reconstruction[hidden])
    assert torch.equal(rec.reconstruction, rec.prediction)  # raw pixels: shown as predicted


def test_mask_to_pixels_matches_loops():
    mask = (torch.rand(2, 12, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    pixels = mask_to_pixels(mask, 4, (3, 4))
    assert pixels.shape == (2, 1, 12, 16)
    expected = torch.zeros(2, 12, 16, dtype=torch.bool)
    for b in range(2):
        for index in range(12):
            if mask[b, index]:
                r, c = divmod(index, 4)
                expected[b, r * 4:(r + 1) * 4, c * 4:(c + 1) * 4] = True
    assert torch.equal(pixels[:, 0].bool(), expected)


def test_visible_stats_by_hand():
    # A 1x4 grid of 2-pixel patches; patches 0 and 3 visible, 1 and 2 masked.
    patches = torch.tensor([[[1.0, 3.0], [100.0, -100.0], [7.0, 7.0], [10.0, 14.0]]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    mean, std = visible_patch_stats(patches, mask, (1, 4), eps=0.0)
    std0, std3 = 2 ** 0.5, 8 ** 0.5  # unbiased std of (1, 3) and (10, 14)
    # patch 1: distances 1 and 2 -> weights 1 and 1/4; patch 2: distances 2 and 1 -> weights 1/4 and 1.
    expected_mean = [2.0, (2.0 + 12.0 / 4) / 1.25, (2.0 / 4 + 12.0) / 1.25, 12.0]
    expected_std = [std0, (std0 + std3 / 4) / 1.25, (std0 / 4 + std3) / 1.25, std3]
    assert torch.allclose(mean.flatten(), torch.tensor(expected_mean))
    assert torch.allclose(std.flatten(), torch.tensor(expected_std))


def test_one_visible_patch_gives_its_statistics_to_all():
    patches = torch.randn(1, 9, 12, generator=torch.Generator().manual_seed(4))
    mask = torch.ones(1, 9)
    mask[0, 4] = 0
    mean, std = visible_patch_stats(patches, mask, (3, 3))
    assert torch.allclose(mean.flatten(), patches[0, 4].mean().expand(9))
    assert torch.allclose(std.flatten(), (patches[0, 4].var() + 1e-6).sqrt().expand(9))


def test_no_visible_patch_is_an_error():
    with pytest.raises(ValueError, match="visible"):
        visible_patch_stats(torch.randn(1, 4, 3), torch.ones(1, 4), (2, 2))


def test_denormalisation_never_reads_the_hidden_patches():
    """Change every pixel of the masked patches: the de-normalised prediction must not move at all."""
    g = torch.Generator().manual_seed(5)
    patches = torch.randn(2, 16, 48, generator=g)
    pred = torch.randn(2, 16, 48, generator=g)
    mask = (torch.rand(2, 16, generator=g) > 0.4).float()
    mask[:, 0] = 0  # keep at least one visible patch per image
    before = denormalize_prediction(pred, patches, mask, (4, 4))
    tampered = torch.where(mask.bool().unsqueeze(-1), 50 * torch.randn(2, 16, 48, generator=g) + 9, patches)
    after = denormalize_prediction(pred, tampered, mask, (4, 4))
    assert torch.equal(before, after)


def test_denormalisation_inverts_the_target_on_visible_patches():
    patches = torch.randn(1, 16, 48, generator=torch.Generator().manual_seed(6)) * 3 + 1
    mask = torch.zeros(1, 16)
    mask[0, 5:11] = 1
    back = denormalize_prediction(normalize_patches(patches), patches, mask, (4, 4))
    visible = ~mask[0].bool()
    assert torch.allclose(back[0, visible], patches[0, visible], atol=1e-5)
    assert not torch.allclose(back[0, ~visible], patches[0, ~visible], atol=1e-2)  # the hidden ones are a guess


def test_norm_pix_reconstruction(run):
    model, images, noise, _ = run
    rec = reconstruct(model, images, mask_ratio=0.75, noise=noise, norm_pix_loss=True)
    patches = patchify(images, 8)
    assert torch.allclose(rec.loss, per_image_loss(rec.pred, normalize_patches(patches), rec.mask, False), atol=1e-6)
    assert not torch.equal(rec.reconstruction, rec.prediction)
    hidden = pixel_mask_by_loops(rec.mask, 8, 4, 32).unsqueeze(1).expand(-1, 3, -1, -1)
    assert torch.equal(rec.pasted[~hidden], images[~hidden])
    assert torch.equal(rec.pasted[hidden], rec.reconstruction[hidden])


def test_patch14_grid_is_16x16():
    model = tiny_model(img_size=224, patch_size=14)
    images = torch.randn(1, 3, 224, 224)
    rec = reconstruct(model, images, mask_ratio=0.75, noise=masking_noise(1, 256, 0))
    assert rec.grid.shape == (1, 16, 16)
    assert int(rec.grid.sum()) == 256 - 64


def test_nothing_masked_gives_nan_loss(run):
    model, images, noise, _ = run
    rec = reconstruct(model, images, mask_ratio=0.0, noise=noise)
    assert torch.isnan(rec.loss).all()
    assert torch.equal(rec.pasted, images) and torch.equal(rec.masked, images)


def test_target_fit():
    patches = torch.randn(1, 4, 12) * 5 + 3
    fit = target_fit(normalize_patches(patches), patches)
    assert fit["normalized"] == 0.0 and fit["raw"] > 1
    fit = target_fit(patches, patches)
    assert fit["raw"] == 0.0 and fit["normalized"] > 1


def test_norm_pix_decision_and_target_hint():
    from mae_core.views.reconstruct import reconstruction_target, target_hint

    assert reconstruction_target(None, None, {}) == (False, "default")
    assert reconstruction_target(None, "mae_pretrain_vit_large_full.pth", {}) == (True, "file name")
    assert reconstruction_target(False, "mae_pretrain_vit_large_full.pth", {}) == (False, "option")
    assert reconstruction_target(None, "vit-mae-base", {"norm_pix_loss": True}) == (True, "config.json")
    assert target_hint({"raw": 1.0, "normalized": 0.1}, False).norm_pix_loss is True
    assert target_hint({"raw": 0.1, "normalized": 1.0}, True).norm_pix_loss is False
    assert target_hint({"raw": 1.0, "normalized": 0.9}, False) is None
    assert target_hint({"raw": 1.0, "normalized": 0.1}, True) is None
    assert "--" not in target_hint({"raw": 1.0, "normalized": 0.1}, False).message  # the CLI names its flags
