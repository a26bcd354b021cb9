"""The timing machinery: alternating rounds, medians and spread, the matmul ceiling, the steps. No timing
assertions (speed goals live in benchmarks/): only structure and bookkeeping."""

from __future__ import annotations

import pytest
import torch

from mae_core import MaskedAutoencoderViT
from mae_core.views.timing import Competitor, Summary, benchmark, make_step, matmul_gflops, time_rounds

TINY = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, decoder_embed_dim=32, decoder_depth=2,
            decoder_num_heads=4)


def test_rounds_alternate_and_rotate():
    calls: list[str] = []
    steps = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = time_rounds(steps, warmup=1, runs=3)
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t >= 0 for v in times.values() for t in v)


def test_summary_median_quartiles_and_spread():
    s = Summary.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.q1, s.q3, s.min, s.max) == (3.0, 2.0, 4.0, 1.0, 5.0)
    assert s.spread == pytest.approx(2.0 / 3.0)
    one = Summary.of([0.5])
    assert (one.median, one.q1, one.q3, one.spread) == (0.5, 0.5, 0.5, 0.0)


def test_matmul_ceiling_is_a_positive_rate():
    assert matmul_gflops(torch.float32, size=64, runs=2) > 0


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return MaskedAutoencoderViT(**TINY, device="cpu")


def test_train_step_clears_and_fills_gradients(tiny):
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    step = make_step(Competitor("ours", tiny, tiny), imgs, noise, 0.75, "train")
    step()
    first = tiny.decoder.pred.weight.grad.clone()
    step()  # gradients are cleared each step, not accumulated
    torch.testing.assert_close(tiny.decoder.pred.weight.grad, first)


def test_forward_step_records_no_graph(tiny):
    imgs, noise = torch.randn(1, 3, 32, 32), torch.rand(1, 16)
    loss = make_step(Competitor("ours", tiny, tiny), imgs, noise, 0.75, "forward")()
    assert not loss.requires_grad


def test_benchmark_reports_rates_from_flops(tiny):
    imgs, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    results = benchmark([Competitor("ours", tiny, tiny, flops_per_image=10**9),
                         Competitor("again", tiny, tiny)], imgs, noise, warmup=0, runs=3)
    ours, again = results
    assert len(ours.seconds) == 3 and ours.batch == 2 and ours.dtype == "float32"
    assert ours.images_per_s == pytest.approx(2 / ours.summary.median)
    assert ours.gflops_per_s == pytest.approx(2 / ours.summary.median)
    assert ours.share_of_matmul == pytest.approx(ours.gflops_per_s / ours.matmul_gflops)
    assert again.gflops_per_s is None and again.share_of_matmul is None
    doc = ours.to_dict()
    assert set(doc) >= {"name", "median_s", "q1_s", "q3_s", "min_s", "max_s", "spread", "images_per_s",
                        "gflops_per_s", "share_of_matmul", "seconds"}
