"""Reductions behind ``fastdl.Tensor``'s methods: sum, mean, var/std, max/min (with indices),
argmax/argmin. ``autograd.Function`` s on numpy arrays; below ``fastdl.tensor``."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import autograd
from ._args import norm_dim, norm_dims
from .autograd import Function


# ---- reductions ----------------------------------------------------------------------------
def _expand_grad(g, shape, dims, keepdim):
    if dims is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdim:
        g = np.expand_dims(g, dims)
    return np.broadcast_to(g, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.saved = (x.shape, dims, keepdim)
        if x.dtype.kind != "f":  # bool / int: int64 counts and sums, as PyTorch
            return np.asarray(np.sum(x, axis=dims, keepdims=keepdim, dtype=np.int64))
        if dims is None and not keepdim:  # a 0-d array directly (a numpy scalar costs a conversion)
            return np.add.reduce(x, axis=None, out=np.empty((), x.dtype))
        return np.add.reduce(x, axis=dims, keepdims=keepdim)  # = np.sum, without its Python wrapper

    @staticmethod
    def backward(ctx, g):
        shape, dims, keepdim = ctx.saved
        return _expand_grad(g, shape, dims, keepdim), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        if x.dtype.kind != "f":
            raise TypeError(f"mean: expected a floating point tensor, got dtype {x.dtype}")
        ctx.saved = (x.shape, dims, keepdim)
        n = x.size if dims is None else int(np.prod([x.shape[d] for d in dims]))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.true_divide(np.add.reduce(x, axis=dims, keepdims=keepdim), n, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, dims, keepdim = ctx.saved
        n = int(np.prod([shape[d] for d in dims])) if dims is not None else int(np.prod(shape))
        return _expand_grad(g / max(n, 1), shape, dims, keepdim), None, None


def var(x, dim, default_correction, keepdim, correction):
    c = default_correction if correction is None else correction
    dims = norm_dims(dim, x.ndim, "var")
    n = int(np.prod([x.shape[d] for d in dims])) if dims is not None else x.numel()
    d = x - x.mean(dims, keepdim=True)
    return (d * d).sum(dims, keepdim=keepdim) / max(n - c, 0)


class MaxAll(Function):
    """max (or min) over all elements; the gradient is split evenly between ties (PyTorch)."""

    @staticmethod
    def forward(ctx, x, is_max):
        if x.size == 0:
            raise RuntimeError(f"{'max' if is_max else 'min'}(): expected a non-empty tensor, got shape {x.shape}")
        y = np.maximum.reduce(x, axis=None) if is_max else np.minimum.reduce(x, axis=None)
        ctx.saved = (x, y)
        return np.asarray(y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        mask = x == y
        if y != y:  # a NaN result: the gradient goes to the NaN entries (PyTorch)
            mask = np.isnan(x)
        return mask * (g / mask.sum()), None


class TakeAlong(Function):
    """x gathered at ``idx`` (keepdim-shaped indices) along ``dim``; gradient scattered back."""

    @staticmethod
    def forward(ctx, x, idx, dim, keepdim):
        ctx.saved = (x.shape, idx, dim, keepdim)
        y = np.take_along_axis(x, idx, axis=dim)
        return y if keepdim else np.squeeze(y, axis=dim)

    @staticmethod
    def backward(ctx, g):
        shape, idx, dim, keepdim = ctx.saved
        gx = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(gx, idx, g if keepdim else np.expand_dims(g, dim), axis=dim)
        return gx, None, None, None


MinMaxResult = namedtuple("MinMaxResult", ["values", "indices"])


def minmax(x, dim, keepdim, is_max):
    name = "max" if is_max else "min"
    if dim is None:
        return MaxAll.apply(x, is_max)
    d = norm_dim(dim, x.ndim, name)
    if x.ndim == 0:
        return MinMaxResult(x, autograd._wrap(np.zeros((), np.int64)))
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): cannot reduce over the zero-size dimension {d} of shape {tuple(x.shape)}")
    idx = (np.argmax if is_max else np.argmin)(x.data, axis=d, keepdims=True)
    values = TakeAlong.apply(x, idx, d, keepdim)
    return MinMaxResult(values, autograd._wrap(idx if keepdim else np.squeeze(idx, axis=d)))


def argminmax(x, dim, keepdim, is_max):
    f = np.argmax if is_max else np.argmin
    if x.data.size == 0:
        raise RuntimeError(f"{f.__name__}(): expected a non-empty tensor")
    if dim is None:
        r = f(x.data)
        if keepdim:
            return autograd._wrap(np.full((1,) * x.ndim, r, dtype=np.int64))
        return autograd._wrap(np.asarray(r, dtype=np.int64))
    d = norm_dim(dim, x.ndim, f.__name__)
    if x.ndim == 0:
        return autograd._wrap(np.zeros((), np.int64))
    return autograd._wrap(f(x.data, axis=d, keepdims=keepdim).astype(np.int64, copy=False))
