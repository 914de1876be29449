"""Batch normalisation (torch.nn.functional.batch_norm) and its fused variants: BatchNorm+ReLU
and BatchNorm+add+ReLU (ResNet's residual join). Models get them through fastdl.nn.fusion."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, as_float_tensor
from .activation import sigmoid
from .pooling import _pool_args

__all__ = ["batch_norm", "batch_norm_relu", "batch_norm_sigmoid", "batch_norm_sigmoid_avg_pool2d",
           "batch_norm_add_relu"]


def _wanted(ctx, dx, dw, db):
    """The gradients of (input, weight, bias) the graph asked for; None for the other arguments."""
    need = ctx.needs_input_grad
    return (dx if need[0] else None, dw if need[1] else None, db if need[2] else None) + (None,) * (len(need) - 3)


class _BatchNorm(Function):
    fresh_grads = True  # dx, dw, db are new arrays from the kernel (or _eval_dx)

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, relu):
        y, mean, rstd = _C.batch_norm_forward(x, weight, bias, running_mean, running_var, training,
                                              momentum, eps, relu)
        ctx.save(x, weight, bias, mean, rstd, training, relu)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, bias, mean, rstd, training, relu = ctx.saved
        dx, dw, db = _C.batch_norm_backward(dy, x, weight, bias, mean, rstd, training, relu)
        if ctx.needs_input_grad[0] and not training and not relu:
            dx = _eval_dx(dy, weight, rstd)
        return _wanted(ctx, dx, dw, db)


class _BatchNormSigmoid(Function):
    """sigmoid(batch_norm(x)) with fewer passes over memory; saves what the two layers save
    (BatchNorm's input and the sigmoid's output). Training mode only (eval runs the two ops)."""

    fresh_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        y, mean, rstd = _C.batch_norm_sigmoid_forward(x, weight, bias, running_mean, running_var, training,
                                                      momentum, eps)
        ctx.save(x, y, weight, bias, mean, rstd, training)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y, weight, bias, mean, rstd, training = ctx.saved
        return _wanted(ctx, *_C.batch_norm_sigmoid_backward(dy, y, x, weight, bias, mean, rstd, training))


class _BatchNormSigmoidAvgPool2d(Function):
    """avg_pool2d(sigmoid(batch_norm(x))) for a 4-D x in training mode: the statistics, the
    sigmoid and the pooling of each plane in one kernel; saves BatchNorm's input and the sigmoid's
    output (as the unfused chain). The backward reads the pooled gradient directly."""

    fresh_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, pool):
        y, s, mean, rstd = _C.batch_norm_sigmoid_avg_pool2d_forward(x, weight, bias, running_mean, running_var,
                                                                    True, momentum, eps, *pool)
        ctx.save(x, s, weight, bias, mean, rstd, pool)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, s, weight, bias, mean, rstd, pool = ctx.saved
        return _wanted(ctx, *_C.batch_norm_sigmoid_avg_pool2d_backward(dy, s, x, weight, bias, mean, rstd, True,
                                                                       *pool))


def _eval_dx(g, weight, rstd):
    """eval: dx = g * weight * rstd per channel, without x (a NaN in x where g is 0 then gives
    0, as PyTorch; the kernel's generic formula multiplies 0 by x - mean)."""
    scale = rstd if weight is None else weight * rstd
    return g * scale.reshape((1, -1) + (1,) * (g.ndim - 2))


class _BatchNormAddRelu(Function):
    """relu(batch_norm(x) + residual) in one pass, its ReLU mask kept as a bitmask (1 bit per
    element); backward: dresidual = dy * mask, then the BatchNorm backward of that."""

    fresh_grads = True  # every gradient is a new array from the kernel (or _eval_dx)

    @staticmethod
    def forward(ctx, x, residual, weight, bias, running_mean, running_var, training, momentum, eps):
        y, mean, rstd, mask = _C.batch_norm_add_relu_forward(x, residual, weight, bias, running_mean, running_var,
                                                             training, momentum, eps)
        ctx.save(x, weight, bias, mean, rstd, mask, training)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, bias, mean, rstd, mask, training = ctx.saved
        dx, dw, db, dres = _C.batch_norm_add_relu_backward(dy, mask, x, weight, bias, mean, rstd, training)
        need = ctx.needs_input_grad
        if need[0] and not training:
            dx = _eval_dx(dres, weight, rstd)
        return (dx if need[0] else None, dres if need[1] else None, dw if need[2] else None,
                db if need[3] else None, None, None, None, None, None)


def _param(v, name):
    if v is None:
        return v
    if not (isinstance(v, (Tensor, np.ndarray, list, tuple)) or np.isscalar(v)) or isinstance(v, (str, bytes)):
        raise TypeError(f"batch_norm: {name} must be a Tensor, an array or None, got {type(v).__name__}")
    return as_float_tensor(v, f"batch_norm: {name}")


def _stat(v, name):
    """Running statistics are updated in place: the float32 C-contiguous array itself."""
    if v is None:
        return None
    a = v.data if isinstance(v, Tensor) else v
    if type(a) is not np.ndarray or a.dtype != np.float32 or not a.flags.c_contiguous:
        raise TypeError(f"batch_norm: {name} must be a float32 C-contiguous Tensor/array (updated in place), "
                        f"got {type(a).__name__}" + (f" of dtype {a.dtype}" if isinstance(a, np.ndarray) else ""))
    return a


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, relu, residual=None):
    input = as_float_tensor(input, "batch_norm: input")
    shape = input.data.shape
    if len(shape) < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *) with at least 2 dimensions, got shape {shape}")
    if training:
        if shape[1] and input.data.size // shape[1] == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(shape)}")
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    mom = 0.0 if momentum is None else float(momentum)
    weight, bias = _param(weight, "weight"), _param(bias, "bias")
    running_mean, running_var = _stat(running_mean, "running_mean"), _stat(running_var, "running_var")
    if residual is not None:
        return _BatchNormAddRelu.apply(input, residual, weight, bias, running_mean, running_var, bool(training), mom,
                                       float(eps))
    return _BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training), mom, float(eps), relu)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dimension 1 of ``input`` (N, C, *), as torch.nn.functional.batch_norm.

    training: y = (x - mean) / sqrt(var + eps) * weight + bias with the batch mean and biased
    variance per channel; ``running_mean``/``running_var`` (float32 arrays or Tensors of shape
    (C,), or None) are updated in place: r = (1 - momentum) * r + momentum * stat, with the
    unbiased variance. eval (training=False): the running statistics normalise.
    Raises ValueError when training with one value per channel.
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, False)


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                    eps=1e-5):
    """``relu(batch_norm(...))`` in one kernel: the same arguments and numerics as ``batch_norm``.

    Saves memory passes: forward writes the activation once; backward recomputes the ReLU mask
    from the input instead of storing it.
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, True)


def batch_norm_sigmoid(input, running_mean, running_var, weight=None, bias=None, training=True, momentum=0.1,
                       eps=1e-5):
    """``sigmoid(batch_norm(...))`` in one kernel, in training mode (the statistics of the batch;
    ``training=False`` runs the two ops one after the other): the arguments and numerics of
    ``batch_norm``, bitwise the same results.
    """
    if not training:
        return sigmoid(batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps))
    input = as_float_tensor(input, "batch_norm: input")
    shape = input.data.shape
    if len(shape) < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *) with at least 2 dimensions, got shape {shape}")
    mom = 0.0 if momentum is None else float(momentum)
    weight, bias = _param(weight, "weight"), _param(bias, "bias")
    running_mean, running_var = _stat(running_mean, "running_mean"), _stat(running_var, "running_var")
    return _BatchNormSigmoid.apply(input, weight, bias, running_mean, running_var, True, mom, float(eps))


def batch_norm_sigmoid_avg_pool2d(input, running_mean, running_var, weight=None, bias=None, momentum=0.1,
                                  eps=1e-5, kernel_size=2, stride=None, padding=0, ceil_mode=False,
                                  count_include_pad=True, divisor_override=None):
    """``avg_pool2d(sigmoid(batch_norm(input, ..., training=True)), kernel_size, ...)`` for an
    (N, C, H, W) input in one kernel (LeNet-BN's BatchNorm2d -> Sigmoid -> AvgPool2d, fused by
    nn.fusion while training): the arguments of ``batch_norm`` (training mode) and
    ``avg_pool2d``; bitwise the three ops one after the other, forward and backward.
    """
    input = as_float_tensor(input, "batch_norm: input")
    if input.data.ndim != 4:
        raise ValueError(f"batch_norm_sigmoid_avg_pool2d: input must be (N, C, H, W), got shape {input.data.shape}")
    mom = 0.0 if momentum is None else float(momentum)
    weight, bias = _param(weight, "weight"), _param(bias, "bias")
    running_mean, running_var = _stat(running_mean, "running_mean"), _stat(running_var, "running_var")
    pool = _pool_args(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return _BatchNormSigmoidAvgPool2d.apply(input, weight, bias, running_mean, running_var, mom, float(eps), pool)


def batch_norm_add_relu(input, residual, running_mean, running_var, weight=None, bias=None, training=False,
                        momentum=0.1, eps=1e-5):
    """``relu(batch_norm(input, ...) + residual)`` (ResNet's join of a block and its shortcut):
    the arguments and numerics of ``batch_norm``, plus ``residual`` of the input's shape.
    """
    residual = as_float_tensor(residual, "batch_norm_add_relu: residual")
    shape = as_float_tensor(input, "batch_norm_add_relu: input").shape
    if residual.shape != shape:
        raise ValueError(f"batch_norm_add_relu: residual has shape {tuple(residual.shape)}, expected the input's "
                         f"shape {tuple(shape)}")
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, False, residual)
