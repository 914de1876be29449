"""The plan under construction: buffers, ops, values and gradient slots (see docs/compile.md).

A ``Program`` is what the lowerings (lower.py) write into: each traced Tensor has a buffer
(``value``), each Tensor that needs a gradient a gradient buffer (``grad_into``), and each
kernel call is an ``Op`` naming buffers. Buffers are arena buffers (placed by memory.py),
external buffers (a leaf's array or gradient, optimizer state, the loss: bound by reference)
or the step's inputs (bound on every call). ``to_plan`` (memory.py) turns it into a _C.Plan.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .trace import Traced

__all__ = ["Buf", "Op", "Program", "Unsupported", "OP_OUTPUTS"]


class Unsupported(Exception):
    """A traced call the plan cannot express; the message names the op (-> eager fallback)."""


# How many leading buffers each op writes ("in place": reads and writes all of them).
OP_OUTPUTS = {"linear_forward": 1, "gemm": 1, "sum_rows": 1, "act_forward": 1, "act_backward": 1, "add": 1,
              "copy": 1, "cross_entropy": 3, "mse_loss": 2, "conv2d_forward": 1, "conv2d_backward": 3,
              "max_pool2d_forward": 2, "max_pool2d_backward": 1, "avg_pool2d_forward": 1, "avg_pool2d_backward": 1,
              "adaptive_avg_pool2d_forward": 1, "adaptive_avg_pool2d_backward": 1,
              "batch_norm_forward": 5, "batch_norm_backward": 3,  # forward: y, mean, rstd, running stats
              "dropout_forward": 2, "dropout_backward": 1,
              "batch_norm_add_relu_forward": 6, "batch_norm_add_relu_backward": 4,
              "avg_pool2d_act_forward": 2, "avg_pool2d_act_backward": 1,
              "sgd": "in place", "adam": "in place"}


class Buf:
    __slots__ = ("id", "nbytes", "kind", "source", "watch")

    def __init__(self, id, nbytes, kind, source=None):
        self.id = id
        self.nbytes = int(nbytes)
        self.kind = kind          # "arena", "external" or "input"
        self.source = source      # external: a callable returning the array to bind
        # external arrays that may be replaced between calls: ("leaf", tensor) -> tensor.data,
        # ("state", param, slot) -> optimizer.state[param][slot]; None: fixed (owned here)
        self.watch = None

    def __repr__(self):
        return f"Buf({self.id}, {self.nbytes}B, {self.kind})"


class Op:
    __slots__ = ("name", "bufs", "ints", "floats", "scalars")

    def __init__(self, name, bufs, ints=(), floats=(), scalars=()):
        self.name = name
        self.bufs = list(bufs)
        self.ints = [int(v) for v in ints]
        self.floats = [float(v) for v in floats]
        self.scalars = list(scalars)

    def writes(self):
        n = OP_OUTPUTS[self.name]
        return [b for b in self.bufs if b is not None] if n == "in place" else [b for b in self.bufs[:n] if b is not None]

    def reads(self):
        n = OP_OUTPUTS[self.name]
        if n == "in place":
            return [b for b in self.bufs if b is not None]
        r = [b for b in self.bufs[n:] if b is not None]
        if self.name == "gemm" and self.floats[1] != 0.0:
            r.append(self.bufs[0])
        return r


class Program:
    def __init__(self, records, grad_store, owners=None):
        self.records = records
        self.owners = owners or {}    # id(array) -> the Tensor holding it (a module's buffers)
        self.grad_store = grad_store  # id(leaf) -> (leaf, its .grad array), shared by a step's plans
        self.bufs = []
        self.ops = []
        self.values = {}      # id(Tensor) or id(ndarray) -> Buf
        self.grads = {}       # id(Tensor) -> Buf of its gradient
        self.leaves = []      # (Tensor, data Buf) for tensors from outside the step
        self.leaf_grads = []  # (Tensor, grad Buf, grad ndarray) for leaves that get a gradient
        self.inputs = []      # Bufs bound by run(*inputs), in order
        self.owner = {}       # Buf.id -> number of tensors whose value is that buffer
        self.uses = {}        # id(Tensor) -> number of recorded calls reading it
        self.produced_by = {}  # id(Tensor) -> Function class
        self.shared = set()    # gradient buffers handed to an input by grad_alias during the current backward
        self.n_scalars = 0     # size of the per-call scalar table (float64)
        self.fillers = []      # fn(table) run before every replay, in order (seeds, hyper-parameters)
        self.fused = set()     # ids of records folded into another op (BatchNorm + ReLU, the joins')
        self.joins = {}        # id(add record) -> (BatchNorm record, residual, ReLU record): one op
        self.saved = {}        # id(record) -> buffers its forward keeps for its backward
        self.pinned = set()    # ids of tensors whose value must survive as computed (the model output)
        self.consumers = {}    # id(Tensor) -> records reading it
        self.counters = []     # 0-d int64 tensors the step advances by one per call (num_batches_tracked)
        for rec in records:
            for a in rec.args:
                if isinstance(a, (Tensor, Traced)):
                    self.uses[id(a)] = self.uses.get(id(a), 0) + 1
                    self.consumers.setdefault(id(a), []).append(rec)
            for t in rec.outs:
                self.produced_by[id(t)] = rec.fn

    # ---- buffers --------------------------------------------------------------------------
    def buf(self, nbytes, kind="arena", source=None):
        b = Buf(len(self.bufs), nbytes, kind, source)
        self.bufs.append(b)
        return b

    def input(self, obj, array):
        b = self.buf(array.nbytes, "input")
        b.source = "fi"[array.dtype.kind in "iu"]
        self.inputs.append(b)
        self.values[id(obj)] = b
        return b

    def new_value(self, t, like=None):
        """A fresh arena buffer holding the value of output tensor ``t``."""
        b = self.buf(t.data.nbytes) if like is None else like
        self.values[id(t)] = b
        self.owner[b.id] = self.owner.get(b.id, 0) + 1
        return b

    def value(self, a):
        """The buffer of a recorded call's argument (a Tensor or an ndarray)."""
        if a is None:
            return None
        b = self.values.get(id(a))
        if b is not None:
            return b
        if isinstance(a, Traced):
            raise Unsupported("a traced value read before it was computed")
        if isinstance(a, Tensor) and id(a.data) in self.values:  # wraps an input array
            b = self.values[id(a.data)]
        elif isinstance(a, Tensor):  # from outside the step: a leaf bound by reference
            arr = a.data
            if arr.dtype != np.float32 or not arr.flags.c_contiguous:
                raise Unsupported(f"a leaf tensor of dtype {arr.dtype} / non-contiguous layout")
            b = self.buf(arr.nbytes, "external", lambda t=a: t.data)
            b.watch = ("leaf", a)
            self.leaves.append((a, b))
        elif isinstance(a, np.ndarray) and id(a) in self.owners:  # a buffer's array (BatchNorm running stats)
            t = self.owners[id(a)]
            b = self.buf(a.nbytes, "external", lambda t=t: t.data)
            b.watch = ("leaf", t)
        elif isinstance(a, np.ndarray):  # e.g. a loss weight array: bound by reference
            if not a.flags.c_contiguous:
                raise Unsupported("a non-contiguous array argument")
            b = self.buf(a.nbytes, "external", lambda arr=a: arr)
        else:
            raise Unsupported(f"an argument of type {type(a).__name__}")
        self.values[id(a)] = b
        return b

    def scalars(self, n):
        """Indices of ``n`` new slots of the per-call scalar table."""
        first = self.n_scalars
        self.n_scalars += n
        return list(range(first, first + n))

    def sole_consumer(self, t):
        """The one recorded call reading ``t``, or None (several, or t is read by nobody)."""
        c = self.consumers.get(id(t), ())
        if len(c) != 1 or id(t) in self.pinned or self.owner.get(self.values[id(t)].id, 0) != 1:
            return None
        return c[0]

    def external(self, nbytes, source):
        return self.buf(nbytes, "external", source)

    # ---- ops ------------------------------------------------------------------------------
    def emit(self, name, bufs, ints=(), floats=(), scalars=()):
        self.ops.append(Op(name, bufs, ints, floats, scalars))

    def can_overwrite(self, t, safe_producers):
        """True when ``t``'s buffer may be overwritten by its one reader: ``t`` is produced by a
        call whose backward does not read its output, read once, and shares its buffer with no
        other tensor."""
        b = self.values.get(id(t))
        return (b is not None and b.kind == "arena" and id(t) not in self.pinned
                and self.produced_by.get(id(t)) in safe_producers
                and self.uses.get(id(t), 0) == 1 and self.owner.get(b.id, 0) == 1)

    # ---- gradients ------------------------------------------------------------------------
    def needs_grad(self, t):
        return isinstance(t, (Tensor, Traced)) and t.requires_grad

    def _grad_buf(self, t):
        if id(t) in self.produced_by:
            return self.buf(t.data.nbytes)
        entry = self.grad_store.get(id(t))
        if entry is None or entry[0] is not t or entry[1].shape != t.data.shape:
            g = t.grad.data if isinstance(t.grad, Tensor) else None  # the traced eager step's gradient:
            if not (type(g) is np.ndarray and g.dtype == np.float32 and g.shape == t.data.shape  # reuse it
                    and g.base is None and g.flags.c_contiguous and g.flags.writeable):
                g = np.empty(t.data.shape, np.float32)
            entry = self.grad_store[id(t)] = (t, g)  # the leaf's .grad from now on
        g = entry[1]
        b = self.buf(g.nbytes, "external", lambda g=g: g)
        self.leaf_grads.append((t, b, g))
        return b

    def grads_into(self, ts, emit):
        """Add gradient contributions for the tensors ``ts`` (None: not wanted) computed by one
        kernel call: ``emit(*dsts)`` emits it writing each into its dst - the gradient buffer
        itself for a first contribution, a temporary then added for later ones."""
        dsts, pending = [], []
        for t in ts:
            if t is None:
                dsts.append(None)
                continue
            cur = self.grads.get(id(t))
            if cur is None:
                cur = self.grads[id(t)] = self._grad_buf(t)
                dsts.append(cur)
            else:
                tmp = self.buf(cur.nbytes)
                dsts.append(tmp)
                pending.append((cur, tmp))
        emit(*dsts)
        for cur, tmp in pending:
            self.emit("add", [cur, cur, tmp], [cur.nbytes // 4])

    def grad_into(self, t, emit):
        """``grads_into`` for one tensor."""
        self.grads_into([t], emit)

    def grad_alias(self, t, g):
        """``t``'s gradient contribution is the buffer ``g`` itself (a view op's backward, an
        activation backward done in place): share it when it is the first, else add / copy."""
        if id(t) not in self.grads and id(t) in self.produced_by and g.id not in self.shared and g.kind == "arena":
            self.grads[id(t)] = g
            self.shared.add(g.id)
            return
        self.grad_into(t, lambda dst: self.emit("copy", [dst, g], [g.nbytes]))
