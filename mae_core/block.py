"""One pre-norm Transformer block.

Paper: ViT Eq. 2-3:  x = x + MSA(LN(x));  x = x + MLP(LN(x)).

Shapes: (B, T, D) -> (B, T, D).
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import Attention
from .mlp import Mlp


class Block(nn.Module):
    """ViT Eq. 2-3. Parameter names ``norm1, attn, norm2, mlp`` follow the official checkpoints.

    Args:
        dim: D.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over D.
        ln_eps: LayerNorm epsilon (1e-6 in the official variants).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, ln_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))  # Eq. 2
        x = x + self.mlp(self.norm2(x))  # Eq. 3
        return x
