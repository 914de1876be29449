"""fastdl.compile_step and fastdl.compile: trace once per key, then replay the plan.

``compile_step(model, loss_fn, optimizer)`` returns a callable ``step(x, target)`` that does
``optimizer.zero_grad(); loss = loss_fn(model(x), target); loss.backward(); optimizer.step()``
and returns the loss (a 0-d Tensor). The first call for a key (input shapes and dtypes,
``model.training``, grad mode, the parameters' ``requires_grad``) runs that step eagerly under
the tracer and builds a plan from it; later calls with the key run the plan in C++ (GIL
released). Plans are kept per key in a small LRU cache. Anything the plan cannot replay makes
that key run eagerly, with one warning naming the op (see docs/compile.md).
"""
from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .lower import LOWERINGS, lower_loss
from .memory import to_plan
from .optim import OptimizerPlan, Retrace
from .program import Program, Unsupported
from .trace import Tracer

__all__ = ["compile_step", "compile", "CompiledStep", "CompiledModel"]

_FALLBACK = "eager"  # cache value of a key that runs eagerly
_F32 = np.dtype(np.float32)


_I64 = np.dtype(np.int64)


class _NotArrays(TypeError):
    """A step argument that is not numeric data (trees, token lists): the step runs eagerly."""


def _array(a, name):
    """The float32 (x, float targets) or int64 (integer targets) C-contiguous array of a step
    argument; TypeError naming the argument for anything else."""
    if isinstance(a, Tensor):
        a = a.data
    if type(a) is np.ndarray:
        dt = a.dtype
        if (dt is _F32 or (dt is _I64 and name != "x")) and a.flags.c_contiguous:
            return a  # the common case: no conversion, no copy
    elif a is None or isinstance(a, (str, bytes)):
        raise TypeError(f"{name} must be a Tensor or an array, got {type(a).__name__}")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError):
        raise _NotArrays(f"inputs that are not arrays ({name} of type {type(a).__name__})") from None
    kind = arr.dtype.kind
    if kind in "fb" or (kind in "iu" and name == "x"):
        dt = _F32
    elif kind in "iu":
        dt = _I64
    elif kind == "O":
        raise _NotArrays(f"inputs that are not arrays ({name} of type {type(a).__name__})")
    else:
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    a = arr
    return np.ascontiguousarray(a, dtype=dt)


class _Replay:
    """One plan and everything bound to it."""

    def __init__(self, built, prog, loss_arr=None, out_arr=None, opt_plan=None):
        plan, self.places, self.arena_need = built
        self.plan = plan
        self.table = np.zeros(max(prog.n_scalars, 1), np.float64)
        self.fillers = prog.fillers
        used = {i for op in prog.ops for i in (b.id for b in op.bufs if b is not None)}
        self.externals = [(b, b.source) for b in prog.bufs if b.kind == "external" and b.id in used]
        self.bound = [None] * len(self.externals)
        self.grads = [(t, Tensor._wrap(g)) for t, _, g in prog.leaf_grads]
        self.no_grads = []  # parameters whose .grad each call sets to None
        self.loss_arr = loss_arr
        self.out_arr = out_arr
        self.opt_plan = opt_plan
        self.counters = prog.counters
        plan.set_scalars(self.table)
        self.bind()

    def bind(self):
        """(Re)bind every external array that is not the one bound (load_state_dict may have
        replaced a parameter's or the optimizer's arrays) and rebuild the per-call watch list.
        Retrace when an array no longer fits."""
        bound = self.bound
        for k, (b, src) in enumerate(self.externals):
            a = src()
            if a is not bound[k]:
                try:
                    self.plan.bind(b.id, a, b.nbytes)
                except (ValueError, TypeError) as e:
                    raise Retrace() from e
                bound[k] = a
        watch = []  # (index, tensor or state dict, slot or None): compared by identity each call
        for k, (b, _) in enumerate(self.externals):
            w = b.watch
            if w is not None:
                watch.append((k, w[1], None) if w[0] == "leaf" else (k, self.opt_plan.opt.state[w[1]], w[2]))
        self._watch = watch

    def place(self):
        """Place every arena buffer (after the plan got its arena or a shared one)."""
        for bid, off, nbytes in self.places:
            self.plan.place(bid, off, nbytes)

    def _check_bound(self):
        bound = self.bound
        for k, obj, slot in self._watch:
            if (obj.data if slot is None else obj[slot]) is not bound[k]:
                self.bind()
                return

    def run(self, *inputs):
        opt_plan = self.opt_plan
        if opt_plan is not None:
            if opt_plan.check():
                self.bind()
            else:
                self._check_bound()
        else:
            self._check_bound()
        table = self.table
        for fill in self.fillers:
            fill(table)
        for t in self.counters:  # BatchNorm's num_batches_tracked, advanced as the module does
            t.data.fill(t.data.item() + 1)
        self.plan.run(*inputs)
        if opt_plan is not None:
            for vc in opt_plan.versions:  # as an eager optimizer step: one in-place write per parameter
                vc[0] += 1
        for t, g in self.grads:
            t.grad = g
        for t in self.no_grads:
            t.grad = None


def _buffer_owners(model):
    """{id(array): tensor} for the model's buffers (ops receive their arrays, not the tensors)."""
    return {id(t.data): t for t in model.buffers() if t is not None}


def _counter_values(model):
    """(module, num_batches_tracked tensor, value) of the model's BatchNorm layers: the one
    piece of state a forward changes in Python rather than through a traced op."""
    out = []
    for m in model.modules():
        t = getattr(m, "num_batches_tracked", None)
        if t is not None and hasattr(t, "data") and getattr(t.data, "ndim", -1) == 0:
            out.append((m, t, int(t.data)))
    return out


def _advanced_counters(before):
    """The counters the traced step advanced; Unsupported when a layer derives a per-call value
    from one (BatchNorm with momentum=None averages with 1 / num_batches_tracked)."""
    out = []
    for m, t, v in before:
        if int(t.data) != v:
            if getattr(m, "momentum", 0.1) is None:
                raise Unsupported(f"{type(m).__name__} with momentum=None (a per-call averaging factor)")
            out.append(t)
    return out


def _warn_once(owner, reason):
    if reason not in owner._warned:
        owner._warned.add(reason)
        warnings.warn(f"fastdl.compile: cannot compile {reason}; this step runs eagerly (results are the same, "
                      "only slower)", RuntimeWarning, stacklevel=3)


class _Cached:
    """The LRU cache of plans per key shared by CompiledStep and CompiledModel (``trace_count``:
    how many traces ran; ``cached_keys``: the keys held; ``build_seconds``: the last plan's build)."""

    def __init__(self, model, cache_size):
        if not hasattr(model, "parameters") or not callable(model):
            raise TypeError(f"fastdl.compile: model must be a fastdl.nn.Module, got {type(model).__name__}")
        if int(cache_size) < 1:
            raise ValueError(f"fastdl.compile: cache_size must be >= 1, got {cache_size}")
        self.model = model
        self.cache_size = int(cache_size)
        self._plans = OrderedDict()
        self._warned = set()
        self._params = list(model.parameters())
        self.trace_count = 0
        self.build_seconds = 0.0  # time spent turning the last trace into a plan
        self._arena_owner = None  # the plan whose arena (the largest) the others share
        # One call at a time: the plans share one arena and replay with the GIL released, so two
        # threads calling the same compiled object would overwrite each other's buffers.
        self._lock = threading.Lock()

    def __call__(self, *args):
        with self._lock:
            try:
                return self._call(*args)
            finally:
                if self._arena_owner is None:  # a trace released the arena: give it back to the plans
                    self._assign_arena()

    def _key(self, xa, ta=None):
        return (xa.shape, xa.dtype.char, None if ta is None else (ta.shape, ta.dtype.char), self.model.training,
                autograd._state.enabled, tuple([p.requires_grad for p in self._params]))

    def _lookup(self, key):
        entry = self._plans.get(key)
        if entry is not None:
            self._plans.move_to_end(key)
        return entry

    def _store(self, key, entry):
        self._plans[key] = entry
        self._plans.move_to_end(key)
        while len(self._plans) > self.cache_size:
            self._plans.popitem(last=False)

    def _assign_arena(self):
        """Plans of one compiled step never run at the same time: they share one arena, the
        largest any of them needs, allocated by the plan needing it."""
        replays = [e for e in self._plans.values() if isinstance(e, _Replay)]
        if not replays:
            return
        owner = max(replays, key=lambda r: r.arena_need)
        owner.plan.allocate_arena(owner.arena_need)
        owner.place()
        for other in replays:
            if other is not owner:
                other.plan.share_arena(owner.plan)
                other.place()
        self._arena_owner = owner

    def _release_arena(self):
        """Free the shared arena while a new key traces: the traced step runs eagerly, and its
        activations then take the arena's place instead of adding to it (peak RSS)."""
        for e in self._plans.values():
            if isinstance(e, _Replay):
                e.plan.release_arena()
        self._arena_owner = None

    def _tracer(self, *input_arrays):
        self._release_arena()
        self.trace_count += 1
        return Tracer(input_arrays)

    @property
    def cached_keys(self):
        """The keys with a plan (or an eager fallback), least recently used first."""
        return list(self._plans)


class CompiledStep(_Cached):
    """``step = fastdl.compile_step(model, loss_fn, optimizer)``: ``step(x, target)`` runs
    ``zero_grad``, forward, loss, backward and the update, from a plan per key after the first
    call (see the module docstring); returns the loss as a 0-d Tensor."""

    def __init__(self, model, loss_fn, optimizer, cache_size=8, keep_output=False):
        super().__init__(model, cache_size)
        self.keep_output = bool(keep_output)
        self.output = None  # with keep_output: the model's output of the last call (a Tensor)
        if not callable(loss_fn):
            raise TypeError(f"fastdl.compile_step: loss_fn must be callable, got {type(loss_fn).__name__}")
        if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "step"):
            raise TypeError(f"fastdl.compile_step: optimizer must be a fastdl.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self._grad_store = {}

    def _call(self, x, target):
        try:
            xa = _array(x, "x")
            ta = _array(target, "target")
        except _NotArrays as e:  # e.g. trees for a tree model: the model takes them as they are
            _warn_once(self, str(e))
            return self._eager(x, target, target)[0].detach()
        key = self._key(xa, ta)
        entry = self._lookup(key)
        if entry is not None and entry is not _FALLBACK:
            try:
                entry.run(xa, ta)
                if self.keep_output:
                    self.output = Tensor._wrap(entry.out_arr.copy())
                return Tensor._wrap(entry.loss_arr.copy())
            except Retrace:
                self._plans.pop(key, None)
                entry = None
        if entry is _FALLBACK:
            return self._eager(xa, ta, target)[0].detach()
        return self._trace(key, xa, ta, target)

    def _eager(self, xa, ta, target, tracer=None):
        opt = self.optimizer
        opt.zero_grad()
        xt = Tensor._wrap(xa) if isinstance(xa, np.ndarray) else xa
        tt = Tensor._wrap(ta) if isinstance(target, Tensor) and isinstance(ta, np.ndarray) else ta
        if tracer is None:
            out = self.model(xt)
            loss = self.loss_fn(out, tt)
        else:
            with tracer:
                out = self.model(xt)
                loss = self.loss_fn(out, tt)
        if self.keep_output:
            self.output = out.detach() if isinstance(out, Tensor) else out
        if not isinstance(loss, Tensor):
            raise TypeError(f"fastdl.compile_step: loss_fn must return a Tensor, got {type(loss).__name__}")
        loss.backward()
        opt.step()
        return loss, xt, tt, out

    def _trace(self, key, xa, ta, target):
        tracer = self._tracer(xa, ta)
        counters = _counter_values(self.model)
        loss, xt, tt, out = self._eager(xa, ta, target, tracer)
        reason = tracer.reason
        if reason is None:
            t0 = time.perf_counter()
            try:
                entry = self._build(tracer, xt, tt, xa, ta, loss, out, _advanced_counters(counters))
                self.build_seconds = time.perf_counter() - t0
            except Unsupported as e:
                reason = str(e)
            except Retrace:
                return loss.detach()  # state not ready (e.g. no step taken yet): trace again next call
        if reason is not None:
            _warn_once(self, reason)
            entry = _FALLBACK
        self._store(key, entry)
        return loss.detach()  # as replayed steps: no graph (it would keep this step's activations)

    def _build(self, tracer, xt, tt, xa, ta, loss, out, counters):
        records = tracer.records
        if not records or records[-1].outs[0] is not tracer.traced(loss):
            raise Unsupported("a loss not computed by a traced loss function (the step's loss must be the "
                              "output of the last operation)")
        prog = Program(records, self._grad_store, _buffer_owners(self.model))
        prog.counters = counters
        xb = prog.input(xt, xa)
        prog.values[id(xa)] = xb
        tb = prog.input(tt, ta)
        prog.values[id(ta)] = tb
        if self.keep_output and isinstance(out, Tensor) and tracer.traced(out) is not None:
            prog.pinned.add(id(tracer.traced(out)))
        _lower_forward(prog, records[:-1])
        out_arr = None
        if self.keep_output:
            out_arr = _copy_out(prog, tracer, out)
        loss_arr = np.zeros((), np.float32)
        lower_loss(prog, records[-1], prog.external(4, lambda: loss_arr))
        for rec in reversed(records[:-1]):
            g = prog.grads.get(id(rec.outs[0]))
            if g is not None and rec.needs is not None:
                prog.shared.clear()  # one input may take over g (alias); the others get copies
                LOWERINGS[rec.fn][1](prog, rec, g)
        opt_plan = OptimizerPlan(self.optimizer, prog)
        in_opt = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        for t, _, _ in prog.leaf_grads:
            if id(t) not in in_opt:  # zero_grad does not reset it: eager .grad accumulates over steps
                raise Unsupported(f"a tensor of shape {tuple(t.data.shape)} that requires grad but is not in the "
                                  "optimizer (its .grad accumulates across steps)")
        with_grad = {id(t) for t, _, _ in prog.leaf_grads}
        replay = _Replay(to_plan(prog), prog, loss_arr=loss_arr, out_arr=out_arr, opt_plan=opt_plan)
        # zero_grad (set_to_none) of the optimizer's parameters that get no gradient in this plan
        replay.no_grads = [p for g in self.optimizer.param_groups for p in g["params"] if id(p) not in with_grad]
        return replay


def _copy_out(prog, tracer, out):
    """An array the plan copies the model's output ``out`` into (emitted at this point)."""
    p = tracer.traced(out) if isinstance(out, Tensor) else None
    src = None if p is None else prog.values.get(id(p))
    if src is None:
        raise Unsupported("a model whose output is not computed by traced operations")
    out_arr = np.empty(out.data.shape, np.float32)
    prog.emit("copy", [prog.external(out_arr.nbytes, lambda: out_arr), src], [out_arr.nbytes])
    return out_arr


def _lower_forward(prog, records):
    for rec in records:
        low = LOWERINGS.get(rec.fn)
        if low is None:
            raise Unsupported(f"{rec.name} (no lowering for this operation)")
        if len(rec.outs) != 1:
            raise Unsupported(f"{rec.name} with {len(rec.outs)} outputs")
        low[0](prog, rec)


class CompiledModel(_Cached):
    """``predict = fastdl.compile(model)``: ``predict(x) == model(x)`` under no_grad."""

    def _call(self, x):
        xa = _array(x, "x")
        with autograd.no_grad():
            key = self._key(xa)
            entry = self._lookup(key)
            if entry is not None and entry is not _FALLBACK:
                try:
                    entry.run(xa)
                    return Tensor._wrap(entry.out_arr.copy())
                except Retrace:
                    self._plans.pop(key, None)
                    entry = None
            if entry is _FALLBACK:
                return self.model(Tensor._wrap(xa))
            return self._trace(key, xa)

    def _trace(self, key, xa):
        tracer = self._tracer(xa)
        xt = Tensor._wrap(xa)
        counters = _counter_values(self.model)
        with tracer:
            out = self.model(xt)
        reason = tracer.reason
        entry = _FALLBACK
        if reason is None:
            t0 = time.perf_counter()
            try:
                entry = self._build(tracer, xt, xa, out, _advanced_counters(counters))
                self.build_seconds = time.perf_counter() - t0
            except Unsupported as e:
                reason = str(e)
        if reason is not None:
            _warn_once(self, reason)
        self._store(key, entry)
        return out

    def _build(self, tracer, xt, xa, out, counters):
        if not isinstance(out, Tensor) or tracer.traced(out) is None:
            raise Unsupported("a model whose output is not computed by traced operations")
        prog = Program(tracer.records, {}, _buffer_owners(self.model))
        prog.counters = counters
        prog.values[id(xa)] = prog.input(xt, xa)
        _lower_forward(prog, tracer.records)
        out_arr = _copy_out(prog, tracer, out)
        return _Replay(to_plan(prog), prog, out_arr=out_arr)


def compile_step(model, loss_fn, optimizer, *, cache_size=8, keep_output=False):
    """A compiled training step: ``step(x, target)`` == ``optimizer.zero_grad();
    loss = loss_fn(model(x), target); loss.backward(); optimizer.step()``, returning the loss
    (a 0-d Tensor). Nothing runs until the first call. ``keep_output=True`` also keeps the
    model's output of each call in ``step.output``. See docs/compile.md."""
    return CompiledStep(model, loss_fn, optimizer, cache_size, keep_output)


def compile(model, *, cache_size=8):  # noqa: A001 - PyTorch's name
    """A compiled forward pass: ``predict(x)`` == ``model(x)`` under ``no_grad`` (in the
    model's current train/eval mode), replayed from a plan per input shape."""
    return CompiledModel(model, cache_size)
