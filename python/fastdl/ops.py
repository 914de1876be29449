"""Raw kernels on numpy arrays, without autograd (for users with their own loop, benchmarks)."""
from __future__ import annotations

import numpy as np

from . import _C

__all__ = ["gemm", "matmul"]


def _as_f32(x, name):
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
    """``alpha * op(a) @ op(b) + beta * out`` in float32 (op = transpose when trans_*).

    ``a`` and ``b`` are 2-D; they are converted to float32 C-contiguous when they are not.
    ``out``, when given, must be a float32 C-contiguous array of the result's shape; it is
    written in place and returned (read only when ``beta != 0``).
    """
    a = _as_f32(a, "a")
    b = _as_f32(b, "b")
    return _C.gemm(a, b, bool(trans_a), bool(trans_b), float(alpha), float(beta), out)


def matmul(a, b):
    """``a @ b`` for 2-D float32 arrays (through the SGEMM)."""
    return gemm(a, b)
