"""Tensor conversions and printing (a mixin of fastdl.Tensor): dtype casts, ``to``, the
device stubs and PyTorch's ``__repr__`` format. Results are made through ``autograd._wrap``
and ``autograd._Tensor`` (registered by ``tensor``), so this module does not import it."""
from __future__ import annotations

import builtins

import numpy as np

from . import autograd
from ._dtype import _default, int64

_HIDDEN_DTYPES = (np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_))


def _float_formatter(values):
    """PyTorch's element format for a float array: whole numbers as ``1.``, otherwise 4
    decimals, scientific notation when the magnitudes span > 1000x, exceed 1e8 or go below
    1e-4; every element right-aligned to the widest finite one."""
    finite = values[np.isfinite(values)]
    nz = np.abs(finite[finite != 0]).astype(np.float64)
    lo, hi = (nz.min(), nz.max()) if nz.size else (0.0, 0.0)
    if finite.size == 0 or np.all(finite == np.ceil(finite)):
        sci = nz.size and (hi / lo > 1000 or hi > 1e8)
        fmt = "{:.4e}" if sci else "{:.0f}."
    else:
        sci = nz.size and (hi / lo > 1000 or hi > 1e8 or lo < 1e-4)
        fmt = "{:.4e}" if sci else "{:.4f}"

    def one(v):
        return fmt.format(v) if np.isfinite(v) else str(float(v))

    width = max((len(one(v)) for v in finite), default=1)  # nan / inf are not padded
    return lambda v: one(v).rjust(width)


def tensor_repr(t):
    """``tensor([[1., 2.]], requires_grad=True)`` as PyTorch prints it (grad_fn of a
    non-leaf, dtype when not float32 / int64 / bool, size of an empty multi-dim tensor)."""
    a = t.data
    extra = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            extra.append(f"size={tuple(a.shape)}")
    else:
        if a.dtype.kind == "f":
            fmt = _float_formatter(a)
        elif a.dtype.kind == "b":
            fmt = lambda v: str(builtins.bool(v)).rjust(5 if a.size > 1 and not a.all() else 4)  # noqa: E731
        else:
            width = max(len(str(v)) for v in (a.min(), a.max()))
            fmt = lambda v: str(v).rjust(width)  # noqa: E731
        body = np.array2string(a, separator=", ", prefix="tensor(", max_line_width=80, threshold=1000,
                               edgeitems=3, formatter={"all": fmt})
    if a.dtype not in _HIDDEN_DTYPES or (a.size == 0 and a.dtype != _HIDDEN_DTYPES[0]):
        extra.append(f"dtype=fastdl.{a.dtype.name}")
    if t._node is not None:
        extra.append(f"grad_fn=<{t._node.name}Backward>")
    elif t.requires_grad:
        extra.append("requires_grad=True")
    return f"tensor({body}" + "".join(", " + e for e in extra) + ")"


def _check_device(device):
    if str(device) not in ("cpu", "cpu:0"):
        raise RuntimeError(f"to: fastdl tensors live on the CPU; device {device!r} is not available")


class Conversions:
    """Tensor methods converting dtype or device (mixed into fastdl.Tensor)."""

    __slots__ = ()

    def float(self):
        """This tensor as float32 (self when it already is)."""
        if self.data.dtype == _default[0]:
            return self
        return autograd._wrap(self.data.astype(_default[0]))

    def long(self):
        """This tensor as int64 (truncating toward zero, as PyTorch)."""
        if self.data.dtype == int64:
            return self
        return autograd._wrap(self.data.astype(np.int64))

    def bool(self):
        """This tensor as bool (non-zero is True); a new tensor without gradient."""
        return autograd._wrap(self.data.astype(np.bool_))

    @property
    def device(self):
        """Always ``"cpu"``: fastdl tensors live in host memory."""
        return "cpu"

    def cpu(self):
        """Self (fastdl tensors live on the CPU); for code written as ``t.detach().cpu().numpy()``."""
        return self

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """Convert dtype and/or device, as ``torch.Tensor.to``.

        Accepts ``to(dtype)``, ``to("cpu")``, ``to("cpu", dtype)``, ``to(other_tensor)`` (its
        dtype) and the keywords ``dtype=`` / ``device=`` / ``copy=``. Returns self when nothing
        changes (a copy with ``copy=True``); a cast is a new tensor outside the graph. dtype:
        float32, float64, int64 (any integer dtype) or bool. RuntimeError for a device other than the CPU, TypeError for other
        dtypes or arguments.
        """
        for a in args:
            if isinstance(a, autograd._Tensor):
                dtype = a.data.dtype
            elif isinstance(a, str) or type(a).__name__ == "device":
                device = a
            else:
                dtype = a
        if device is not None:
            _check_device(device)
        if dtype is None or np.dtype(dtype) == self.data.dtype:
            return self.clone() if copy else self
        d = np.dtype(dtype)
        if d.kind == "f":
            return self.float() if d == _default[0] else autograd._Tensor(self.data, dtype=d)
        if d.kind in "iu":
            return self.long()
        if d.kind == "b":
            return self.bool()
        raise TypeError(f"to: unsupported dtype {d} (float32, float64, int64 or bool)")

    def __repr__(self):
        return tensor_repr(self)
