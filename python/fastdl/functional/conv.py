"""2-D convolution (torch.nn.functional.conv2d) over the C++ im2col + SGEMM kernels."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import as_float_tensor as _as_tensor

__all__ = ["conv2d"]

# ---- argument helpers (shared with pooling.py) ----------------------------------------


def _int_arg(v, name, op):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    v = int(v)
    if not -(2**63) <= v < 2**63:
        raise OverflowError(f"{op}: {name}={v} does not fit in int64")
    return v


def _pair(v, name, op):
    """(h, w) from an int or a sequence of two ints (PyTorch's _pair)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
        return (_int_arg(v[0], name, op), _int_arg(v[1], name, op))
    v = _int_arg(v, name, op)
    return (v, v)


class _Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        y = _C.conv2d_forward(x, weight, bias, stride, padding, dilation, groups)
        ctx.save(x, weight)
        ctx.args = (stride, padding, dilation, groups)
        ctx.unbatched = unbatched
        ctx.has_bias = bias is not None
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved
        if ctx.unbatched:
            dy = dy[None]
        need = ctx.needs_input_grad
        dx, dw, db = _C.conv2d_backward(dy, x, weight, *ctx.args, need_input=bool(need[0]),
                                        need_weight=bool(need[1]), need_bias=bool(ctx.has_bias and need[2]))
        if ctx.unbatched and dx is not None:
            dx = dx[0]
        return dx, dw, db, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    input: (N, C, H, W) or unbatched (C, H, W); weight: (K, C/groups, R, S); bias: (K,) or None.
    stride, padding (zeros), dilation: an int or an (h, w) pair; groups divides C and K.
    Output (N, K, P, Q) with P = floor((H + 2*pad_h - dil_h*(R-1) - 1) / stride_h) + 1 (same for Q).
    Raises ValueError naming the shapes for a wrong rank, a channel mismatch, a kernel larger
    than the padded input, stride/dilation < 1, padding < 0 or groups not dividing the channels,
    and OverflowError when a size overflows int64.
    """
    op = "conv2d"
    x = _as_tensor(input, "input")
    w = _as_tensor(weight, "weight")
    b = None if bias is None else _as_tensor(bias, "bias")
    if x.ndim not in (3, 4):
        raise ValueError(f"conv2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    stride = _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
    dilation = _pair(dilation, "dilation", op)
    groups = _int_arg(groups, "groups", op)
    return _Conv2d.apply(x, w, b, stride, padding, dilation, groups)
