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

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .block import Block
from .config import MAEConfig
from .init import init_patch_projection, init_transformer_weights, materialize
from .masking import random_masking
from .patch_embed import PatchEmbed
from .pos_embed import sincos_2d
from .record import RecordPoint


class EncoderOutput(NamedTuple):
    latent: Tensor  # (B, 1 + L_keep, D): cls token first, then the kept tokens in shuffled order
    mask: Tensor  # (B, L): 0 keep, 1 remove
    ids_restore: Tensor  # (B, L): unshuffle indices for the decoder


class MAEEncoder(nn.Module):
    """ViT encoder on the visible patches.

    Args:
        config: an :class:`MAEConfig` (its ``img_size``, ``patch_size``, ``in_chans``, ``embed_dim``,
            ``depth``, ``num_heads``, ``mlp_ratio`` and ``ln_eps`` are used); ``None``: the defaults.
        device: where to allocate and initialise the weights (``"meta"``: shapes only).
        **overrides: any :class:`MAEConfig` field, so the keyword form also works:
            ``MAEEncoder(embed_dim=768, depth=12, num_heads=12)`` is the ViT-B/16 encoder.

    Parameter names (``cls_token, pos_embed, patch_embed.proj, blocks.i.*, norm``) are the official
    ones, so ``encoder.load_state_dict`` takes the encoder part of an official checkpoint as it is.
    """

    def __init__(self, config: MAEConfig | None = None, *, device: torch.device | str | None = None,
                 **overrides: Any):
        super().__init__()
        cfg = self.config = (config or MAEConfig()).replace(**overrides)
        D = cfg.embed_dim
        with torch.device("meta"):
            self.patch_embed = PatchEmbed(img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
                                          embed_dim=D)
            self.cls_token = nn.Parameter(torch.empty(1, 1, D))
            # Fixed (not learned) sin-cos table, row 0 for the cls token: a Parameter with
            # requires_grad=False, as in the official model, so it appears in its state dict and counts.
            self.pos_embed = nn.Parameter(torch.empty(1, cfg.num_patches + 1, D), requires_grad=False)
            self.blocks = nn.ModuleList(Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.ln_eps) for _ in range(cfg.depth))
            self.norm = nn.LayerNorm(D, eps=cfg.ln_eps)
        # Record points (see record.py): the masking result and the sequence entering the blocks.
        self.visible = RecordPoint()
        self.tokens = RecordPoint()
        materialize(self, device)

    def init_weights(self) -> None:
        """Official initialisation (see ``init.py``)."""
        grid = self.config.grid_size
        self.pos_embed.copy_(sincos_2d(self.config.embed_dim, grid, cls_token=True).unsqueeze(0))
        init_patch_projection(self.patch_embed.proj)
        nn.init.normal_(self.cls_token, std=0.02)
        init_transformer_weights(self)

    # --- the steps, each usable on its own (the Table 1c baseline in views/baseline.py reuses them) ---

    def add_positions(self, x: Tensor) -> Tensor:
        """(B, L, D) patch tokens in raster order -> + the fixed sin-cos position of each patch."""
        return x + self.pos_embed[:, 1:, :]  # added before masking, so a position travels with its patch

    def prepend_cls(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, 1 + T, D): the learned cls token (plus its position row, zeros) in front."""
        cls = self.cls_token + self.pos_embed[:, :1, :]  # (1, 1, D)
        return torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1)

    def encode_tokens(self, x: Tensor) -> Tensor:
        """(B, T, D) token sequence -> latent (B, T, D): the Transformer blocks, then the final LayerNorm."""
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, imgs: Tensor, mask_ratio: float = 0.75, noise: Tensor | None = None) -> EncoderOutput:
        """Embed, add positions, mask, prepend cls, run the blocks.

        Args:
            imgs: (B, C, H, W).
            mask_ratio: fraction of patches removed, in [0, 1).
            noise: optional (B, L) masking noise (smallest kept); ``None`` draws ``torch.rand``.
        """
        x = self.add_positions(self.patch_embed(imgs))  # (B, L, D)
        x, mask, ids_restore, _ = self.visible(random_masking(x, mask_ratio, noise))  # (B, L_keep, D)
        x = self.tokens(self.prepend_cls(x))  # (B, 1 + L_keep, D)
        return EncoderOutput(self.encode_tokens(x), mask, ids_restore)
