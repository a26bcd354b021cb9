"""FLOP counts: torch's flop_counter on the meta device against the closed form, and the paper's numbers.

The closed form here is written out independently of ``mae_core.views.flops.closed_form_macs`` (per
matrix product, from the config), so a slip in either shows up as a disagreement.
"""

from __future__ import annotations

import pytest
import torch

from mae_core import MaskedAutoencoderViT
from mae_core.views.baseline import MaskTokensInEncoder
from mae_core.views.flops import block_macs, closed_form_macs, count_flops, flop_report
from mae_core.models import create_model

TINY = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, decoder_embed_dim=32, decoder_depth=2,
            decoder_num_heads=4)


def by_hand_gflops(D: int, depth: int, p: int, L: int, keep: int, D_dec: int = 512, dec_depth: int = 8) -> float:
    """2 x MACs of one forward, every product listed: patch embed, blocks (qkv, q k^T, weights v, proj,
    fc1, fc2), decoder embed, decoder blocks, predictor."""
    def blocks(T, W, n):
        return n * (T * W * 3 * W + T * T * W + T * T * W + T * W * W + T * W * 4 * W + T * 4 * W * W)

    T, T_dec, P = 1 + keep, 1 + L, p * p * 3
    macs = L * P * D + blocks(T, D, depth) + T * D * D_dec + blocks(T_dec, D_dec, dec_depth) + T_dec * D_dec * P
    return 2 * macs / 1e9


def test_block_macs_is_12TD2_plus_2T2D():
    for T, D in ((50, 768), (197, 512), (65, 1280)):
        assert sum(block_macs(T, D).values()) == 12 * T * D * D + 2 * T * T * D


@pytest.mark.parametrize("name, expected", [("base", 19.56), ("large", 41.51), ("huge", 97.12)])
def test_forward_gflops_per_image_match_the_paper_variants(name, expected):
    model = create_model(name, device="meta")
    c = model.config
    imgs = torch.zeros(1, 3, c.img_size, c.img_size, device="meta")
    noise = torch.zeros(1, c.num_patches, device="meta")
    with torch.no_grad():
        counted = count_flops(lambda: model(imgs, 0.75, noise)) / 1e9
    hand = by_hand_gflops(c.embed_dim, c.depth, c.patch_size, c.num_patches, c.num_visible(0.75))
    assert counted == pytest.approx(hand, rel=1e-12)
    assert counted == pytest.approx(expected, abs=0.006)
    assert 2 * closed_form_macs(c, 0.75)["total"] / 1e9 == pytest.approx(counted, rel=1e-12)


def test_encoder_on_every_token_matches_design_numbers():
    """DESIGN.md: the encoder on the full image is about 17.6 / 61.6 / 167.3 GMACs for B / L / H."""
    for name, gmacs in (("base", 17.6), ("large", 61.6), ("huge", 167.3)):
        cfg = create_model(name, device="meta").config
        assert closed_form_macs(cfg, 0.75)["encoder_all_tokens"] / 1e9 == pytest.approx(gmacs, abs=0.06)


def test_report_stages_agree_on_a_tiny_model():
    model = MaskedAutoencoderViT(**TINY, device="meta")
    report = flop_report(model, 0.75, "tiny")
    assert report.agree, [(s.stage, s.flops_counted, s.flops_closed_form) for s in report.stages]
    stage = {s.stage: s for s in report.stages}
    # The stages add up: total = encoder on visible tokens + decoder.
    assert stage["total"].flops_counted == stage["encoder_visible"].flops_counted + stage["decoder"].flops_counted
    # Backward costs twice the forward, except the patch embedding's input gradient (the image needs none).
    assert stage["train"].flops_counted == 3 * stage["total"].flops_counted - stage["patch_embed"].flops_counted
    assert stage["encoder_visible"].tokens == 1 + 4 and stage["encoder_all_tokens"].tokens == 1 + 16
    doc = report.to_dict()
    assert doc["agree"] and [s["stage"] for s in doc["stages"]] == list(stage)
    assert all(s["macs"] * 2 == s["flops_closed_form"] for s in doc["stages"])


def test_base_report_ratios():
    report = flop_report(create_model("base", device="meta"), 0.75, "base")
    assert report.agree
    # Encoder on 197 tokens vs 50: a bit under 4x (the patch embedding runs on all patches in both).
    assert 3.9 < report.encoder_saving < 4.0
    assert report.total_saving == pytest.approx(45.987 / 19.562, rel=1e-3)
    assert 2.98 < report.train_over_forward < 3.0


def test_mask_ratio_zero_makes_the_encoder_see_every_token():
    cfg = MaskedAutoencoderViT(**TINY, device="meta").config
    macs = closed_form_macs(cfg, 0.0)
    assert macs["encoder_visible"] == macs["encoder_all_tokens"]


# --- the Table 1c / 2 baseline ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return MaskedAutoencoderViT(**TINY, device="cpu").eval()


def test_baseline_masks_like_the_mae_and_predicts_every_patch(tiny_model):
    baseline = MaskTokensInEncoder(tiny_model)
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        mae = tiny_model(imgs, 0.75, noise)
        out = baseline(imgs, 0.75, noise)
    assert torch.equal(out.mask, mae.mask)
    assert out.pred.shape == mae.pred.shape and torch.isfinite(out.loss)
    assert not torch.allclose(out.pred, mae.pred)  # the encoder saw [M] tokens: a different function


def test_baseline_without_masking_equals_the_mae(tiny_model):
    """At mask ratio 0 no token is replaced; the MAE sees the same tokens in shuffled order and unshuffles
    them, and attention does not care about order: the predictions agree up to float rounding."""
    baseline = MaskTokensInEncoder(tiny_model)
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(baseline(imgs, 0.0, noise).pred, tiny_model(imgs, 0.0, noise).pred,
                                   rtol=0, atol=1e-5)


def test_baseline_shares_the_weights_and_adds_only_its_mask_token(tiny_model):
    baseline = MaskTokensInEncoder(tiny_model)
    own = {n for n, _ in baseline.named_parameters() if not n.startswith("model.")}
    assert own == {"mask_token"} and baseline.mask_token.shape == (1, 1, 64)
    assert baseline.model is tiny_model
    assert 0 < baseline.mask_token.std() < 0.1  # N(0, 0.02)
    assert MaskTokensInEncoder(MaskedAutoencoderViT(**TINY, device="meta")).mask_token.is_meta
