"""Tensor dtypes (fastdl.float32, float64, int64, long, bool), the default floating dtype and
the array conversion every new Tensor goes through. Below ``fastdl.tensor``: it sees the
Tensor class only through ``autograd._Tensor`` (see tensor.py's docstring)."""
from __future__ import annotations

import numpy as np

from . import autograd

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
long = int64
bool = np.dtype(np.bool_)  # noqa: A001 - PyTorch's name (fastdl.bool)

_default = [float32]  # the floating dtype new tensors get (a list: module-level mutable)


def get_default_dtype():
    """The floating dtype of new tensors (float32 unless changed)."""
    return _default[0]


def set_default_dtype(dtype):
    """Set the floating dtype of new tensors: float32 (default) or float64.

    float64 is meant for gradient checks (``fastdl.gradcheck``): the C++ kernels still
    compute in float32 and their results are cast back.
    """
    d = np.dtype(dtype)
    if d not in (float32, float64):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {d}")
    _default[0] = d


def _as_array(x, dtype=None):
    if isinstance(x, autograd._Tensor):
        x = x.data
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"cannot make a tensor from {type(x).__name__}")
    if dtype is not None:
        if isinstance(x, np.ndarray) and x.dtype.kind not in "fiub":
            raise TypeError(f"cannot make a {np.dtype(dtype)} tensor from an array of dtype {x.dtype}")
        d = np.dtype(dtype)
        if d.kind == "f":
            d = _default[0] if d == float32 else d
        elif d.kind in "iu":
            d = int64
        elif d.kind != "b":
            raise TypeError(f"unsupported tensor dtype {d}")
        return np.asarray(x, dtype=d, order="C")
    a = np.asarray(x)
    k = a.dtype.kind
    if k == "f":
        return np.asarray(a, dtype=_default[0], order="C")
    if k in "iu":
        return np.asarray(a, dtype=int64, order="C")
    if k == "b":
        return np.asarray(a, order="C")
    raise TypeError(f"cannot make a tensor from an array of dtype {a.dtype}")
