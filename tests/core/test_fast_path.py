"""The opt-in fast path (oneDNN products): same parameters, same outputs up to float rounding, off by default.

The golden cases are recorded by the official code with MKL products; the exact path reproduces them to
1e-6 (tests/core/test_golden.py). The fast path adds the same products in another order, which moves the
tiny cases' outputs by up to about 2 float steps: checked here at 2e-6 (the one place the project's 1e-6
golden bound is relaxed, and the reason the path is opt-in).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import mae_core.kernels.linear as linear_module
from mae_core import MaskedAutoencoderViT
from mae_core.kernels.fast_path import fast_path_enabled, use_fast_path
from mae_core.kernels.linear import Linear, onednn_available

from .golden import CASES, load_case

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch build has no oneDNN linear")
TINY = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, decoder_embed_dim=32, decoder_depth=2,
            decoder_num_heads=4)


def _golden_model(case) -> MaskedAutoencoderViT:
    model = MaskedAutoencoderViT(**case.config)
    model.load_state_dict(case.state_dict)
    return model.eval()


def test_default_is_the_exact_path():
    model = MaskedAutoencoderViT(**TINY, device="meta")
    layers = [m for m in model.modules() if isinstance(m, Linear)]
    assert len(layers) == 2 * 4 * 2 + 2  # qkv, proj, fc1, fc2 per block; decoder embed and pred
    assert all(isinstance(m, nn.Linear) and not m.onednn for m in layers)
    assert not fast_path_enabled(model)


def test_switching_keeps_parameters_and_state_dict():
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(**TINY, device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert use_fast_path(model) is model
    assert list(model.state_dict()) == list(before)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    use_fast_path(model, False)
    assert not any(m.onednn for m in model.modules() if isinstance(m, Linear))


@needs_onednn
@pytest.mark.parametrize("name", CASES)
def test_fast_path_reproduces_golden_outputs_within_float_rounding(name):
    case = load_case(name)
    model = use_fast_path(_golden_model(case))
    assert fast_path_enabled(model)
    with torch.no_grad():
        latent, mask, ids_restore = model.forward_encoder(case.imgs, case.mask_ratio, case.noise)
        loss, pred, _ = model(case.imgs, case.mask_ratio, case.noise)
    out = case.outputs
    assert torch.equal(mask, out["mask"]) and torch.equal(ids_restore, out["ids_restore"])
    torch.testing.assert_close(latent, out["latent"], rtol=0, atol=2e-6)
    torch.testing.assert_close(pred, out["pred"], rtol=0, atol=2e-6)
    torch.testing.assert_close(loss.reshape(1), out["loss"].reshape(1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_switching_back_is_bit_exact_again(name):
    case = load_case(name)
    model = use_fast_path(use_fast_path(_golden_model(case)), False)
    with torch.no_grad():
        pred = model(case.imgs, case.mask_ratio, case.noise).pred
    torch.testing.assert_close(pred, case.outputs["pred"], rtol=0, atol=1e-6)


@needs_onednn
def test_gradients_agree_with_the_exact_path():
    torch.manual_seed(0)
    exact = MaskedAutoencoderViT(**TINY, device="cpu")
    fast = use_fast_path(copy.deepcopy(exact))
    imgs, noise = torch.randn(3, 3, 32, 32), torch.rand(3, 16)
    for model in (exact, fast):
        model(imgs, 0.75, noise).loss.backward()
    grads = dict(fast.named_parameters())
    checked = 0
    for name, p in exact.named_parameters():
        if p.grad is None:
            assert grads[name].grad is None, name
            continue
        torch.testing.assert_close(grads[name].grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
        checked += 1
    assert checked == 60


@needs_onednn
def test_bfloat16_runs_on_the_fast_path():
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(**TINY, device="cpu")
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        exact = model(imgs, 0.75, noise).pred
        fast = use_fast_path(model.to(torch.bfloat16))(imgs.bfloat16(), 0.75, noise).pred
    assert fast.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), exact, rtol=0, atol=0.1)


def test_without_onednn_the_layers_fall_back_to_f_linear(monkeypatch):
    monkeypatch.setattr(linear_module, "onednn_available", lambda: False)
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(**TINY, device="cpu")
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        exact = model(imgs, 0.75, noise).pred
        fallback = use_fast_path(model)(imgs, 0.75, noise).pred
    assert torch.equal(exact, fallback)
    assert not fast_path_enabled(model)


def test_meta_device_keeps_f_linear():
    """The flop counter runs on meta: the fast path must not change what it sees."""
    from mae_core.views.flops import count_flops

    model = MaskedAutoencoderViT(**TINY, device="meta")
    imgs, noise = torch.zeros(1, 3, 32, 32, device="meta"), torch.zeros(1, 16, device="meta")
    with torch.no_grad():
        exact = count_flops(lambda: model(imgs, 0.75, noise))
        fast = count_flops(lambda: use_fast_path(model)(imgs, 0.75, noise))
    assert exact == fast > 0
