"""Multi-head self-attention with a fused qkv projection.

Paper: ViT Eq. 2 (MSA inside each block); Vaswani et al. Eq. 1 (scaled dot-product attention).

Shapes:
    x (B, T, D) -> (B, T, D), with T tokens, ``num_heads`` heads of width hd = D / num_heads.

Parameter names follow the official checkpoints: ``qkv`` (Linear D -> 3D, with bias) and ``proj``.
The fast path calls ``F.scaled_dot_product_attention``; :func:`explicit_attention` spells out the same
computation for readers and is used when ``Attention.fused`` is False.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .kernels.linear import Linear


def explicit_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(hd)) v, written out. q, k, v: (B, heads, T, hd) -> (B, heads, T, hd)."""
    scale = q.shape[-1] ** -0.5
    scores = (q * scale) @ k.transpose(-2, -1)  # (B, heads, T, T)
    return scores.softmax(dim=-1) @ v  # (B, heads, T, hd)


class Attention(nn.Module):
    """ViT Eq. 2: multi-head self-attention.

    Args:
        dim: token width D.
        num_heads: number of heads; D must be divisible by it.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.fused = True  # False: use explicit_attention (same numbers within float rounding)
        self.qkv = Linear(dim, 3 * dim, bias=True)
        self.proj = Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, hd)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = explicit_attention(q, k, v)
        out = out.transpose(1, 2).reshape(B, T, D)  # (B, T, D): heads concatenated
        return self.proj(out)
