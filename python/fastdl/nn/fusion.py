"""Layer fusion in eager mode: the one place that decides which layers run as one kernel.

Models are written with standard layers (``nn.Sequential(conv, BatchNorm2d, ReLU, ...)``, the
``Residual`` block); fusion is invisible: the same children, names, ``state_dict`` keys and
results (bitwise) as the layers run one by one, with fewer passes over memory.

* ``RULES`` maps the exact types of two adjacent children of a ``Sequential`` to the fused
  call that replaces them (today: ``BatchNorm1d/2d -> ReLU``; in training mode
  ``BatchNorm1d/2d -> Sigmoid``, LeNet-BN's pairs: ``F.batch_norm_sigmoid``; ``Conv2d -> ReLU``,
  NiN's pairs: ``F.conv2d_relu``, the ReLU in the convolution's output write and its mask in
  the convolution's backward). ``Sequential.forward`` looks every adjacent pair up in it
  (``run_sequential``).
* ``batch_norm(bn, x, relu=..., residual=...)`` is the fused call itself:
  ``relu(bn(x) [+ residual])`` through one BatchNorm kernel (``F.batch_norm_relu``,
  ``F.batch_norm_add_relu``); the ``Sequential`` rule and ``Residual`` both use it.

Fusion is skipped for a module with hooks (they must see its own call) and inside
``disabled()`` (the ONNX exporter traces the layers one by one); while ``fastdl.compile``
traces a step, the residual join runs as BatchNorm, add, ReLU (the compiled plan has its own
fusion passes and lowers those ops). A subclass of a listed
layer is never fused (its ``forward`` may differ): the table is keyed by exact type.
"""
from __future__ import annotations

import contextlib

from .. import autograd
from .. import functional as F
from .activation import ReLU, Sigmoid
from .conv import Conv2d
from .normalization import BatchNorm1d, BatchNorm2d

__all__ = ["RULES", "batch_norm", "run_sequential", "disabled", "is_enabled"]

_enabled = [True]


def is_enabled():
    """True unless inside ``disabled()``."""
    return _enabled[0]


@contextlib.contextmanager
def disabled():
    """Run every layer by its own call (no fusion) inside the ``with`` block."""
    prev = _enabled[0]
    _enabled[0] = False
    try:
        yield
    finally:
        _enabled[0] = prev


def _hooked(m):
    d = m.__dict__
    return bool(d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks"))


def batch_norm(bn, x, relu=False, residual=None):
    """``relu(bn(x) + residual)`` (``+ residual`` when given, ``relu`` when asked) for a
    BatchNorm module ``bn``, in one BatchNorm kernel pass (with the same state updates as
    ``bn(x)``); the layers' own calls when fusion is off, ``bn`` has hooks or is not exactly
    a BatchNorm1d/2d (a subclass may change forward)."""
    if not _enabled[0] or type(bn) not in _BATCH_NORMS or _hooked(bn):
        y = bn(x)
        if residual is not None:
            y = y + residual
        return F.relu(y) if relu else y
    if residual is not None:
        if autograd._tracer is not None:  # fastdl.compile traces the step: its plan fuses the join itself
            return F.relu(batch_norm(bn, x) + residual) if relu else batch_norm(bn, x) + residual
        args = bn._args(x)
        return F.batch_norm_add_relu(args[0], residual, *args[1:]) if relu else F.batch_norm(*args) + residual
    return F.batch_norm_relu(*bn._args(x)) if relu else F.batch_norm(*bn._args(x))


_BATCH_NORMS = (BatchNorm1d, BatchNorm2d)


def _bn_relu(bn, relu, x):
    return batch_norm(bn, x, relu=True)


def _bn_sigmoid(bn, sig, x):
    """sigmoid(bn(x)) through one BatchNorm kernel while training (the statistics of the batch);
    the two layers' own calls in eval mode, for an in-place Sigmoid, and while fastdl.compile
    traces a step (its plan lowers the two ops itself)."""
    args = bn._args(x)
    if not args[5] or sig.inplace or autograd._tracer is not None:
        return sig(F.batch_norm(*args))
    return F.batch_norm_sigmoid(*args)


def _conv_relu(conv, relu, x):
    """relu(conv(x)) through one convolution call (F.conv2d_relu); the two layers' own calls
    while fastdl.compile traces a step (its plan lowers the two ops itself)."""
    if autograd._tracer is not None:
        return relu(conv(x))
    return F.conv2d_relu(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


# (type of child i, type of child i+1) -> fused(child_i, child_i+1, input) -> output
RULES = {
    (Conv2d, ReLU): _conv_relu,
    (BatchNorm1d, ReLU): _bn_relu,
    (BatchNorm2d, ReLU): _bn_relu,
    (BatchNorm1d, Sigmoid): _bn_sigmoid,
    (BatchNorm2d, Sigmoid): _bn_sigmoid,
}


def run_sequential(mods, input):
    """Feed ``input`` through the modules ``mods`` (a list) in order, running each adjacent
    pair listed in ``RULES`` as its fused call."""
    n = len(mods)
    if n < 2 or not _enabled[0]:
        for m in mods:
            input = m(input)
        return input
    i = 0
    while i < n:
        m = mods[i]
        if i + 1 < n:
            rule = RULES.get((type(m), type(mods[i + 1])))
            if rule is not None and not _hooked(m) and not _hooked(mods[i + 1]):
                input = rule(m, mods[i + 1], input)
                i += 2
                continue
        input = m(input)
        i += 1
    return input
