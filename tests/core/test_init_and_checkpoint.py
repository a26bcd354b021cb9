"""Initialisation equal in distribution to the official one; strict, lossless checkpoint layouts."""

from __future__ import annotations

import math

import pytest
import torch

from mae_core import MaskedAutoencoderViT
from mae_core.io import checkpoint
from mae_core.io.checkpoint import CheckpointMismatchError
from mae_core.models import create_model


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    return create_model("base")


def test_linear_weights_xavier_uniform_and_zero_biases(base):
    for name, module in base.named_modules():
        if isinstance(module, torch.nn.Linear):
            fan_out, fan_in = module.weight.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            w = module.weight
            assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound, name
            # Uniform on [-b, b] has variance b^2 / 3.
            assert w.var().item() == pytest.approx(bound**2 / 3, rel=0.05), name
            assert torch.count_nonzero(module.bias) == 0, name


def test_layernorms_unit(base):
    norms = [m for m in base.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * 12 + 1 + 2 * 8 + 1
    for m in norms:
        assert torch.all(m.weight == 1) and torch.all(m.bias == 0) and m.eps == 1e-6


def test_every_layernorm_normalises_with_eps_1e6(base):
    """Numerically, not by the attribute: a token of variance 2.5e-7 (comparable to eps) normalises to
    +-5e-4 / sqrt(2.5e-7 + 1e-6) = +-0.447 with the official eps (PyTorch's default 1e-5 would give +-0.156)."""
    norms = [m for m in base.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms
    for m in norms:
        width = m.normalized_shape[0]
        x = torch.tensor([0.0, 1e-3]).repeat(width // 2)  # mean 5e-4, biased variance 2.5e-7
        expected = torch.tensor([-1.0, 1.0]).repeat(width // 2) * 5e-4 / math.sqrt(2.5e-7 + 1e-6)
        with torch.no_grad():
            torch.testing.assert_close(m(x), expected, rtol=1e-3, atol=1e-4)


def test_tokens_normal_002_and_patch_projection_like_linear(base):
    assert base.encoder.cls_token.std().item() == pytest.approx(0.02, rel=0.25)  # 768 draws
    assert base.decoder.mask_token.std().item() == pytest.approx(0.02, rel=0.25)  # 512 draws
    assert abs(base.decoder.mask_token.mean().item()) < 4 * 0.02 / math.sqrt(512)
    w = base.encoder.patch_embed.proj.weight.reshape(768, -1)
    bound = math.sqrt(6 / (768 + 768))
    assert w.abs().max() <= bound and w.var().item() == pytest.approx(bound**2 / 3, rel=0.05)
    bias = base.encoder.patch_embed.proj.bias
    assert bias.abs().max() <= 1 / math.sqrt(768) and torch.count_nonzero(bias) == 768


def test_seeded_initialisation_is_reproducible():
    torch.manual_seed(3)
    a = create_model("base", depth=2, decoder_depth=1)
    torch.manual_seed(3)
    b = create_model("base", depth=2, decoder_depth=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_meta_build_allocates_nothing():
    model = create_model("huge", device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())


def tiny(**kw) -> MaskedAutoencoderViT:
    return MaskedAutoencoderViT(img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=2,
                                decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2, **kw)


def test_layout_round_trip_is_lossless_and_shares_tensors():
    model = tiny()
    ours = model.state_dict()
    official = checkpoint.ours_to_official(ours)
    back = checkpoint.official_to_ours(official)
    assert set(back) == set(ours)
    assert all(back[k] is ours[k] for k in ours)  # no copies, no casts
    assert "decoder_blocks.0.attn.qkv.weight" in official and "mask_token" in official and "norm.weight" in official


def test_load_state_dict_accepts_official_layout_as_is():
    torch.manual_seed(1)
    src = tiny()
    dst = tiny()
    result = dst.load_state_dict(src.official_state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True))


def test_strict_loading_names_the_keys():
    model = tiny()
    sd = model.official_state_dict()
    sd.pop("decoder_pred.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError) as info:
        tiny().load_state_dict(sd)
    message = str(info.value)
    for key in ("decoder.pred.bias", "encoder.extra.weight", "encoder.blocks.0.attn.qkv.weight"):
        assert key in message


def test_one_unexpected_key_alone_is_refused():
    """Every key right plus one extra: still a mismatch (a file of another model, or a typo), named."""
    sd = tiny().official_state_dict()
    sd["decoder_pred.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match="unexpected 1 key"):
        tiny().load_state_dict(sd)


def test_a_file_with_one_extra_key_is_refused(tmp_path):
    """The same through the file loader every ``--weights`` uses: the official ViT-B/16 keys and shapes
    (stride-0 tensors, a few KB) plus one extra key fit no variant, and do not fit ViT-B/16."""
    from mae_core.errors import MAEError
    from mae_core.loading.weights import CheckpointError, load_weights

    official = create_model("base", device="meta").official_state_dict()
    state = {k: torch.zeros(()).expand(v.shape) for k, v in official.items()}
    state["head.weight"] = torch.zeros(()).expand(1000, 768)  # a classifier head left in the file
    path = tmp_path / "mae_with_head.pth"
    torch.save({"model": state}, path)
    for variant in (None, "base"):
        with pytest.raises(CheckpointError) as info:
            load_weights(path, variant)
        assert isinstance(info.value, MAEError)
    with pytest.raises(CheckpointError, match="head.weight"):
        load_weights(path, "base")


def test_meta_model_loads_with_assign():
    src = tiny()
    model = tiny(device="meta")
    model.load_state_dict(src.official_state_dict(), assign=True)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert not model.encoder.pos_embed.requires_grad and model.encoder.cls_token.requires_grad
    imgs = torch.randn(1, 3, 16, 16)
    noise = torch.rand(1, 16)
    assert torch.equal(model(imgs, 0.5, noise).pred, src(imgs, 0.5, noise).pred)
