"""Float64 numpy reference of batch normalisation (torch.nn.functional.batch_norm semantics),
optionally followed by ReLU. Input (N, C, *) ; statistics per channel over all other axes."""
from __future__ import annotations

import numpy as np

__all__ = ["batch_norm_forward", "batch_norm_backward", "batch_norm_add_relu_forward", "batch_norm_add_relu_backward"]


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _bcast(v, x):
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps, relu=False):
    """Returns (y, mean, rstd, new_running_mean, new_running_var) in float64.

    training: batch mean and biased variance; running stats (when given) move towards the batch
    mean and the unbiased variance by ``momentum``. eval: the running statistics normalise.
    """
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    b = np.zeros(C) if bias is None else np.asarray(bias, dtype=np.float64)
    rm = None if running_mean is None else np.asarray(running_mean, dtype=np.float64).copy()
    rv = None if running_var is None else np.asarray(running_var, dtype=np.float64).copy()
    if training:
        M = x.size // C
        mean = x.mean(axis=_axes(x))
        var = ((x - _bcast(mean, x)) ** 2).mean(axis=_axes(x))
        if rm is not None:
            rm = (1 - momentum) * rm + momentum * mean
        if rv is not None:
            rv = (1 - momentum) * rv + momentum * var * M / (M - 1)
    else:
        mean, var = rm, rv
    rstd = 1.0 / np.sqrt(var + eps)
    y = (x - _bcast(mean, x)) * _bcast(rstd * w, x) + _bcast(b, x)
    if relu:
        y = np.maximum(y, 0.0)
    return y, mean, rstd, rm, rv


def batch_norm_backward(dy, x, weight, bias, mean, rstd, training, relu=False):
    """Returns (dx, dweight, dbias) in float64 for the forward above (mean/rstd as it returned)."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    C = x.shape[1]
    M = x.size // C
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    b = np.zeros(C) if bias is None else np.asarray(bias, dtype=np.float64)
    xhat = (x - _bcast(mean, x)) * _bcast(rstd, x)
    if relu:
        dy = dy * ((xhat * _bcast(w, x) + _bcast(b, x)) > 0)
    dbias = dy.sum(axis=_axes(x))
    dweight = (dy * xhat).sum(axis=_axes(x))
    if training:
        dx = _bcast(w * rstd, x) / M * (M * dy - _bcast(dbias, x) - xhat * _bcast(dweight, x))
    else:
        dx = dy * _bcast(w * rstd, x)
    return dx, dweight, dbias


def batch_norm_add_relu_forward(x, residual, weight, bias, running_mean, running_var, training, momentum, eps):
    """relu(batch_norm(x) + residual): returns (y, mean, rstd, new_running_mean, new_running_var)."""
    y, mean, rstd, rm, rv = batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)
    return np.maximum(y + np.asarray(residual, dtype=np.float64), 0.0), mean, rstd, rm, rv


def batch_norm_add_relu_backward(dy, x, residual, weight, bias, mean, rstd, training):
    """Returns (dx, dweight, dbias, dresidual) in float64 for the forward above."""
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    b = np.zeros(C) if bias is None else np.asarray(bias, dtype=np.float64)
    pre = (x - _bcast(mean, x)) * _bcast(rstd * w, x) + _bcast(b, x) + np.asarray(residual, dtype=np.float64)
    dres = np.asarray(dy, dtype=np.float64) * (pre > 0)
    return batch_norm_backward(dres, x, weight, bias, mean, rstd, training) + (dres,)
