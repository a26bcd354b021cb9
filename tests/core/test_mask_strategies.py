"""Mask strategies: exact counts, ids_restore inverts the shuffle, reproducible under a seed, the same
mask as the model computes from the noise, and the shape each strategy promises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mae_core.errors import MaskError
from mae_core.mask_strategies import (
    STRATEGIES,
    block_removed,
    center_removed,
    from_removed,
    grid_removed,
    masks_from_noise,
    ratio_for_count,
    removed_from_pixels,
    sample,
)
from mae_core.masking import num_visible, random_masking

grids = st.tuples(st.integers(1, 16), st.integers(1, 16))
ratios = st.floats(0.0, 0.98, allow_nan=False)


def _check_contract(s, B, L, keep):
    assert s.noise.shape == s.mask.shape == s.ids_restore.shape == (B, L)
    assert s.ids_keep.shape == (B, keep) and s.mask.dtype == torch.float32
    assert torch.equal(s.mask.sum(1), torch.full((B,), float(L - keep)))  # exactly the official count
    ids_shuffle = torch.argsort(s.noise, dim=1)
    assert torch.equal(torch.gather(ids_shuffle, 1, s.ids_restore), torch.arange(L).expand(B, L))
    assert torch.equal(s.ids_keep, ids_shuffle[:, :keep])
    assert torch.equal(s.mask, 1 - torch.zeros(B, L).scatter(1, s.ids_keep, 1.0))
    # What the model computes from the same noise (the official argsort) is the same mask.
    x = torch.zeros(B, L, 1)
    model = random_masking(x, ratio_of(s, L), s.noise)
    assert torch.equal(model.mask, s.mask) and torch.equal(model.ids_restore, s.ids_restore)


def ratio_of(s, L):
    return ratio_for_count(L, int(s.mask[0].sum()))


@settings(max_examples=60, deadline=None)
@given(strategy=st.sampled_from([s for s in STRATEGIES if s != "grid"]), grid=grids, ratio=ratios,
       B=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_every_strategy_keeps_the_official_count_and_the_contract(strategy, grid, ratio, B, seed):
    L = grid[0] * grid[1]
    if int(L * (1 - ratio)) < 1:
        with pytest.raises(MaskError):
            sample(strategy, B, grid, ratio, torch.Generator().manual_seed(seed))
        return
    s = sample(strategy, B, grid, ratio, torch.Generator().manual_seed(seed))
    _check_contract(s, B, L, num_visible(L, ratio))
    again = sample(strategy, B, grid, ratio, torch.Generator().manual_seed(seed))
    assert all(torch.equal(a, b) for a, b in zip(s, again, strict=True))  # reproducible under a seed


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), B=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_grid_keeps_the_top_left_of_every_two_by_two(h, w, B, seed):
    grid = (2 * h, 2 * w)
    s = sample("grid", B, grid, 0.75, torch.Generator().manual_seed(seed))
    _check_contract(s, B, 4 * h * w, h * w)
    kept = (s.mask.reshape(B, 2 * h, 2 * w) == 0)
    expected = torch.zeros(2 * h, 2 * w, dtype=torch.bool)
    expected[::2, ::2] = True
    assert torch.equal(kept, expected.expand(B, -1, -1))


def test_grid_says_why_not():
    with pytest.raises(MaskError, match="0.75"):
        grid_removed(1, (14, 14), 0.5)
    with pytest.raises(MaskError, match="even"):
        grid_removed(1, (7, 7), 0.75)


def test_random_is_the_plain_noise_of_today():
    s = sample("random", 2, (14, 14), 0.75, torch.Generator().manual_seed(0))
    assert torch.equal(s.noise, torch.rand(2, 196, generator=torch.Generator().manual_seed(0)))


def test_center_is_a_central_square():
    removed = center_removed(1, (14, 14), 1 - 160 / 196)[0].reshape(14, 14)  # 36 removed: a 6x6 square
    expected = torch.zeros(14, 14, dtype=torch.bool)
    expected[4:10, 4:10] = True
    assert torch.equal(removed, expected)


def test_block_masks_form_blocks_not_scattered_patches():
    """Block-wise masks are spatially clustered: far more masked neighbours than a random mask has."""
    def masked_pairs(removed):
        m = removed.reshape(-1, 14, 14)
        return int((m[:, 1:] & m[:, :-1]).sum() + (m[:, :, 1:] & m[:, :, :-1]).sum())

    g = torch.Generator().manual_seed(0)
    blocks = block_removed(8, (14, 14), 0.4, g)
    scattered = sample("random", 8, (14, 14), 0.4, g).mask.bool()
    assert (blocks.sum(1) == 196 - num_visible(196, 0.4)).all()
    assert masked_pairs(blocks) > 1.5 * masked_pairs(scattered)


@settings(max_examples=100, deadline=None)
@given(L=st.integers(1, 2000), data=st.data())
def test_ratio_for_count_gives_that_count(L, data):
    removed = data.draw(st.integers(0, L - 1))
    assert L - num_visible(L, ratio_for_count(L, removed)) == removed


def test_pixel_mask_by_majority_and_from_removed():
    pixels = np.zeros((8, 8), dtype=bool)
    pixels[:4, :4] = True  # patch (0, 0) fully hidden
    pixels[4:, :3] = True  # patch (1, 0): 12 of 16 hidden -> hidden
    pixels[:2, 4:] = True  # patch (0, 1): 8 of 16, not a majority -> visible
    removed = removed_from_pixels(pixels, 4)
    assert removed.tolist() == [True, False, True, False]
    s, ratio = from_removed(removed, torch.Generator().manual_seed(0))
    assert ratio == ratio_for_count(4, 2) and s.mask[0].tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(MaskError, match="visible"):
        from_removed(torch.ones(4, dtype=torch.bool))


def test_unknown_strategy():
    with pytest.raises(MaskError, match="unknown mask strategy"):
        sample("diagonal", 1, (4, 4), 0.5)


def test_masks_from_noise_equals_random_masking():
    noise = torch.rand(3, 50, generator=torch.Generator().manual_seed(4))
    s = masks_from_noise(noise, 0.6)
    ref = random_masking(torch.zeros(3, 50, 2), 0.6, noise)
    assert torch.equal(s.mask, ref.mask) and torch.equal(s.ids_restore, ref.ids_restore)
    assert torch.equal(s.ids_keep, ref.ids_keep)
