"""Fixed 2-D sine-cosine positional embeddings.

Paper: MAE Sec. 3 "MAE encoder" / "MAE decoder" (positional embeddings added to every token; the
official code uses fixed 2-D sin-cos tables, following MoCo v3) and Vaswani et al. Sec. 3.5 (the 1-D
sin-cos formula).

Shapes:
    sincos_1d(dim, positions):        (M,) -> (M, dim)
    sincos_2d(dim, grid, cls):        grid = h (square) or (h, w) -> (h * w + cls, dim), float32
    interpolate_pos_embed / interpolate_pos_encoding:  (1, cls + h0*w0, D) -> (1, cls + h*w, D)

Other image sizes: a model built for another grid gets the table of *its* grid from :func:`sincos_2d`
(what the official code does when it is constructed with another ``img_size``); a stored table can
instead be resized the way users meet elsewhere, with the two named conventions at the end of this file
(the official fine-tuning code's bicubic ``interpolate_pos_embed``, and transformers'
``interpolate_pos_encoding``). :func:`adapt_pos_embeds` applies one of the three to a state dict.

Layout, reproduced on purpose so that official checkpoints load unchanged: rows run over the patch
grid in raster order (row ``i``, column ``j`` -> row ``i * w + j``); the first ``dim/2`` columns encode
the patch's *column* (w coordinate) and the last ``dim/2`` its *row* (h coordinate). The official code
calls the first half ``emb_h`` although it is fed the w grid; we keep the numbers, not the name.
With ``cls_token=True`` a row of zeros for the class token comes first. Everything is computed in
float64 (as the official NumPy code does) and cast to float32 once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F


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


def sincos_2d(dim: int, grid_size: int | tuple[int, int], cls_token: bool = False) -> torch.Tensor:
    """The official 2-D table for an ``h x w`` patch grid.

    Args:
        dim: embedding width D, a multiple of 4.
        grid_size: h = w (an int, the official signature), or (h, w) for a non-square grid.
        cls_token: prepend a zero row for the class token.

    Returns:
        float32 tensor (h * w + cls_token, dim).
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos width must be a multiple of 4, got {dim}")
    h, w = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    # Column (w) coordinates first, as the official meshgrid(grid_w, grid_h); for h = w this is the
    # official code's own call.
    cols, rows = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))  # (h, w) each
    table = np.concatenate(
        [sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)],  # w half first, then h half
        axis=1,
    )  # (h*w, dim), float64
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float()


# --- other grids: regenerate, or resize a stored table ------------------------------------------------

RESIZE_METHODS = ("sincos", "bicubic", "hf")  # see resize_pos_embed


def _square_side(rows: int, what: str) -> int:
    side = round(rows**0.5)
    if side * side != rows:
        raise ValueError(f"{what} has {rows} patch rows, not a square grid: give its grid explicitly")
    return side


def interpolate_pos_embed(table: torch.Tensor, grid: tuple[int, int], *, old_grid: tuple[int, int] | None = None,
                          extra_tokens: int = 1) -> torch.Tensor:
    """The official fine-tuning convention (``util/pos_embed.py: interpolate_pos_embed``): the patch rows of
    a stored table, read as a 2-D grid, resized with bicubic interpolation (``align_corners=False``); the
    class-token row is kept as it is. Unchanged when the grid already fits.

    Args:
        table: (1, extra_tokens + h0 * w0, D), float32.
        grid: (h, w) wanted.
        old_grid: (h0, w0) of the stored table; ``None``: square, h0 = w0 = sqrt(rows).
        extra_tokens: leading rows that are not patches (1: the cls token).

    Returns:
        (1, extra_tokens + h * w, D).
    """
    extra, patches = table[:, :extra_tokens], table[:, extra_tokens:]
    D = table.shape[-1]
    h0, w0 = old_grid or (_square_side(patches.shape[1], "the stored table"),) * 2
    if (h0, w0) == tuple(grid):
        return table
    x = patches.reshape(1, h0, w0, D).permute(0, 3, 1, 2)  # (1, D, h0, w0)
    x = F.interpolate(x.float(), size=tuple(grid), mode="bicubic", align_corners=False)
    x = x.permute(0, 2, 3, 1).flatten(1, 2).to(table.dtype)  # (1, h * w, D)
    return torch.cat([extra, x], dim=1)


def interpolate_pos_encoding(table: torch.Tensor, grid: tuple[int, int], *, decoder: bool = False) -> torch.Tensor:
    """transformers' convention (``ViTMAEEmbeddings.interpolate_pos_encoding`` and the decoder's namesake).

    Encoder table: like :func:`interpolate_pos_embed`, bicubic on the square stored grid to (h, w), except that
    it is skipped only when both the row count and the image are square and equal (a same-size non-square
    request is still interpolated). Decoder table: transformers reads the patch rows as *one row* of
    ``h0 * w0`` positions and stretches that 1-D sequence to ``h * w`` entries (bicubic on a (1, L) "image"),
    ignoring the 2-D layout: at another grid its rows no longer sit over their patches (the decoder
    positions drift along the raster order, see transformers issue #32410).

    Args:
        table: (1, 1 + L0, D), cls row first.
        grid: (h, w) wanted.
        decoder: use the decoder's 1-D rule.

    Returns:
        (1, 1 + h * w, D).
    """
    cls, patches = table[:, :1], table[:, 1:]
    D = table.shape[-1]
    h, w = grid
    if decoder:
        x = patches.reshape(1, 1, -1, D).permute(0, 3, 1, 2)  # (1, D, 1, L0)
        x = F.interpolate(x.float(), size=(1, h * w), mode="bicubic", align_corners=False)
    else:
        side = _square_side(patches.shape[1], "the stored table")
        if side * side == h * w and h == w:
            return table
        x = patches.reshape(1, side, side, D).permute(0, 3, 1, 2)  # (1, D, side, side)
        x = F.interpolate(x.float(), size=(h, w), mode="bicubic", align_corners=False)
    x = x.permute(0, 2, 3, 1).reshape(1, -1, D).to(table.dtype)
    return torch.cat([cls, x], dim=1)


def resize_pos_embed(table: torch.Tensor, grid: tuple[int, int], method: str = "sincos", *,
                     decoder: bool = False) -> torch.Tensor:
    """A (1, 1 + L0, D) table for another (h, w) grid.

    ``method``: ``"sincos"`` regenerates the fixed table for the new grid (the official pre-training model
    built at that size; the stored values are not used), ``"bicubic"`` is :func:`interpolate_pos_embed`,
    ``"hf"`` is :func:`interpolate_pos_encoding` (``decoder`` picks its decoder rule).
    """
    if method == "sincos":
        return sincos_2d(table.shape[-1], tuple(grid), cls_token=True).unsqueeze(0).to(table.dtype)
    if method == "bicubic":
        return interpolate_pos_embed(table, grid)
    if method == "hf":
        return interpolate_pos_encoding(table, grid, decoder=decoder)
    raise ValueError(f"unknown position-table method {method!r}; use one of {', '.join(RESIZE_METHODS)}")


# The fixed tables under official and under our names: (key, is the decoder's).
_TABLE_KEYS = (("pos_embed", False), ("decoder_pos_embed", True), ("encoder.pos_embed", False),
               ("decoder.pos_embed", True))


def adapt_pos_embeds(state_dict: Mapping[str, torch.Tensor], grid: tuple[int, int], method: str = "sincos"
                     ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict with every fixed position table that does not fit ``grid`` resized by ``method``.

    Only the tables change; every other tensor is passed through as it is. Returns the new dict and one
    sentence per table that was changed (empty when everything fitted).
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown position-table method {method!r}; use one of {', '.join(RESIZE_METHODS)}")
    out = dict(state_dict)
    notes = []
    rows = 1 + grid[0] * grid[1]
    how = {"sincos": "regenerated the fixed 2-D sin-cos table", "bicubic": "resized it bicubically (the official "
           "fine-tuning interpolate_pos_embed)", "hf": "resized it like transformers' interpolate_pos_encoding"}[method]
    for key, decoder in _TABLE_KEYS:
        table = out.get(key)
        if table is None or table.dim() != 3 or table.shape[1] == rows:
            continue
        out[key] = resize_pos_embed(table.detach(), grid, method, decoder=decoder)
        notes.append(f"{key}: the file's table has {table.shape[1] - 1} patch positions, the model's "
                     f"{grid[0]}x{grid[1]} grid needs {rows - 1}: {how} for {grid[0]}x{grid[1]}")
    return out, notes
