"""mae_core.views.recorder: what it records is what the forward computes, and recording changes nothing."""

from __future__ import annotations

import copy

import pytest
import torch

from mae_core.errors import MAEError
from mae_core.models import create_model
from mae_core.views.baseline import MaskTokensInEncoder
from mae_core.views.recorder import parse_blocks, record

TINY = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 3, "num_heads": 4, "decoder_embed_dim": 16,
        "decoder_depth": 2, "decoder_num_heads": 2}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("base", **TINY).eval()


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 32, 32, generator=g), torch.rand(2, 16, generator=g)


def test_hidden_states_are_the_forward_bit_for_bit(tiny, inputs):
    imgs, noise = inputs
    plain = tiny(imgs, 0.75, noise)
    with record(tiny) as rec:
        recorded = tiny(imgs, 0.75, noise)
    assert all(torch.equal(a, b) for a, b in zip(plain, recorded, strict=True))
    assert list(rec.stages) == [
        "encoder.patch_embed", "encoder.visible", "encoder.tokens", "encoder.blocks.0", "encoder.blocks.1",
        "encoder.blocks.2", "encoder.norm", "decoder.embed", "decoder.tokens", "decoder.blocks.0",
        "decoder.blocks.1", "decoder.norm", "decoder.pred"]
    assert rec.attention == {}
    # Each stage is what the next step of the model makes of the previous one.
    enc = tiny.encoder
    latent, _, ids_restore = enc(imgs, 0.75, noise)
    assert torch.equal(rec.stages["encoder.norm"], latent)
    assert torch.equal(rec.stages["encoder.tokens"], enc.prepend_cls(rec.masking.visible))
    assert torch.equal(rec.stages["encoder.blocks.1"], enc.blocks[1](rec.stages["encoder.blocks.0"]))
    assert torch.equal(rec.stages["decoder.pred"][:, 1:], recorded.pred)
    assert torch.equal(rec.masking.mask, recorded.mask) and torch.equal(rec.masking.ids_restore, ids_restore)
    kept = torch.gather(rec.stages["encoder.patch_embed"] + enc.pos_embed[:, 1:], 1,
                        rec.masking.ids_keep.unsqueeze(-1).expand(-1, -1, 32))
    assert torch.equal(kept, rec.masking.visible)
    assert len(rec.hidden_states("encoder")) == 3 and len(rec.hidden_states("decoder")) == 2


@pytest.mark.parametrize(("dtype", "bound"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_attention_recording_matches_sdpa_and_rows_sum_to_one(tiny, inputs, dtype, bound):
    """The explicit path is the same computation as SDPA: equal to 1e-12 in float64; in float32 the two
    add in another order, a few float steps apart after five blocks (rtol 1e-5 holds on AVX2 and AVX-512)."""
    imgs, noise = inputs
    imgs = imgs.to(dtype)
    tiny = copy.deepcopy(tiny).to(dtype)
    with record(tiny) as fused:
        plain = tiny(imgs, 0.75, noise)
    with record(tiny, attention=True) as rec:
        explicit = tiny(imgs, 0.75, noise)
    assert sorted(rec.attention) == sorted(
        [f"encoder.blocks.{i}.attn" for i in range(3)] + [f"decoder.blocks.{i}.attn" for i in range(2)])
    for name, stage in fused.stages.items():
        torch.testing.assert_close(rec.stages[name], stage, rtol=bound, atol=bound)
    torch.testing.assert_close(explicit.pred, plain.pred, rtol=bound, atol=bound)
    assert rec.attention["encoder.blocks.0.attn"].shape == (2, 4, 5, 5)  # (B, heads, 1 + L_keep, 1 + L_keep)
    assert rec.attention["decoder.blocks.1.attn"].shape == (2, 2, 17, 17)  # (B, heads, 1 + L, 1 + L)
    for probs in rec.attention.values():
        assert (probs >= 0).all()
        torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1], dtype=dtype), rtol=0, atol=1e-6)
    # The switch to the explicit path lasts only as long as the recording, and no hook is left behind.
    assert all(m.attn.fused for m in tiny.modules() if hasattr(m, "attn"))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny.modules())


def test_the_recorded_probabilities_are_the_ones_the_block_uses(tiny, inputs):
    """Weighting v by the recorded probabilities reproduces the attention output (not just any softmax)."""
    imgs, noise = inputs
    attn = tiny.encoder.blocks[2].attn
    seen = {}
    handle = attn.proj.register_forward_pre_hook(lambda m, args: seen.setdefault("heads", args[0]))
    qkv_in = {}
    handle2 = attn.qkv.register_forward_hook(lambda m, args, out: qkv_in.setdefault("qkv", out))
    with record(tiny, attention=["encoder:-1"]) as rec:
        tiny(imgs, 0.75, noise)
    handle.remove()
    handle2.remove()
    assert list(rec.attention) == ["encoder.blocks.2.attn"]
    B, T, _ = qkv_in["qkv"].shape
    v = qkv_in["qkv"].reshape(B, T, 3, 4, 8)[:, :, 2].transpose(1, 2)  # (B, heads, T, hd)
    out = (rec.attention["encoder.blocks.2.attn"] @ v).transpose(1, 2).reshape(B, T, 32)
    torch.testing.assert_close(out, seen["heads"], rtol=0, atol=1e-6)


def test_the_baseline_with_mask_tokens_is_recorded_through_the_same_points(tiny, inputs):
    imgs, noise = inputs
    torch.manual_seed(3)
    baseline = MaskTokensInEncoder(tiny)
    with record(baseline, attention=["encoder:0"]) as rec:
        out = baseline(imgs, 0.75, noise)
    assert rec.stages["encoder.tokens"].shape == (2, 17, 32)  # every token, [M] included
    assert rec.attention["encoder.blocks.0.attn"].shape == (2, 4, 17, 17)
    assert torch.equal(rec.stages["decoder.pred"][:, 1:], out.pred)


def test_block_specs(tiny):
    assert parse_blocks(tiny, "encoder:0,-1") == ["encoder.blocks.0", "encoder.blocks.2"]
    assert parse_blocks(tiny, ["decoder:all", "encoder.blocks.1"]) == [
        "decoder.blocks.0", "decoder.blocks.1", "encoder.blocks.1"]
    assert parse_blocks(tiny, False) == []
    with pytest.raises(MAEError, match=r"out of range: the encoder has 3 blocks \(0..2"):
        parse_blocks(tiny, "encoder:3")
    with pytest.raises(MAEError, match="not an integer"):
        parse_blocks(tiny, "decoder:x")
    with pytest.raises(MAEError, match="unknown block"):
        parse_blocks(tiny, "middle:0")
