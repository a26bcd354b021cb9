"""The fine-tuned classifier (issue 24): official names and counts, heads, drop path, and the
main_finetune.py loading from a pre-trained MAE. Meta device or tiny sizes only."""

from __future__ import annotations

import pytest
import torch

from mae_core.block import Block
from mae_core.classifier import VisionTransformer
from mae_core.drop_path import drop_path_rates
from mae_core.finetune import classifier_from_pretrained, detect_classifier
from mae_core.models import CLASSIFIERS, create_model

TINY = dict(img_size=32, embed_dim=64, depth=3, num_heads=4)
OFFICIAL_COUNTS = {"vit_base_patch16": 86_567_656, "vit_large_patch16": 304_326_632, "vit_huge_patch14": 632_045_800}


@pytest.mark.parametrize("name", list(OFFICIAL_COUNTS))
def test_official_parameter_counts(name):
    model = create_model(name, num_classes=1000, global_pool=True, device="meta")
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_COUNTS[name] == CLASSIFIERS[name].official_params
    assert all(p.requires_grad for p in model.parameters())  # pos_embed is trainable here


def test_official_flat_names_and_heads():
    gp = create_model("vit_base_patch16", global_pool=True, device="meta").state_dict()
    assert "fc_norm.weight" in gp and "norm.weight" not in gp and gp["head.weight"].shape == (1000, 768)
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.11.attn.qkv.weight"} <= set(gp)
    cls = create_model("vit_base_patch16", device="meta").state_dict()  # official class default: cls token
    assert "norm.weight" in cls and "fc_norm.weight" not in cls
    probe = create_model("vit_base_patch16", linear_probe=True, device="meta").state_dict()
    assert {"head.0.running_mean", "head.0.running_var", "head.1.weight", "head.1.bias"} <= set(probe)
    assert not any(k.startswith("head.0.weight") for k in probe)  # BatchNorm1d(affine=False)


def test_blocks_are_the_encoders_block_class():
    model = create_model("vit_base_patch16", **TINY)
    assert all(type(b) is Block for b in model.blocks) and isinstance(model, VisionTransformer)


def test_pools():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    gp = create_model("vit_base_patch16", global_pool=True, **TINY).eval()
    tokens = gp.forward_tokens(x)
    assert torch.equal(gp.forward_features(x), gp.fc_norm(tokens[:, 1:].mean(1)))
    cls = create_model("vit_base_patch16", global_pool=False, **TINY).eval()
    assert torch.equal(cls.forward_features(x), cls.norm(cls.forward_tokens(x))[:, 0])


def test_drop_path_linear_over_depth_and_training_only():
    model = create_model("vit_base_patch16", drop_path_rate=0.2, **TINY)
    assert [b.drop_path_rate for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])
    assert drop_path_rates(0.1, 12)[-1] == pytest.approx(0.1)
    plain = create_model("vit_base_patch16", **TINY)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(model.eval()(x), plain.eval()(x))  # evaluation: bit-identical, nothing dropped
    model.train()
    torch.manual_seed(1)
    a = model(x)
    assert not torch.equal(a, plain.train()(x))  # training: whole samples' branches dropped


def test_head_initialisation():
    torch.manual_seed(0)
    ft = create_model("vit_large_patch16", **{**TINY, "depth": 1})
    assert ft.head.weight.std().item() == pytest.approx(2e-5, rel=0.1) and not ft.head.bias.any()
    lp = create_model("vit_large_patch16", linear_probe=True, **{**TINY, "depth": 1})
    assert lp.head[1].weight.std().item() == pytest.approx(0.01, rel=0.1)
    bn = lp.head[0]
    assert not bn.affine and bn.eps == 1e-6 and not bn.running_mean.any() and (bn.running_var == 1).all()


def test_from_pretrained_reports_keys_like_main_finetune():
    mae = create_model("base").official_state_dict()
    model, report = classifier_from_pretrained("vit_base_patch16", mae, img_size=256)
    assert set(report.missing) == {"head.weight", "head.bias", "fc_norm.weight", "fc_norm.bias"}
    assert {"norm.weight", "norm.bias", "mask_token"} <= set(report.unexpected)
    assert report.surprising == []
    assert model.pos_embed.shape == (1, 257, 768) and any("bicubic" in n for n in report.notes)
    assert torch.equal(model.blocks[3].mlp.fc2.weight, mae["blocks.3.mlp.fc2.weight"])
    assert model.head.weight.std().item() == pytest.approx(2e-5, rel=0.1)
    encoder_only = {k: v for k, v in mae.items() if not k.startswith(("decoder_", "mask_token"))}
    model, report = classifier_from_pretrained("base", encoder_only, global_pool=False, linear_probe=True)
    assert report.unexpected == [] and report.surprising == []
    assert set(report.missing) == {k for k in model.state_dict() if k.startswith("head.")}
    spec = detect_classifier(model.state_dict())
    assert (spec.name, spec.linear_probe, spec.global_pool, spec.num_classes) == ("vit_base_patch16", True, False, 1000)
    del encoder_only["blocks.0.norm1.weight"]
    _, report = classifier_from_pretrained("base", encoder_only)
    assert report.surprising == ["blocks.0.norm1.weight"]  # a key the official script would not expect
