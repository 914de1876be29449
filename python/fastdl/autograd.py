"""Reverse-mode automatic differentiation.

A differentiable operation is a ``Function`` subclass with two static methods working on
numpy arrays::

    class _Relu(Function):
        @staticmethod
        def forward(ctx, x):             # Tensor arguments arrive as their float32 ndarrays
            y = _C.relu_forward(x)
            ctx.save(y)                  # anything needed by backward
            return y                     # an ndarray, or a tuple of ndarrays
        @staticmethod
        def backward(ctx, dy):           # one gradient ndarray per output
            (y,) = ctx.saved
            return _C.relu_backward(dy, y)   # one gradient (or None) per forward argument

    y = _Relu.apply(x)                   # returns Tensor(s); records the graph when needed

Non-Tensor arguments (ints, flags, numpy index arrays) are passed through unchanged and get
``None`` as gradient. ``ctx.needs_input_grad[i]`` says whether argument i needs a gradient,
so backward can skip work. Gradients of outputs that did not reach the loss arrive as zeros.

``backward`` walks the graph with an explicit stack (no recursion) in reverse topological
order and sums gradients on fan-out. After a backward pass the saved buffers are freed; a
second pass raises unless the first used ``retain_graph=True``.

Details of the contract:

* ``forward`` receives the arrays of Tensor arguments (float32, or float64 inside
  ``gradcheck``; int64/bool for index tensors) and every other argument unchanged. It
  returns one ndarray or a tuple of ndarrays; each becomes a new Tensor (no copy).
* ``backward`` receives one gradient array per output, shaped like that output, and returns
  a gradient per forward argument (a tuple when forward took several arguments; ``None``
  for arguments that need none). A returned gradient must have the shape of its input; it
  is cast to the input's dtype. Gradients may be read-only views: never write into ``dy``.
* ``ctx.save(*values)`` / ``ctx.saved`` keep what backward needs; any other attribute
  (``ctx.dim = 1``) may be set too. The context is dropped after the backward pass.
* A Function whose backward always returns newly allocated arrays that nothing else holds
  may set the class attribute ``fresh_grads = True``: a leaf's first gradient then becomes
  its ``.grad`` without a copy (otherwise it is copied, since it may alias ``dy``).
* Outside ``no_grad`` and when some Tensor argument requires grad, the outputs get
  ``requires_grad=True`` and a ``grad_fn``; otherwise nothing is recorded.

Hooks (PyTorch's, what DistributedDataParallel is built on):
``register_post_accumulate_grad_hook(leaf, hook)`` calls ``hook(leaf)`` once per backward
pass, when the last of the leaf's incoming gradients has been added to ``.grad``; a hook may
call ``queue_callback(fn)`` to run ``fn()`` when the whole pass has finished.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
           "register_post_accumulate_grad_hook", "queue_callback"]

class _State(threading.local):
    enabled = True  # per-thread grad mode (a class default: no per-call getattr fallback)
    callbacks = None  # during a backward pass: the list queue_callback appends to


_state = _State()


def is_grad_enabled() -> bool:
    """True when operations record the graph (outside ``no_grad``)."""
    return _state.enabled


class set_grad_enabled:
    """Context manager (and function) that turns graph recording on or off."""

    def __init__(self, mode: bool):
        self.prev = is_grad_enabled()
        _state.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False


class _GradMode:
    _mode = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is None:
            return self
        if not callable(fn):
            raise TypeError(f"{cls.__name__}: expected a function to decorate, got {type(fn).__name__}")
        return self(fn)  # bare decorator: @no_grad

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        import functools

        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = is_grad_enabled()
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator: operations inside record no graph (inference, updates)."""

    _mode = False


class enable_grad(_GradMode):
    """Context manager / decorator: re-enables graph recording inside ``no_grad``."""

    _mode = True



_F32 = np.dtype(np.float32)
_YES, _NO = (True,), (False,)  # needs_input_grad of a one-argument call


class Context:
    """Per-call storage shared by a Function's forward and backward.

    When the call is recorded, the context is also the graph node (``tensor.grad_fn``): it
    keeps in ``_ag_*`` slots (do not use attribute names starting with ``_ag_`` in Functions)
    the Function; one edge per argument, like PyTorch's Edge / AccumulateGrad: the producer
    node of a computed input (the node itself for its output 0, else (node, output index)),
    the Tensor of a leaf (one that needs no gradient is kept for the in-place check), None
    for anything else; the output shape (``_ag_shapes``: a shape tuple for one output, a list
    of them for several; ``_ag_dt`` the dtype(s) when not float32); and the inputs' versions
    (see fastdl._inplace). It never holds a computed input Tensor, so an activation lives only
    as long as a Function saved it or the user holds it; after a backward pass (without
    retain_graph) a node holds nothing.
    """

    __slots__ = ("saved", "needs_input_grad", "_ag_fn", "_ag_edges", "_ag_shapes", "_ag_vers",
                 "__dict__", "__weakref__")
    _ag_dt = _F32  # output dtype(s), set on the instance only when not float32
    # The counters of outputs changed in place later (fastdl._inplace), set on the instance
    # only then: a recorded call does not pay a store for the rare case.
    _ag_outv = None

    def __init__(self):
        self.saved = ()
        self.needs_input_grad = ()

    def save(self, *values):
        """Keep values (arrays, caches) for backward; read them back as ``ctx.saved``."""
        self.saved = values

    @property
    def name(self):
        return self._ag_fn.__name__.lstrip("_")

    def __repr__(self):
        try:
            return f"<{self.name}Backward>"
        except AttributeError:
            return "<Context>"


Node = Context  # a recorded call (grad_fn) is its context


_Tensor = None  # fastdl.tensor.Tensor, set by tensor.py when it is imported (avoids an import per call)
_wrap = None  # fastdl.tensor._wrap (ndarray -> Tensor without copy), set by tensor.py
_new = object.__new__
_ndarray = np.ndarray
# fastdl.compile's tracer while a step is being traced, else None: every apply is routed
# through _tracer.apply(cls, args), which calls apply again with _tracer unset and records it.
_tracer = None


class Function:
    """Base class of differentiable operations (see the module docstring)."""

    # True when backward returns, for each input, a newly allocated array (or a view of one)
    # that nothing else references (not dy, not a saved buffer, not another input's
    # gradient): a leaf's first gradient then takes it as .grad without a copy.
    fresh_grads = False
    # True for the in-place Functions of fastdl._inplace (their node's edge 0 is the tensor's
    # previous history).
    inplace = False
    # True for fastdl._inplace.ViewFunction: an output may be a numpy view of input 0, sharing
    # its version counter.
    is_view = False

    @staticmethod
    def forward(ctx, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        """Run ``forward`` on the arrays of ``args`` and return Tensor(s), recording the graph
        when grad mode is on and some Tensor argument requires grad."""
        # Hot path (one call per operation): kept free of helper calls on purpose.
        if _tracer is not None:
            return _tracer.apply(cls, args)
        T = _Tensor
        n = len(args)
        vers = None
        if n == 1:
            (a,) = args
            if isinstance(a, T):
                raw = (a.data,)
                record = a.requires_grad
                vc = a._vc
                if vc is not None:
                    vers = (vc[0],)
            else:
                raw = args
                record = False
            needs = _YES if record else _NO
            if record and _state.enabled:
                e = a._node or a  # the producer (its output 0), or the leaf itself
                edges = ((e, a._index),) if a._index else (e,)
            else:
                record = False
        elif n == 2:
            a, b = args
            if isinstance(a, T):
                ra = a.data
                na = a.requires_grad
                vc = a._vc
                if vc is not None:
                    vers = (vc[0], 0)
            else:
                ra = a
                na = False
            if isinstance(b, T):
                rb = b.data
                nb = b.requires_grad
                vc = b._vc
                if vc is not None:
                    vers = (vers[0] if vers else 0, vc[0])
            else:
                rb = b
                nb = False
            raw = (ra, rb)
            needs = (na, nb)
            record = (na or nb) and _state.enabled
            if record:
                if na:
                    ea = a._node or a
                    if a._index:
                        ea = (ea, a._index)
                else:
                    ea = a if ra is not a else None
                if nb:
                    eb = b._node or b
                    if b._index:
                        eb = (eb, b._index)
                else:
                    eb = b if rb is not b else None
                edges = (ea, eb)
        else:
            raw = list(args)
            needs = [False] * n
            edges = [None] * n
            record = False
            i = 0
            for a in args:
                if isinstance(a, T):
                    raw[i] = a.data
                    if a.requires_grad:
                        needs[i] = record = True
                        e = a._node or a
                        edges[i] = (e, a._index) if a._index else e
                    else:
                        edges[i] = a
                    if a._vc is not None:
                        if vers is None:
                            vers = [0] * n
                        vers[i] = a._vc[0]
                i += 1
            if record:
                record = _state.enabled
        ctx = _new(Context)
        ctx.saved = ()
        ctx.needs_input_grad = needs
        out = cls.forward(ctx, *raw)
        if type(out) is _ndarray and out.dtype is _F32:
            t = _new(T)
            t.data = out
            t.grad = None
            t._index = 0
            t._vc = None
            if record:
                t.requires_grad = True
                t._node = ctx
                ctx._ag_fn = cls
                ctx._ag_edges = edges
                ctx._ag_shapes = out.shape
                ctx._ag_vers = vers
            else:
                t.requires_grad = False
                t._node = None
            return t
        if type(out) is tuple:
            tensors = tuple([_wrap(o) for o in out])
            if record:
                ctx._ag_fn = cls
                ctx._ag_edges = edges
                ctx._ag_shapes = [t.data.shape for t in tensors]
                dts = [t.data.dtype for t in tensors]
                if dts != [_F32] * len(dts):
                    ctx._ag_dt = dts
                ctx._ag_vers = vers
                i = 0
                for t in tensors:
                    t.requires_grad = True
                    t._node = ctx
                    t._index = i
                    i += 1
            return tensors
        t = _wrap(out)
        if record:
            t.requires_grad = True
            t._node = ctx
            ctx._ag_fn = cls
            ctx._ag_edges = edges
            ctx._ag_shapes = t.data.shape
            if t.data.dtype != _F32:
                ctx._ag_dt = t.data.dtype
            ctx._ag_vers = vers
        return t


def _counters(e):
    """(version counter, id of the array) of the computed input behind the node edge ``e``:
    registered at its producer (``_ag_outv``), or, for the output of a view (which shares its
    base's counter, and whose array's numpy base is the base's array), the base's."""
    while True:
        child, idx = (e, 0) if type(e) is Context else e
        found = [(vc, aid) for vc, _, aid, k in child._ag_outv or () if k == idx]
        if found or not child._ag_fn.is_view or not child._ag_edges:
            return found
        e = child._ag_edges[0]
        if type(e) is not Context and type(e) is not tuple:  # the base is a leaf (or None)
            return [] if e is None or e._vc is None else [(e._vc, id(e.data))]


def _children(node):
    """The nodes that produced the inputs of a recorded call that require grad."""
    out = []
    for e, n in zip(node._ag_edges, node.needs_input_grad):
        if n:
            t = type(e)
            if t is Context:
                out.append(e)
            elif t is tuple:
                out.append(e[0])
    return out


def _out_shape(node, i):
    """Shape and dtype of output ``i`` of ``node``."""
    s = node._ag_shapes
    if type(s) is list:
        dt = node._ag_dt
        return s[i], (dt[i] if type(dt) is list else dt)
    return s, node._ag_dt


def _n_outputs(node):
    s = node._ag_shapes
    return len(s) if type(s) is list else 1


def _held(saved, aid):
    """The saved array whose id (or whose numpy base's id) is ``aid``, else None. Ids are safe
    here: the recorded array and the saved values were alive at the same time."""
    for v in saved:
        if type(v) is _ndarray:
            if id(v) == aid:
                return v
            b = v.base
            if b is not None and id(b) == aid:
                return b
    return None


def _version_error(node, array, what, now, expected):
    dt = {"f": "Float", "i": "Long", "b": "Bool"}.get(array.dtype.kind, "")
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [fastdl.{dt}Tensor {list(array.shape)}], which is {what} of {node.name}Backward, "
        f"is at version {now}; expected version {expected} instead. Hint: the operation that failed "
        "to compute its gradient used a value that was changed in place after it was saved (an "
        "in-place op, an optimizer step, an inplace=True layer); make a copy (.clone()) before "
        "changing it, or change it after backward.")


def _check(node, saved, vc, expected, aid, what):
    if vc[0] != expected:
        arr = _held(saved, aid)
        if arr is not None:
            raise _version_error(node, arr, what, vc[0], expected)


def _check_versions(node):
    """Raise PyTorch's error when a Tensor whose data ``node`` saved for backward was
    modified in place since (its version differs from the one recorded in forward,
    ``_ag_vers``; 0 when it had no counter then).

    An input's counter and array are found through its edge: a leaf's own ``_vc``, or the
    ``_ag_outv`` entries its producer keeps (the counters of its outputs: registered when one
    is created, fastdl._inplace.cell, and by views and in-place ops that share one)."""
    saved = node.saved
    if not saved:
        return
    vers = node._ag_vers
    i = -1
    for e in node._ag_edges:
        i += 1
        if e is None:
            continue
        te = type(e)
        if te is not Context and te is not tuple:  # a leaf
            if e._vc is not None:
                _check(node, saved, e._vc, vers[i] if vers is not None else 0, id(e.data), f"input {i}")
            continue
        child = e if te is Context else e[0]
        if child._ag_outv or child._ag_fn.is_view:
            for vc, aid in _counters(e):
                _check(node, saved, vc, vers[i] if vers is not None else 0, aid, f"input {i}")
    outs = node._ag_outv
    if outs:
        for vc, expected, aid, k in outs:
            _check(node, saved, vc, expected, aid, f"output {k}")


def _toposort(root_node):
    """Nodes reachable from root_node, each before every node that produced its inputs
    (iterative depth-first search: no recursion, so very deep graphs are fine)."""
    order = []
    visited = {id(root_node)}
    stack = [(root_node, iter(_children(root_node)))]
    while stack:
        node, it = stack[-1]
        for child in it:
            if id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(_children(child))))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


# ---- hooks ----------------------------------------------------------------------------------
# id(leaf) -> (weakref to the leaf, [hooks]); keyed by id because Tensor's == is elementwise.
_post_accumulate_hooks = {}


class RemovableHandle:
    """Returned by ``register_post_accumulate_grad_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, key, hook):
        self._key = key
        self._hook = hook

    def remove(self):
        entry = _post_accumulate_hooks.get(self._key)
        if entry is not None and self._hook in entry[1]:
            entry[1].remove(self._hook)
            if not entry[1]:
                del _post_accumulate_hooks[self._key]


def register_post_accumulate_grad_hook(tensor, hook):
    """Call ``hook(tensor)`` each backward pass once the leaf ``tensor``'s ``.grad`` holds every
    contribution of that pass (PyTorch's ``Tensor.register_post_accumulate_grad_hook``); a pass
    that gives the leaf no gradient does not call it. Returns a handle with ``remove()``."""
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook: hook must be callable, got {type(hook).__name__}")
    if tensor._node is not None:
        raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors accumulate gradients "
                           "(this tensor was computed by an operation)")
    if not tensor.requires_grad:
        raise RuntimeError("register_post_accumulate_grad_hook: the tensor does not require grad")
    key = id(tensor)
    entry = _post_accumulate_hooks.get(key)
    if entry is None:
        ref = weakref.ref(tensor, lambda _r, k=key: _post_accumulate_hooks.pop(k, None))
        entry = _post_accumulate_hooks[key] = (ref, [])
    entry[1].append(hook)
    return RemovableHandle(key, hook)


def queue_callback(fn):
    """Run ``fn()`` once the current backward pass has finished (from a hook; PyTorch's
    ``Variable._execution_engine.queue_callback``)."""
    if _state.callbacks is None:
        raise RuntimeError("queue_callback: only valid during a backward pass (call it from a hook)")
    _state.callbacks.append(fn)


def _hooked_leaf_edges(order):
    """For the hooked leaves of a graph: {id(leaf): [edges still to arrive, got a gradient]}
    and {id(node): [hooked leaves among its inputs]}."""
    pending, by_node = {}, {}
    for node in order:
        for t, n in zip(node._ag_edges, node.needs_input_grad):
            if n and type(t) is not tuple and type(t) is not Context and id(t) in _post_accumulate_hooks:
                e = pending.get(id(t))
                if e is None:
                    pending[id(t)] = [1, False]
                else:
                    e[0] += 1
                by_node.setdefault(id(node), []).append(t)
    return pending, by_node


def _release_edges(leaves, pending):
    """A node has delivered its gradients to ``leaves``: fire the hooks of those with no edge left."""
    for t in leaves:
        e = pending[id(t)]
        e[0] -= 1
        if e[0] == 0 and e[1]:
            _fire_hooks(t)


def _fire_hooks(t):
    entry = _post_accumulate_hooks.get(id(t))
    if entry is not None:
        for hook in list(entry[1]):
            hook(t)


def backward(tensor, grad=None, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad`` (see Tensor.backward)."""
    T = _Tensor
    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from tensors without requires_grad=True?)")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs, "
                               f"got shape {tuple(tensor.shape)}; pass a gradient of that shape")
        g = np.ones(tensor.shape, dtype=tensor.data.dtype)
    else:
        if grad is None or isinstance(grad, (str, bytes)):
            raise TypeError(f"backward: gradient must be a Tensor or array, got {type(grad).__name__}")
        g = np.asarray(grad.data if isinstance(grad, T) else grad, dtype=tensor.data.dtype)
        if g.shape != tensor.shape:
            raise ValueError(f"backward: gradient shape {g.shape} does not match tensor shape {tuple(tensor.shape)}")
    outer = _state.callbacks
    queued = _state.callbacks = []
    try:
        _walk(tensor, g, retain_graph)
    finally:
        _state.callbacks = outer
    for fn in queued:
        fn()


def _walk(tensor, g, retain_graph):
    """The backward pass proper: gradients from ``tensor`` (seeded with ``g``) to the leaves."""
    if tensor._node is None:  # a leaf
        tensor._accumulate(g)
        if id(tensor) in _post_accumulate_hooks:
            _fire_hooks(tensor)
        return
    root = tensor._node
    grads = {id(root): [None] * _n_outputs(root)}
    grads[id(root)][tensor._index] = g
    order = _toposort(root)
    pending, by_node = _hooked_leaf_edges(order) if _post_accumulate_hooks else (None, None)
    for node in order:
        if node.saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (through {node.name}): its saved "
                "buffers were freed by the first backward. Pass retain_graph=True to the first backward.")
        gl = grads.pop(id(node), None)
        if gl is None:
            if by_node and id(node) in by_node:
                _release_edges(by_node[id(node)], pending)
            continue
        _check_versions(node)
        shapes = node._ag_shapes
        if type(shapes) is not list:
            in_grads = node._ag_fn.backward(node, gl[0])
        else:
            gl = [np.zeros(s, dtype=np.float32) if x is None else x for x, s in zip(gl, shapes)]
            in_grads = node._ag_fn.backward(node, *gl)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        edges = node._ag_edges
        fresh = node._ag_fn.fresh_grads
        if len(in_grads) < len(edges):
            raise RuntimeError(f"{node.name}.backward returned {len(in_grads)} gradients for "
                               f"{len(edges)} inputs")
        for e, n, ig in zip(edges, node.needs_input_grad, in_grads):
            if not n or ig is None:
                continue
            te = type(e)
            if te is Context:
                child, idx = e, 0
                shape = e._ag_shapes
                if type(shape) is list:
                    shape, dt = _out_shape(e, 0)
                else:
                    dt = e._ag_dt
            elif te is tuple:
                child, idx = e
                shape, dt = _out_shape(child, idx)
            else:
                child = None
                d = e.data
                shape, dt = d.shape, d.dtype
            if type(ig) is not np.ndarray or ig.dtype != dt:
                ig = np.asarray(ig, dtype=dt)
            if ig.shape != shape:
                raise RuntimeError(f"{node.name}.backward returned a gradient of shape {ig.shape} "
                                   f"for an input of shape {shape}")
            if child is None:
                if fresh and e.grad is None and ig.flags.c_contiguous:
                    e.grad = _wrap(ig)  # a new array nobody else holds: adopt it, no copy
                else:
                    e._accumulate(ig)
                if pending and id(e) in pending:
                    pending[id(e)][1] = True
            else:
                slot = grads.get(id(child))
                if slot is None:
                    slot = grads[id(child)] = [None] * _n_outputs(child)
                prev = slot[idx]
                slot[idx] = ig if prev is None else prev + ig
        if by_node and id(node) in by_node:
            _release_edges(by_node[id(node)], pending)
        if not retain_graph:
            node.saved = None  # frees the buffers; marks the node as used
            node._ag_edges = ()  # and lets go of the graph below it
            if node.__dict__:
                node.__dict__.clear()
