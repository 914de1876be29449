"""Shape, indexing and joining operations behind ``fastdl.Tensor``'s methods (reshape, view,
flatten, permute, transpose, squeeze, unsqueeze, expand, indexing) and ``fastdl.cat`` /
``fastdl.stack``. ``autograd.Function`` s on numpy arrays; below ``fastdl.tensor``."""
from __future__ import annotations

import numpy as np

from . import autograd
from ._args import is_int, norm_dim, norm_dims, unbroadcast
from ._ops_arith import ShapeError, _operand
from ._inplace import ViewFunction
from .autograd import Function

__all__ = ["cat", "concatenate", "concat", "stack"]


# ---- shape ---------------------------------------------------------------------------------
def norm_shape(shape, size, old_shape):
    """Validate a reshape target (ints or one tuple/list, at most one -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if not is_int(s):
            raise TypeError(f"reshape: sizes must be ints, got {type(s).__name__}")
        out.append(int(s))
    if out.count(-1) > 1 or any(s < -1 for s in out):
        raise ValueError(f"reshape: invalid shape {out}")
    known = int(np.prod([s for s in out if s != -1])) if out else 1
    if -1 in out:
        if known == 0 or size % known:
            raise ShapeError(f"reshape: shape {out} is invalid for input of size {size} (shape {tuple(old_shape)})")
        out[out.index(-1)] = size // known
    elif known != size:
        raise ShapeError(f"reshape: shape {out} is invalid for input of size {size} (shape {tuple(old_shape)})")
    return tuple(out)


class Reshape(ViewFunction):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.saved = (x.shape,)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.saved[0]), None


class Permute(ViewFunction):
    @staticmethod
    def forward(ctx, x, perm):
        ctx.saved = (perm,)
        return np.transpose(x, perm)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.saved[0])), None


class Expand(ViewFunction):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.saved = (x.shape,)
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.saved[0]), None


def flatten(x, start_dim, end_dim):
    if x.ndim == 0:
        return Reshape.apply(x, (1,))
    s = norm_dim(start_dim, x.ndim, "flatten")
    e = norm_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {tuple(x.shape)})")
    shp = x.shape
    new = shp[:s] + (int(np.prod(shp[s:e + 1])),) + shp[e + 1:]
    return x if new == shp else Reshape.apply(x, new)


def permute(x, dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    perm = tuple(norm_dim(d, x.ndim, "permute") for d in dims)
    if len(perm) != x.ndim or sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the {x.ndim} "
                         f"dimensions of shape {tuple(x.shape)}")
    return Permute.apply(x, perm)


def transpose(x, d0, d1):
    if x.ndim == 0:
        return x
    a = norm_dim(d0, x.ndim, "transpose")
    b = norm_dim(d1, x.ndim, "transpose")
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return Permute.apply(x, tuple(perm))


def squeeze(x, dim):
    shp = x.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = norm_dims(dim, x.ndim, "squeeze") or ()
        new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    return x if new == shp else Reshape.apply(x, new)


def unsqueeze(x, dim):
    d = norm_dim(dim, x.ndim + 1, "unsqueeze")
    shp = x.shape
    return Reshape.apply(x, shp[:d] + (1,) + shp[d:])


def expand(x, sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    shp = x.shape
    lead = len(sizes) - len(shp)
    if lead < 0:
        raise ShapeError(f"expand: the number of sizes {len(sizes)} is less than the {len(shp)} "
                         f"dimensions of shape {tuple(shp)}")
    target = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i}")
            s = shp[i - lead]
        target.append(int(s))
    target = tuple(target)
    for i, s in enumerate(shp):
        if s != 1 and s != target[i + lead]:
            raise ShapeError(f"expand: shape {tuple(shp)} cannot be expanded to {target}")
    return x if target == shp else Expand.apply(x, target)


# ---- indexing ------------------------------------------------------------------------------
def _key_part(k):
    T = autograd._Tensor
    if isinstance(k, T):
        return k.data
    if isinstance(k, list):
        a = np.asarray(k)
        if a.dtype.kind not in "iub":
            raise IndexError(f"index lists must hold ints or bools, got dtype {a.dtype}")
        return a
    if k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice, np.ndarray, bool, np.bool_)):
        return k
    raise IndexError(f"invalid index of type {type(k).__name__}: only ints, slices, None, Ellipsis, "
                     "integer arrays/tensors and boolean masks are allowed")


def index_key(key):
    """A numpy index from a Tensor index (Tensors replaced by their arrays, lists by arrays)."""
    if isinstance(key, tuple):
        return tuple(_key_part(k) for k in key)
    return _key_part(key)


def _is_advanced(key):
    if isinstance(key, tuple):
        return any(isinstance(k, np.ndarray) for k in key)
    return isinstance(key, np.ndarray)


def _expand_bool(key):
    """Replace each boolean mask by its nonzero() index arrays (numpy's own rule)."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for k in parts:
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            out.extend(np.nonzero(k))
        else:
            out.append(k)
    return tuple(out)


class Index(ViewFunction):
    """x[key]; backward scatters (np.add.at for integer-array indices, so repeats add up)."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.saved = (x.shape, x.dtype, key)
        return x[key]

    @staticmethod
    def backward(ctx, g):
        shape, dtype, key = ctx.saved
        gx = np.zeros(shape, dtype=g.dtype)
        if _is_advanced(key):
            np.add.at(gx, _expand_bool(key), g)
        else:
            gx[key] = g
        return gx, None


# ---- joining -------------------------------------------------------------------------------
class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ref = xs[0].shape
        for x in xs[1:]:
            if x.ndim != len(ref) or any(s != r for i, (s, r) in enumerate(zip(x.shape, ref)) if i != dim):
                raise ShapeError(f"cat: shapes {tuple(ref)} and {tuple(x.shape)} do not match outside dim {dim}")
        ctx.saved = (dim, np.cumsum([x.shape[dim] for x in xs])[:-1])
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        dim, splits = ctx.saved
        return (None, *np.split(g, splits, axis=dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        for x in xs[1:]:
            if x.shape != xs[0].shape:
                raise ShapeError(f"stack: all tensors must have the same shape, got {tuple(xs[0].shape)} "
                                 f"and {tuple(x.shape)}")
        ctx.saved = (dim, len(xs))
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        dim, n = ctx.saved
        return (None, *(np.take(g, i, axis=dim) for i in range(n)))


def _seq(tensors, name):
    if isinstance(tensors, (str, bytes)) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of tensors")
    return [_operand(t, name) for t in tensors]


def cat(tensors, dim=0):
    """Join tensors along an existing dimension ``dim`` (torch.cat)."""
    ts = _seq(tensors, "cat")
    d = norm_dim(dim, ts[0].ndim, "cat")
    if ts[0].ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    return Cat.apply(d, *ts)


concatenate = cat
concat = cat


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dimension ``dim`` (torch.stack)."""
    ts = _seq(tensors, "stack")
    d = norm_dim(dim, ts[0].ndim + 1, "stack")
    return Stack.apply(d, *ts)
