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
"""
from __future__ import annotations

import threading

import numpy as np

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when operations record the graph (outside ``no_grad``)."""
    return getattr(_state, "enabled", True)


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


class Context:
    """Per-call storage shared by a Function's forward and backward."""

    __slots__ = ("saved", "needs_input_grad", "__dict__")

    def __init__(self):
        self.saved = ()
        self.needs_input_grad = ()

    def save(self, *values):
        """Keep values (arrays, caches) for backward; read them back as ``ctx.saved``."""
        self.saved = values


class Node:
    """One recorded Function call: the backward closure and the edges to its inputs."""

    __slots__ = ("fn", "ctx", "inputs", "out_shapes", "freed", "name")

    def __init__(self, fn, ctx, inputs, out_shapes):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs  # tuple: Tensor (requires grad) or None, one per forward argument
        self.out_shapes = out_shapes
        self.freed = False
        self.name = fn.__name__.lstrip("_")


class Function:
    """Base class of differentiable operations (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        from .tensor import Tensor

        raw = []
        needs = []
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                needs.append(a.requires_grad)
            else:
                raw.append(a)
                needs.append(False)
        record = is_grad_enabled() and any(needs)
        ctx = Context()
        ctx.needs_input_grad = tuple(needs)
        out = cls.forward(ctx, *raw)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        tensors = tuple(Tensor._wrap(o) for o in outs)
        if record:
            node = Node(cls, ctx, tuple(a if (isinstance(a, Tensor) and a.requires_grad) else None for a in args),
                        tuple(o.shape for o in outs))
            for i, t in enumerate(tensors):
                t.requires_grad = True
                t._node = node
                t._index = i
        return tensors if multi else tensors[0]


def _toposort(root_node):
    """Nodes reachable from root_node, each after every node that consumes its outputs."""
    order = []
    visited = set()
    stack = [(root_node, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._node is not None and id(t._node) not in visited:
                stack.append((t._node, False))
    order.reverse()
    return order


def backward(tensor, grad=None, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad`` (see Tensor.backward)."""
    from .tensor import Tensor

    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from tensors without requires_grad=True?)")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs, "
                               f"got shape {tensor.shape}; pass a gradient of that shape")
        g = np.ones(tensor.shape, dtype=np.float32)
    else:
        g = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=np.float32)
        if g.shape != tensor.shape:
            raise ValueError(f"backward: gradient shape {g.shape} does not match tensor shape {tensor.shape}")
    if tensor._node is None:  # a leaf
        tensor._accumulate(g)
        return
    root = tensor._node
    grads = {id(root): [None] * len(root.out_shapes)}
    grads[id(root)][tensor._index] = g
    for node in _toposort(root):
        if node.freed:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (through {node.name}): its saved "
                "buffers were freed by the first backward. Pass retain_graph=True to the first backward.")
        gl = grads.pop(id(node), None)
        if gl is None:
            continue
        gl = [np.zeros(s, dtype=np.float32) if x is None else x for x, s in zip(gl, node.out_shapes)]
        in_grads = node.fn.backward(node.ctx, *gl)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if len(in_grads) < len(node.inputs):
            raise RuntimeError(f"{node.name}.backward returned {len(in_grads)} gradients for "
                               f"{len(node.inputs)} inputs")
        for t, ig in zip(node.inputs, in_grads):
            if t is None or ig is None:
                continue
            ig = np.asarray(ig, dtype=np.float32)
            if ig.shape != t.shape:
                raise RuntimeError(f"{node.name}.backward returned a gradient of shape {ig.shape} "
                                   f"for an input of shape {t.shape}")
            if t._node is None:
                t._accumulate(ig)
            else:
                slot = grads.setdefault(id(t._node), [None] * len(t._node.out_shapes))
                prev = slot[t._index]
                slot[t._index] = ig if prev is None else prev + ig
        if not retain_graph:
            node.ctx = None
            node.freed = True
