"""The ``hf`` reference: transformers' ``ViTMAEForPreTraining`` with a config equal to ours.

Paper: MAE Sec. 3. transformers reimplements the official model with a few differences that a
config must undo or a converter must bridge:

* ``layer_norm_eps`` defaults to 1e-12 there; the official models use 1e-6, so we pass ``config.ln_eps``;
* the mask ratio lives in the config (``config.mask_ratio``), not in the forward call: :meth:`run` sets
  it before each forward. Its count of kept patches is ``int(L * (1 - mask_ratio))``, like the official;
* its forward takes ``noise`` (B, L) and masks by argsort of it, as the official does;
* the fused qkv projection is three Linears, under names that changed at transformers v5
  (``mae_core.io.hf_layout`` holds both tables; the installed version's names are read off the model);
* position tables: it stores them as (frozen) parameters like the official; we load the official
  tensors, and do not ask it to interpolate (``interpolate_pos_encoding`` stays off).

Shapes: as :mod:`official_mae.reference`; its output ``logits`` is our ``pred``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mae_core.io import hf_layout
from mae_core.config import MAEConfig

from .imports import ReferenceUnavailable, require_transformers
from .reference import Reference, ReferenceOutput, standard_stage_modules


def vitmae_config(config: MAEConfig, lib=None):
    """A ``ViTMAEConfig`` equal to ``config`` (official eps, exact GELU, qkv bias, no dropout)."""
    lib = lib or require_transformers()
    return lib.ViTMAEConfig(
        image_size=config.img_size, patch_size=config.patch_size, num_channels=config.in_chans,
        hidden_size=config.embed_dim, num_hidden_layers=config.depth, num_attention_heads=config.num_heads,
        intermediate_size=int(config.embed_dim * config.mlp_ratio),
        decoder_hidden_size=config.decoder_embed_dim, decoder_num_hidden_layers=config.decoder_depth,
        decoder_num_attention_heads=config.decoder_num_heads,
        decoder_intermediate_size=int(config.decoder_embed_dim * config.mlp_ratio),
        layer_norm_eps=config.ln_eps, hidden_act="gelu", qkv_bias=True,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        norm_pix_loss=config.norm_pix_loss, mask_ratio=0.75,
    )


class HFReference(Reference):
    """transformers' ViTMAE behind the :class:`Reference` interface (v4 or v5 naming, read off the model)."""

    kind = "hf"

    def __init__(self, config: MAEConfig, device: torch.device | str = "cpu"):
        h, w = config.grid_size
        if h != w:  # its initialize_weights builds the decoder table for int(sqrt(L)) patches a side
            raise ReferenceUnavailable(f"transformers' ViTMAE builds its position tables for a square patch grid "
                                       f"only, not {h}x{w}; compare a non-square size with --reference timm")
        lib = require_transformers()
        with torch.device("meta"):  # shapes only: the weights come from load_official_state_dict
            model = lib.ViTMAEForPreTraining(vitmae_config(config, lib))
        self.naming = hf_layout.hf_version(model.state_dict().keys())
        attn = getattr(model.config, "_attn_implementation", None) or "eager"
        detail = f"transformers {lib.version} ViTMAEForPreTraining ({self.naming} names, {attn} attention)"
        super().__init__(model, config, detail, device)

    def _to_own_layout(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        return hf_layout.official_to_hf(state_dict, self.naming)

    def _from_own_layout(self, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        return hf_layout.hf_to_official(tensors)

    def _set_mask_ratio(self, mask_ratio: float) -> None:
        # The ratio is read from the config at forward time; set it on every config object that may hold it.
        for module in (self.model, self.model.vit, self.model.vit.embeddings):
            cfg = getattr(module, "config", None)
            if cfg is not None:
                cfg.mask_ratio = mask_ratio

    def run(self, imgs: Tensor, mask_ratio: float, noise: Tensor) -> ReferenceOutput:
        self._set_mask_ratio(mask_ratio)
        captured: list[Tensor] = []
        hook = self.model.vit.layernorm.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            out = self.model(pixel_values=imgs, noise=noise)
        finally:
            hook.remove()
        return ReferenceOutput(out.loss, out.logits, out.mask, captured[-1], out.ids_restore)

    def _encoder_layers(self) -> nn.ModuleList:
        vit = self.model.vit
        return vit.layers if hasattr(vit, "layers") else vit.encoder.layer  # v5 : v4

    def stage_modules(self) -> dict[str, nn.Module]:
        d = self.model.decoder
        return standard_stage_modules(self.model.vit.embeddings.patch_embeddings, self._encoder_layers(),
                                      d.decoder_embed, d.decoder_layers, d.decoder_norm)
