"""Which patches to hide, beyond uniform random: block, grid, center and a user's mask, as pure functions.

Paper: MAE Sec. 3 "Masking" (uniform random sampling, the default) and Fig. 6 / Table 1f (mask sampling:
random, block-wise as in BEiT, and grid-wise "keeps one of every four patches"); BEiT (arXiv 2106.08254)
Algorithm 1 for the block-wise masking.

Shapes (grid (h, w), L = h * w, B samples):
    every strategy:  -> Sample(noise (B, L) float32, mask (B, L) float32, ids_restore (B, L), ids_keep (B, L_keep))

How a strategy reaches the model: as *noise*. Each one decides which patches to remove, then writes a
noise tensor whose kept entries are all smaller than its removed ones (kept in [0, 0.5), removed in
[0.5, 1), random within each half). :func:`mae_core.masking.random_masking` (argsort of the noise, the
official step) then removes exactly those patches; so every strategy works with every model that takes
noise (ours, the official code, transformers), and returns the same (mask, ids_restore, ids_keep) as
the model computes. ``random`` is plain ``torch.rand(B, L)``: what the commands drew before strategies
existed, bit for bit.

Counts: a strategy removes exactly ``L - int(L * (1 - mask_ratio))`` patches, the official count, or
raises :class:`~mae_core.errors.MaskError` saying why it cannot (grid keeps one in each 2x2: ratio 0.75
on an even grid only). A mask file fixes its own count; :func:`ratio_for_count` gives the ratio whose
official count it is.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .errors import MaskError
from .masking import num_visible

STRATEGIES = ("random", "block", "grid", "center")

# BEiT's block-wise masking (Algorithm 1): each block has at least this many patches and an aspect
# ratio drawn log-uniformly from [BLOCK_MIN_ASPECT, 1 / BLOCK_MIN_ASPECT]; up to BLOCK_ATTEMPTS tries each.
BLOCK_MIN_PATCHES = 16
BLOCK_MIN_ASPECT = 0.3
BLOCK_ATTEMPTS = 10


class Sample(NamedTuple):
    noise: Tensor  # (B, L) float32: what the model gets; the L_keep smallest entries are the kept patches
    mask: Tensor  # (B, L) float32: 1 = removed, in patch (raster) order
    ids_restore: Tensor  # (B, L): position of each patch in the shuffled order
    ids_keep: Tensor  # (B, L_keep): the kept patches, in shuffled order


def masks_from_noise(noise: Tensor, mask_ratio: float) -> Sample:
    """The mask, ids_restore and ids_keep that ``random_masking`` computes for this noise (same argsort)."""
    keep = num_visible(noise.shape[1], mask_ratio)
    ids_shuffle = torch.argsort(noise, dim=1)  # small noise = keep
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = (ids_restore >= keep).to(torch.float32)
    return Sample(noise, mask, ids_restore, ids_shuffle[:, :keep])


def noise_for(removed: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Noise (B, L) that makes argsort keep exactly the patches where ``removed`` (bool, B x L) is False:
    kept entries in [0, 0.5), removed ones in [0.5, 1), uniformly random within each half."""
    u = torch.rand(removed.shape, generator=generator)
    return torch.where(removed, 0.5 + 0.5 * u, 0.5 * u)


def num_masked(grid: tuple[int, int], mask_ratio: float) -> int:
    """L - L_keep, the official number of removed patches."""
    L = grid[0] * grid[1]
    try:
        return L - num_visible(L, mask_ratio)
    except ValueError as exc:
        raise MaskError(str(exc)) from None


def ratio_for_count(num_patches: int, removed: int) -> float:
    """The mask ratio whose official count ``L - int(L * (1 - r))`` removes exactly ``removed`` patches."""
    if not 0 <= removed < num_patches:
        raise MaskError(f"a mask must leave at least one of the {num_patches} patches visible; it hides {removed}")
    r = removed / num_patches
    while num_patches - int(num_patches * (1 - r)) > removed:  # float rounding of L * (1 - r) fell below
        r = math.nextafter(r, 0.0)
    return r


# --- the strategies: each returns the removed patches, bool (B, L) --------------------------------------

def random_removed(batch: int, grid: tuple[int, int], mask_ratio: float,
                   generator: torch.Generator | None = None) -> Tensor:
    """Uniform random sampling (the paper's default), as a removed-patch mask; :func:`sample` ``random``
    gives the noise itself."""
    return masks_from_noise(torch.rand(batch, grid[0] * grid[1], generator=generator), mask_ratio).mask.bool()


def block_removed(batch: int, grid: tuple[int, int], mask_ratio: float,
                  generator: torch.Generator | None = None) -> Tensor:
    """BEiT's block-wise masking: rectangles of >= 16 patches with aspect ratio in [0.3, 1/0.3], placed at
    random until the count is reached (a block may not overshoot it). When no block fits any more (small
    remainders, tiny grids), the last patches are taken at random among the visible ones beside a
    masked one (else anywhere), so the count is always exact."""
    h, w = grid
    target = num_masked(grid, mask_ratio)
    out = torch.zeros(batch, h * w, dtype=torch.bool)
    for b in range(batch):
        removed = np.zeros((h, w), dtype=bool)
        count = 0
        while count < target:
            added = _place_block(removed, target - count, generator)
            if added == 0:
                break
            count += added
        while count < target:
            count += _add_neighbour(removed, generator)
        out[b] = torch.from_numpy(removed.reshape(-1))
    return out


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _randint(high: int, generator: torch.Generator | None) -> int:
    """Uniform in [0, high)."""
    return int(torch.randint(high, (), generator=generator))


def _place_block(removed: np.ndarray, budget: int, generator: torch.Generator | None) -> int:
    """One BEiT block of at most ``budget`` new patches; returns how many patches it newly removed."""
    h, w = removed.shape
    low = min(BLOCK_MIN_PATCHES, budget)
    for _ in range(BLOCK_ATTEMPTS):
        area = _uniform(low, budget, generator)
        aspect = math.exp(_uniform(math.log(BLOCK_MIN_ASPECT), -math.log(BLOCK_MIN_ASPECT), generator))
        bh, bw = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if not (0 < bh < h and 0 < bw < w):
            continue
        top, left = _randint(h - bh + 1, generator), _randint(w - bw + 1, generator)
        window = removed[top:top + bh, left:left + bw]
        new = int(window.size - window.sum())
        if 0 < new <= budget:
            window[...] = True
            return new
    return 0


def _add_neighbour(removed: np.ndarray, generator: torch.Generator | None) -> int:
    """Remove one more visible patch, preferring one next to a removed patch (blocks stay blocks)."""
    near = np.zeros_like(removed)
    near[1:] |= removed[:-1]
    near[:-1] |= removed[1:]
    near[:, 1:] |= removed[:, :-1]
    near[:, :-1] |= removed[:, 1:]
    candidates = np.flatnonzero(near & ~removed)
    if candidates.size == 0:
        candidates = np.flatnonzero(~removed)
    removed.flat[candidates[_randint(candidates.size, generator)]] = True
    return 1


def grid_removed(batch: int, grid: tuple[int, int], mask_ratio: float = 0.75,
                 generator: torch.Generator | None = None) -> Tensor:
    """Grid-wise sampling (Fig. 6): keep the top-left patch of every 2x2 cell, remove the other three.
    Only a 0.75 ratio (of the official count) on an even grid can be kept this way."""
    h, w = grid
    if h % 2 or w % 2:
        raise MaskError(f"grid masking keeps one patch in every 2x2 cell: the {h}x{w} patch grid is not even in "
                        "both directions; use an image size that gives an even grid, or another strategy")
    if num_masked(grid, mask_ratio) != h * w * 3 // 4:
        raise MaskError(f"grid masking keeps one patch in every 2x2 cell, i.e. removes {h * w * 3 // 4} of {h * w} "
                        f"(mask ratio 0.75), not {num_masked(grid, mask_ratio)} (mask ratio {mask_ratio:g}); use "
                        "ratio 0.75 or another strategy")
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    removed = torch.from_numpy(((rows % 2) | (cols % 2)).astype(bool).reshape(-1))
    return removed.expand(batch, -1).clone()


def center_removed(batch: int, grid: tuple[int, int], mask_ratio: float,
                   generator: torch.Generator | None = None) -> Tensor:
    """A central square removed: the patches nearest the grid's centre in the max-norm (ties: nearer in
    the Euclidean norm, then raster order). With a square count on a square grid of matching parity it is
    an exact square; otherwise the square's next ring is partly filled."""
    h, w = grid
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    dy, dx = np.abs(rows - (h - 1) / 2).reshape(-1), np.abs(cols - (w - 1) / 2).reshape(-1)
    order = np.lexsort((np.arange(h * w), dy**2 + dx**2, np.maximum(dy, dx)))  # last key sorts first
    removed = np.zeros(h * w, dtype=bool)
    removed[order[:num_masked(grid, mask_ratio)]] = True
    return torch.from_numpy(removed).expand(batch, -1).clone()


_REMOVED = {"random": random_removed, "block": block_removed, "grid": grid_removed, "center": center_removed}


def sample(strategy: str, batch: int, grid: tuple[int, int], mask_ratio: float,
           generator: torch.Generator | None = None) -> Sample:
    """The masking noise of a strategy, and the mask / ids_restore / ids_keep it gives.

    Args:
        strategy: one of :data:`STRATEGIES`.
        batch: B.
        grid: (h, w) patch grid.
        mask_ratio: fraction of patches removed, in [0, 1).
        generator: the random source (a seeded ``torch.Generator`` makes it reproducible); ``random`` draws
            exactly ``torch.rand(B, L, generator=generator)``.
    """
    if strategy not in _REMOVED:
        raise MaskError(f"unknown mask strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    L = grid[0] * grid[1]
    num_masked(grid, mask_ratio)  # the ratio must leave a patch visible
    if strategy == "random":
        noise = torch.rand(batch, L, generator=generator)
    else:
        noise = noise_for(_REMOVED[strategy](batch, grid, mask_ratio, generator), generator)
    return masks_from_noise(noise, mask_ratio)


def from_removed(removed: Tensor, generator: torch.Generator | None = None) -> tuple[Sample, float]:
    """A given removed-patch mask (bool (L,) or (B, L)) as a :class:`Sample`, and the mask ratio it implies.
    Every row must remove the same number of patches (the model keeps L_keep tokens per sample)."""
    removed = removed.reshape(1, -1) if removed.dim() == 1 else removed
    counts = removed.sum(dim=1)
    if not bool((counts == counts[0]).all()):
        raise MaskError("every image of a batch must have the same number of masked patches")
    ratio = ratio_for_count(removed.shape[1], int(counts[0]))
    return masks_from_noise(noise_for(removed, generator), ratio), ratio


def removed_from_pixels(pixels: np.ndarray, patch_size: int) -> Tensor:
    """A binary pixel mask (H, W; True = hidden) -> removed patches (L,) by majority: a patch is removed
    when more than half of its p x p pixels are hidden."""
    H, W = pixels.shape
    p = patch_size
    if H % p or W % p:
        raise MaskError(f"mask is {H}x{W} px, not a multiple of the patch size {p}")
    votes = pixels.reshape(H // p, p, W // p, p).sum(axis=(1, 3))  # (h, w) hidden pixels per patch
    return torch.from_numpy((2 * votes > p * p).reshape(-1))
