"""Central finite differences in float64 (the check of every reference backward)."""
from __future__ import annotations

import numpy as np


def numeric_grad(f, x, eps=1e-6):
    """d f(x) / d x for a scalar-valued f of a float64 array x, by central differences."""
    x = np.array(x, dtype=np.float64, copy=True)
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = float(f(x))
        flat[i] = old - eps
        fm = float(f(x))
        flat[i] = old
        gf[i] = (fp - fm) / (2 * eps)
    return g
