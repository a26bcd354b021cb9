"""The Transformer's position-wise MLP: Linear -> GELU -> Linear.

Paper: ViT Eq. 3 (MLP with one hidden layer and GELU non-linearity).

Shapes: (B, T, D) -> (B, T, D), hidden width ``mlp_ratio * D``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .kernels.linear import Linear


class Mlp(nn.Module):
    """ViT Eq. 3. Parameter names ``fc1`` / ``fc2`` follow the official checkpoints.

    Args:
        dim: D.
        hidden_dim: hidden width (4 * D in every MAE variant).
    """

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = Linear(dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as the official model
