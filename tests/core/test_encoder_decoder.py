"""MAEEncoder and MAEDecoder used on their own, as the user story shows."""

from __future__ import annotations

import pytest
import torch

from mae_core import MAEConfig, MaskedAutoencoderViT
from mae_core.decoder import MAEDecoder
from mae_core.encoder import MAEEncoder
from mae_core.masking import random_masking


def test_encoder_alone_full_size_base():
    encoder = MAEEncoder(embed_dim=768, depth=12, num_heads=12)
    assert sum(p.numel() for p in encoder.parameters()) == 85_798_656  # the official encoder count (ViT-B)
    images = torch.randn(2, 3, 224, 224)
    latent, mask, ids_restore = encoder(images)
    assert latent.shape == (2, 50, 768) and mask.shape == (2, 196) and ids_restore.shape == (2, 196)


def test_config_and_keyword_forms_build_the_same_modules():
    """``MAEEncoder(cfg)`` / ``MAEDecoder(cfg)`` (what the model does) equal the keyword form, weight for weight."""
    cfg = MAEConfig(img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=2, decoder_embed_dim=8,
                    decoder_depth=1, decoder_num_heads=2)
    for cls in (MAEEncoder, MAEDecoder):
        torch.manual_seed(0)
        a = cls(cfg)
        torch.manual_seed(0)
        b = cls(**cfg.to_dict())
        assert a.config == b.config == cfg
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    model = MaskedAutoencoderViT(cfg, device="meta")
    assert model.encoder.config == model.decoder.config == cfg  # one config object for the whole model
    with pytest.raises(TypeError, match="unknown MAE option"):
        MAEEncoder(embed_dims=768)  # a typo is an error, not a silently ignored keyword


def test_encoder_steps_by_hand():
    """The encoder equals: embed, + positions, mask, prepend cls + its position, blocks, norm."""
    torch.manual_seed(0)
    enc = MAEEncoder(img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=2)
    imgs, noise = torch.randn(2, 3, 16, 16), torch.rand(2, 16)
    x = enc.patch_embed(imgs) + enc.pos_embed[:, 1:]
    visible, mask, ids_restore, _ = random_masking(x, 0.75, noise)
    x = torch.cat([(enc.cls_token + enc.pos_embed[:, :1]).expand(2, -1, -1), visible], dim=1)
    for blk in enc.blocks:
        x = blk(x)
    out = enc(imgs, 0.75, noise)
    assert torch.equal(out.latent, enc.norm(x)) and torch.equal(out.mask, mask)


def test_decoder_alone_puts_tokens_back_in_raster_order():
    torch.manual_seed(0)
    dec = MAEDecoder(img_size=16, patch_size=4, embed_dim=16, num_heads=2, decoder_embed_dim=8, decoder_depth=1,
                     decoder_num_heads=2)  # 16 patches of 4*4*3 = 48 values
    latent = torch.randn(2, 1 + 4, 16)
    ids_restore = torch.stack([torch.randperm(16) for _ in range(2)])
    pred = dec(latent, ids_restore)
    assert pred.shape == (2, 16, 48)

    # By hand: visible tokens then mask tokens in shuffled order, unshuffled position by position.
    x = dec.embed(latent)
    for b in range(2):
        shuffled = torch.cat([x[b, 1:], dec.mask_token[0].expand(12, -1)])
        seq = torch.cat([x[b, :1], shuffled[ids_restore[b]]]) + dec.pos_embed[0]
        for blk in dec.blocks:
            seq = blk(seq[None])[0]
        torch.testing.assert_close(pred[b], dec.pred(dec.norm(seq))[1:], atol=1e-6, rtol=0)


def test_explicit_attention_path_matches_sdpa():
    torch.manual_seed(0)
    enc = MAEEncoder(img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=4)
    imgs, noise = torch.randn(2, 3, 16, 16), torch.rand(2, 16)
    fused = enc(imgs, 0.5, noise).latent
    for blk in enc.blocks:
        blk.attn.fused = False
    torch.testing.assert_close(enc(imgs, 0.5, noise).latent, fused, atol=1e-5, rtol=1e-5)
