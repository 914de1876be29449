"""Central finite differences for checking float64 reference backwards.

Usage::

    from reference.fd import numeric_grad, check_grad
    g = numeric_grad(lambda x: (x ** 2).sum(), x)             # d f / d x, same shape as x
    g = numeric_grad(lambda x: x ** 2, x, dy=dy)               # d <f(x), dy> / d x (vector f)
"""
from __future__ import annotations

import numpy as np

__all__ = ["numeric_grad", "numeric_grads", "check_grad"]


def numeric_grad(f, x, eps=1e-6, dy=None):
    """Central-difference gradient of ``sum(f(x) * dy)`` (``dy`` defaults to ones) w.r.t. ``x``.

    ``x`` is copied to float64; ``f`` receives a float64 array of x's shape and returns a
    scalar or an array (then contracted with ``dy``). Each element costs two calls of f.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(x)

    def scalar(v):
        out = np.asarray(f(v), dtype=np.float64)
        if dy is None:
            return float(out.sum())
        return float((out * np.asarray(dy, dtype=np.float64)).sum())

    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = scalar(x)
        flat[i] = old - eps
        fm = scalar(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2.0 * eps)
    return grad


def numeric_grads(f, xs, eps=1e-6, dy=None):
    """Gradients of ``sum(f(*xs) * dy)`` w.r.t. each array in ``xs`` (a list of arrays)."""
    xs = [np.array(x, dtype=np.float64, copy=True) for x in xs]
    out = []
    for i in range(len(xs)):
        def fi(v, i=i):
            args = list(xs)
            args[i] = v
            return f(*args)
        out.append(numeric_grad(fi, xs[i], eps=eps, dy=dy))
    return out


def check_grad(f, x, analytic, eps=1e-6, dy=None, atol=1e-5, rtol=1e-3):
    """Assert that ``analytic`` equals the central-difference gradient (torch's gradcheck bars)."""
    num = numeric_grad(f, x, eps=eps, dy=dy)
    np.testing.assert_allclose(np.asarray(analytic, dtype=np.float64), num, atol=atol, rtol=rtol)
