"""Helpers for layers: output-size arithmetic, gradient clipping."""
from __future__ import annotations

import math

import numpy as np
from .._args import is_int

__all__ = ["conv_output_size"]


def conv_output_size(size, kernel, padding=0, stride=1, dilation=1, ceil_mode=False):
    """Output length of a convolution / pooling window along one dimension:

        N = floor((W - d*(F-1) - 1 + 2P) / S) + 1        (ceil instead of floor with ceil_mode)

    Raises ValueError naming the arguments when the result is < 1 or an argument is out of
    range, e.g. "input 5 with kernel 7, padding 0, stride 1, dilation 1 gives output size -1".
    With ceil_mode (pooling), a last window that would start in the right padding is dropped,
    as in PyTorch.
    """
    for name, v in (("size", size), ("kernel", kernel), ("padding", padding), ("stride", stride),
                    ("dilation", dilation)):
        if not is_int(v):
            raise TypeError(f"conv_output_size: {name} must be an int, got {type(v).__name__}")
    size, kernel, padding, stride, dilation = (int(size), int(kernel), int(padding), int(stride), int(dilation))
    if kernel < 1:
        raise ValueError(f"kernel size must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if size < 0:
        raise ValueError(f"input size must be >= 0, got {size}")
    span = dilation * (kernel - 1) + 1
    num = size + 2 * padding - span
    if ceil_mode:
        out = -(-num // stride) + 1 if num >= 0 else num // stride + 1
        if out >= 1 and (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = num // stride + 1
    if out < 1:
        raise ValueError(f"input {size} with kernel {kernel}, padding {padding}, stride {stride}, "
                         f"dilation {dilation} gives output size {out}")
    return out


def _grads(parameters):
    from ..tensor import Tensor

    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(x, p):
    """torch.linalg.vector_norm: p-norm of |x| in float64; inf = max, -inf = min, 0 = number
    of nonzero entries (0.0 for an empty x)."""
    if p == 2:  # the common case (clip_grad_norm_'s default): one float64 dot, cast in buffered chunks
        flat = np.asarray(x).ravel()
        return math.sqrt(float(np.einsum("i,i->", flat, flat, dtype=np.float64)))
    a = np.abs(np.asarray(x, np.float64)).ravel()
    if not a.size:
        return 0.0
    if p == float("inf"):
        return a.max()
    if p == float("-inf"):
        return a.min()
    if p == 0:
        return float(np.count_nonzero(a))
    return np.sum(a ** p) ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale gradients in place so that their joint norm is at most ``max_norm``
    (torch.nn.utils.clip_grad_norm_). Returns the total norm before clipping (a 0-d Tensor).

    The scale is ``max_norm / (total_norm + 1e-6)``, applied when it is < 1 or NaN (a NaN
    gradient makes every gradient NaN, as in PyTorch). ``norm_type`` may be any p, ``inf``
    (largest |g|), ``-inf`` (smallest |g|) or 0 (number of nonzero entries); as PyTorch, it is
    the norm of the per-tensor norms.
    """
    from ..tensor import Tensor

    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(np.float32(0.0))
    per_tensor = np.array([_vector_norm(g.data, norm_type) for g in grads])
    total = float(_vector_norm(per_tensor, norm_type))  # the norm of the per-tensor norms (PyTorch)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:
        for g in grads:
            g.data *= np.float32(coef)
    return Tensor(np.float32(total))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g.data, -clip_value, clip_value, out=g.data)


__all__ += ["clip_grad_norm_", "clip_grad_value_"]
