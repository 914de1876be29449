"""fastdl.Tensor: a numpy array plus autograd state."""
from __future__ import annotations

import numpy as np

from . import autograd

__all__ = ["Tensor", "tensor"]


def _as_array(x, dtype=None):
    if isinstance(x, Tensor):
        x = x.data
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"cannot make a tensor from {type(x).__name__}")
    a = np.asarray(x)
    if dtype is not None:
        return np.ascontiguousarray(a, dtype=dtype)
    if a.dtype.kind in "iu":
        return np.ascontiguousarray(a, dtype=np.int64)
    if a.dtype.kind in "fb":
        return np.ascontiguousarray(a, dtype=np.float32)
    raise TypeError(f"cannot make a tensor from an array of dtype {a.dtype}")


class Tensor:
    """An n-dimensional float32 array (int64 for indices) that can record gradients.

    ``.data`` is the numpy array (C-contiguous for tensors fastdl creates), ``.grad`` the
    accumulated gradient (a Tensor or None), ``.requires_grad`` whether operations on it are
    recorded. Arithmetic follows numpy broadcasting.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._node = None
        self._index = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array):
        """A Tensor around an existing array, without copying (internal)."""
        t = cls.__new__(cls)
        a = np.asarray(array)
        if a.dtype != np.float32 and a.dtype.kind == "f":
            a = a.astype(np.float32)
        t.data = a
        t.grad = None
        t.requires_grad = False
        t._node = None
        t._index = 0
        return t

    # ---- basic properties -------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def numpy(self):
        """The underlying numpy array (no copy). Raises if the tensor records gradients."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self._node is not None:
            extra = f", grad_fn=<{self._node.name}Backward>"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        if self.data.dtype != np.float32:
            extra = f", dtype={self.data.dtype}" + extra
        return f"tensor({body}{extra})"

    # ---- autograd ---------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype {self.data.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """A new leaf Tensor sharing this one's data, outside the graph."""
        return Tensor._wrap(self.data)

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate gradients of this tensor into the ``.grad`` of every leaf it depends on.

        ``gradient`` is required for non-scalar tensors. The graph's saved buffers are freed
        afterwards unless ``retain_graph=True``.
        """
        autograd.backward(self, gradient, retain_graph)

    def _accumulate(self, g):
        if self.grad is None:
            self.grad = Tensor._wrap(np.array(g, dtype=np.float32, copy=True))
        else:
            np.add(self.grad.data, g, out=self.grad.data)

    def zero_(self):
        self.data[...] = 0
        return self


def tensor(data, requires_grad=False, dtype=None):
    """A new Tensor holding a copy-free float32 view of ``data`` when possible.

    Floating and boolean inputs become float32, integer inputs int64 (class targets, indices).
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
