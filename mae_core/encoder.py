"""The MAE encoder: a ViT that sees only the visible patches.

Paper: MAE Sec. 3 "MAE encoder" ("our encoder is a ViT but applied only on visible, unmasked
patches ... embeds patches by a linear projection with added positional embeddings, and then
processes the resulting set via a series of Transformer blocks"), with ViT Eq. 1-4.

Shapes:
    imgs (B, C, H, W)
      -> patch tokens (B, L, D) -> + positions -> visible (B, L_keep, D) -> [cls; visible] (B, 1+L_keep, D)
      -> blocks -> LayerNorm -> latent (B, 1 + L_keep, D)
    also returns mask (B, L) and ids_restore (B, L).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .block import Block
from .init import init_patch_projection, init_transformer_weights, materialize
from .masking import random_masking
from .patch_embed import PatchEmbed
from .pos_embed import sincos_2d


class EncoderOutput(NamedTuple):
    latent: Tensor  # (B, 1 + L_keep, D): cls token first, then the kept tokens in shuffled order
    mask: Tensor  # (B, L): 0 keep, 1 remove
    ids_restore: Tensor  # (B, L): unshuffle indices for the decoder


class MAEEncoder(nn.Module):
    """ViT encoder on the visible patches.

    Args:
        img_size: H = W in pixels.
        patch_size: p.
        in_chans: C.
        embed_dim: D.
        depth: number of Transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width over D.
        ln_eps: LayerNorm epsilon.
        device: where to allocate and initialise the weights (``"meta"``: shapes only).

    Parameter names (``cls_token, pos_embed, patch_embed.proj, blocks.i.*, norm``) are the official
    ones, so ``encoder.load_state_dict`` takes the encoder part of an official checkpoint as it is.
    """

    def __init__(self, *, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0, ln_eps: float = 1e-6,
                 device: torch.device | str | None = None):
        super().__init__()
        with torch.device("meta"):
            self.patch_embed = PatchEmbed(img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                                          embed_dim=embed_dim)
            L = self.patch_embed.num_patches
            self.cls_token = nn.Parameter(torch.empty(1, 1, embed_dim))
            # Fixed (not learned) sin-cos table, row 0 for the cls token: a Parameter with
            # requires_grad=False, as in the official model, so it appears in its state dict and counts.
            self.pos_embed = nn.Parameter(torch.empty(1, L + 1, embed_dim), requires_grad=False)
            self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, ln_eps) for _ in range(depth))
            self.norm = nn.LayerNorm(embed_dim, eps=ln_eps)
        materialize(self, device)

    def init_weights(self) -> None:
        """Official initialisation (see ``init.py``)."""
        grid = self.patch_embed.grid_size
        self.pos_embed.copy_(sincos_2d(self.pos_embed.shape[-1], grid, cls_token=True).unsqueeze(0))
        init_patch_projection(self.patch_embed.proj)
        nn.init.normal_(self.cls_token, std=0.02)
        init_transformer_weights(self)

    def forward(self, imgs: Tensor, mask_ratio: float = 0.75, noise: Tensor | None = None) -> EncoderOutput:
        """Embed, add positions, mask, prepend cls, run the blocks.

        Args:
            imgs: (B, C, H, W).
            mask_ratio: fraction of patches removed, in [0, 1).
            noise: optional (B, L) masking noise (smallest kept); ``None`` draws ``torch.rand``.
        """
        x = self.patch_embed(imgs)  # (B, L, D)
        x = x + self.pos_embed[:, 1:, :]  # positions are added before masking, so they travel with the patch
        x, mask, ids_restore, _ = random_masking(x, mask_ratio, noise)  # (B, L_keep, D)

        cls = self.cls_token + self.pos_embed[:, :1, :]  # (1, 1, D)
        x = torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + L_keep, D)
        for block in self.blocks:
            x = block(x)
        return EncoderOutput(self.norm(x), mask, ids_restore)
