"""The baseline MAE is measured against: an encoder that sees every token, mask tokens in place of the removed ones.

Paper: MAE Sec. 3 "MAE encoder" ("our encoder ... is applied only on visible, unmasked patches ... mask
tokens are not used"), Table 1c ("encoder w/ [M]": 3.3x the FLOPs and lower accuracy) and Table 2 (the
wall-clock speedup of dropping them: 2.8x to 4.1x). This module is that "w/ [M]" row, built from the
weights of an ordinary :class:`~mae_core.mae.MaskedAutoencoderViT` so that the two can be timed side by side.

Shapes:
    imgs (B, C, H, W) -> patch tokens (B, L, D) -> removed ones replaced by [M] -> + positions
      -> [cls; tokens] (B, 1 + L, D) -> encoder blocks -> LayerNorm
      -> decoder embed (B, 1 + L, D_dec) -> + positions -> decoder blocks -> LayerNorm -> predictor
      -> pred (B, L, p*p*C);  loss () and mask (B, L) as in the MAE.

The decoder needs neither its own mask tokens nor an unshuffle: the encoder's tokens are already all
there, in raster order.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..mae import MAEOutput, MaskedAutoencoderViT
from ..masking import random_masking


class MaskTokensInEncoder(nn.Module):
    """MAE with mask tokens in the encoder (Table 1c "w/ [M]"), sharing every weight of ``model``.

    The only new parameter is the encoder's mask token ``mask_token`` (1, 1, D), drawn from N(0, 0.02)
    like the decoder's. The masking (and so ``mask``) is exactly the MAE's for the same ``noise``.

    Args:
        model: the MAE whose patch embedding, positions, blocks, norms and predictor are reused.
    """

    def __init__(self, model: MaskedAutoencoderViT):
        super().__init__()
        self.model = model
        cls_token = model.encoder.cls_token
        self.mask_token = nn.Parameter(torch.empty_like(cls_token))  # (1, 1, D)
        if cls_token.device.type != "meta":
            with torch.no_grad():
                nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, imgs: Tensor, mask_ratio: float = 0.75, noise: Tensor | None = None) -> MAEOutput:
        """Mask, encode every token, decode, score; same arguments and outputs as the MAE's forward.

        Every step but the [M] substitution is the MAE's own (``encoder.add_positions``, ``prepend_cls``,
        ``encode_tokens``; ``decoder.add_positions``, ``decode_tokens``), record points included, so
        this baseline cannot drift from the model it is compared with.
        """
        encoder, decoder = self.model.encoder, self.model.decoder
        x = encoder.patch_embed(imgs)  # (B, L, D)
        mask = random_masking(x, mask_ratio, noise).mask  # (B, L), 1 = removed

        removed = mask.unsqueeze(-1).bool()  # (B, L, 1)
        x = torch.where(removed, self.mask_token.to(x.dtype), x)  # the removed patches become [M]
        x = encoder.add_positions(x)  # every token, [M] included, knows its position
        x = encoder.tokens(encoder.prepend_cls(x))  # (B, 1 + L, D)
        latent = encoder.encode_tokens(x)

        x = decoder.tokens(decoder.add_positions(decoder.embed(latent)))  # (B, 1 + L, D_dec), raster order
        pred = decoder.decode_tokens(x)  # (B, L, p*p*C), cls dropped
        loss = self.model.forward_loss(imgs, pred, mask)
        return MAEOutput(loss, pred, mask)
