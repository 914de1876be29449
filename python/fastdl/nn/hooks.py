"""Module hooks (PyTorch's): forward pre-hooks, forward hooks and full backward hooks, with
removable handles. ``Module.__call__`` runs them; this module holds the machinery."""
from __future__ import annotations

import itertools
from collections import OrderedDict

import numpy as np

from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor

__all__ = ["RemovableHandle"]

_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` unregisters the hook (a second
    call does nothing); usable as a context manager that removes the hook on exit."""

    def __init__(self, registry):
        self._registry = registry
        self.id = next(_ids)

    def remove(self):
        """Unregister the hook (idempotent)."""
        self._registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register(module, attr, hook, prepend=False):
    """Add ``hook`` to the module's ordered registry ``attr`` (created on first use)."""
    if not callable(hook):
        raise TypeError(f"{attr.strip('_')}: hook must be callable, got {type(hook).__name__}")
    reg = module.__dict__.get(attr)
    if reg is None:
        reg = OrderedDict()
        object.__setattr__(module, attr, reg)
    handle = RemovableHandle(reg)
    reg[handle.id] = hook
    if prepend:
        reg.move_to_end(handle.id, last=False)
    return handle


def _grad_tuple(grads, n_slots, slots):
    out = [None] * n_slots
    for i, g in zip(slots, grads):
        out[i] = None if g is None else Tensor._wrap(g)
    return tuple(out)


class _BackwardHook:
    """One module call's full backward hooks: identity Functions around the inputs and the
    outputs that require grad catch grad_output, then grad_input, and call the hooks."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, list(hooks)
        self.grad_output = ()
        self.n_in, self.in_slots = 0, []

    def _slots(self, values):
        return [i for i, v in enumerate(values)
                if isinstance(v, Tensor) and v.requires_grad and v.data.dtype.kind == "f"]

    def setup_input(self, args):
        self.n_in, self.in_slots = len(args), self._slots(args)
        if not self.in_slots:
            return args
        wrapped = _HookIn.apply(self, *[args[i] for i in self.in_slots])
        args = list(args)
        for i, t in zip(self.in_slots, wrapped):
            args[i] = t
        return tuple(args)

    def setup_output(self, result):
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        slots = self._slots(outs)
        self.n_out, self.out_slots = len(outs), slots
        if not slots:
            return result
        wrapped = _HookOut.apply(self, *[outs[i] for i in slots])
        outs = list(outs)
        for i, t in zip(slots, wrapped):
            outs[i] = t
        return outs[0] if single else type(result)(outs)

    def call_hooks(self, grads_in):
        grad_input = _grad_tuple(grads_in, self.n_in, self.in_slots)
        for hook in self.hooks:
            res = hook(self.module, grad_input, self.grad_output)
            if res is None:
                continue
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
            if len(res) != len(grad_input):
                raise RuntimeError(f"backward hook returned {len(res)} gradients, expected {len(grad_input)}")
            grad_input = tuple(None if g is None else (g if isinstance(g, Tensor) else Tensor._wrap(np.asarray(g)))
                               for g in res)
        return grad_input


class _HookOut(Function):
    @staticmethod
    def forward(ctx, bh, *ys):
        ctx.bh = bh
        return tuple(ys)

    @staticmethod
    def backward(ctx, *grads):
        bh = ctx.bh
        bh.grad_output = _grad_tuple(grads, bh.n_out, bh.out_slots)
        if not bh.in_slots:  # no input needs a gradient: the hooks see grad_input of Nones
            bh.call_hooks(())
        return (None,) + grads


class _HookIn(Function):
    @staticmethod
    def forward(ctx, bh, *xs):
        ctx.bh = bh
        return tuple(xs)

    @staticmethod
    def backward(ctx, *grads):
        bh = ctx.bh
        gi = bh.call_hooks(grads)
        return (None,) + tuple(None if gi[i] is None else gi[i].data for i in bh.in_slots)


def call_with_hooks(module, args, kwargs):
    """Run ``module.forward`` with its registered hooks, as ``torch.nn.Module.__call__``."""
    d = module.__dict__
    for hook in list(d.get("_forward_pre_hooks", {}).values()):
        res = hook(module, args)
        if res is not None:
            args = res if isinstance(res, tuple) else (res,)
    bw = d.get("_backward_hooks")
    bh = _BackwardHook(module, bw.values()) if bw and is_grad_enabled() else None
    if bh is not None:
        args = bh.setup_input(args)
    result = module.forward(*args, **kwargs)
    for hook in list(d.get("_forward_hooks", {}).values()):
        res = hook(module, args, result)
        if res is not None:
            result = res
    if bh is not None:
        result = bh.setup_output(result)
    return result
