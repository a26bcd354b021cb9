"""Multi-head self-attention against a written-out NumPy computation (float64), both paths.

The explicit path (``Attention.fused = False``, used when attention maps are recorded) and the fused
``scaled_dot_product_attention`` path must both equal softmax(q k^T / sqrt(hd)) v, head by head. The
expected values never touch ``mae_core`` code, so a wrong scale, head split or projection fails here
independently of the comparison of the two paths in ``test_encoder_decoder.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mae_core.attention import Attention, explicit_attention


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention_by_hand(x: np.ndarray, qkv_w, qkv_b, proj_w, proj_b, heads: int) -> np.ndarray:
    """x (T, D) -> (T, D): the fused qkv rows are [q; k; v], each split into ``heads`` slices of hd."""
    T, D = x.shape
    hd = D // heads
    q, k, v = np.split(x @ qkv_w.T + qkv_b, 3, axis=-1)  # each (T, D)
    out = np.empty((T, D))
    for h in range(heads):
        cols = slice(h * hd, (h + 1) * hd)
        weights = softmax(q[:, cols] @ k[:, cols].T / np.sqrt(hd))  # (T, T), rows sum to 1
        out[:, cols] = weights @ v[:, cols]
    return out @ proj_w.T + proj_b


@pytest.mark.parametrize("fused", [False, True])
def test_attention_module_equals_the_written_out_formula(fused):
    torch.manual_seed(0)
    attn = Attention(32, num_heads=4)  # hd = 8: a scale of 1/sqrt(8), not 1/8 or 1/sqrt(32)
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)  # large enough that the softmax is far from uniform
    attn.fused = fused
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        ours = attn(x)
    w = {n: p.detach().double().numpy() for n, p in attn.named_parameters()}
    for b in range(2):
        expected = attention_by_hand(x[b].double().numpy(), w["qkv.weight"], w["qkv.bias"], w["proj.weight"],
                                     w["proj.bias"], heads=4)
        np.testing.assert_allclose(ours[b].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_explicit_attention_on_a_case_small_enough_to_check_by_eye():
    """One head, hd = 4, two tokens: q.k = [[4, 0], [0, 4]], / sqrt(4) = [[2, 0], [0, 2]]; the softmax of
    [2, 0] is [e^2, 1] / (e^2 + 1). (Scaled by 1/hd instead, it would be [e, 1] / (e + 1).)"""
    q = k = torch.tensor([[[[2.0, 0, 0, 0], [0, 2.0, 0, 0]]]])  # (1, 1, 2, 4)
    v = torch.tensor([[[[1.0, 0, 0, 0], [0, 1.0, 0, 0]]]])
    e2 = float(np.e**2)
    expected = torch.tensor([[[[e2, 1.0, 0, 0], [1.0, e2, 0, 0]]]]) / (e2 + 1)
    torch.testing.assert_close(explicit_attention(q, k, v), expected)
