# Test fixture for mae-inspect: a stand-in for the official models_vit.py (same class, attribute and
# factory names and the same computations, written for these tests). It subclasses timm's
# VisionTransformer as the official file does, so on timm >= 0.6 its inherited forward() calls
# forward_head() on already pooled features (mae issue #126): official_mae's shim restores
# head(forward_features(x)).
from functools import partial

import torch
import torch.nn as nn

import timm.models.vision_transformer


class VisionTransformer(timm.models.vision_transformer.VisionTransformer):
    """timm's ViT, plus global average pooling of the patch tokens."""

    def __init__(self, global_pool=False, **kwargs):
        super(VisionTransformer, self).__init__(**kwargs)
        self.global_pool = global_pool
        if self.global_pool:
            self.fc_norm = kwargs['norm_layer'](kwargs['embed_dim'])
            del self.norm  # the pooled features get fc_norm instead of the final norm

    def forward_features(self, x):
        B = x.shape[0]
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + self.pos_embed
        x = self.pos_drop(x)
        for blk in self.blocks:
            x = blk(x)
        if self.global_pool:
            return self.fc_norm(x[:, 1:, :].mean(dim=1))  # patch tokens only, cls excluded
        x = self.norm(x)
        return x[:, 0]


def _vit(patch_size, embed_dim, depth, num_heads, **kwargs):
    return VisionTransformer(patch_size=patch_size, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                             mlp_ratio=4, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), **kwargs)


def vit_base_patch16(**kwargs):
    return _vit(16, 768, 12, 12, **kwargs)


def vit_large_patch16(**kwargs):
    return _vit(16, 1024, 24, 16, **kwargs)


def vit_huge_patch14(**kwargs):
    return _vit(14, 1280, 32, 16, **kwargs)
