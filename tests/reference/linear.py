"""Float64 references of the linear layer: y = x W^T + b and its gradients."""
from __future__ import annotations

import numpy as np

__all__ = ["linear", "linear_backward"]


def linear(x, w, b=None):
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64).T
    return y if b is None else y + np.asarray(b, np.float64)


def linear_backward(dy, x, w):
    """(dx, dw, db) of sum(linear(x, w, b) * dy)."""
    dy, x, w = (np.asarray(a, np.float64) for a in (dy, x, w))
    return dy @ w, dy.T @ x, dy.sum(axis=0)
