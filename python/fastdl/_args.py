"""The one home of fastdl's Python argument helpers.

Every layer that checks a user argument uses these (and the one tensor converter,
``fastdl.tensor.as_float_tensor``), so that a check is written once and every error names
the operation, the argument and the value it got. This module imports numpy only: any
fastdl module may import it without creating an import cycle.
"""
from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def is_int(v):
    """True for Python and numpy integers, False for bool (an int subclass) and all else."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def int_arg(v, name, op):
    """``v`` as a Python int that fits in int64; TypeError / OverflowError naming ``op`` and
    ``name`` otherwise."""
    if not is_int(v):
        raise TypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    v = int(v)
    if not -(2**63) <= v < 2**63:
        raise OverflowError(f"{op}: {name}={v} does not fit in int64")
    return v


def count_arg(v, name, op, minimum=1):
    """``v`` as an int >= ``minimum`` (a size, a count); ValueError naming ``op``, ``name`` and
    the value otherwise."""
    if not is_int(v) or v < minimum:
        kind = {0: "a non-negative int", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{op}: {name} must be {kind}, got {v!r}")
    return int(v)


def pair(v, name, op):
    """(h, w) from an int or a sequence of two ints (PyTorch's ``_pair``), each checked by
    :func:`int_arg`."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
        return (int_arg(v[0], name, op), int_arg(v[1], name, op))
    v = int_arg(v, name, op)
    return (v, v)


def reduction(size_average, reduce, reduction):  # noqa: A002 - PyTorch's argument names
    """The reduction string, honouring PyTorch's legacy ``size_average`` / ``reduce`` flags;
    ValueError for anything but 'mean', 'sum' or 'none'."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        return ("mean" if size_average else "sum") if reduce else "none"
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def unbroadcast(g, shape):
    """Sum the gradient ``g`` over the dimensions that broadcasting added or stretched to reach
    ``shape`` (the inverse of numpy broadcasting, for backward passes)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def norm_dim(d, ndim, name):
    """``d`` as a non-negative dim of a tensor with ``ndim`` dimensions (a 0-d tensor takes dims
    -1 and 0); TypeError / IndexError naming ``name`` otherwise."""
    if not is_int(d):
        raise TypeError(f"{name}: dim must be an int, got {type(d).__name__}")
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{name}: dim {d} out of range for a tensor with {ndim} dimensions "
                         f"(expected in [{-n}, {n - 1}])")
    return int(d) % n


def norm_dims(dim, ndim, name):
    """None (all dims) or a sorted tuple of non-negative dims."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        dims = tuple(sorted(norm_dim(d, ndim, name) for d in dim))
        if len(set(dims)) != len(dims):
            raise ValueError(f"{name}: dim {tuple(dim)} repeats a dimension")
        return dims if ndim else None
    d = norm_dim(dim, ndim, name)
    return (d,) if ndim else None
