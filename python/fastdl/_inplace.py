"""Version counters and in-place operations (PyTorch's semantics).

Every Tensor has a version: the number of in-place writes to its memory through fastdl
(``add_``, ``t[i] = v``, ``relu_``, an optimizer step, ...). Views (``detach``, ``reshape``,
indexing, ``transpose``, ...) share their base's counter, so a write through any of them is
seen by all. Writes through ``.data`` (the numpy array) are not counted, as in PyTorch.

The counter is a one-element list in the ``_vc`` slot, created on first need (a Tensor that
was never viewed or written in place has none: version 0, no cost). A recorded call keeps the
versions of its inputs (``ctx._ag_vers``); a non-leaf output's counter is registered with the
node that made it (``_ag_outv``: counter, version then, id of the array, output index) when the
counter is created or moved (in-place ops), where the calls recorded with it as input (which
hold edges, not Tensors) find it; a view's shared counter is found through the view's node. Backward compares them for the arrays the node saved and raises PyTorch's "modified by an
inplace operation" error (autograd._check_versions).

``apply_inplace`` runs a Function in place: the result is written into the input's memory,
the input's version is bumped and, when recorded, the Tensor's history moves to the new node,
whose edge 0 is the previous history (calls recorded before the in-place op keep their edge
to that previous producer, so their gradients go around it).

Below ``fastdl.tensor`` (sees Tensor only as ``autograd._Tensor``)."""
from __future__ import annotations

from . import autograd
from .autograd import Context, Function

_new = object.__new__


def cell(t):
    """t's version counter, created (and registered with t's node) on first need."""
    vc = t._vc
    if vc is None:
        vc = t._vc = [0]
        node = t._node
        if node is not None:
            _register(node, vc, 0, t)
    return vc


def _register(node, vc, version, t):
    """Record on ``node`` the counter of its output ``t`` (version ``version`` when made): calls
    recorded with ``t`` as input find it there through their edge (autograd._check_versions)."""
    entry = (vc, version, id(t.data), t._index)
    if node._ag_outv is None:
        node._ag_outv = [entry]
    else:
        node._ag_outv.append(entry)


def bump(t):
    """Count one in-place write to t's memory."""
    cell(t)[0] += 1


def version(t):
    vc = t._vc
    return 0 if vc is None else vc[0]


_function_apply = Function.apply.__func__


class ViewFunction(Function):
    """A Function whose output may be a numpy view of its first input (reshape, permute,
    expand, basic indexing): the output then shares the input's version counter (the backward
    check finds it through the view's node, autograd._counters)."""

    is_view = True

    @classmethod
    def apply(cls, x, arg):  # every view op takes one argument (shape, perm, key); kept lean: hot
        out = _function_apply(cls, x, arg)
        b = out.data.base
        if b is not None and out is not x:
            d = x.data
            if b is d or b is d.base:
                vc = x._vc
                out._vc = cell(x) if vc is None else vc
        return out


def check_leaf(t, name):
    """PyTorch's error for an in-place write to a leaf that requires grad (grad mode on)."""
    if t.requires_grad and t._node is None and autograd._state.enabled:
        raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                           "operation (use it under fastdl.no_grad(), or on .detach() / .data)")


def apply_inplace(cls, name, t, *args):
    """Run ``cls.forward(ctx, t.data, *args)``, which must write its result into ``t.data``
    and return it; bump t's version; when recorded, t's history becomes the new node.
    Returns t."""
    check_leaf(t, name)
    if not t.data.flags.writeable:
        raise ValueError(f"{name}: the tensor's array is read-only")
    record = t.requires_grad and autograd._state.enabled
    if record and issubclass(t._node._ag_fn, ViewFunction) and t.data.base is not None:
        raise RuntimeError(f"{name}: in-place operation on a view ({t._node.name} output) of a tensor that "
                           "requires grad is not supported by fastdl (the base's gradient would miss it); "
                           "use the out-of-place version")
    ctx = _new(Context)
    ctx.saved = ()
    ctx.needs_input_grad = [record] + [False] * len(args)
    cls.forward(ctx, t.data, *args)
    bump(t)
    if record:
        v = t._vc[0]
        d = t.data
        ctx._ag_fn = cls
        e = t._node  # the tensor's history before this op
        ctx._ag_edges = ((e, t._index) if t._index else e,) + (None,) * len(args)
        ctx._ag_shapes = d.shape
        if d.dtype != autograd._F32:
            ctx._ag_dt = d.dtype
        ctx._ag_vers = (v,) + (0,) * len(args)
        ctx._ag_outv = [(t._vc, v, id(d), 0)]
        t._node = ctx
        t._index = 0
    return t
