"""Every official golden case reproduced from its stored weights, images and noise."""

from __future__ import annotations

import pytest
import torch

from mae_core import MaskedAutoencoderViT

from .golden import CASES, load_case


@pytest.fixture(params=CASES)
def case(request):
    return load_case(request.param)


def _model(case) -> MaskedAutoencoderViT:
    model = MaskedAutoencoderViT(**case.config)
    result = model.load_state_dict(case.state_dict)  # the official layout, as it is
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval()


def test_cases_cover_plain_normpix_and_patch14():
    assert {"tiny_p8_img32", "tiny_p8_img32_normpix", "tiny_p14_img56_mask50"} <= set(CASES)


@torch.no_grad()
def test_forward_reproduces_official_outputs(case):
    model = _model(case)
    latent, mask, ids_restore = model.forward_encoder(case.imgs, case.mask_ratio, case.noise)
    loss, pred, mask_full = model(case.imgs, case.mask_ratio, case.noise)
    out = case.outputs
    assert torch.equal(mask, out["mask"]) and torch.equal(mask_full, out["mask"])
    assert torch.equal(ids_restore, out["ids_restore"])
    torch.testing.assert_close(latent, out["latent"], rtol=0, atol=1e-6)
    torch.testing.assert_close(pred, out["pred"], rtol=0, atol=1e-6)
    torch.testing.assert_close(loss.reshape(1), out["loss"].reshape(1), rtol=0, atol=1e-6)


@torch.no_grad()
def test_seeded_noise_draw_equals_official(case):
    """Without `noise`, one torch.rand(N, L) draw after the seed: the official recording's noise."""
    model = _model(case)
    torch.manual_seed(123)
    loss, pred, mask = model(case.imgs, case.mask_ratio)
    assert torch.equal(mask, case.outputs["mask"])
    torch.testing.assert_close(pred, case.outputs["pred"], rtol=0, atol=1e-6)


def test_golden_loss_matches_cases_json(case):
    import json

    from .golden import GOLDEN

    recorded = json.loads((GOLDEN / "cases.json").read_text())[case.name]["loss"]
    assert case.outputs["loss"].item() == pytest.approx(recorded, abs=1e-7)
