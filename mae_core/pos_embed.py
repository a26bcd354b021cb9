"""Fixed 2-D sine-cosine positional embeddings.

Paper: MAE Sec. 3 "MAE encoder" / "MAE decoder" (positional embeddings added to every token; the
official code uses fixed 2-D sin-cos tables, following MoCo v3) and Vaswani et al. Sec. 3.5 (the 1-D
sin-cos formula).

Shapes:
    sincos_1d(dim, positions):        (M,) -> (M, dim)
    sincos_2d(dim, grid_size, cls):   -> (grid_size**2 + cls, dim), float32

Layout, reproduced on purpose so that official checkpoints load unchanged: rows run over the patch
grid in raster order (row ``i``, column ``j`` -> row ``i * w + j``); the first ``dim/2`` columns encode
the patch's *column* (w coordinate) and the last ``dim/2`` its *row* (h coordinate). The official code
calls the first half ``emb_h`` although it is fed the w grid; we keep the numbers, not the name.
With ``cls_token=True`` a row of zeros for the class token comes first. Everything is computed in
float64 (as the official NumPy code does) and cast to float32 once at the end.
"""

from __future__ import annotations

import numpy as np
import torch


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """Sin-cos features of scalar positions: ``[sin(pos * w_k), cos(pos * w_k)]``, ``w_k = 10000^(-2k/dim)``.

    Args:
        dim: output width, even.
        positions: any array of positions; flattened to (M,).

    Returns:
        float64 array (M, dim): the ``dim/2`` sines first, then the ``dim/2`` cosines.
    """
    if dim % 2:
        raise ValueError(f"sin-cos width must be even, got {dim}")
    # Frequencies in float64, in the same order of operations as the official table, so that the
    # float32 result is identical to the last bit.
    omega = np.arange(dim // 2, dtype=np.float64)
    omega /= dim / 2.0
    omega = 1.0 / 10000**omega  # (dim/2,)
    angles = np.outer(positions.reshape(-1), omega)  # (M, dim/2)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)  # (M, dim)


def sincos_2d(dim: int, grid_size: int, cls_token: bool = False) -> torch.Tensor:
    """The official 2-D table for a square ``grid_size x grid_size`` patch grid.

    Args:
        dim: embedding width D, a multiple of 4.
        grid_size: patches per side (h = w).
        cls_token: prepend a zero row for the class token.

    Returns:
        float32 tensor (grid_size**2 + cls_token, dim).
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos width must be a multiple of 4, got {dim}")
    coords = np.arange(grid_size, dtype=np.float32)
    cols, rows = np.meshgrid(coords, coords)  # both (h, w): cols[i, j] = j, rows[i, j] = i
    table = np.concatenate(
        [sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)],  # w half first, then h half
        axis=1,
    )  # (h*w, dim), float64
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float()
