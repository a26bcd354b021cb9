"""mae_core.views.params: counts, the per-module breakdown and the comparison with the official listing."""

from __future__ import annotations

import math

import pytest
from torch import nn

from mae_core.views.params import (compare_with_official, count_parameters, module_breakdown, official_counts,
                                     parameter_report)
from mae_core.models import create_model, list_models

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, decoder_embed_dim=16, decoder_depth=1,
            decoder_num_heads=2)


def test_breakdown_of_a_small_module():
    """Linear(3, 4) holds 3*4 + 4 = 16 values, Linear(4, 2) 4*2 + 2 = 10."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 2)))
    rows = {r.name: r for r in module_breakdown(model, depth=3)}
    assert rows["0"].params == 16 and rows["0.weight"].params == 12 and rows["0.bias"].params == 4
    assert rows["1"].params == 10 and rows["1.0"].params == 10 and rows["1.0.weight"].depth == 3
    assert rows["0"].share == pytest.approx(16 / 26)
    assert [r.name for r in module_breakdown(model, depth=1)] == ["0", "1"]
    assert module_breakdown(model, depth=0) == []


def test_counts_of_a_tiny_model():
    model = create_model("base", device="meta", **TINY)
    counts = count_parameters(model)
    assert counts.total == sum(p.numel() for p in model.parameters())
    assert counts.fixed == model.encoder.pos_embed.numel() + model.decoder.pos_embed.numel()
    assert counts.trainable + counts.fixed == counts.total == counts.encoder + counts.decoder
    # Every parameter appears exactly once at the deepest level of the breakdown.
    leaves = [r for r in module_breakdown(model, depth=99) if r.kind == "Parameter"]
    assert sum(r.params for r in leaves) == counts.total
    assert sorted(r.name for r in leaves) == sorted(n for n, _ in model.named_parameters())


@pytest.mark.parametrize("variant", list_models())
def test_report_verifies_every_variant(variant, official_reference):
    report = parameter_report(variant, depth=2)
    listed = official_reference[variant]
    assert report.counts.total == listed["total_params"] == report.official.total
    assert report.counts.trainable == listed["trainable_params"]
    assert report.counts.encoder == listed["encoder_params"] and report.counts.decoder == listed["decoder_params"]
    assert report.verified is True and report.mismatches == []
    assert set(report.difference.values()) == {0}
    assert report.fixed_names == ["encoder.pos_embed", "decoder.pos_embed"]


def test_official_counts_are_summed_from_shapes(official_reference):
    for name in list_models():
        shapes = official_reference[name]["parameters"]
        fixed = sum(math.prod(v["shape"]) for v in shapes.values() if not v["requires_grad"])
        counted = official_counts(name)
        assert counted.fixed == fixed
        assert counted.total == sum(math.prod(v["shape"]) for v in shapes.values())


def test_comparison_names_the_differences():
    """ViT-B with one block fewer, compared with the official ViT-B listing."""
    model = create_model("base", device="meta", depth=11)
    problems = compare_with_official(model, "mae_vit_base_patch16")
    assert "missing in ours: blocks.11.attn.qkv.weight" in problems
    model = create_model("base", device="meta", decoder_embed_dim=256)
    problems = compare_with_official(model, "mae_vit_base_patch16")
    assert any(p.startswith("mask_token: shape (1, 1, 256)") for p in problems)


def test_unlisted_variant_has_nothing_to_verify():
    assert official_counts("not_a_variant") is None
    assert compare_with_official(create_model("base", device="meta", **TINY), "not_a_variant") == []


def test_negative_depth_is_refused():
    with pytest.raises(ValueError):
        parameter_report("base", depth=-1)
