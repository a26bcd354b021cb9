"""Every official golden case reproduced from its stored weights, images and noise.

The recorded outputs come from another machine, so float tensors are held to the cross-machine bound
(``ACROSS_MACHINES``: atol + rtol * max|recorded|, derived in docs/fidelity.md from the spread measured
under other SIMD widths, thread counts and BLAS kernels); masks and ids_restore must be identical.
"""

from __future__ import annotations

import pytest
import torch

from mae_core import MaskedAutoencoderViT
from mae_core.loss import masked_mse_loss
from official_mae.compare import ACROSS_MACHINES

from .golden import CASES, assert_recorded, load_case


@pytest.fixture(params=CASES)
def case(request):
    return load_case(request.param)


def _model(case) -> MaskedAutoencoderViT:
    model = MaskedAutoencoderViT(**case.config)
    result = model.load_state_dict(case.state_dict)  # the official layout, as it is
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval()


@torch.no_grad()
def test_forward_reproduces_official_outputs(case):
    model = _model(case)
    latent, mask, ids_restore = model.forward_encoder(case.imgs, case.mask_ratio, case.noise)
    loss, pred, mask_full = model(case.imgs, case.mask_ratio, case.noise)
    out = case.outputs
    assert torch.equal(mask, out["mask"]) and torch.equal(mask_full, out["mask"])
    assert torch.equal(ids_restore, out["ids_restore"])
    assert_recorded("latent", latent, out["latent"])
    assert_recorded("pred", pred, out["pred"])
    assert_recorded("loss", loss, out["loss"])


@torch.no_grad()
def test_seeded_noise_draw_equals_official(case):
    """Without `noise`, one torch.rand(N, L) draw after the seed: the official recording's noise."""
    model = _model(case)
    torch.manual_seed(123)
    loss, pred, mask = model(case.imgs, case.mask_ratio)
    assert torch.equal(mask, case.outputs["mask"])
    assert_recorded("pred", pred, case.outputs["pred"])


@torch.no_grad()
def test_loss_of_the_recorded_prediction_is_the_recorded_loss(case):
    """The loss alone (patchify + target + masked mean), fed the official pred and mask: the official loss.

    Independent of the encoder and decoder, so a broken loss cannot hide behind them, or they behind it.
    """
    model = _model(case)
    loss = model.forward_loss(case.imgs, case.outputs["pred"], case.outputs["mask"])
    assert_recorded("loss", loss, case.outputs["loss"])


@pytest.mark.parametrize("name", ["tiny_p8_img32", "tiny_p8_img32_normpix"])
@torch.no_grad()
def test_the_normpix_case_and_its_plain_twin_tell_the_targets_apart(name):
    """The same pred scored against the other target (raw vs per-patch normalised pixels) misses the recorded
    loss by far more than the bound: a model that got norm_pix_loss wrong could not pass these cases."""
    case = load_case(name)
    model = _model(case)
    target, pred, mask = model.patchify(case.imgs), case.outputs["pred"], case.outputs["mask"]
    flipped = masked_mse_loss(pred, target, mask, norm_pix_loss=not case.config["norm_pix_loss"])
    assert abs(flipped.item() - case.outputs["loss"].item()) > 1000 * ACROSS_MACHINES.bound(case.outputs["loss"])


@torch.no_grad()
def test_the_recorded_mask_ratio_is_the_one_that_reproduces(case):
    """Masks depend on the ratio: another ratio with the same noise gives other masks (so the patch-14 case's
    0.5 is checked, not assumed)."""
    model = _model(case)
    other_ratio = 0.75 if case.mask_ratio != 0.75 else 0.5
    assert not torch.equal(model(case.imgs, other_ratio, case.noise).mask, case.outputs["mask"])
    assert torch.equal(model(case.imgs, case.mask_ratio, case.noise).mask, case.outputs["mask"])
