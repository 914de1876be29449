"""Dropout (fastdl.functional.dropout): a seeded mask generated in C++ (counter-based hash
RNG keyed by fastdl.random.next_seed(), deterministic and thread-count independent), kept as
uint8 for backward; kept values scaled by 1 / (1 - p)."""
from __future__ import annotations

import numbers

from .. import _C
from ..autograd import Function
from ..random import next_seed
from ..tensor import as_float_tensor

__all__ = ["dropout"]


class _Dropout(Function):
    @staticmethod
    def forward(ctx, x, p, seed):
        y, mask = _C.dropout_forward(x, p, seed)
        ctx.save(mask)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx, dy):
        (mask,) = ctx.saved
        return _C.dropout_backward(dy, mask, ctx.p), None, None


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p) when
    ``training``; returns ``input`` unchanged when not training or p == 0, zeros when p == 1.
    ``p`` outside [0, 1] raises ValueError. ``inplace`` is accepted for PyTorch compatibility
    (fastdl returns a new Tensor)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not (0.0 <= p <= 1.0):
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = as_float_tensor(input)
    if not training or p == 0:
        return x
    return _Dropout.apply(x, float(p), next_seed())
