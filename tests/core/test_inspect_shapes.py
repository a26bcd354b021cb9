"""mae_core.views.shapes: the hook trace against the shapes of a real forward pass of a tiny model."""

from __future__ import annotations

import pytest
import torch

import mae_core.encoder as encoder_module
from mae_core.masking import random_masking
from mae_core.models import create_model
from mae_core.views.shapes import Stage, collapse_repeats, shape_trace, trace_stages

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=4, decoder_embed_dim=16, decoder_depth=2,
            decoder_num_heads=2)


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return create_model("base", device="cpu", **TINY)


def test_trace_equals_the_shapes_of_a_real_forward(tiny):
    """Run the steps by hand on real tensors and compare with what the tracer saw."""
    B, ratio = 3, 0.6
    stages = {s.stage: s.shape for s in trace_stages(tiny, B, ratio)}
    imgs = torch.zeros(B, 3, 32, 32)
    with torch.no_grad():
        tokens = tiny.encoder.patch_embed(imgs)
        visible = random_masking(tokens, ratio).visible
        latent, mask, ids_restore = tiny.forward_encoder(imgs, ratio)
        embedded = tiny.decoder.embed(latent)
        loss, pred, mask = tiny(imgs, ratio)
    assert stages["image"] == tuple(imgs.shape)
    assert stages["patches (loss target)"] == tuple(tiny.patchify(imgs).shape)
    assert stages["patch tokens"] == tuple(tokens.shape)
    assert stages["visible tokens"] == tuple(visible.shape)
    assert stages["+ cls token"] == stages["latent"] == tuple(latent.shape)
    assert stages["decoder embed"] == tuple(embedded.shape)
    assert stages["+ mask tokens, unshuffled"] == (B, ids_restore.shape[1] + 1, embedded.shape[-1])
    assert stages["pred"] == tuple(pred.shape)
    assert stages["pred with cls row"] == (B, pred.shape[1] + 1, pred.shape[2])
    assert stages["mask"] == tuple(mask.shape) and stages["loss"] == tuple(loss.shape) == ()


def test_one_row_per_block_before_collapsing(tiny):
    stages = trace_stages(tiny, 2, 0.75)
    assert [s.stage for s in stages if s.group == "encoder.blocks"] == ["encoder block 0", "encoder block 1",
                                                                         "encoder block 2"]
    assert [s.traced_at for s in stages if s.group == "decoder.blocks"] == ["decoder.blocks.0 out",
                                                                           "decoder.blocks.1 out"]
    collapsed = collapse_repeats(stages)
    assert [(s.stage, s.repeat) for s in collapsed if s.group] == [("encoder blocks 0-2", 3), ("decoder blocks 0-1", 2)]


def test_collapse_keeps_runs_with_different_shapes_apart():
    shapes = [(1,), (1,), (2,), (2,), (2,)]
    rows = [Stage(f"block {i}", shape, "", "encoder", "blocks") for i, shape in enumerate(shapes)]
    merged = collapse_repeats(rows)
    assert [(s.stage, s.repeat) for s in merged] == [("blocks 0-1", 2), ("blocks 2-4", 3)]
    assert collapse_repeats([rows[0]]) == [rows[0]]


def test_trace_leaves_the_model_and_the_encoder_untouched(tiny):
    functions_before = dict(vars(encoder_module))
    trace_stages(tiny, 1, 0.5)
    assert dict(vars(encoder_module)) == functions_before  # no name replaced, not even for a while
    assert "patchify" not in vars(tiny)
    assert all(m.attn.fused for m in tiny.modules() if hasattr(m, "attn"))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny.modules())
    assert torch.overrides._get_current_function_mode_stack() == []


def test_huge_on_meta():
    trace = shape_trace("huge")
    assert (trace.num_patches, trace.num_visible, trace.device) == (256, 64, "meta")
    stages = {s.stage: s.shape for s in trace.stages}
    assert stages["visible tokens"] == (2, 64, 1280) and stages["pred"] == (2, 256, 14 * 14 * 3)
    assert stages["encoder blocks 0-31"] == (2, 65, 1280)


def test_trace_on_meta_matches_trace_on_cpu(tiny):
    meta = create_model("base", device="meta", **TINY)
    assert [(s.stage, s.shape) for s in trace_stages(meta, 2, 0.5)] == [(s.stage, s.shape) for s in
                                                                       trace_stages(tiny, 2, 0.5)]
