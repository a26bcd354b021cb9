"""The fixed 2-D sin-cos tables equal the official ones bit for bit."""

from __future__ import annotations

import pytest
import torch

from mae_core.models import create_model
from mae_core.pos_embed import sincos_1d, sincos_2d
from mae_core.io.safetensors_file import read_safetensors

from .golden import GOLDEN

TABLES, _ = read_safetensors(GOLDEN / "pos_embed_sincos.safetensors")


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_is_bit_exact(name):
    grid, dim = name.split("_")[:2]  # e.g. "grid14", "dim768"
    ours = sincos_2d(int(dim[3:]), int(grid[4:]), cls_token=True)
    official = TABLES[name].reshape(ours.shape)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, official)


@pytest.mark.parametrize("variant, encoder_table, decoder_table", [
    ("base", "grid14_dim768_cls", "grid14_dim512_cls"),
    ("large", "grid14_dim1024_cls", "grid14_dim512_cls"),
    ("huge", "grid16_dim1280_cls", "grid16_dim512_cls"),
])
def test_models_are_initialised_with_the_official_tables(variant, encoder_table, decoder_table):
    model = create_model(variant, depth=1, decoder_depth=1)  # the tables do not depend on depth
    assert torch.equal(model.encoder.pos_embed[0], TABLES[encoder_table].reshape(model.encoder.pos_embed[0].shape))
    assert torch.equal(model.decoder.pos_embed[0], TABLES[decoder_table].reshape(model.decoder.pos_embed[0].shape))
    assert not model.encoder.pos_embed.requires_grad and not model.decoder.pos_embed.requires_grad


def test_layout_w_half_first_then_h_half():
    """Row i*w + j: the first D/2 columns depend only on the column j, the last D/2 only on the row i."""
    dim, g = 16, 4
    table = sincos_2d(dim, g).reshape(g, g, dim).double()
    import numpy as np

    cols = torch.from_numpy(sincos_1d(dim // 2, np.arange(g, dtype=np.float64)))  # (g, dim/2)
    for i in range(g):
        for j in range(g):
            torch.testing.assert_close(table[i, j, : dim // 2], cols[j].to(table.dtype), atol=1e-7, rtol=0)
            torch.testing.assert_close(table[i, j, dim // 2:], cols[i].to(table.dtype), atol=1e-7, rtol=0)


def test_cls_row_is_zero_and_width_checked():
    assert torch.count_nonzero(sincos_2d(8, 3, cls_token=True)[0]) == 0
    with pytest.raises(ValueError):
        sincos_2d(6, 3)
