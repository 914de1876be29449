"""The tracer: records every Function.apply of one eager step (see docs/compile.md).

While a ``Tracer`` is active (``with tracer:``), ``autograd._tracer`` routes each
``Function.apply`` through ``Tracer.apply``, which runs it eagerly (so the traced step's results
are the eager results) and appends a ``Record``. It also watches for what a static plan cannot
replay, and turns each into a ``reason`` (the step then runs eagerly, with one warning):

* ``.item()``, ``.numpy()``, ``float()``, ``bool()``, ... on a tensor computed inside the step
  (its value would steer Python code the plan does not contain);
* a Tensor created inside the step outside the recorded ops (``fastdl.tensor(...)`` in a custom
  ``forward``) used as an argument of a recorded op;
* an in-place change (version bump) of a recorded output before a later op reads it.

Tensors that existed before the step (parameters, buffers, any other tensor) are leaves: the
plan binds their arrays by reference on every call, it never copies them as constants.
"""
from __future__ import annotations

import weakref

from .. import autograd
from ..tensor import Tensor

__all__ = ["Record", "Tracer", "Traced"]

# Tensor methods that hand a traced value to Python.
_ESCAPES = ("numpy", "item", "tolist", "__float__", "__int__", "__bool__", "__index__", "__array__")


class _Meta:
    """Shape, size, bytes and dtype of a traced array (its data is not kept)."""

    __slots__ = ("shape", "size", "nbytes", "ndim", "dtype")

    def __init__(self, a):
        self.shape, self.size, self.nbytes, self.ndim, self.dtype = a.shape, a.size, a.nbytes, a.ndim, a.dtype


class Traced:
    """Stands for a tensor computed inside the traced step: ``.data`` has only the array's
    shape / size / nbytes / ndim / dtype, so a trace keeps no activation alive."""

    __slots__ = ("data", "requires_grad")

    def __init__(self, t):
        self.data = _Meta(t.data)
        self.requires_grad = t.requires_grad


class Record:
    """One recorded apply: the Function class, its arguments as passed (tensors computed in the
    step replaced by their ``Traced``), its outputs (``Traced``) and, when the call was recorded
    for backward, which arguments needed a gradient (``needs``; None otherwise)."""

    __slots__ = ("fn", "args", "outs", "needs")

    def __init__(self, fn, args, outs, needs):
        self.fn = fn
        self.args = args
        self.outs = outs
        self.needs = needs

    @property
    def name(self):
        return self.fn.__name__.lstrip("_")


class Tracer:
    def __init__(self, input_arrays=()):
        self.inputs = {id(a) for a in input_arrays}  # the step's input arrays (x, target)
        self.records = []
        self._traced = {}      # id(tensor) -> (weakref to it, its Traced, record index)
        self.created = set()   # ids of Tensors constructed (Tensor.__init__) during the trace
        self.keep = []         # keeps created tensors alive so their ids stay unique
        self.reason = None     # first thing the plan cannot replay (None: all captured)
        self._saved = {}

    def fail(self, reason):
        if self.reason is None:
            self.reason = reason

    # ---- the hook ----------------------------------------------------------------------
    def apply(self, cls, args):
        autograd._tracer = None
        try:
            out = cls.apply(*args)
        finally:
            autograd._tracer = self
        rec_args = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                p = self._check_arg(cls, a)
                if p is not None:
                    rec_args[i] = p
        outs = out if isinstance(out, tuple) else (out,)
        ctx = outs[0]._node if outs and isinstance(outs[0], Tensor) else None
        k = len(self.records)
        traced = []
        for t in outs:
            p = Traced(t)
            traced.append(p)
            self._traced[id(t)] = (weakref.ref(t), p, k)
        needs = None if ctx is None else list(ctx.needs_input_grad)
        self.records.append(Record(cls, tuple(rec_args), tuple(traced), needs))
        return out

    def traced(self, t):
        """The Traced standing for tensor ``t`` when a recorded call computed it, else None."""
        e = self._traced.get(id(t))
        return e[1] if e is not None and e[0]() is t else None

    def producer(self, t):
        """The record that computed ``t`` (None for other tensors)."""
        e = self._traced.get(id(t))
        return self.records[e[2]] if e is not None and e[0]() is t else None

    def _check_arg(self, cls, a):
        """Checks a Tensor argument; returns its Traced when the step computed it."""
        name = cls.__name__.lstrip("_")
        p = self.traced(a)
        if p is not None:
            vc = a._vc
            if vc is not None and vc[0] != 0:
                self.fail(f"an in-place change of a tensor computed inside the step, read by {name}")
            return p
        if id(a) in self.created and id(a.data) not in self.inputs:
            self.fail(f"a tensor created inside the step outside the traced operations (argument of {name}; "
                      "e.g. numpy computed on .data in a custom forward)")
        return None

    # ---- activation ----------------------------------------------------------------------
    def __enter__(self):
        if autograd._tracer is not None:
            raise RuntimeError("fastdl.compile: a step is already being traced (nested compiled calls)")
        tracer = self
        init = Tensor.__init__

        def traced_init(t, *a, **k):
            init(t, *a, **k)
            tracer.created.add(id(t))
            tracer.keep.append(t)

        self._saved = {"__init__": init}
        Tensor.__init__ = traced_init
        for name in _ESCAPES:
            orig = getattr(Tensor, name)
            self._saved[name] = orig
            setattr(Tensor, name, _escape(tracer, name, orig))
        autograd._tracer = self
        return self

    def __exit__(self, *exc):
        autograd._tracer = None
        for name, orig in self._saved.items():
            setattr(Tensor, name, orig)
        self._saved = {}
        self.keep = []
        return False


def _escape(tracer, name, orig):
    def method(t, *a, **k):
        rec = tracer.producer(t)
        if rec is not None:
            tracer.fail(f"{name.strip('_')}() on the output of {rec.name} (a traced value read by Python)")
        return orig(t, *a, **k)

    method.__name__ = name
    return method
