"""One pre-norm Transformer block.

Paper: ViT Eq. 2-3:  x = x + MSA(LN(x));  x = x + MLP(LN(x)).

With ``drop_path_rate > 0`` (the fine-tuned classifier, :mod:`mae_core.classifier`) each residual
branch is dropped per sample during training (stochastic depth, :mod:`mae_core.drop_path`); the
pre-trained MAE uses 0, where the branch is added as it is.

Shapes: (B, T, D) -> (B, T, D).
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import Attention
from .drop_path import drop_path
from .mlp import Mlp


class Block(nn.Module):
    """ViT Eq. 2-3. Parameter names ``norm1, attn, norm2, mlp`` follow the official checkpoints.

    Args:
        dim: D.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over D.
        ln_eps: LayerNorm epsilon (1e-6 in the official variants).
        drop_path_rate: stochastic-depth probability of each residual branch, in training only (0: never).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, ln_eps: float = 1e-6,
                 drop_path_rate: float = 0.0):
        super().__init__()
        self.drop_path_rate = drop_path_rate  # a plain float: no module, no state-dict entry
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path_rate, self.training)  # Eq. 2
        x = x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)  # Eq. 3
        return x
