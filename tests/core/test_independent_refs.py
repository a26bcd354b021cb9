"""Computations checked against references written in the test itself (issue 27).

Pillow called directly for the resize presets on a non-square, non-trivial image; normalisation against
values computed by hand; the position tables against ``torch.nn.functional.interpolate`` and the sin-cos
formula written out here (square and non-square grids); the mask strategies' exact counts over many
seeds and small odd grids; the float16 limit and the mask-token initialisation against their published
numbers. Nothing here reads its expected value from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mae_core import mask_strategies as ms
from mae_core.config import MAEConfig
from mae_core.decoder import MAEDecoder
from mae_core.io.images import load_image, normalize
from mae_core.pos_embed import interpolate_pos_embed, resize_pos_embed, sincos_2d
from mae_core.views import numerics


# --- resize presets against Pillow -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 53 x 37 RGB picture with detail at every pixel (bicubic and bilinear differ on it)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:37, 0:53]
    smooth = np.stack([127 + 120 * np.sin(x / 3.1), 127 + 120 * np.cos(y / 2.3), (x * y) % 251], axis=-1)
    arr = np.clip(smooth + rng.integers(-30, 30, smooth.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("img") / "photo.png"
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("size", [(32, 32), (24, 40), (40, 24)])
def test_stretch_is_pillow_bicubic(photo, size):
    H, W = size
    want = np.asarray(Image.open(photo).convert("RGB").resize((W, H), resample=Image.Resampling.BICUBIC))
    got = load_image(photo, (H, W), resize="stretch")
    assert got.shape == (H, W, 3) and np.array_equal(got, want)
    wrong = np.asarray(Image.open(photo).convert("RGB").resize((W, H), resample=Image.Resampling.BILINEAR))
    assert not np.array_equal(got, wrong)  # the picture tells the two apart


def test_pictures_commands_load_are_pillow_bicubic(photo):
    """What mask-demo and sweep load (load_pictures, default preset), normalised, against Pillow + hand maths."""
    from mae_core.io.images import load_pictures

    pictures, names = load_pictures([photo], (24, 40))
    want = np.asarray(Image.open(photo).convert("RGB").resize((40, 24), resample=Image.Resampling.BICUBIC))
    assert names == [str(photo)] and np.array_equal(pictures[0], want)
    by_hand = (want / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    torch.testing.assert_close(normalize(pictures)[0], torch.from_numpy(by_hand).permute(2, 0, 1).float())


def test_center_crop_is_shorter_side_then_centre(photo):
    s = 32  # the 53 x 37 picture: the shorter side (37) goes to 32, the longer to round(53 * 32 / 37) = 46
    im = Image.open(photo).convert("RGB").resize((46, 32), resample=Image.Resampling.BICUBIC)
    want = np.asarray(im.crop((7, 0, 39, 32)))  # (46 - 32) // 2 = 7 from the left
    assert np.array_equal(load_image(photo, s, resize="center-crop"), want)


def test_normalisation_by_hand():
    px = np.array([[[[0, 128, 255], [255, 0, 51]]]], dtype=np.uint8)  # (1, 1, 2, 3)
    x = normalize(px)
    assert x.shape == (1, 3, 1, 2)
    # (v / 255 - mean) / std with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
    assert x[0, 0, 0, 0].item() == pytest.approx(-0.485 / 0.229, abs=1e-6)  # -2.117904
    assert x[0, 1, 0, 0].item() == pytest.approx((128 / 255 - 0.456) / 0.224, abs=1e-6)  # 0.205182
    assert x[0, 2, 0, 0].item() == pytest.approx((1 - 0.406) / 0.225, abs=1e-6)  # 2.64
    assert x[0, 0, 0, 1].item() == pytest.approx((1 - 0.485) / 0.229, abs=1e-6)
    assert x[0, 2, 0, 1].item() == pytest.approx((0.2 - 0.406) / 0.225, abs=1e-6)
    assert x[0, 2, 0, 0].item() == pytest.approx(2.64, abs=1e-6)


# --- position tables -----------------------------------------------------------------------------------------

def _sincos_by_formula(dim: int, h: int, w: int) -> torch.Tensor:
    """MAE's table (util/pos_embed.py), written out: for patch (i, j), the first dim/2 entries encode the
    column j, the last dim/2 the row i; each half is [sin(p * w_k), cos(p * w_k)], w_k = 1 / 10000^(k / (dim/4))."""
    quarter = dim // 4
    out = torch.zeros(h * w, dim, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            row = []
            for p in (j, i):
                row += [math.sin(p / 10000 ** (k / quarter)) for k in range(quarter)]
                row += [math.cos(p / 10000 ** (k / quarter)) for k in range(quarter)]
            out[i * w + j] = torch.tensor(row, dtype=torch.float64)
    return out


@pytest.mark.parametrize("grid", [(4, 4), (3, 5), (5, 3), (2, 7)])
def test_sincos_table_is_the_formula(grid):
    h, w = grid
    got = sincos_2d(16, grid)
    assert got.shape == (h * w, 16)
    torch.testing.assert_close(got.double(), _sincos_by_formula(16, h, w), atol=1e-6, rtol=0)
    regenerated = resize_pos_embed(torch.zeros(1, 1 + 9, 16), grid, method="sincos")
    assert regenerated.shape == (1, 1 + h * w, 16) and torch.all(regenerated[0, 0] == 0)
    torch.testing.assert_close(regenerated[0, 1:].double(), _sincos_by_formula(16, h, w), atol=1e-6, rtol=0)


@pytest.mark.parametrize("img", [(16, 32), (32, 16), (24, 24)])
def test_model_built_at_a_size_carries_the_formula_table(img):
    from mae_core.mae import MaskedAutoencoderViT

    model = MaskedAutoencoderViT(img_size=img, patch_size=8, embed_dim=16, depth=1, num_heads=2,
                                 decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2)
    h, w = img[0] // 8, img[1] // 8
    torch.testing.assert_close(model.encoder.pos_embed[0, 1:].double(), _sincos_by_formula(16, h, w), atol=1e-6, rtol=0)
    torch.testing.assert_close(model.decoder.pos_embed[0, 1:].double(), _sincos_by_formula(8, h, w), atol=1e-6, rtol=0)


@pytest.mark.parametrize("old, new", [((4, 4), (6, 6)), ((4, 4), (3, 5)), ((3, 5), (6, 4)), ((5, 3), (5, 3))])
def test_official_interpolation_is_torch_bicubic(old, new):
    torch.manual_seed(0)
    D = 8
    table = torch.randn(1, 1 + old[0] * old[1], D)
    got = interpolate_pos_embed(table, new, old_grid=old)
    grid = table[:, 1:].reshape(1, old[0], old[1], D).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=new, mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, -1, D)
    assert got.shape == (1, 1 + new[0] * new[1], D)
    assert torch.equal(got[:, :1], table[:, :1])
    torch.testing.assert_close(got[:, 1:], want, atol=1e-6, rtol=0)
    if old != new:
        bilinear = F.interpolate(grid, size=new, mode="bilinear", align_corners=False)
        assert not torch.allclose(got[:, 1:], bilinear.permute(0, 2, 3, 1).reshape(1, -1, D), atol=1e-3)


def test_bicubic_resize_method_is_the_official_path():
    torch.manual_seed(1)
    table = torch.randn(1, 1 + 16, 8)
    grid = table[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=(2, 6), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, -1, 8)
    torch.testing.assert_close(resize_pos_embed(table, (2, 6), method="bicubic")[:, 1:], want, atol=1e-6, rtol=0)


# --- mask strategies: exact counts --------------------------------------------------------------------------

GRIDS = [(3, 3), (3, 5), (5, 7), (7, 7), (7, 5), (14, 14)]


def _official_count(h: int, w: int, ratio: float) -> int:
    L = h * w
    return L - int(L * (1 - ratio))  # models_mae.py random_masking: len_keep = int(L * (1 - mask_ratio))


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.75, 0.9])
def test_block_count_is_exact_for_every_seed(grid, ratio):
    want = _official_count(*grid, ratio)
    if want == grid[0] * grid[1]:  # nothing would stay visible: refused (the edge is tested below)
        with pytest.raises(ms.MaskError):
            ms.block_removed(1, grid, ratio)
        return
    for seed in range(40):
        removed = ms.block_removed(2, grid, ratio, torch.Generator().manual_seed(seed))
        assert removed.sum(1).tolist() == [want, want], (grid, ratio, seed)


@pytest.mark.parametrize("grid", GRIDS)
def test_center_and_random_counts_are_exact(grid):
    for ratio in (0.25, 0.5, 0.75):
        want = _official_count(*grid, ratio)
        assert ms.center_removed(1, grid, ratio).sum().item() == want
        for seed in range(10):
            assert ms.random_removed(1, grid, ratio, torch.Generator().manual_seed(seed)).sum().item() == want


def test_ratio_that_keeps_nothing_is_refused_at_its_edge():
    assert ms.block_removed(1, (3, 3), 0.88).sum().item() == 8  # int(9 * 0.12) = 1 kept
    with pytest.raises(ms.MaskError, match="keeps no patch"):
        ms.block_removed(1, (3, 3), 0.9)  # int(9 * 0.1) = 0 kept


def test_grid_keeps_the_top_left_of_each_cell():
    kept = ~ms.grid_removed(1, (4, 6))[0].reshape(4, 6)
    want = torch.tensor([[1, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]] * 2, dtype=torch.bool)
    assert torch.equal(kept, want)


def test_grid_mask_seen_through_the_noise():
    """The noise the strategy hands the model keeps exactly the top-left patches of the 2x2 cells."""
    sample = ms.sample("grid", 1, (2, 4), 0.75, torch.Generator().manual_seed(0))
    noise = sample if isinstance(sample, torch.Tensor) else sample[0]
    kept = set(torch.argsort(noise.reshape(-1))[:2].tolist())
    assert kept == {0, 2}  # patches (0, 0) and (0, 2) in raster order


# --- published numbers ---------------------------------------------------------------------------------------

def test_float16_limit_is_65504():
    assert numerics.FLOAT16_MAX == 65504.0  # IEEE 754 binary16: (2 - 2**-10) * 2**15
    row = numerics.compare("x", torch.tensor([65504.0, -1.0]), torch.tensor([65504.0, -1.0]))
    assert row.float16_share == 1.0
    assert numerics.compare("x", torch.tensor([32752.0]), torch.tensor([32752.0])).float16_share == 0.5


def test_float16_share_of_a_real_run_is_over_65504():
    """A tiny model run under float16 autocast: every stage's share is its largest magnitude over 65504."""
    from mae_core.mae import MaskedAutoencoderViT

    torch.manual_seed(0)
    model = MaskedAutoencoderViT(img_size=16, patch_size=4, embed_dim=16, depth=1, num_heads=2,
                                 decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2)
    report = numerics.numerics(model, torch.randn(1, 3, 16, 16) * 1000, torch.rand(1, 16), dtype=torch.bfloat16)
    assert report.stages and all(s.float16_share == s.max_abs / 65504 for s in report.stages)


def test_mask_token_std_is_002():
    cfg = MAEConfig(img_size=32, patch_size=16, embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=4096,
                    decoder_depth=1, decoder_num_heads=1)
    torch.manual_seed(0)
    std = MAEDecoder(cfg).mask_token.std().item()
    assert 0.019 < std < 0.021  # N(0, 0.02) over 4096 draws: within 4 % of 0.02
