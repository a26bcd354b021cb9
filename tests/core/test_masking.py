"""Random masking invariants, as property tests over sizes, batches and ratios."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mae_core.masking import num_visible, random_masking

shapes = st.tuples(st.integers(1, 4), st.integers(1, 64), st.integers(1, 8))  # B, L, D
ratios = st.floats(0.0, 0.99, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(shape=shapes, ratio=ratios, seed=st.integers(0, 2**31 - 1))
def test_masking_invariants(shape, ratio, seed):
    B, L, D = shape
    keep = int(L * (1 - ratio))
    if keep < 1:
        with pytest.raises(ValueError):
            num_visible(L, ratio)
        return
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, L, D, generator=g)
    noise = torch.rand(B, L, generator=g)
    visible, mask, ids_restore, ids_keep = random_masking(x, ratio, noise)

    assert visible.shape == (B, keep, D) and mask.shape == (B, L) and ids_restore.shape == (B, L)
    assert mask.dtype == torch.float32
    assert torch.equal(mask.sum(1), torch.full((B,), float(L - keep)))  # exactly L - L_keep removed
    ids_shuffle = torch.argsort(noise, dim=1)
    # ids_restore inverts the shuffle.
    assert torch.equal(torch.gather(ids_shuffle, 1, ids_restore), torch.arange(L).expand(B, L))
    # The kept tokens are the ones with the smallest noise, and they are exactly the unmasked ones.
    assert torch.equal(ids_keep, ids_shuffle[:, :keep])
    assert torch.equal(visible, torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D)))
    kept_mask = torch.zeros(B, L).scatter(1, ids_keep, 1.0)
    assert torch.equal(mask, 1 - kept_mask)
    # The official construction: ones, first L_keep zeroed, unshuffled with ids_restore.
    official = torch.ones(B, L)
    official[:, :keep] = 0
    assert torch.equal(mask, torch.gather(official, 1, ids_restore))


def test_without_noise_one_rand_draw():
    x = torch.randn(3, 10, 4)
    torch.manual_seed(7)
    _, mask_a, ids_a, _ = random_masking(x, 0.6)
    torch.manual_seed(7)
    noise = torch.rand(3, 10)
    _, mask_b, ids_b, _ = random_masking(x, 0.6, noise)
    assert torch.equal(mask_a, mask_b) and torch.equal(ids_a, ids_b)


def test_rand_consumed_exactly_once():
    x = torch.randn(2, 12, 3)
    torch.manual_seed(11)
    random_masking(x, 0.5)
    after = torch.rand(1)
    torch.manual_seed(11)
    torch.rand(2, 12)
    assert torch.equal(after, torch.rand(1))


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_impossible_ratios_rejected(ratio):
    with pytest.raises(ValueError):
        random_masking(torch.zeros(1, 4, 2), ratio)


def test_noise_shape_checked():
    with pytest.raises(ValueError, match="noise"):
        random_masking(torch.zeros(2, 4, 2), 0.5, torch.rand(2, 5))


@pytest.mark.parametrize("L, ratio, keep", [(196, 0.75, 49), (256, 0.75, 64), (16, 0.5, 8), (196, 0.9, 19)])
def test_official_rounding(L, ratio, keep):
    assert num_visible(L, ratio) == keep
