"""Multi-head self-attention with a fused qkv projection.

Paper: ViT Eq. 2 (MSA inside each block); Vaswani et al. Eq. 1 (scaled dot-product attention).

Shapes:
    x (B, T, D) -> (B, T, D), with T tokens, ``num_heads`` heads of width hd = D / num_heads.

Parameter names follow the official checkpoints: ``qkv`` (Linear D -> 3D, with bias) and ``proj``.
The default path calls ``F.scaled_dot_product_attention``, which never materialises the attention
probabilities; :func:`explicit_attention` spells out the same computation for readers and is used when
``Attention.fused`` is False. Only that explicit path passes the probabilities (B, heads, T, T) through
the record point ``probs``, which is how :mod:`mae_core.views.recorder` reads attention maps.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .kernels.linear import Linear
from .kernels.switch import SwitchableAttention
from .record import RecordPoint


def attention_probs(q: Tensor, k: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(hd)): q, k (B, heads, T, hd) -> (B, heads, T, T), each row sums to 1."""
    scale = q.shape[-1] ** -0.5
    scores = (q * scale) @ k.transpose(-2, -1)  # (B, heads, T, T)
    return scores.softmax(dim=-1)


def explicit_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(hd)) v, written out. q, k, v: (B, heads, T, hd) -> (B, heads, T, hd)."""
    return attention_probs(q, k) @ v  # (B, heads, T, hd)


class Attention(nn.Module, SwitchableAttention):
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
        self.fused = True  # False: the explicit path (same numbers within float rounding)
        self.qkv = Linear(dim, 3 * dim, bias=True)
        self.probs = RecordPoint()  # record point: attention probabilities, explicit path only
        self.proj = Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, hd)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = self.probs(attention_probs(q, k)) @ v  # explicit_attention, probabilities in passing
        out = out.transpose(1, 2).reshape(B, T, D)  # (B, T, D): heads concatenated
        return self.proj(out)
