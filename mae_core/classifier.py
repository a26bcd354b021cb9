"""The fine-tuned MAE: a ViT classifier made of the pre-trained encoder's own parts, plus a head.

Paper: MAE Sec. 4 ("ImageNet Experiments": "we do self-supervised pre-training ... then do supervised
training to evaluate the representations with (i) end-to-end fine-tuning or (ii) linear probing") and
Appendix A.1: "ViT architecture" (the class token, "our MAE works similarly well without this token
(with average pooling)"), "End-to-end fine-tuning" (global average pooling, drop path, Table 9) and
"Linear probing" ("we adopt an extra BatchNorm layer without affine transformation", Table 10; the
class token). Appendix A.2 trains the same classifier from scratch (supervised ViT-L/H baselines).
The code is the official ``models_vit.py`` (timm's ViT with ``global_pool``) and the head set-up of
``main_finetune.py`` / ``main_linprobe.py``.

What the classifier is, step by step (parameter names are the official flat ones, so the official
``finetune/mae_finetuned_vit_*.pth`` files load as they are):

    imgs (B, C, H, W)
      -> patch_embed                  (B, L, D)          the encoder's PatchEmbed
      -> + pos_embed, [cls; tokens]   (B, 1 + L, D)      the encoder's steps; no masking; the position
                                                          table is a *trainable* parameter here
      -> blocks (with drop path)      (B, 1 + L, D)      the encoder's Blocks, the very class
      -> global pool:  mean of the L patch tokens (cls excluded) -> fc_norm (B, D)   [``norm`` removed]
         cls token:    norm -> token 0                                  (B, D)
      -> head                         (B, num_classes)   Linear; linear probe: BatchNorm1d(affine=False,
                                                          eps=1e-6) then Linear (``head.0``, ``head.1``)

Built without weights, the trunk gets the MAE encoder's initialisation (``init.py``) and the head
``main_finetune.py``'s: truncated normal with std 2e-5 (linear probe, ``main_linprobe.py``: std 0.01),
zero bias. A fine-tuning run starts from a pre-trained encoder instead: :mod:`mae_core.finetune`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .config import MAEConfig
from .drop_path import drop_path_rates
from .encoder import MAEEncoder
from .init import materialize
from .kernels.linear import Linear

HEAD_STD = 2e-5  # main_finetune.py: trunc_normal_(model.head.weight, std=2e-5)
LINPROBE_HEAD_STD = 0.01  # main_linprobe.py: trunc_normal_(model.head.weight, std=0.01) ("following MoCo v3")
LINPROBE_BN_EPS = 1e-6  # main_linprobe.py: BatchNorm1d(in_features, affine=False, eps=1e-6)


class VisionTransformer(MAEEncoder):
    """The official ``models_vit.VisionTransformer``: the MAE encoder without masking, plus a head.

    Args:
        config: an :class:`MAEConfig` for the trunk (the decoder fields are unused); ``None``: the defaults.
        num_classes: classes of the head (1000 for ImageNet-1k); 0: no head (``forward`` returns the pooled
            features).
        global_pool: True: mean of the patch tokens of the last block, then ``fc_norm`` (the encoder's final
            ``norm`` removed; the official fine-tuning default); False: ``norm``, then the cls token (the
            official class default, and linear probing's).
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 at the first (training only).
        linear_probe: the head of ``main_linprobe.py``: ``BatchNorm1d(D, affine=False, eps=1e-6)`` then Linear.
        device: where to allocate and initialise (``"meta"``: shapes only).
        **overrides: any :class:`MAEConfig` field.
    """

    def __init__(self, config: MAEConfig | None = None, *, num_classes: int = 1000, global_pool: bool = False,
                 drop_path_rate: float = 0.0, linear_probe: bool = False,
                 device: torch.device | str | None = None, **overrides: Any):
        if num_classes < 0:
            raise ValueError(f"num_classes must be 0 or more, got {num_classes}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        super().__init__(config, device="meta", **overrides)  # the trunk, on meta: initialised once below
        cfg = self.config
        D = cfg.embed_dim
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.drop_path_rate = drop_path_rate
        self.linear_probe = linear_probe
        del self.visible  # no masking in the classifier: every patch is seen
        self.pos_embed.requires_grad_(True)  # fine-tuned with the rest (timm's ViT: a learned table)
        for block, rate in zip(self.blocks, drop_path_rates(drop_path_rate, cfg.depth), strict=True):
            block.drop_path_rate = rate
        with torch.device("meta"):
            if global_pool:
                self.fc_norm = nn.LayerNorm(D, eps=cfg.ln_eps)
                del self.norm  # models_vit.py: "remove the original norm"
            self.head = _make_head(D, num_classes, linear_probe)
        materialize(self, device)

    @property
    def num_features(self) -> int:
        """D: the width of the pooled features the head reads."""
        return self.config.embed_dim

    def init_weights(self) -> None:
        """The trunk as the MAE encoder (``init.py``), the head as ``main_finetune.py`` / ``main_linprobe.py``."""
        super().init_weights()  # also sets every Linear (the head's too) and LayerNorm (fc_norm) first
        init_head(self.head)

    # --- the forward, in the official method names ----------------------------------------------

    def forward_tokens(self, imgs: Tensor) -> Tensor:
        """(B, C, H, W) -> the last block's output (B, 1 + L, D): cls first, then the patches in raster order."""
        x = self.add_positions(self.patch_embed(imgs))  # (B, L, D)
        x = self.tokens(self.prepend_cls(x))  # (B, 1 + L, D)
        for block in self.blocks:
            x = block(x)
        return x

    def pool(self, x: Tensor) -> Tensor:
        """(B, 1 + L, D) -> (B, D): global pool (patch tokens averaged, cls excluded, then fc_norm) or the
        cls token after the final norm."""
        if self.global_pool:
            return self.fc_norm(x[:, 1:, :].mean(dim=1))
        return self.norm(x)[:, 0]

    def forward_features(self, imgs: Tensor) -> Tensor:
        """(B, C, H, W) -> pooled features (B, D), what the head reads (the official ``forward_features``)."""
        return self.pool(self.forward_tokens(imgs))

    def forward(self, imgs: Tensor) -> Tensor:  # type: ignore[override]
        """(B, C, H, W), normalised with the ImageNet mean/std -> class logits (B, num_classes)."""
        return self.head(self.forward_features(imgs))

    def official_state_dict(self) -> dict[str, Tensor]:
        """The weights under the official names (they are ours already: the same tensors)."""
        return dict(self.state_dict())

    def extra_repr(self) -> str:
        pool = "global_pool (mean of patch tokens, fc_norm)" if self.global_pool else "cls token (norm)"
        head = "BatchNorm1d + Linear (linear probe)" if self.linear_probe else "Linear"
        return f"num_classes={self.num_classes}, {pool}, head={head}, drop_path_rate={self.drop_path_rate}"


def _make_head(dim: int, num_classes: int, linear_probe: bool) -> nn.Module:
    if num_classes == 0:
        return nn.Identity()
    linear = Linear(dim, num_classes)
    if linear_probe:  # main_linprobe.py: the head becomes Sequential(BatchNorm1d, Linear): keys head.0.*, head.1.*
        return nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=LINPROBE_BN_EPS), linear)
    return linear


def init_head(head: nn.Module) -> None:
    """A fresh head: truncated-normal weight (std 2e-5; 0.01 behind a BatchNorm, the linear probe), zero
    bias, BatchNorm statistics reset (mean 0, variance 1)."""
    if isinstance(head, nn.Identity):
        return
    linear = head[-1] if isinstance(head, nn.Sequential) else head
    std = LINPROBE_HEAD_STD if isinstance(head, nn.Sequential) else HEAD_STD
    with torch.no_grad():
        nn.init.trunc_normal_(linear.weight, std=std)  # bounds +-2 (absolute), as timm's trunc_normal_
        nn.init.zeros_(linear.bias)
        if isinstance(head, nn.Sequential):
            head[0].reset_running_stats()


def init_fc_norm(model: VisionTransformer) -> None:
    """A fresh ``fc_norm`` (weight 1, bias 0), as a pre-trained encoder has none."""
    if model.global_pool:
        with torch.no_grad():
            nn.init.ones_(model.fc_norm.weight)
            nn.init.zeros_(model.fc_norm.bias)
