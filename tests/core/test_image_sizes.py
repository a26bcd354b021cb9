"""Other image sizes and channel counts: config, sin-cos tables for any grid, loading 224-px weights
into a model of another size, the two interpolation conventions, and non-square end to end."""

from __future__ import annotations

import warnings

import pytest
import torch

from mae_core.config import MAEConfig
from mae_core.errors import ConfigError, MAEError
from mae_core.mae import MaskedAutoencoderViT, PosEmbedResized
from mae_core.models import create_model
from mae_core.pos_embed import (
    adapt_pos_embeds,
    interpolate_pos_embed,
    interpolate_pos_encoding,
    sincos_2d,
)

TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "decoder_embed_dim": 16, "decoder_depth": 1,
        "decoder_num_heads": 2}


def test_square_tuple_is_the_int_and_non_square_has_its_grid():
    assert MAEConfig(img_size=(224, 224)) == MAEConfig(img_size=224)
    cfg = MAEConfig(img_size=(224, 320), patch_size=16)
    assert cfg.img_size == (224, 320) and cfg.image_hw == (224, 320)
    assert cfg.grid_size == (14, 20) and cfg.num_patches == 280
    assert MAEConfig(img_size=448).grid_size == (28, 28)
    assert cfg.to_dict()["img_size"] == [224, 320]


@pytest.mark.parametrize("size, patch", [(230, 16), ((224, 330), 16), ((224, 320), 14), (0, 16)])
def test_size_not_a_multiple_of_the_patch_is_a_config_error(size, patch):
    with pytest.raises(ConfigError) as info:
        MAEConfig(img_size=size, patch_size=patch)
    assert isinstance(info.value, MAEError)


def test_table_of_a_non_square_grid_has_the_official_layout():
    """Row i*w + j: the first D/2 columns are the 1-D table of column j, the last D/2 of row i."""
    dim, h, w = 16, 3, 5
    table = sincos_2d(dim, (h, w))
    assert table.shape == (h * w, dim)
    cols_only, rows_only = sincos_2d(dim, (1, w)), sincos_2d(dim, (h, 1))
    for i in range(h):
        for j in range(w):
            assert torch.equal(table[i * w + j, : dim // 2], cols_only[j, : dim // 2])
            assert torch.equal(table[i * w + j, dim // 2:], rows_only[i, dim // 2:])
    assert torch.equal(sincos_2d(dim, (4, 4), cls_token=True), sincos_2d(dim, 4, cls_token=True))


@pytest.mark.parametrize("size, patch", [((224, 320), 16), ((224, 308), 14), (448, 16)])
def test_any_size_runs_end_to_end(size, patch):
    torch.manual_seed(0)
    model = create_model("base", img_size=size, patch_size=patch, **TINY)
    H, W = model.config.image_hw
    h, w = model.config.grid_size
    assert model.encoder.pos_embed.shape == (1, 1 + h * w, 32)
    assert torch.equal(model.decoder.pos_embed[0], sincos_2d(16, (h, w), cls_token=True))
    imgs = torch.randn(2, 3, H, W)
    loss, pred, mask = model(imgs, 0.75)
    assert pred.shape == (2, h * w, patch * patch * 3) and mask.shape == (2, h * w)
    assert torch.isfinite(loss)
    assert model.unpatchify(model.patchify(imgs)).equal(imgs)


def test_one_channel_model():
    torch.manual_seed(0)
    model = create_model("base", in_chans=1, img_size=64, **TINY)
    imgs = torch.randn(2, 1, 64, 64)
    loss, pred, _ = model(imgs, 0.5)
    assert pred.shape == (2, 16, 16 * 16 * 1)
    assert model.unpatchify(pred).shape == (2, 1, 64, 64) and torch.isfinite(loss)


@pytest.fixture(scope="module")
def weights_224():
    torch.manual_seed(3)
    return create_model("base", **TINY).official_state_dict()


@pytest.mark.parametrize("size", [448, (224, 320)])
def test_224_weights_load_into_another_size_with_regenerated_tables(weights_224, size):
    model = create_model("base", img_size=size, device="meta", **TINY)
    with pytest.warns(PosEmbedResized) as caught:
        model.load_state_dict(weights_224, assign=True)
    grid = model.config.grid_size
    assert len(caught) == 2 and all("regenerated" in str(w.message) for w in caught)
    assert len(model.pos_embed_notes) == 2
    assert torch.equal(model.encoder.pos_embed[0], sincos_2d(32, grid, cls_token=True))
    assert torch.equal(model.decoder.pos_embed[0], sincos_2d(16, grid, cls_token=True))
    ours = model.official_state_dict()
    for key, tensor in weights_224.items():  # every other tensor is the file's, unchanged
        if "pos_embed" not in key:
            assert torch.equal(ours[key], tensor), key


def test_same_size_load_changes_nothing_and_says_nothing(weights_224):
    model = create_model("base", device="meta", **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.load_state_dict(weights_224, assign=True)
    assert model.pos_embed_notes == []
    assert torch.equal(model.encoder.pos_embed, weights_224["pos_embed"])


def test_bicubic_convention_changes_only_the_tables_and_keeps_cls(weights_224):
    adapted, notes = adapt_pos_embeds(weights_224, (28, 28), "bicubic")
    assert len(notes) == 2 and "interpolate_pos_embed" in notes[0]
    assert adapted["pos_embed"].shape == (1, 1 + 784, 32)
    assert torch.equal(adapted["pos_embed"][:, :1], weights_224["pos_embed"][:, :1])
    assert not torch.equal(adapted["pos_embed"][0, 1:], sincos_2d(32, 28))  # interpolated, not regenerated
    assert interpolate_pos_embed(weights_224["pos_embed"], (14, 14)) is weights_224["pos_embed"]
    with pytest.raises(ValueError, match="unknown position-table method"):
        adapt_pos_embeds(weights_224, (28, 28), "nearest")


def test_hf_decoder_rule_is_one_dimensional():
    """transformers stretches the decoder table along the raster order: row 1 + k of a 2x2 -> 2x4 resize
    is not the 2-D resize of the same table (which keeps each row over its patch)."""
    table = sincos_2d(8, (2, 2), cls_token=True).unsqueeze(0)
    one_d = interpolate_pos_encoding(table, (2, 4), decoder=True)
    two_d = interpolate_pos_encoding(table, (2, 4))
    assert one_d.shape == two_d.shape == (1, 9, 8)
    assert not torch.allclose(one_d, two_d)


def test_a_model_at_448_with_a_resized_table_predicts_something_else(weights_224):
    """The three conventions are different models: regenerated vs bicubic tables change pred."""
    imgs = torch.randn(1, 3, 448, 448, generator=torch.Generator().manual_seed(0))
    noise = torch.rand(1, 784, generator=torch.Generator().manual_seed(1))
    preds = []
    for method in ("sincos", "bicubic"):
        model = MaskedAutoencoderViT(create_model("base", **TINY).config.replace(img_size=448), device="meta")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PosEmbedResized)
            model.load_state_dict(weights_224, assign=True, pos_embed=method)
        with torch.no_grad():
            preds.append(model(imgs, 0.75, noise).pred)
    assert not torch.allclose(*preds)
