"""The differentiable tensor operations behind ``fastdl.Tensor``'s methods and operators.

Each operation is an ``autograd.Function`` on numpy arrays (see autograd's docstring);
the helpers below validate arguments and name both shapes in errors. Elementwise binary
operations broadcast like numpy and reduce each gradient back to its input's shape.
matmul goes through the SGEMM (``_C.gemm``), passing transposes as flags.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _C
from . import autograd
from ._args import unbroadcast
from .autograd import Function
from ._args import is_int

__all__ = ["matmul", "cat", "concatenate", "concat", "stack", "ShapeError"]


class ShapeError(ValueError, RuntimeError):
    """Incompatible shapes (a ValueError; also a RuntimeError, which PyTorch raises)."""


def _shape(x):
    return tuple(np.shape(x))


def _shp(x):
    return x.shape if type(x) is np.ndarray else np.shape(x)


def broadcast_error(name, a, b):
    return ShapeError(f"{name}: shapes {_shape(a)} and {_shape(b)} cannot be broadcast")


# ---- elementwise arithmetic ----------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.add(a, b)
        except ValueError:
            raise broadcast_error("add", a, b) from None
        ctx.saved = (a, b)  # the graph keeps the inputs alive anyway; shapes are read in backward
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (unbroadcast(g, _shp(a)) if n[0] else None, unbroadcast(g, _shp(b)) if n[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.subtract(a, b)
        except ValueError:
            raise broadcast_error("sub", a, b) from None
        ctx.saved = (a, b)  # the graph keeps the inputs alive anyway; shapes are read in backward
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (unbroadcast(g, _shp(a)) if n[0] else None, unbroadcast(-g, _shp(b)) if n[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.multiply(a, b)
        except ValueError:
            raise broadcast_error("mul", a, b) from None
        ctx.saved = (a, b)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (unbroadcast(g * b, _shp(a)) if n[0] else None,
                unbroadcast(g * a, _shp(b)) if n[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.true_divide(a, b)
        except ValueError:
            raise broadcast_error("div", a, b) from None
        ctx.saved = (a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        n = ctx.needs_input_grad
        ga = unbroadcast(g / b, _shp(a)) if n[0] else None
        gb = unbroadcast(-g * y / b, _shp(b)) if n[1] else None
        return ga, gb


class Pow(Function):
    """a ** b with both sides differentiable, PyTorch's conventions: d/da = 0 where b == 0,
    d/db = a**b * log(a) but 0 where a == 0 and b >= 0."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.power(a, b)
        except ValueError:
            raise broadcast_error("pow", a, b) from None
        ctx.saved = (a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        n = ctx.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if n[0]:
                d = np.where(np.asarray(b) == 0, 0, b * np.power(a, np.subtract(b, 1)))
                ga = unbroadcast(g * d, np.shape(a))
            if n[1]:
                d = y * np.log(a)
                d = np.where((np.asarray(a) == 0) & (np.asarray(b) >= 0), 0, d)
                gb = unbroadcast(g * d, np.shape(b))
        return ga, gb


class PowScalar(Function):
    """x ** p for a Python number p."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.saved = (x, p)
        if p == 2:
            return np.multiply(x, x)
        return np.power(x, p)

    @staticmethod
    def backward(ctx, g):
        x, p = ctx.saved
        if p == 0:
            return np.zeros_like(x), None
        if p == 2:
            return g * (2 * x), None
        if p == 1:
            return g, None
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (p * np.power(x, p - 1)), None


class RPowScalar(Function):
    """c ** x for a Python number c."""

    @staticmethod
    def forward(ctx, x, c):
        y = np.power(np.asarray(c, dtype=x.dtype), x)
        ctx.saved = (y, c)
        return y

    @staticmethod
    def backward(ctx, g):
        y, c = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * y * np.log(np.asarray(c, dtype=y.dtype)), None


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, g):
        return -g


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved[0])


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.saved = (x,)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (2 * ctx.saved[0])


class Clamp(Function):
    """clip(x, min, max); gradient 1 where min <= x <= max (PyTorch's rule), else 0."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.saved = (x, lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved
        mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        return g * mask, None, None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return np.array(x, copy=True, order="C")

    @staticmethod
    def backward(ctx, g):
        return g


# ---- reductions ----------------------------------------------------------------------------
def _norm_dim(d, ndim, name):
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
        dims = tuple(sorted(_norm_dim(d, ndim, name) for d in dim))
        if len(set(dims)) != len(dims):
            raise ValueError(f"{name}: dim {tuple(dim)} repeats a dimension")
        return dims if ndim else None
    d = _norm_dim(dim, ndim, name)
    return (d,) if ndim else None


def _expand_grad(g, shape, dims, keepdim):
    if dims is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdim:
        g = np.expand_dims(g, dims)
    return np.broadcast_to(g, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.saved = (x.shape, dims, keepdim)
        if x.dtype.kind != "f":  # bool / int: int64 counts and sums, as PyTorch
            return np.asarray(np.sum(x, axis=dims, keepdims=keepdim, dtype=np.int64))
        if dims is None and not keepdim:  # a 0-d array directly (a numpy scalar costs a conversion)
            return np.add.reduce(x, axis=None, out=np.empty((), x.dtype))
        return np.add.reduce(x, axis=dims, keepdims=keepdim)  # = np.sum, without its Python wrapper

    @staticmethod
    def backward(ctx, g):
        shape, dims, keepdim = ctx.saved
        return _expand_grad(g, shape, dims, keepdim), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        if x.dtype.kind != "f":
            raise TypeError(f"mean: expected a floating point tensor, got dtype {x.dtype}")
        ctx.saved = (x.shape, dims, keepdim)
        n = x.size if dims is None else int(np.prod([x.shape[d] for d in dims]))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.true_divide(np.add.reduce(x, axis=dims, keepdims=keepdim), n, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, dims, keepdim = ctx.saved
        n = int(np.prod([shape[d] for d in dims])) if dims is not None else int(np.prod(shape))
        return _expand_grad(g / max(n, 1), shape, dims, keepdim), None, None


def var(x, dim, default_correction, keepdim, correction):
    c = default_correction if correction is None else correction
    dims = norm_dims(dim, x.ndim, "var")
    n = int(np.prod([x.shape[d] for d in dims])) if dims is not None else x.numel()
    d = x - x.mean(dims, keepdim=True)
    return (d * d).sum(dims, keepdim=keepdim) / max(n - c, 0)


class MaxAll(Function):
    """max (or min) over all elements; the gradient is split evenly between ties (PyTorch)."""

    @staticmethod
    def forward(ctx, x, is_max):
        if x.size == 0:
            raise RuntimeError(f"{'max' if is_max else 'min'}(): expected a non-empty tensor, got shape {x.shape}")
        y = np.maximum.reduce(x, axis=None) if is_max else np.minimum.reduce(x, axis=None)
        ctx.saved = (x, y)
        return np.asarray(y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        mask = x == y
        return mask * (g / mask.sum()), None


class TakeAlong(Function):
    """x gathered at ``idx`` (keepdim-shaped indices) along ``dim``; gradient scattered back."""

    @staticmethod
    def forward(ctx, x, idx, dim, keepdim):
        ctx.saved = (x.shape, idx, dim, keepdim)
        y = np.take_along_axis(x, idx, axis=dim)
        return y if keepdim else np.squeeze(y, axis=dim)

    @staticmethod
    def backward(ctx, g):
        shape, idx, dim, keepdim = ctx.saved
        gx = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(gx, idx, g if keepdim else np.expand_dims(g, dim), axis=dim)
        return gx, None, None, None


MinMaxResult = namedtuple("MinMaxResult", ["values", "indices"])


def minmax(x, dim, keepdim, is_max):
    name = "max" if is_max else "min"
    if dim is None:
        return MaxAll.apply(x, is_max)
    d = _norm_dim(dim, x.ndim, name)
    if x.ndim == 0:
        return MinMaxResult(x, _T()._wrap(np.zeros((), np.int64)))
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): cannot reduce over the zero-size dimension {d} of shape {tuple(x.shape)}")
    idx = (np.argmax if is_max else np.argmin)(x.data, axis=d, keepdims=True)
    values = TakeAlong.apply(x, idx, d, keepdim)
    return MinMaxResult(values, _T()._wrap(idx if keepdim else np.squeeze(idx, axis=d)))


def argminmax(x, dim, keepdim, is_max):
    f = np.argmax if is_max else np.argmin
    if x.data.size == 0:
        raise RuntimeError(f"{f.__name__}(): expected a non-empty tensor")
    if dim is None:
        r = f(x.data)
        if keepdim:
            return _T()._wrap(np.full((1,) * x.ndim, r, dtype=np.int64))
        return _T()._wrap(np.asarray(r, dtype=np.int64))
    d = _norm_dim(dim, x.ndim, f.__name__)
    if x.ndim == 0:
        return _T()._wrap(np.zeros((), np.int64))
    return _T()._wrap(f(x.data, axis=d, keepdims=keepdim).astype(np.int64, copy=False))


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


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.saved = (x.shape,)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.saved[0]), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, perm):
        ctx.saved = (perm,)
        return np.transpose(x, perm)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.saved[0])), None


class Expand(Function):
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
    s = _norm_dim(start_dim, x.ndim, "flatten")
    e = _norm_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {tuple(x.shape)})")
    shp = x.shape
    new = shp[:s] + (int(np.prod(shp[s:e + 1])),) + shp[e + 1:]
    return x if new == shp else Reshape.apply(x, new)


def permute(x, dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    perm = tuple(_norm_dim(d, x.ndim, "permute") for d in dims)
    if len(perm) != x.ndim or sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the {x.ndim} "
                         f"dimensions of shape {tuple(x.shape)}")
    return Permute.apply(x, perm)


def transpose(x, d0, d1):
    if x.ndim == 0:
        return x
    a = _norm_dim(d0, x.ndim, "transpose")
    b = _norm_dim(d1, x.ndim, "transpose")
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
    d = _norm_dim(dim, x.ndim + 1, "unsqueeze")
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
    T = _T()
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


class Index(Function):
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


# ---- matmul --------------------------------------------------------------------------------
def _gemm2(a, b, ta=False, tb=False, out=None):
    """op(a) @ op(b) for 2-D arrays; transposed views are passed as flags, not copied."""
    if not a.flags.c_contiguous and a.T.flags.c_contiguous:
        a, ta = a.T, not ta
    if not b.flags.c_contiguous and b.T.flags.c_contiguous:
        b, tb = b.T, not tb
    return _C.gemm(a, b, ta, tb, 1.0, 0.0, out)


def _bmm(x, y, tx, ty):
    """op(x) @ op(y) with numpy batch broadcasting (op transposes the last two dims)."""
    if x.ndim == 2 and y.ndim == 2:
        return _gemm2(x, y, tx, ty)
    if y.ndim == 2 and not tx:
        r = _gemm2(x.reshape(-1, x.shape[-1]), y, False, ty)
        return r.reshape(x.shape[:-1] + (r.shape[-1],))
    bs = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    m = x.shape[-1] if tx else x.shape[-2]
    n = y.shape[-2] if ty else y.shape[-1]
    out = np.empty(bs + (m, n), dtype=np.float32)
    xb = np.broadcast_to(x, bs + x.shape[-2:])
    yb = np.broadcast_to(y, bs + y.shape[-2:])
    for i in np.ndindex(*bs):
        _gemm2(xb[i], yb[i], tx, ty, out[i])
    return out


class MatMul(Function):
    """torch.matmul: 1-D operands are promoted (and the added dim removed), batch dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ShapeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                             f"({a2.shape[-1]} != {b2.shape[-2]})")
        try:
            np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise ShapeError(f"matmul: batch dimensions of shapes {tuple(a.shape)} and {tuple(b.shape)} "
                             "cannot be broadcast") from None
        y2 = _bmm(a2, b2, False, False)
        ctx.saved = (a, b, a2, b2, y2.shape)
        y = y2
        if b.ndim == 1:
            y = y[..., 0]
        if a.ndim == 1:
            y = y[..., 0, :] if b.ndim != 1 else y[..., 0]
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, a2, b2, y2shape = ctx.saved
        g2 = np.ascontiguousarray(g.reshape(y2shape), dtype=np.float32)
        n = ctx.needs_input_grad
        ga = gb = None
        if n[0]:
            ga = unbroadcast(_bmm(g2, b2, False, True), a2.shape).reshape(a.shape)
        if n[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                k = a2.shape[-1]
                gb = _gemm2(a2.reshape(-1, k), g2.reshape(-1, g2.shape[-1]), True, False)
            else:
                gb = unbroadcast(_bmm(a2, g2, True, False), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def _operand(x, name):
    T = _T()
    if isinstance(x, T):
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name}: expected a Tensor or array, got {type(x).__name__}")
    return T(x)


def matmul(input, other):  # noqa: A002 - PyTorch's argument name
    """Matrix product with torch.matmul's rules (1-D promotion, broadcast batch dims)."""
    return MatMul.apply(_operand(input, "matmul"), _operand(other, "matmul"))


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
    d = _norm_dim(dim, ts[0].ndim, "cat")
    if ts[0].ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    return Cat.apply(d, *ts)


concatenate = cat
concat = cat


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dimension ``dim`` (torch.stack)."""
    ts = _seq(tensors, "stack")
    d = _norm_dim(dim, ts[0].ndim + 1, "stack")
    return Stack.apply(d, *ts)


def _T():
    return autograd._Tensor
