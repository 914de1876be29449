"""Tensor factories with PyTorch's names: zeros, ones, full, eye, arange, rand, randn, ...

Sizes are given as ints or one tuple/list (``zeros(2, 3)`` or ``zeros((2, 3))``). Floating
results are float32; random ones draw from ``fastdl.random.default_generator()`` so
``fastdl.manual_seed`` makes them reproducible.
"""
from __future__ import annotations

import numpy as np

from . import random as _random
from .tensor import Tensor, _as_array, get_default_dtype
from ._args import is_int

__all__ = ["zeros", "ones", "full", "empty", "eye", "arange", "rand", "randn", "randint",
           "zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "from_numpy"]


def _size(size, name):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if not is_int(s):
            raise TypeError(f"{name}: sizes must be ints, got {type(s).__name__}")
        if s < 0:
            raise ValueError(f"{name}: negative size {s} in {tuple(size)}")
        out.append(int(s))
    return tuple(out)


def _dtype(dtype):
    if dtype is None:
        return get_default_dtype()
    d = np.dtype(dtype)
    if d.kind == "f":
        return get_default_dtype()
    if d.kind in "iu":
        return np.dtype(np.int64)
    if d.kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"unsupported tensor dtype {d}")


def _make(a, requires_grad):
    t = Tensor._wrap(a)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, requires_grad=False):
    """A tensor of zeros of shape ``size`` (ints or one tuple), float32 unless ``dtype`` is an
    integer (int64) or bool type. Raises TypeError for a non-int size, ValueError for a
    negative one."""
    return _make(np.zeros(_size(size, "zeros"), dtype=_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    """A tensor of ones of shape ``size`` (ints or one tuple); dtype and errors as :func:`zeros`."""
    return _make(np.ones(_size(size, "ones"), dtype=_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    """Uninitialised storage (numpy.empty)."""
    return _make(np.empty(_size(size, "empty"), dtype=_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """A tensor of shape ``size`` (an int or a tuple) filled with ``fill_value``. As
    ``torch.full``, the dtype follows the fill value when ``dtype`` is None: int64 for an int,
    bool for a bool, float32 otherwise. Errors as :func:`zeros`."""
    if is_int(size):
        size = (size,)
    if dtype is None and is_int(fill_value):
        dtype = np.int64  # torch.full infers the dtype from the fill value
    elif dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = np.bool_
    return _make(np.full(_size((size,), "full"), fill_value, dtype=_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    """The identity matrix of shape ``(n, m)`` (``(n, n)`` when ``m`` is None): ones on the
    diagonal, float32 by default. Raises TypeError/ValueError for a non-int or negative size."""
    _size((n,) if m is None else (n, m), "eye")
    return _make(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Values in [start, end) with ``step``; int64 when all arguments are ints, else float32."""
    if end is None:
        start, end = 0, start
    for v, nm in ((start, "start"), (end, "end"), (step, "step")):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"arange: {nm} must be a number, got {type(v).__name__}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        ints = all(is_int(v) for v in (start, end, step))
        dtype = np.int64 if ints else get_default_dtype()
    d = _dtype(dtype)
    if d.kind == "f":
        a = np.arange(start, end, step, dtype=np.float64).astype(d)
    else:
        a = np.arange(start, end, step, dtype=d)
    return _make(a, requires_grad)


def rand(*size, generator=None, requires_grad=False):
    """Uniform samples in [0, 1) from the global generator (or ``generator``)."""
    g = generator or _random.default_generator()
    return _make(g.random(_size(size, "rand"), dtype=np.float32).astype(get_default_dtype(), copy=False),
                 requires_grad)


def randn(*size, generator=None, requires_grad=False):
    """Standard normal samples from the global generator (or ``generator``)."""
    g = generator or _random.default_generator()
    return _make(g.standard_normal(_size(size, "randn"), dtype=np.float32).astype(get_default_dtype(), copy=False),
                 requires_grad)


def randint(low, high=None, size=(), generator=None):
    """int64 samples in [low, high) (``randint(high, size)`` as in PyTorch is ``randint(0, high, size)``)."""
    if high is None:
        low, high = 0, low
    g = generator or _random.default_generator()
    return Tensor._wrap(g.integers(low, high, size=_size((size,), "randint"), dtype=np.int64))


def _like(t):
    return t.data if isinstance(t, Tensor) else _as_array(t)


def zeros_like(input, dtype=None, requires_grad=False):  # noqa: A002
    """Zeros with the shape (and, unless ``dtype`` is given, the dtype) of ``input``, a Tensor
    or array."""
    a = _like(input)
    return _make(np.zeros(a.shape, dtype=a.dtype if dtype is None else _dtype(dtype)), requires_grad)


def ones_like(input, dtype=None, requires_grad=False):  # noqa: A002
    """Ones with the shape (and, unless ``dtype`` is given, the dtype) of ``input``."""
    a = _like(input)
    return _make(np.ones(a.shape, dtype=a.dtype if dtype is None else _dtype(dtype)), requires_grad)


def full_like(input, fill_value, dtype=None, requires_grad=False):  # noqa: A002
    """``fill_value`` in the shape (and, unless ``dtype`` is given, the dtype) of ``input``."""
    a = _like(input)
    return _make(np.full(a.shape, fill_value, dtype=a.dtype if dtype is None else _dtype(dtype)), requires_grad)


def rand_like(input, requires_grad=False):  # noqa: A002
    """Uniform samples in [0, 1), float32, with the shape of ``input`` (see :func:`rand`)."""
    return rand(_like(input).shape, requires_grad=requires_grad)


def randn_like(input, requires_grad=False):  # noqa: A002
    """Standard normal samples, float32, with the shape of ``input`` (see :func:`randn`)."""
    return randn(_like(input).shape, requires_grad=requires_grad)


def from_numpy(ndarray):
    """A Tensor sharing memory with ``ndarray`` when it is float32, int64 or bool (other
    floating or integer dtypes are converted, i.e. copied, to float32 / int64)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    if ndarray.dtype in (get_default_dtype(), np.dtype(np.int64), np.dtype(np.bool_)):
        return Tensor._wrap(ndarray)
    return Tensor(ndarray)
