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

import torch
from torch import Tensor, nn

from .block import Block
from .init import init_transformer_weights, materialize
from .kernels.linear import Linear
from .pos_embed import sincos_2d


class MAEDecoder(nn.Module):
    """Decoder for an encoder of width ``embed_dim``.

    Args:
        num_patches: L (must be a square number: the sin-cos table is 2-D).
        patch_dim: p*p*C, the predictor's output width.
        embed_dim: D, the encoder width the decoder reads.
        decoder_embed_dim: D_dec (512 in every paper variant).
        decoder_depth: decoder blocks (8).
        decoder_num_heads: decoder heads (16).
        mlp_ratio: MLP hidden width over D_dec.
        ln_eps: LayerNorm epsilon.
        device: where to allocate and initialise the weights (``"meta"``: shapes only).

    Parameter names here are ``embed, mask_token, pos_embed, blocks, norm, pred``; in an official
    checkpoint they carry a ``decoder_`` prefix (``mae_core.io.checkpoint`` converts).
    """

    def __init__(self, *, num_patches: int = 196, patch_dim: int = 768, embed_dim: int = 768,
                 decoder_embed_dim: int = 512, decoder_depth: int = 8, decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.0, ln_eps: float = 1e-6, device: torch.device | str | None = None):
        super().__init__()
        self.grid_size = int(round(num_patches**0.5))
        if self.grid_size**2 != num_patches:
            raise ValueError(f"num_patches {num_patches} is not a square grid")
        with torch.device("meta"):
            self.embed = Linear(embed_dim, decoder_embed_dim)
            self.mask_token = nn.Parameter(torch.empty(1, 1, decoder_embed_dim))
            self.pos_embed = nn.Parameter(torch.empty(1, num_patches + 1, decoder_embed_dim), requires_grad=False)
            self.blocks = nn.ModuleList(
                Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, ln_eps) for _ in range(decoder_depth)
            )
            self.norm = nn.LayerNorm(decoder_embed_dim, eps=ln_eps)
            self.pred = Linear(decoder_embed_dim, patch_dim)
        materialize(self, device)

    def init_weights(self) -> None:
        """Official initialisation (see ``init.py``)."""
        self.pos_embed.copy_(sincos_2d(self.pos_embed.shape[-1], self.grid_size, cls_token=True).unsqueeze(0))
        nn.init.normal_(self.mask_token, std=0.02)
        init_transformer_weights(self)

    def forward(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """Predict the pixels of every patch.

        Args:
            latent: encoder output (B, 1 + L_keep, D), cls token first.
            ids_restore: (B, L) from the masking step.

        Returns:
            pred (B, L, p*p*C), patches in the original raster order.
        """
        x = self.embed(latent)  # (B, 1 + L_keep, D_dec)
        B, T, D = x.shape
        L = ids_restore.shape[1]

        # One shared, learned mask token stands in for each of the L - L_keep removed patches.
        mask_tokens = self.mask_token.expand(B, L + 1 - T, D)  # (B, L - L_keep, D_dec)
        shuffled = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # (B, L, D_dec), shuffled order
        unshuffled = torch.gather(shuffled, 1, ids_restore.unsqueeze(-1).expand(-1, -1, D))  # raster order
        x = torch.cat([x[:, :1, :], unshuffled], dim=1)  # (B, 1 + L, D_dec)
        x = x + self.pos_embed

        for block in self.blocks:
            x = block(x)
        x = self.pred(self.norm(x))  # (B, 1 + L, p*p*C)
        return x[:, 1:, :]  # drop the cls token
