"""fastdl.Tensor: a numpy array plus autograd state, with PyTorch's method names.

Dtypes: floating data is float32 (the default dtype; ``gradcheck`` switches it to float64 for
precise checks), integer data int64 (class targets, indices), comparisons give bool. Only
floating tensors can require grad.

Dependency direction (one way; a module imports only modules above it in this list):

    _C, _args  ->  autograd  ->  _dtype, _ops_arith, _ops_reduce, _ops_shape  ->  tensor
               ->  functional  ->  nn

- The ``_ops_*`` modules hold the differentiable operations behind Tensor's methods
  (elementwise arithmetic and matmul; reductions; shape, indexing and joining). They and
  ``autograd`` create result Tensors through the class this module registers once, at import,
  as ``autograd._Tensor`` / ``autograd._wrap``; nothing below imports ``tensor``.
- Tensor methods that are functional operations (relu, sigmoid, tanh, softmax, log_softmax)
  are attached by ``fastdl.functional.activation``, which is above: ``tensor`` never imports
  ``functional``.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import autograd
from . import _inplace
from ._convert import Conversions
from . import _ops_arith as _arith, _ops_reduce as _reduce, _ops_shape as _shape
from ._args import norm_dims
from ._dtype import _as_array, _default, bool, float32, float64, get_default_dtype, int64, long, set_default_dtype  # noqa: A004

__all__ = ["Tensor", "tensor", "float32", "float64", "int64", "long", "bool",
           "get_default_dtype", "set_default_dtype"]

_F32 = float32
_state = autograd._state


class Tensor(Conversions):
    """An n-dimensional float32 array (int64 for indices, bool for masks) that can record
    gradients.

    ``.data`` is the numpy array, ``.grad`` the accumulated gradient (a Tensor or None),
    ``.requires_grad`` whether operations on it are recorded. Arithmetic follows numpy
    broadcasting; gradients are reduced back to each input's shape.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "_vc", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__  # hashed by identity (== is elementwise), as in PyTorch

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._node = None
        self._index = 0
        self._vc = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(array):
        """A Tensor around an existing array, without copying (internal). Floating arrays of
        another dtype are cast to the default dtype (float32)."""
        t = _new(Tensor)
        if type(array) is not np.ndarray:
            array = np.asarray(array)
        dt = array.dtype
        if dt is not _F32 and dt.kind == "f" and dt != _default[0]:
            array = array.astype(_default[0])
        t.data = array
        t.grad = None
        t.requires_grad = False
        t._node = None
        t._index = 0
        t._vc = None
        return t

    # ---- basic properties -------------------------------------------------------------
    @property
    def shape(self):
        """The size of each dimension, a tuple of ints (numpy's shape)."""
        return self.data.shape

    @property
    def ndim(self):
        """The number of dimensions (0 for a scalar tensor)."""
        return self.data.ndim

    @property
    def dtype(self):
        """The numpy dtype of the data: float32 (float64 inside gradcheck), int64 or bool."""
        return self.data.dtype

    @property
    def is_leaf(self):
        """True when the tensor was not produced by a recorded operation (its own ``.grad`` accumulates)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The recorded operation that produced this tensor (``<MulBackward>``), or None for a leaf."""
        return self._node

    @property
    def _version(self):
        """The number of in-place writes to this tensor's memory (shared with its views;
        writes through ``.data`` are not counted), as PyTorch's ``_version``."""
        return _inplace.version(self)

    @property
    def T(self):
        """The tensor with its dimensions reversed (the transpose of a matrix)."""
        if self.data.ndim < 2:
            return self
        return self.permute(*range(self.data.ndim - 1, -1, -1))

    @property
    def mT(self):
        """The transpose of the last two dimensions."""
        return self.transpose(-2, -1)

    def dim(self):
        """The number of dimensions, as ``ndim``."""
        return self.data.ndim

    def size(self, dim=None):
        """The shape tuple, or the size of dimension ``dim`` (negative counts from the end); IndexError."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        """The total number of elements (the product of the shape)."""
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def numpy(self):
        """The underlying numpy array (no copy). Raises if the tensor records gradients."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number; ValueError for other sizes."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {tuple(self.shape)}")
        return self.data.reshape(()).item()

    def tolist(self):
        """The data as (nested) Python lists of numbers; a scalar for a 0-d tensor."""
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with shape {tuple(self.shape)} is ambiguous")
        return builtins.bool(self.data.reshape(()).item())

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    # ---- autograd ---------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        """Set whether operations on this (leaf) tensor are recorded; returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype {self.data.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def detach(self):
        """A new leaf Tensor sharing this one's data (and version counter), outside the graph."""
        t = Tensor._wrap(self.data)
        t._vc = _inplace.cell(self)
        return t

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate gradients of this tensor into the ``.grad`` of every leaf it depends on.

        ``gradient`` (a Tensor or array of this tensor's shape) is required for non-scalar
        tensors. The graph's saved buffers are freed afterwards unless ``retain_graph=True``.
        """
        autograd.backward(self, gradient, retain_graph)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after each backward pass has accumulated this leaf's ``.grad``
        (see ``fastdl.autograd.register_post_accumulate_grad_hook``); returns a removable handle."""
        return autograd.register_post_accumulate_grad_hook(self, hook)

    def _accumulate(self, g):
        if self.grad is None:
            self.grad = Tensor._wrap(np.array(g, dtype=self.data.dtype, order="C", copy=True))
        else:
            np.add(self.grad.data, g, out=self.grad.data)

    # ---- in-place (only on tensors that do not record gradients); each bumps the version --
    def _check_inplace(self, name):
        if self.requires_grad and _state.enabled:
            raise RuntimeError(f"{name}: in-place modification of a tensor that requires grad is not "
                               "supported (use it under fastdl.no_grad(), or on .detach() / .data)")
        _inplace.bump(self)

    def __setitem__(self, key, value):
        self._check_inplace("__setitem__")
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError(f"__setitem__: cannot assign {type(value).__name__} to a tensor")
        self.data[_shape.index_key(key)] = value.data if isinstance(value, Tensor) else value

    def copy_(self, src):
        """Copy ``src`` (broadcastable to this shape) into this tensor; returns self."""
        self._check_inplace("copy_")
        s = src.data if isinstance(src, Tensor) else _arith.check_operand("copy_", src)
        try:
            np.copyto(self.data, s, casting="unsafe")
        except ValueError:
            raise ValueError(f"copy_: source shape {np.shape(s)} cannot be broadcast to {tuple(self.shape)}") from None
        return self

    def fill_(self, value):
        """Set every element to ``value`` (a number or one-element Tensor); returns self."""
        self._check_inplace("fill_")
        self.data[...] = value.item() if isinstance(value, Tensor) else value
        return self

    def zero_(self):
        """Set every element to zero; returns self. RuntimeError on a tensor that requires grad while recording."""
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def _inplace(self, name, ufunc, other, alpha=None):
        self._check_inplace(name)
        o = other.data if isinstance(other, Tensor) else _arith.check_operand(name, other)
        if alpha is not None:
            o = np.multiply(o, alpha)
        try:
            ufunc(self.data, o, out=self.data, casting="unsafe")
        except ValueError:
            raise ValueError(f"{name}: shape {np.shape(o)} cannot be broadcast to {tuple(self.shape)}") from None
        return self

    def clamp_(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        """Limit values to [min, max] in place; returns self."""
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        self._check_inplace("clamp_")
        np.clip(self.data, min, max, out=self.data)
        return self

    def add_(self, other, alpha=1):
        """In place ``self += alpha * other`` (broadcast to self's shape); returns self. ValueError if it does not broadcast."""
        return self._inplace("add_", np.add, other, None if alpha == 1 else alpha)

    def sub_(self, other, alpha=1):
        """In place ``self -= alpha * other`` (broadcast to self's shape); returns self. ValueError if it does not broadcast."""
        return self._inplace("sub_", np.subtract, other, None if alpha == 1 else alpha)

    def mul_(self, other):
        """In place ``self *= other`` (broadcast to self's shape); returns self. ValueError if it does not broadcast."""
        return self._inplace("mul_", np.multiply, other)

    def div_(self, other):
        """In place ``self /= other`` (broadcast to self's shape); returns self. ValueError if it does not broadcast."""
        return self._inplace("div_", np.divide, other)

    def clone(self):
        """A copy of this tensor that stays in the graph (gradient flows to self)."""
        return _arith.Clone.apply(self)

    def contiguous(self):
        """Self when its data is C-contiguous, else a contiguous copy that stays in the graph."""
        if self.data.flags.c_contiguous:
            return self
        return _arith.Clone.apply(self)

    # ---- arithmetic (fast paths when nothing is recorded) -----------------------------
    # + - * / : numpy directly when nothing is recorded, else the Function (see _binary_op)
    __add__ = _arith.binary_op(_arith.Add, np.add, "add")
    __radd__ = _arith.binary_op(_arith.Add, np.add, "add", reflected=True)
    __sub__ = _arith.binary_op(_arith.Sub, np.subtract, "sub")
    __rsub__ = _arith.binary_op(_arith.Sub, np.subtract, "sub", reflected=True)
    __mul__ = _arith.binary_op(_arith.Mul, np.multiply, "mul")
    __rmul__ = _arith.binary_op(_arith.Mul, np.multiply, "mul", reflected=True)
    __truediv__ = _arith.binary_op(_arith.Div, np.true_divide, "div")
    __rtruediv__ = _arith.binary_op(_arith.Div, np.true_divide, "div", reflected=True)

    def __pow__(self, exponent):
        """``self ** exponent`` elementwise (a number or broadcastable Tensor); differentiable in both operands."""
        if isinstance(exponent, Tensor):
            return _arith.Pow.apply(self, exponent)
        if isinstance(exponent, _arith.SCALARS):
            return _arith.PowScalar.apply(self, exponent)
        return _arith.Pow.apply(self, _arith.check_operand("pow", exponent))

    def __rpow__(self, base):
        if isinstance(base, _arith.SCALARS):
            return _arith.RPowScalar.apply(self, base)
        return _arith.Pow.apply(_arith.check_operand("pow", base), self)

    def __neg__(self):
        """``-self`` elementwise (differentiable)."""
        return _arith.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        """``|self|`` elementwise; the gradient is sign(self) (0 at 0)."""
        return _arith.Abs.apply(self)

    def __matmul__(self, other):
        """Matrix product ``self @ other`` with numpy/PyTorch rules: 1-D vectors, (n, k) @ (k, m), batched with
        broadcasting leading dimensions. ValueError naming both shapes when the inner sizes differ.
        """
        return _arith.matmul(self, other)

    def __rmatmul__(self, other):
        return _arith.matmul(other, self)

    def _augmented(self, inplace, out_of_place, other):
        # PyTorch: in place, except that a leaf requiring grad cannot be modified while
        # recording (use no_grad, e.g. for `w -= lr * w.grad`); a non-leaf in the graph is
        # updated out of place here (same values, no silent corruption of saved buffers).
        if self.requires_grad and _state.enabled:
            if self._node is None:
                raise RuntimeError("a leaf tensor that requires grad is used in an in-place operation; "
                                   "wrap the update in `with fastdl.no_grad():`")
            return out_of_place(self, other)
        return inplace(other)

    def __iadd__(self, other):
        return self._augmented(self.add_, Tensor.__add__, other)

    def __isub__(self, other):
        return self._augmented(self.sub_, Tensor.__sub__, other)

    def __imul__(self, other):
        return self._augmented(self.mul_, Tensor.__mul__, other)

    def __itruediv__(self, other):
        return self._augmented(self.div_, Tensor.__truediv__, other)

    add = __add__
    mul = __mul__
    sub = __sub__
    div = __truediv__
    pow = __pow__
    neg = __neg__
    abs = __abs__
    matmul = __matmul__

    def exp(self):
        """e ** self elementwise (differentiable)."""
        return _arith.Exp.apply(self)

    def log(self):
        """Natural logarithm elementwise (-inf at 0, NaN below 0, as PyTorch); gradient 1/self."""
        return _arith.Log.apply(self)

    def sqrt(self):
        """Square root elementwise (NaN below 0); gradient 0.5/sqrt(self)."""
        return _arith.Sqrt.apply(self)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        """Limit values to [min, max] (either may be None); gradient 1 inside, 0 outside."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return _arith.Clamp.apply(self, min, max)

    clip = clamp

    # ---- comparisons (no gradient; bool results) --------------------------------------
    def _compare(self, ufunc, name, other):
        o = other.data if isinstance(other, Tensor) else _arith.check_operand(name, other)
        try:
            return _wrap(ufunc(self.data, o))
        except ValueError:
            raise _arith.broadcast_error(name, self.data, o) from None

    def __eq__(self, other):
        return self._compare(np.equal, "eq", other)

    def __ne__(self, other):
        return self._compare(np.not_equal, "ne", other)

    def __lt__(self, other):
        return self._compare(np.less, "lt", other)

    def __le__(self, other):
        return self._compare(np.less_equal, "le", other)

    def __gt__(self, other):
        return self._compare(np.greater, "gt", other)

    def __ge__(self, other):
        return self._compare(np.greater_equal, "ge", other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # ---- reductions -------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        """Sum over ``dim`` (int or tuple; all when None), reduced dims kept as 1 with ``keepdim``. IndexError."""
        return _reduce.Sum.apply(self, None if dim is None else norm_dims(dim, self.data.ndim, "sum"), keepdim)

    def mean(self, dim=None, keepdim=False):
        """Mean over ``dim`` (an int or tuple; all when None), ``keepdim`` as in ``sum``; NaN when empty."""
        return _reduce.Mean.apply(self, None if dim is None else norm_dims(dim, self.data.ndim, "mean"), keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        """Variance over ``dim``, divided by N - correction (correction 1 = unbiased)."""
        return _reduce.var(self, dim, 1 if unbiased else 0, keepdim, correction)

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        """Standard deviation over ``dim``, the square root of :meth:`var` (same arguments)."""
        return _reduce.var(self, dim, 1 if unbiased else 0, keepdim, correction).sqrt()

    def max(self, dim=None, keepdim=False):
        """Without ``dim``: the largest value (gradient split evenly between ties). With
        ``dim``: a ``(values, indices)`` pair; the gradient goes to the first maximum."""
        return _reduce.minmax(self, dim, keepdim, True)

    def min(self, dim=None, keepdim=False):
        """Without ``dim``: the smallest value (gradient split evenly between ties). With ``dim``: a ``(values,
        indices)`` pair; the gradient goes to the first minimum.
        """
        return _reduce.minmax(self, dim, keepdim, False)

    def argmax(self, dim=None, keepdim=False):
        """The int64 index of the largest value: over the flattened tensor when ``dim`` is None, else along ``dim``
        (first maximum on ties).
        """
        return _reduce.argminmax(self, dim, keepdim, True)

    def argmin(self, dim=None, keepdim=False):
        """The int64 index of the smallest value: over the flattened tensor when ``dim`` is None, else along ``dim``
        (first minimum on ties).
        """
        return _reduce.argminmax(self, dim, keepdim, False)

    # ---- shape ------------------------------------------------------------------------
    def reshape(self, *shape):
        """The same elements in a new shape (ints or one tuple; one -1 is inferred). ValueError when the element
        count differs. ``view`` is the same operation.
        """
        return _shape.Reshape.apply(self, _shape.norm_shape(shape, self.data.size, self.data.shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dimensions ``start_dim`` .. ``end_dim`` (inclusive) into one."""
        return _shape.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        """Swap dimensions ``dim0`` and ``dim1`` (negative counts from the end)."""
        return _shape.transpose(self, dim0, dim1)

    def t(self):
        """The transpose of a matrix (0-D and 1-D tensors are returned as is); ValueError for more than 2 dimensions."""
        if self.data.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {tuple(self.shape)}")
        return self.T

    def permute(self, *dims):
        """Reorder the dimensions (``dims`` a permutation of range(ndim)); ValueError otherwise."""
        return _shape.permute(self, dims)

    def squeeze(self, dim=None):
        """Remove dimensions of size 1 (only ``dim`` when given, which may be an int or tuple)."""
        return _shape.squeeze(self, dim)

    def unsqueeze(self, dim):
        """Insert a dimension of size 1 at ``dim`` (-ndim-1 <= dim <= ndim)."""
        return _shape.unsqueeze(self, dim)

    def expand(self, *sizes):
        """Broadcast to a larger shape (ints or one tuple; -1 keeps a size) without copying; the gradient sums over
        the expanded dimensions. ValueError when a non-1 size would change.
        """
        return _shape.expand(self, sizes)

    def __getitem__(self, key):
        tk = type(key)
        if tk is not int and tk is not slice:
            key = _shape.index_key(key)
        return _shape.Index.apply(self, key)


_new = object.__new__
_wrap = Tensor._wrap


def as_float_tensor(x, name="input"):
    """The one argument converter of the functional API: x itself when it is a Tensor, else a
    new float32 Tensor; TypeError naming the argument for None, str and bytes."""
    if isinstance(x, Tensor):
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a Tensor or an array, got {type(x).__name__}")
    return Tensor(x, dtype=np.float32)


def tensor(data, requires_grad=False, dtype=None):
    """A new Tensor holding ``data`` (copy-free when it already is a C-contiguous array of the
    target dtype). Floating inputs become float32, integers int64, booleans stay bool."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


autograd._Tensor = Tensor
autograd._wrap = _wrap
