"""The ``timm`` reference: the official MAE composition rebuilt from timm's ``PatchEmbed`` and ``Block``.

Paper: MAE Sec. 3 (encoder on visible patches, decoder with mask tokens, loss on masked patches).
For when no clone of the official source is at hand: the official ``models_mae.py`` is exactly timm's
patch embedding and Transformer blocks (with ``qkv_bias=True`` and LayerNorm eps 1e-6) glued together by
its own masking, unshuffling and loss. This module writes that glue again (our code, not a copy), with
the official attribute names, so official checkpoints load into it as they are. It depends on our
``mae_core`` for nothing but the config: the blocks, the patch embedding and the attention are timm's,
and the masking below builds its mask the official way (ones, zero the kept prefix, unshuffle), not
the way ``mae_core.masking`` does.

Shapes: imgs (B, C, H, W), noise (B, L) -> loss (), pred (B, L, p*p*C), mask (B, L),
latent (B, 1 + L_keep, D), ids_restore (B, L).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from mae_core.config import MAEConfig

from .imports import require_timm
from .reference import OfficialNamedReference, ReferenceOutput


class TimmMAE(nn.Module):
    """The official MAE composition on timm parts; attribute names are the official checkpoint keys.

    Args:
        config: sizes (``mae_core.config.MAEConfig``).
        patch_embed_cls, block_cls: timm's ``PatchEmbed`` and ``Block``.
    """

    def __init__(self, config: MAEConfig, patch_embed_cls: type[nn.Module], block_cls: type[nn.Module]):
        super().__init__()
        c = config
        self.config = c
        norm = partial(nn.LayerNorm, eps=c.ln_eps)

        def blocks(width: int, depth: int, heads: int) -> nn.ModuleList:
            return nn.ModuleList(block_cls(width, heads, c.mlp_ratio, qkv_bias=True, norm_layer=norm)
                                 for _ in range(depth))

        # Registration order = the official state-dict order.
        self.patch_embed = patch_embed_cls(c.img_size, c.patch_size, c.in_chans, c.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_patches + 1, c.embed_dim), requires_grad=False)
        self.blocks = blocks(c.embed_dim, c.depth, c.num_heads)
        self.norm = norm(c.embed_dim)
        self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, c.num_patches + 1, c.decoder_embed_dim),
                                              requires_grad=False)
        self.decoder_blocks = blocks(c.decoder_embed_dim, c.decoder_depth, c.decoder_num_heads)
        self.decoder_norm = norm(c.decoder_embed_dim)
        self.decoder_pred = nn.Linear(c.decoder_embed_dim, c.patch_dim)

    def patchify(self, imgs: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, L, p*p*C), each patch's pixels row by row, then column, then channel."""
        B, C, H, W = imgs.shape
        p = self.config.patch_size
        grid = imgs.reshape(B, C, H // p, p, W // p, p)
        return torch.einsum("bcyixj->byxijc", grid).reshape(B, (H // p) * (W // p), p * p * C)

    @staticmethod
    def random_masking(x: Tensor, mask_ratio: float, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Keep the int(L * (1 - mask_ratio)) tokens with the smallest noise; mask 1 = removed."""
        B, L, D = x.shape
        keep = int(L * (1 - mask_ratio))
        order = noise.argsort(dim=1)  # shuffled position -> original index
        restore = order.argsort(dim=1)  # original index -> shuffled position
        kept = x.gather(1, order[:, :keep, None].expand(B, keep, D))
        mask = torch.ones(B, L, device=x.device)
        mask[:, :keep] = 0  # in shuffled order: the first `keep` are visible ...
        mask = mask.gather(1, restore)  # ... and back in patch order
        return kept, mask, restore

    def forward_encoder(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        tokens = self.patch_embed(imgs) + self.pos_embed[:, 1:]
        tokens, mask, restore = self.random_masking(tokens, mask_ratio, noise)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tokens.shape[0], 1, -1)
        x = torch.cat((cls, tokens), dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x), mask, restore

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        x = self.decoder_embed(latent)
        B, T, D = x.shape
        L = ids_restore.shape[1]
        filler = self.mask_token.expand(B, L + 1 - T, D)
        patches = torch.cat((x[:, 1:], filler), dim=1).gather(1, ids_restore[..., None].expand(B, L, D))
        x = torch.cat((x[:, :1], patches), dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def forward_loss(self, imgs: Tensor, pred: Tensor, mask: Tensor) -> Tensor:
        target = self.patchify(imgs)
        if self.config.norm_pix_loss:
            mu, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
            target = (target - mu) / (var + 1.0e-6) ** 0.5
        per_patch = (pred - target).pow(2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum()


class TimmReference(OfficialNamedReference):
    """:class:`TimmMAE` behind the :class:`Reference` interface."""

    kind = "timm"

    def __init__(self, config: MAEConfig, device: torch.device | str = "cpu"):
        lib = require_timm()
        with torch.device("meta"):  # shapes only: the weights come from load_official_state_dict
            model = TimmMAE(config, lib.PatchEmbed, lib.Block)
        super().__init__(model, config, f"official composition on timm {lib.version} (PatchEmbed, Block)", device)

    def run(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> ReferenceOutput:
        latent, mask, ids_restore = self.model.forward_encoder(imgs, mask_ratio, noise)
        return self.finish(imgs, latent, mask, ids_restore)
