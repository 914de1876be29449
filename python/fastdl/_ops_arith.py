"""Elementwise arithmetic and matmul behind ``fastdl.Tensor``'s operators (+, -, *, /, **, @,
abs, exp, log, sqrt, clamp, clone).

Each operation is an ``autograd.Function`` on numpy arrays (see autograd's docstring);
errors name both shapes. Elementwise binary operations broadcast like numpy and reduce each
gradient back to its input's shape (``_args.unbroadcast``). matmul goes through the SGEMM
(``_C.gemm``), passing transposes as flags. Like every ``_ops_*`` module this sits below
``fastdl.tensor`` (see its docstring for the dependency direction).
"""
from __future__ import annotations

import numpy as np

from . import _C
from . import autograd
from ._args import unbroadcast
from .autograd import Function

__all__ = ["matmul", "ShapeError"]

_state = autograd._state  # the grad mode (one object for the process)


class ShapeError(ValueError, RuntimeError):
    """Incompatible shapes (a ValueError; also a RuntimeError, which PyTorch raises)."""


def _shape(x):
    return tuple(np.shape(x))


def _shp(x):
    return x.shape if type(x) is np.ndarray else np.shape(x)


def broadcast_error(name, a, b):
    return ShapeError(f"{name}: shapes {_shape(a)} and {_shape(b)} cannot be broadcast")


# ---- Tensor operators (the no-grad fast path, operand checks) ---------------------------
def _operand_error(name, other):
    return TypeError(f"{name}: unsupported operand of type {type(other).__name__}")


SCALARS = (int, float, np.number, np.bool_)


def check_operand(name, other):
    """Raise a clear TypeError for operands numpy would misread (None, strings, objects)."""
    if isinstance(other, (autograd._Tensor, np.ndarray) + SCALARS):  # (Python bool is an int)
        return other
    if isinstance(other, (list, tuple)):
        a = np.asarray(other)
        if a.dtype.kind in "fiub":
            return a
    raise _operand_error(name, other)


def binary_op(fn, ufunc, name, reflected=False):
    """A Tensor operator for ``fn`` (a Function). When no operand records gradients it calls
    ``ufunc`` on the arrays directly: the cheapest path for the many tiny no-grad ops."""

    def op(self, other):
        if isinstance(other, autograd._Tensor):
            if (self.requires_grad or other.requires_grad) and _state.enabled:
                return fn.apply(other, self) if reflected else fn.apply(self, other)
            o = other.data
        else:
            if not isinstance(other, SCALARS):
                other = check_operand(name, other)
            if self.requires_grad and _state.enabled:
                return fn.apply(other, self) if reflected else fn.apply(self, other)
            o = other
        try:
            return autograd._wrap(ufunc(o, self.data) if reflected else ufunc(self.data, o))
        except ValueError:
            raise broadcast_error(name, o, self.data) if reflected else \
                broadcast_error(name, self.data, o) from None

    op.__name__ = f"__{'r' if reflected else ''}{name}__"
    op.__doc__ = (f"Elementwise ``{name}`` of self and ``other`` (a number, array or Tensor) with numpy "
                  "broadcasting; differentiable in both operands (gradients summed back to each shape). "
                  "ValueError naming both shapes when they do not broadcast.")
    return op


# ---- elementwise arithmetic ----------------------------------------------------------------
def _broadcasting(ufunc, name, a, b):
    """ufunc(a, b), a ShapeError naming both shapes when they do not broadcast."""
    try:
        return ufunc(a, b)
    except ValueError:
        raise broadcast_error(name, a, b) from None


def _keeping_output(ctx, ufunc, name, a, b):
    """Forward of Div and Pow: y = ufunc(a, b), saving (a, b, y) for backward."""
    y = _broadcasting(ufunc, name, a, b)
    ctx.saved = (a, b, y)
    return y


def _additive(name, ufunc, negate_b):
    """Add / Sub: y = ufunc(a, b); gradients g and (-g for Sub) summed back to each input's shape.
    Only the inputs' shapes are saved (so in-place changes to the inputs do not matter)."""

    def forward(ctx, a, b):
        y = _broadcasting(ufunc, name.lower(), a, b)
        ctx.saved = (_shp(a), _shp(b))
        return y

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (unbroadcast(g, a) if n[0] else None,
                unbroadcast(-g if negate_b else g, b) if n[1] else None)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


Add = _additive("Add", np.add, negate_b=False)
Sub = _additive("Sub", np.subtract, negate_b=True)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = _broadcasting(np.multiply, "mul", a, b)
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
        return _keeping_output(ctx, np.true_divide, "div", a, b)

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
        return _keeping_output(ctx, np.power, "pow", a, b)

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
    if x.size == 0 or y.size == 0:  # an empty operand (or k == 0: a sum of nothing)
        bs = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
        return np.zeros(bs + (x.shape[-1] if tx else x.shape[-2], y.shape[-2] if ty else y.shape[-1]), np.float32)
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
        if a.dtype.kind in "iu" and b.dtype.kind in "iu":
            return np.matmul(a, b).astype(np.int64, copy=False)  # exact (no SGEMM), no gradient
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
            if b2.ndim == 2 and a2.ndim > 2 and a2.size and g2.size:
                k = a2.shape[-1]
                gb = _gemm2(a2.reshape(-1, k), g2.reshape(-1, g2.shape[-1]), True, False)
            else:
                gb = unbroadcast(_bmm(a2, g2, True, False), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def _operand(x, name):
    T = autograd._Tensor
    if isinstance(x, T):
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name}: expected a Tensor or array, got {type(x).__name__}")
    return T(x)


def matmul(input, other):  # noqa: A002 - PyTorch's argument name
    """Matrix product with torch.matmul's rules (1-D promotion, broadcast batch dims)."""
    return MatMul.apply(_operand(input, "matmul"), _operand(other, "matmul"))
