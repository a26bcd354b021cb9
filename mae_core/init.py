"""Weight initialisation, and building a model without initialising its weights twice.

Paper: MAE Appendix A.1 ("we use xavier_uniform to initialize all Transformer blocks, following
ViT's official code"); the official code also draws the class and mask tokens from N(0, 0.02) and
initialises the patch projection like a Linear layer.

What the official initialisation does, and so what ours does (equal in distribution):
    * every Linear: xavier-uniform weight, zero bias;
    * every LayerNorm: weight 1, bias 0;
    * patch projection (a Conv2d): xavier-uniform on its weight viewed as (D, C*p*p); its bias keeps
      PyTorch's default Conv2d draw, U(-1/sqrt(C*p*p), 1/sqrt(C*p*p)), which the official code never resets;
    * class token and mask token: N(0, 0.02);
    * positional tables: the fixed 2-D sin-cos values (see ``pos_embed.py``).

Modules are first built on the ``meta`` device (no memory, no random draws), then given real storage
once and initialised once by :func:`materialize`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def init_transformer_weights(module: nn.Module) -> None:
    """Xavier-uniform Linear weights with zero biases, unit LayerNorms, for every submodule."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_patch_projection(proj: nn.Conv2d) -> None:
    """The patch projection initialised as a Linear layer on the flattened patch (official)."""
    weight = proj.weight  # (D, C, p, p)
    nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
    if proj.bias is not None:
        fan_in = weight[0].numel()  # C * p * p
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(proj.bias, -bound, bound)  # PyTorch's Conv2d default, kept by the official code


def materialize(module: nn.Module, device: torch.device | str | None) -> None:
    """Give a meta-built ``module`` real storage on ``device`` and call its ``init_weights()``.

    ``device=None`` means the current default device. If that is ``meta`` (for example inside an
    outer module that is itself being built on meta), nothing happens: the outer module materializes
    everything once.
    """
    target = torch.device(device) if device is not None else torch.get_default_device()
    if target.type == "meta":
        return
    module.to_empty(device=target)
    with torch.no_grad():
        module.init_weights()
