"""The opt-in fast path (oneDNN products) and the kernel switch: same parameters, same outputs up to float
rounding, off by default; a dtype oneDNN cannot compute here falls back to F.linear with one note.

The golden cases are recorded by the official code with MKL products on another machine; the fast path
adds the same products in another order, so it is held to the same cross-machine bound as the exact path
(``ACROSS_MACHINES``, docs/fidelity.md), and switching back must give the exact path's bits again.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import mae_core.kernels.linear as linear_module
from mae_core import MaskedAutoencoderViT
from mae_core.attention import Attention
from mae_core.kernels import kernels_of, use_kernels
from mae_core.kernels.fast_path import fast_path_enabled, use_fast_path
from mae_core.kernels.linear import Linear, onednn_available

from .golden import CASES, assert_recorded, load_case

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
    assert_recorded("latent", latent, out["latent"])
    assert_recorded("pred", pred, out["pred"])
    assert_recorded("loss", loss, out["loss"])


@pytest.mark.parametrize("name", CASES)
def test_switching_back_is_bit_exact_again(name):
    case = load_case(name)
    model = _golden_model(case)
    with torch.no_grad():
        exact = model(case.imgs, case.mask_ratio, case.noise).pred
        use_fast_path(model)(case.imgs, case.mask_ratio, case.noise)
        again = use_fast_path(model, False)(case.imgs, case.mask_ratio, case.noise).pred
    assert torch.equal(again, exact)


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
    monkeypatch.setattr(linear_module, "onednn_available", lambda dtype=torch.float32: False)
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


def test_one_switch_sets_both_kernel_choices():
    model = MaskedAutoencoderViT(**TINY, device="meta")
    assert kernels_of(model) == {"linear": "exact", "attention": "sdpa"}
    assert use_kernels(model, linear="onednn", attention="explicit") is model
    assert all(m.onednn for m in model.modules() if isinstance(m, Linear))
    assert not any(m.fused for m in model.modules() if isinstance(m, Attention))
    assert kernels_of(model) == {"linear": "onednn", "attention": "explicit"}
    use_kernels(model, attention="sdpa")  # None leaves the other choice alone
    assert kernels_of(model) == {"linear": "onednn", "attention": "sdpa"}
    model.encoder.blocks[0].attn.fused = False
    assert kernels_of(model)["attention"] == "mixed"
    assert kernels_of(nn.Sequential(nn.ReLU())) == {"linear": None, "attention": None}
    with pytest.raises(ValueError, match="linear kernel 'mkl'"):
        use_kernels(model, linear="mkl")
    with pytest.raises(ValueError, match="attention kernel"):
        use_kernels(model, attention="flash")


def test_explicit_attention_through_the_switch_matches_sdpa():
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(**TINY, device="cpu").eval()
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        sdpa = model(imgs, 0.75, noise).pred
        explicit = use_kernels(model, attention="explicit")(imgs, 0.75, noise).pred
    assert not torch.equal(sdpa, explicit)  # another kernel ran
    torch.testing.assert_close(explicit, sdpa, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_dtype_onednn_cannot_compute_falls_back_with_one_note(monkeypatch, caplog, dtype):
    """As on a CPU without AVX-512 (AMD Zen 3): F.linear, the exact path's numbers, one note, no error."""
    real = linear_module.onednn_support
    monkeypatch.setattr(linear_module, "onednn_support",
                        lambda d=torch.float32: (False, "no primitive (test)") if d == dtype else real(d))
    linear_module._note_fallback.cache_clear()
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(**TINY, device="cpu").to(dtype)
    imgs, noise = torch.randn(2, 3, 32, 32).to(dtype), torch.rand(2, 16)
    with torch.no_grad(), caplog.at_level("WARNING", logger="mae_core.kernels"):
        exact = model(imgs, 0.75, noise).pred
        fast = use_fast_path(model)(imgs, 0.75, noise).pred
        use_fast_path(model)(imgs, 0.75, noise)
    linear_module._note_fallback.cache_clear()
    assert torch.equal(fast, exact)
    notes = [r.getMessage() for r in caplog.records if r.name == "mae_core.kernels"]
    assert notes == ["note: no primitive (test); the fast path runs these products on F.linear"]


def test_the_support_probe_asks_per_dtype():
    assert linear_module.onednn_support(torch.float64) == (False, "the fast path has no float64 product")
    for dtype in (torch.bfloat16, torch.float16):
        ok, why = linear_module.onednn_support(dtype)
        assert ok == linear_module.onednn_available(dtype)
        assert ok or str(dtype).removeprefix("torch.") in why


def test_switching_on_where_onednn_has_no_avx512_says_it_measured_slower(monkeypatch, caplog):
    from mae_core.kernels import fast_path

    monkeypatch.setattr(linear_module, "onednn_has_avx512", lambda: False)
    monkeypatch.setattr(linear_module, "onednn_available", lambda dtype=torch.float32: True)
    fast_path._note_if_no_gain_expected.cache_clear()
    model = MaskedAutoencoderViT(**TINY, device="meta")
    with caplog.at_level("WARNING", logger="mae_core.kernels"):
        use_fast_path(model)
        use_fast_path(model)
        use_fast_path(model, False)
    fast_path._note_if_no_gain_expected.cache_clear()
    notes = [r.getMessage() for r in caplog.records if r.name == "mae_core.kernels"]
    assert len(notes) == 1 and "without AVX-512" in notes[0] and "measured slower" in notes[0]
