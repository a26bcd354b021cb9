"""The MAE decoder: a light Transformer that fills in the removed patches.

Paper: MAE Sec. 3 "MAE decoder" ("the input to the decoder is the full set of tokens consisting of
(i) encoded visible patches, and (ii) mask tokens ... we add positional embeddings to all tokens")
and "Reconstruction target" ("the last layer of the decoder is a linear projection whose number of
output channels equals the number of pixel values in a patch").

Shapes:
    latent (B, 1 + L_keep, D), ids_restore (B, L)
      -> embed (B, 1 + L_keep, D_dec) -> + mask tokens, unshuffled (B, 1 + L, D_dec) -> + positions
      -> blocks -> LayerNorm -> predictor (B, 1 + L, p*p*C) -> drop cls -> pred (B, L, p*p*C)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .block import Block
from .config import MAEConfig
from .init import init_transformer_weights, materialize
from .kernels.linear import Linear
from .pos_embed import sincos_2d
from .record import RecordPoint


class MAEDecoder(nn.Module):
    """Decoder for an encoder of width ``embed_dim``.

    Args:
        config: an :class:`MAEConfig` (its ``embed_dim``, the encoder width the decoder reads, its
            ``decoder_*`` fields, ``mlp_ratio``, ``ln_eps``, and the patch grid and p*p*C from
            ``img_size``, ``patch_size``, ``in_chans``); ``None``: the defaults.
        device: where to allocate and initialise the weights (``"meta"``: shapes only).
        **overrides: any :class:`MAEConfig` field (``MAEDecoder(embed_dim=768)`` reads a ViT-B encoder).

    Parameter names here are ``embed, mask_token, pos_embed, blocks, norm, pred``; in an official
    checkpoint they carry a ``decoder_`` prefix (``mae_core.io.checkpoint`` converts).
    """

    def __init__(self, config: MAEConfig | None = None, *, device: torch.device | str | None = None,
                 **overrides: Any):
        super().__init__()
        cfg = self.config = (config or MAEConfig()).replace(**overrides)
        D_dec = cfg.decoder_embed_dim
        with torch.device("meta"):
            self.embed = Linear(cfg.embed_dim, D_dec)
            self.mask_token = nn.Parameter(torch.empty(1, 1, D_dec))
            self.pos_embed = nn.Parameter(torch.empty(1, cfg.num_patches + 1, D_dec), requires_grad=False)
            self.blocks = nn.ModuleList(
                Block(D_dec, cfg.decoder_num_heads, cfg.mlp_ratio, cfg.ln_eps) for _ in range(cfg.decoder_depth)
            )
            self.norm = nn.LayerNorm(D_dec, eps=cfg.ln_eps)
            self.pred = Linear(D_dec, cfg.patch_dim)
        self.tokens = RecordPoint()  # record point (see record.py): the sequence entering the blocks
        materialize(self, device)

    def init_weights(self) -> None:
        """Official initialisation (see ``init.py``)."""
        self.pos_embed.copy_(sincos_2d(self.config.decoder_embed_dim, self.config.grid_size, cls_token=True)
                            .unsqueeze(0))
        nn.init.normal_(self.mask_token, std=0.02)
        init_transformer_weights(self)

    # --- the steps, each usable on its own (the Table 1c baseline in views/baseline.py reuses them) ---

    def insert_mask_tokens(self, x: Tensor, ids_restore: Tensor) -> Tensor:
        """(B, 1 + L_keep, D_dec) embedded latent -> (B, 1 + L, D_dec): mask tokens added, raster order."""
        B, T, D = x.shape
        L = ids_restore.shape[1]
        # One shared, learned mask token stands in for each of the L - L_keep removed patches.
        mask_tokens = self.mask_token.expand(B, L + 1 - T, D)  # (B, L - L_keep, D_dec)
        shuffled = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # (B, L, D_dec), shuffled order
        unshuffled = torch.gather(shuffled, 1, ids_restore.unsqueeze(-1).expand(-1, -1, D))  # raster order
        return torch.cat([x[:, :1, :], unshuffled], dim=1)  # (B, 1 + L, D_dec)

    def add_positions(self, x: Tensor) -> Tensor:
        """(B, 1 + L, D_dec) in raster order, cls first -> + the decoder's fixed sin-cos table."""
        return x + self.pos_embed

    def decode_tokens(self, x: Tensor) -> Tensor:
        """(B, 1 + L, D_dec) -> pred (B, L, p*p*C): blocks, LayerNorm, linear predictor, cls row dropped."""
        for block in self.blocks:
            x = block(x)
        x = self.pred(self.norm(x))  # (B, 1 + L, p*p*C)
        return x[:, 1:, :]  # drop the cls token

    def forward(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """Predict the pixels of every patch.

        Args:
            latent: encoder output (B, 1 + L_keep, D), cls token first.
            ids_restore: (B, L) from the masking step.

        Returns:
            pred (B, L, p*p*C), patches in the original raster order.
        """
        x = self.embed(latent)  # (B, 1 + L_keep, D_dec)
        x = self.insert_mask_tokens(x, ids_restore)  # (B, 1 + L, D_dec)
        x = self.tokens(self.add_positions(x))
        return self.decode_tokens(x)
