"""Record points: the named places in the forward pass where a recorder may read what was computed.

Paper: none (reading the model). Most stages of MAE Sec. 3 are the output of a module (the patch
embedding, each block, the final norms, the predictor) and a forward hook reads them. The others are
made into modules here, so that they have a name, show in ``print(model)`` and take a hook too:

    encoder.visible     Masking(visible (B, L_keep, D), mask (B, L), ids_restore (B, L), ids_keep (B, L_keep))
    encoder.tokens      [cls; visible] + positions, the sequence entering the first block (B, 1 + L_keep, D)
    decoder.tokens      [cls; visible, mask tokens] unshuffled + positions, entering its blocks (B, 1 + L, D_dec)
    *.attn.probs        softmax(q k^T / sqrt(hd)) (B, heads, T, T), only on the explicit attention path

A record point returns its input unchanged (no copy, no arithmetic, no parameters), so the numbers of
a forward pass do not depend on whether anything reads them. :mod:`mae_core.views.recorder` is the
supported way to read them; users need no hooks of their own.
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

T = TypeVar("T")


class RecordPoint(nn.Module):
    """Identity with a name: ``point(x) is x``. Forward hooks on it see the value in passing."""

    def forward(self, value: T) -> T:
        return value
