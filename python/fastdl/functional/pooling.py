"""2-D pooling (max, average, adaptive average) over the C++ kernels, as torch.nn.functional."""
from __future__ import annotations

import numpy as np

from .. import _C, autograd
from ..autograd import Function
from .._args import int_arg, pair
from ..tensor import Tensor, as_float_tensor

__all__ = ["max_pool2d", "max_unpool2d", "avg_pool2d", "adaptive_avg_pool2d", "activation_avg_pool2d"]


def _batched(x, op):
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    return x.ndim == 3


def _with_batch_dim(x):
    """(x with a batch dimension, whether one was added): the kernels take (N, C, H, W)."""
    return (x[None], True) if x.ndim == 3 else (x, False)


class _MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, indices_out):
        x4, unbatched = _with_batch_dim(x)
        y, idx = _C.max_pool2d_forward(x4, kernel, stride, padding, dilation, ceil_mode)
        ctx.save(idx)
        ctx.args = (x4.shape, kernel, stride, padding, dilation, ceil_mode)
        ctx.unbatched = unbatched
        if indices_out is not None:
            indices_out.append(idx[0] if unbatched else idx)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, dy):
        (idx,) = ctx.saved
        dy = dy[None] if ctx.unbatched else dy
        dx = _C.max_pool2d_backward(dy, idx, *ctx.args)
        return (dx[0] if ctx.unbatched else dx), None, None, None, None, None, None


class _AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        x4, unbatched = _with_batch_dim(x)
        y = _C.avg_pool2d_forward(x4, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.args = (x4.shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.unbatched = unbatched
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, dy):
        dy = dy[None] if ctx.unbatched else dy
        dx = _C.avg_pool2d_backward(dy, *ctx.args)
        return (dx[0] if ctx.unbatched else dx), None, None, None, None, None, None


class _ActAvgPool2d(Function):
    """avg_pool2d(act(x)) for a 4-D x in one kernel pass; saves act(x) for the backward."""

    fresh_grads = True

    @staticmethod
    def forward(ctx, x, act, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        y, s = _C.avg_pool2d_act_forward(x, act, kernel, stride, padding, ceil_mode, count_include_pad,
                                         divisor_override,
                                         bool(ctx.needs_input_grad[0]) and autograd.is_grad_enabled())
        ctx.save(s)
        ctx.args = (act, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return y

    @staticmethod
    def backward(ctx, dy):
        (s,) = ctx.saved
        return (_C.avg_pool2d_act_backward(dy, s, *ctx.args),) + (None,) * 7


class _AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        x4, unbatched = _with_batch_dim(x)
        y = _C.adaptive_avg_pool2d_forward(x4, output_size)
        ctx.shape = x4.shape
        ctx.unbatched = unbatched
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, dy):
        dy = dy[None] if ctx.unbatched else dy
        dx = _C.adaptive_avg_pool2d_backward(dy, ctx.shape)
        return (dx[0] if ctx.unbatched else dx), None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling, as ``torch.nn.functional.max_pool2d``.

    input (N, C, H, W) or (C, H, W); stride defaults to kernel_size; padding (never selected)
    must be at most half the kernel. NaN in a window propagates; a window of -inf gives -inf.
    With return_indices, also returns the int64 position of each maximum inside its (H, W) plane.
    """
    op = "max_pool2d"
    x = as_float_tensor(input, "input")
    _batched(x, op)
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () or stride == [] else pair(stride, "stride", op)
    holder = [] if return_indices else None
    y = _MaxPool2d.apply(x, kernel, stride, pair(padding, "padding", op), pair(dilation, "dilation", op),
                         bool(ceil_mode), holder)
    if return_indices:
        return y, Tensor._wrap(holder[0])
    return y


class _MaxUnpool2d(Function):
    @staticmethod
    def forward(ctx, x, rows, flat, out_shape):
        y = np.zeros(out_shape, dtype=x.dtype)
        y.reshape(rows.shape[0], -1)[rows, flat] = x.reshape(rows.shape[0], -1)
        ctx.rows, ctx.flat, ctx.in_shape = rows, flat, x.shape
        return y

    @staticmethod
    def backward(ctx, dy):
        dy = np.ascontiguousarray(dy)
        return dy.reshape(ctx.rows.shape[0], -1)[ctx.rows, ctx.flat].reshape(ctx.in_shape), None, None, None


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of :func:`max_pool2d` with ``return_indices=True``, as ``torch.nn.functional.max_unpool2d``.

    input (N, C, h, w) or (C, h, w) and indices of the same shape (int64 positions inside each
    output (H, W) plane); every other output element is zero. The output size defaults to
    ((h-1)*stride - 2*padding + kernel_size) per axis; output_size (the last two entries count)
    overrides it and must lie within one stride of that default. The gradient gathers the output
    gradient at the indices. ValueError for mismatched shapes, a bad output_size or an index
    outside the plane.
    """
    op = "max_unpool2d"
    x = as_float_tensor(input, "input")
    _batched(x, op)
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.shape != x.shape or idx.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be an integer array of the input's shape {x.shape}, "
                         f"got {idx.dtype} {idx.shape}")
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () or stride == [] else pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    default = tuple((x.shape[-2 + i] - 1) * stride[i] - 2 * padding[i] + kernel[i] for i in range(2))
    if output_size is None:
        size = default
    else:
        size = tuple(int_arg(v, "output_size", op) for v in tuple(output_size)[-2:])
        if len(size) != 2 or any(not d - s < v < d + s for v, d, s in zip(size, default, stride)):
            raise ValueError(f"{op}: output_size {tuple(output_size)} must be between "
                             f"{tuple(d - s for d, s in zip(default, stride))} and "
                             f"{tuple(d + s for d, s in zip(default, stride))} (exclusive)")
    planes = int(np.prod(x.shape[:-2]))
    flat = idx.reshape(planes, -1).astype(np.int64, copy=False)
    if flat.size and (flat.min() < 0 or flat.max() >= size[0] * size[1]):
        raise ValueError(f"{op}: found an invalid max index {int(flat.min() if flat.min() < 0 else flat.max())} "
                         f"for an output plane of {size}")
    rows = np.broadcast_to(np.arange(planes)[:, None], flat.shape)
    out_shape = tuple(x.shape[:-2]) + size
    y = _MaxUnpool2d.apply(x, rows, flat, out_shape)
    return y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling, as ``torch.nn.functional.avg_pool2d`` (input (N, C, H, W) or (C, H, W)).

    The divisor is the window size clipped to the padded input (count_include_pad=True) or to the
    input (False), or divisor_override when given (non-zero).
    """
    x = as_float_tensor(input, "input")
    _batched(x, "avg_pool2d")
    return _AvgPool2d.apply(x, *_pool_args(kernel_size, stride, padding, ceil_mode, count_include_pad,
                                           divisor_override))


def _pool_args(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """avg_pool2d's arguments, checked: (kernel, stride, padding, ceil_mode, count_include_pad,
    divisor_override) as the kernels take them."""
    op = "avg_pool2d"
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () or stride == [] else pair(stride, "stride", op)
    div = None if divisor_override is None else int_arg(divisor_override, "divisor_override", op)
    return kernel, stride, pair(padding, "padding", op), bool(ceil_mode), bool(count_include_pad), div


# The activations avg_pool2d_act fuses (their backward reads their output): fastdl::Activation.
_POOLED_ACTIVATIONS = {"relu": 0, "sigmoid": 3, "tanh": 4}


def activation_avg_pool2d(input, activation, kernel_size, stride=None, padding=0, ceil_mode=False,
                          count_include_pad=True, divisor_override=None):
    """``avg_pool2d(activation(input), ...)`` in one pass over memory (``activation``: "relu",
    "sigmoid" or "tanh"; the other arguments those of :func:`avg_pool2d`): bitwise the two
    ops one after the other, forward and backward. nn.fusion runs LeNet's Sigmoid -> AvgPool2d
    through it.
    """
    op = "avg_pool2d"
    if activation not in _POOLED_ACTIVATIONS:
        raise ValueError(f"activation_avg_pool2d: activation must be one of {sorted(_POOLED_ACTIVATIONS)}, "
                         f"got {activation!r}")
    x = as_float_tensor(input, "input")
    if _batched(x, op):  # (C, H, W): the kernels take a batch
        return activation_avg_pool2d(x.reshape((1,) + x.shape), activation, kernel_size, stride, padding,
                                     ceil_mode, count_include_pad, divisor_override)[0]
    return _ActAvgPool2d.apply(x, _POOLED_ACTIVATIONS[activation],
                               *_pool_args(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override))


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    output_size: an int or an (h, w) pair (None keeps that input size); cell i averages input
    rows [floor(i*H/h), ceil((i+1)*H/h)). output_size=1 is global average pooling.
    """
    op = "adaptive_avg_pool2d"
    x = as_float_tensor(input, "input")
    _batched(x, op)
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
        h, w = output_size
        h = x.shape[-2] if h is None else int_arg(h, "output_size", op)
        w = x.shape[-1] if w is None else int_arg(w, "output_size", op)
        size = (h, w)
    else:
        size = pair(output_size, "output_size", op)
    return _AdaptiveAvgPool2d.apply(x, size)
