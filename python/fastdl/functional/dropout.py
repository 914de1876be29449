"""Dropout (fastdl.functional.dropout): a seeded mask generated in C++ (counter-based hash
RNG keyed by fastdl.random.next_seed(), deterministic and thread-count independent), kept as
uint8 for backward; kept values scaled by 1 / (1 - p)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from .._inplace import apply_inplace
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


class _DropoutInplace(_Dropout):
    inplace = True

    @staticmethod
    def forward(ctx, x, p, seed):
        _, mask = _C.dropout_forward(x, p, seed)  # the same mask as the out-of-place op
        np.multiply(x, np.float32(1.0 / (1.0 - p)) if p < 1 else np.float32(0), out=x)
        np.copyto(x, np.float32(0), where=mask == 0)
        ctx.save(mask)
        ctx.p = p
        return x


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p) when
    ``training``; returns ``input`` unchanged when not training or p == 0, zeros when p == 1.
    ``p`` outside [0, 1] raises ValueError. ``inplace=True`` writes into ``input`` (a Tensor)
    and returns it."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not (0.0 <= p <= 1.0):
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = as_float_tensor(input)
    if not training or p == 0:
        return x
    if inplace:
        if x is not input or not x.data.flags.c_contiguous:
            raise TypeError(f"dropout: inplace=True needs a C-contiguous float32 Tensor, got {type(input).__name__}")
        return apply_inplace(_DropoutInplace, "dropout_", x, float(p), next_seed())
    return _Dropout.apply(x, float(p), next_seed())
