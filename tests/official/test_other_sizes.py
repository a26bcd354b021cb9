"""Other image sizes against the references: the official class built at 448 px (its own table), the
timm composition at 224x320, and transformers' interpolate_pos_encoding, all given 224-px weights."""

from __future__ import annotations

import warnings
from functools import partial

import pytest
import torch
from torch import nn

from mae_core import MAEConfig, MaskedAutoencoderViT
from mae_core.mae import PosEmbedResized
from mae_core.pos_embed import interpolate_pos_embed
from official_mae import build_reference
from official_mae.compare import compare_models, make_noise
from official_mae.official import import_official

from .helpers import FIXTURE_SRC

SIZES = {"patch_size": 16, "embed_dim": 64, "depth": 2, "num_heads": 4, "decoder_embed_dim": 32,
         "decoder_depth": 1, "decoder_num_heads": 4}
CONFIG_224 = MAEConfig(img_size=224, **SIZES)


@pytest.fixture(scope="module")
def weights_224():
    torch.manual_seed(0)
    return MaskedAutoencoderViT(CONFIG_224).official_state_dict()


def ours_at(size, weights, method="sincos"):
    model = MaskedAutoencoderViT(CONFIG_224.replace(img_size=size), device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PosEmbedResized)
        model.load_state_dict(weights, assign=True, pos_embed=method)
    return model.eval()


def test_official_class_built_at_448_equals_ours_given_224_weights(weights_224):
    module, _ = import_official(FIXTURE_SRC)
    c = CONFIG_224
    official = module.MaskedAutoencoderViT(  # the official constructor at 448: it builds its own tables
        img_size=448, patch_size=c.patch_size, in_chans=3, embed_dim=c.embed_dim, depth=c.depth,
        num_heads=c.num_heads, decoder_embed_dim=c.decoder_embed_dim, decoder_depth=c.decoder_depth,
        decoder_num_heads=c.decoder_num_heads, mlp_ratio=4.0, norm_layer=partial(nn.LayerNorm, eps=1e-6))
    tables = {k: v for k, v in official.state_dict().items() if "pos_embed" in k}
    missing, unexpected = official.load_state_dict(
        {k: v for k, v in weights_224.items() if "pos_embed" not in k}, strict=False)
    assert sorted(missing) == sorted(tables) and not unexpected

    ours = ours_at(448, weights_224)
    for key, table in tables.items():  # our regenerated tables are the official class's own, bit for bit
        assert torch.equal(ours.official_state_dict()[key], table), key

    ref = build_reference("official", CONFIG_224.replace(img_size=448), official_src=FIXTURE_SRC)
    ref.load_official_state_dict(official.state_dict())
    imgs = torch.randn(2, 3, 448, 448, generator=torch.Generator().manual_seed(1))
    result = compare_models(ours, ref, imgs, make_noise(2, 784, seed=2), 0.75, atol=1e-6, rtol=0.0)
    rows = {r["stage"]: r for r in result["stages"]}
    assert rows["masking"]["passed"], rows["masking"]
    assert rows["pred"]["max_abs"] <= 1e-6 and rows["loss"]["max_abs"] <= 1e-6
    assert result["passed"], [r for r in result["stages"] if not r["passed"]]


@pytest.mark.parametrize("size", [(224, 320), 448])
def test_timm_composition_at_other_sizes(weights_224, size):
    ours = ours_at(size, weights_224)
    cfg = ours.config
    ref = build_reference("timm", cfg)
    ref.load_official_state_dict(ours.official_state_dict())
    H, W = cfg.image_hw
    imgs = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(3))
    result = compare_models(ours, ref, imgs, make_noise(1, cfg.num_patches, seed=4), 0.75, atol=1e-6, rtol=0.0)
    assert result["passed"], [r for r in result["stages"] if not r["passed"]]


@pytest.mark.parametrize("kind", ["official", "hf"])
def test_official_code_and_transformers_refuse_non_square_grids(kind):
    """Both build their tables for int(sqrt(L)) patches a side: a 14x20 grid cannot be built there."""
    from official_mae import ReferenceUnavailable

    with pytest.raises(ReferenceUnavailable, match="square"):
        build_reference(kind, CONFIG_224.replace(img_size=(224, 320)), official_src=FIXTURE_SRC)


def test_transformers_interpolate_pos_encoding_is_our_hf_convention(weights_224):
    from transformers import ViTMAEForPreTraining

    from mae_core.io import hf_layout
    from official_mae.hf_ref import vitmae_config

    hf = ViTMAEForPreTraining(vitmae_config(CONFIG_224)).eval()
    naming = hf_layout.hf_version(hf.state_dict().keys())
    hf.load_state_dict(hf_layout.official_to_hf(dict(weights_224), naming))
    ours = ours_at(448, weights_224, method="hf")
    imgs = torch.randn(1, 3, 448, 448, generator=torch.Generator().manual_seed(5))
    noise = make_noise(1, 784, seed=6)
    with torch.no_grad():
        theirs = hf(pixel_values=imgs, noise=noise, interpolate_pos_encoding=True)
        mine = ours(imgs, 0.75, noise)
    assert torch.equal(mine.mask, theirs.mask)
    assert (mine.pred - theirs.logits).abs().max() <= 1e-5
    assert (mine.loss - theirs.loss).abs() <= 1e-5

    # transformers' encoder rule and the official fine-tuning interpolate_pos_embed agree on square grids.
    table = weights_224["pos_embed"]
    embeddings = hf.vit.embeddings
    theirs_table = embeddings.interpolate_pos_encoding(torch.zeros(1, 1 + 784, 64), 448, 448)
    assert torch.allclose(interpolate_pos_embed(table, (28, 28)), theirs_table, atol=1e-6, rtol=0)
