# Test fixture: the fixed 2-D sin-cos position table, written the 2021 way (np.float, removed in NumPy 1.24).
import numpy as np


def sincos_1d(dim, positions):
    """(M,) positions -> (M, dim): sin of every frequency, then cos."""
    freqs = np.arange(dim // 2, dtype=np.float)
    freqs = 1.0 / 10000 ** (freqs / (dim / 2.0))
    angles = np.outer(positions.reshape(-1), freqs)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def get_2d_sincos_pos_embed(embed_dim, grid_size, cls_token=False):
    """(grid_size**2 [+1], embed_dim): first half encodes the column index, second half the row."""
    axis = np.arange(grid_size, dtype=np.float32)
    cols, rows = np.meshgrid(axis, axis)
    table = np.concatenate([sincos_1d(embed_dim // 2, cols), sincos_1d(embed_dim // 2, rows)], axis=1)
    if cls_token:
        table = np.concatenate([np.zeros([1, embed_dim]), table], axis=0)
    return table
