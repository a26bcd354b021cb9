"""mae_core.views.features / attention / numerics on tiny models: order, maps, rollout, overflow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mae_core.errors import MAEError
from mae_core.models import create_model
from mae_core.views.attention import (
    attention_maps,
    check_heads,
    rollout,
)
from mae_core.views.features import (
    check_output,
    extract_features,
    mean_pool,
    parse_layers,
)
from mae_core.views.numerics import numerics
from mae_core.views.picture import colormap, heat_panel

TINY = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 3, "num_heads": 4, "decoder_embed_dim": 16,
        "decoder_depth": 2, "decoder_num_heads": 2}


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return create_model("base", **TINY).eval()


@pytest.fixture(scope="module")
def imgs():
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_features_keep_every_patch_in_raster_order_without_randomness(tiny, imgs):
    state = torch.get_rng_state()
    feats = extract_features(tiny, imgs, layers="all", pool="mean")
    assert torch.equal(torch.get_rng_state(), state)  # no random draw: no seed can change the features
    enc = tiny.encoder
    with torch.no_grad():  # the same forward written out: embed, + positions, no masking, cls, blocks
        x = enc.prepend_cls(enc.add_positions(enc.patch_embed(imgs)))
        for i, block in enumerate(enc.blocks):
            x = block(x)
            assert torch.equal(feats.tensors[f"hidden_states.{i}"], x)
        assert torch.equal(feats.tensors["latent"], enc.norm(x))
    assert feats.tensors["latent"].shape == (2, 17, 32)
    assert torch.equal(feats.tensors["pooled"], mean_pool(x, 1e-6))
    cls = extract_features(tiny, imgs, layers="-1", pool="cls")
    assert list(cls.tensors) == ["hidden_states.2", "latent", "pooled"]
    assert torch.equal(cls.tensors["pooled"], feats.tensors["latent"][:, 0])
    assert "pooled" not in extract_features(tiny, imgs, layers="0", pool="none").tensors


def test_layer_pool_and_output_checks():
    assert parse_layers("all", 3) == [0, 1, 2] and parse_layers("-1,0,0", 3) == [0, 2]
    for bad, words in (("3", "layers: layer 3 is out of range"), ("-4", "out of range"), ("1;2", "comma-separated"),
                       ("", "no layer")):
        with pytest.raises(MAEError, match=words):
            parse_layers(bad, 3)
    with pytest.raises(MAEError, match="unknown extension"):
        check_output("x.pt")
    assert check_output("x.NPZ").suffix == ".NPZ"
    assert check_heads([-1, 0], 4) == [0, 3]
    with pytest.raises(MAEError, match=r"heads: head 4 is out of range: each block has 4 heads \(0..3\)"):
        check_heads([4], 4)


def test_cls_map_puts_each_visible_token_at_its_patch(tiny, imgs):
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(2))
    maps = attention_maps(tiny, imgs, mask_ratio=0.5, noise=noise)
    probs = maps.attention["encoder.blocks.1.attn"]
    grid = maps.cls_map("encoder.blocks.1.attn", sample=1, head=2)
    assert grid.shape == (4, 4) and np.isnan(grid).sum() == 8  # 8 of 16 patches masked: blank
    for k, patch in enumerate(maps.ids_keep[1].tolist()):
        assert grid.reshape(-1)[patch] == pytest.approx(probs[1, 2, 0, 1 + k].item(), abs=1e-7)
    removed = maps.mask[1].bool().numpy()
    assert np.isnan(grid.reshape(-1)[removed]).all() and not np.isnan(grid.reshape(-1)[~removed]).any()
    per_head = np.stack([maps.cls_map("encoder.blocks.1.attn", 1, h) for h in range(4)])
    mean = maps.cls_map("encoder.blocks.1.attn", 1)
    assert np.allclose(mean[~np.isnan(mean)], per_head[:, ~np.isnan(mean)].mean(0))
    for row in maps.decoder_mix(0):
        assert row["visible"] + row["mask_tokens"] + row["cls"] == pytest.approx(1.0)


def test_mask_ratio_zero_is_raster_order(tiny, imgs):
    maps = attention_maps(tiny, imgs, mask_ratio=0.0)
    assert torch.equal(maps.ids_keep, torch.arange(16).expand(2, -1)) and not maps.mask.any()
    assert not np.isnan(maps.rollout(0)).any() and maps.decoder_mix(0) == []


def test_rollout_is_the_product_of_residual_averaged_matrices():
    a1, a2 = torch.rand(2, 3, 3).softmax(-1), torch.rand(2, 3, 3).softmax(-1)

    def step(a):
        m = a.double().mean(0) + torch.eye(3, dtype=torch.float64)
        return m / m.sum(-1, keepdim=True)

    torch.testing.assert_close(rollout([a1]), step(a1))
    torch.testing.assert_close(rollout([a1, a2]), step(a2) @ step(a1))  # the later block applied last
    torch.testing.assert_close(rollout([a1, a2]).sum(-1), torch.ones(3, dtype=torch.float64))


def test_rollout_needs_every_encoder_block(tiny, imgs):
    maps = attention_maps(tiny, imgs, mask_ratio=0.5, blocks="encoder:0")
    with pytest.raises(MAEError, match="every encoder block"):
        maps.rollout(0)


def test_panels_and_colours():
    grid = np.array([[0.0, 1.0], [np.nan, 0.5]])
    panel, (lo, hi) = heat_panel(grid, 64)
    assert panel.shape == (64, 64, 3) and panel.dtype == np.uint8 and (lo, hi) == (0.0, 1.0)
    assert tuple(panel[40, 8]) == (200, 200, 200) and tuple(panel[8, 40]) == (253, 231, 37)  # masked; the max
    assert tuple(colormap(np.array([np.nan]))[0]) == (200, 200, 200)
    assert tuple(colormap(np.array([0.0]))[0]) == (68, 1, 84) and tuple(colormap(np.array([1.0]))[0]) == (253, 231, 37)


def test_float16_overflow_is_named_at_the_block_where_it_happens(tiny, imgs):
    """Scale block 1's fc2 so its products leave float16's range: block 1 is the first non-finite stage."""
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        tiny.encoder.blocks[1].mlp.fc2.weight.mul_(1e5)
    report = numerics(tiny, imgs, noise, dtype=torch.float16)
    assert report.first_nonfinite == "encoder.blocks.1" and report.float32_finite and not report.ok
    rows = {s.name: s for s in report.stages}
    assert rows["encoder.blocks.0"].finite and not rows["encoder.blocks.1"].finite
    assert rows["encoder.blocks.1"].max_abs_float32 > 65504  # float32 holds what float16 cannot
    assert rows["encoder.blocks.0"].rel_error < 1e-2 and rows["encoder.blocks.1"].rel_error is None
    bf16 = numerics(tiny, imgs, noise, dtype=torch.bfloat16, grad=True)  # bfloat16 has float32's range
    assert bf16.ok and bf16.first_nonfinite is None and bf16.first_nonfinite_gradient is None
    assert {g.name for g in bf16.gradients} == {n for n, p in tiny.named_parameters() if p.requires_grad}
    assert all(p.grad is None for p in tiny.parameters())  # the report leaves no gradients behind


def test_numerics_without_overflow_measures_the_float16_error(tiny, imgs):
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(3))
    report = numerics(tiny, imgs, noise, dtype=torch.float16, grad=True)
    assert report.ok and len(report.stages) == 13
    for s in report.stages:
        assert 0 < s.rel_error < 5e-3  # float16 keeps 11 bits: about 5e-4 per rounding
    assert abs(report.loss - report.loss_float32) < 1e-2
