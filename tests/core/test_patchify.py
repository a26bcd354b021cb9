"""patchify / unpatchify: a lossless round trip for any channel count, and the official pixel order."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mae_core.patch_embed import PatchEmbed, patchify, unpatchify


@settings(max_examples=100, deadline=None)
@given(B=st.integers(1, 3), C=st.integers(1, 5), p=st.integers(1, 6), h=st.integers(1, 5), w=st.integers(1, 5))
def test_round_trip(B, C, p, h, w):
    imgs = torch.randn(B, C, h * p, w * p)
    patches = patchify(imgs, p)
    assert patches.shape == (B, h * w, p * p * C)
    assert torch.equal(unpatchify(patches, p, C, grid=(h, w)), imgs)
    if h == w:
        assert torch.equal(unpatchify(patches, p, C), imgs)


def test_patch_content_is_row_column_channel():
    """Patch (i, j) holds imgs[:, :, i*p:(i+1)*p, j*p:(j+1)*p] as (row, column, channel)."""
    B, C, p, h, w = 2, 3, 4, 2, 3
    imgs = torch.randn(B, C, h * p, w * p)
    patches = patchify(imgs, p)
    for i in range(h):
        for j in range(w):
            block = imgs[:, :, i * p:(i + 1) * p, j * p:(j + 1) * p]  # (B, C, p, p)
            assert torch.equal(patches[:, i * w + j], block.permute(0, 2, 3, 1).reshape(B, -1))


def test_patch_embed_is_a_linear_map_per_patch():
    """ViT Eq. 1: the convolution equals flattening each patch and multiplying by the flattened weight."""
    torch.manual_seed(0)
    embed = PatchEmbed(img_size=16, patch_size=4, in_chans=2, embed_dim=5)
    torch.nn.init.normal_(embed.proj.weight)
    torch.nn.init.normal_(embed.proj.bias)
    imgs = torch.randn(2, 2, 16, 16)
    tokens = embed(imgs)
    # Conv weight (D, C, p, p) flattened in (C, p, p) order; patches flattened in the same order.
    patches = imgs.reshape(2, 2, 4, 4, 4, 4).permute(0, 2, 4, 1, 3, 5).reshape(2, 16, 2 * 16)
    expected = patches @ embed.proj.weight.reshape(5, -1).T + embed.proj.bias
    torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=1e-5)
