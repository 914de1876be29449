"""Layer fusion in eager mode: the one place that decides which layers run as one kernel.

Models are written with standard layers (``nn.Sequential(conv, BatchNorm2d, ReLU, ...)``, the
``Residual`` block); fusion is invisible: the same children, names, ``state_dict`` keys and
results (bitwise) as the layers run one by one, with fewer passes over memory.

* ``RULES`` maps the exact types of two or three adjacent children of a ``Sequential`` to the
  fused call that replaces them (today: ``BatchNorm1d/2d -> ReLU``; in training mode
  ``BatchNorm1d/2d -> Sigmoid``, LeNet-BN's pairs: ``F.batch_norm_sigmoid``, and
  ``BatchNorm2d -> Sigmoid -> AvgPool2d``: ``F.batch_norm_sigmoid_avg_pool2d``; ``ReLU / Sigmoid /
  Tanh -> AvgPool2d``, LeNet's: ``F.activation_avg_pool2d``; ``Conv2d -> ReLU``, NiN's
  pairs: ``F.conv2d_relu``, the ReLU in the convolution's output write and its mask in the
  convolution's backward). ``Sequential.forward`` looks up
  every run of three adjacent children, then of two (``run_sequential``); a rule may return
  ``NotImplemented`` for inputs it does not cover, and the next shorter rule is tried.
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
from .activation import ReLU, Sigmoid, Tanh
from .conv import Conv2d
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2d

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


def _pool_args(pool):
    return (pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode, pool.count_include_pad,
            pool.divisor_override)


_ACT_NAMES = {ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}


def _act_pool(act, pool, x):
    """avg_pool2d(act(x)) in one pass (F.activation_avg_pool2d, also in fastdl.compile's plans);
    NotImplemented for an in-place activation."""
    if act.inplace:
        return NotImplemented
    return F.activation_avg_pool2d(x, _ACT_NAMES[type(act)], *_pool_args(pool))


def _bn_sigmoid_pool(bn, sig, pool, x):
    """avg_pool2d(sigmoid(bn(x))) in one BatchNorm kernel while training on an (N, C, H, W)
    input (F.batch_norm_sigmoid_avg_pool2d); NotImplemented otherwise (the pair rules then run)."""
    if sig.inplace or autograd._tracer is not None or not bn.training or len(getattr(x, "shape", ())) != 4:
        return NotImplemented
    args = bn._args(x)  # training: the batch's statistics (args[5] is True)
    return F.batch_norm_sigmoid_avg_pool2d(args[0], args[1], args[2], args[3], args[4], args[6], args[7],
                                           *_pool_args(pool))


def _conv_relu(conv, relu, x):
    """relu(conv(x)) through one convolution call (F.conv2d_relu); NotImplemented (the two
    layers' own calls) while fastdl.compile traces a step (its plan lowers the two ops itself)."""
    if autograd._tracer is not None:
        return NotImplemented
    return F.conv2d_relu(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


# (types of children i, i+1[, i+2]) -> fused(child_i, child_i+1[, child_i+2], input) -> output
RULES = {
    (Conv2d, ReLU): _conv_relu,
    (BatchNorm1d, ReLU): _bn_relu,
    (BatchNorm2d, ReLU): _bn_relu,
    (BatchNorm1d, Sigmoid): _bn_sigmoid,
    (BatchNorm2d, Sigmoid): _bn_sigmoid,
    (ReLU, AvgPool2d): _act_pool,
    (Sigmoid, AvgPool2d): _act_pool,
    (Tanh, AvgPool2d): _act_pool,
    (BatchNorm2d, Sigmoid, AvgPool2d): _bn_sigmoid_pool,
}


def run_sequential(mods, input):
    """Feed ``input`` through the modules ``mods`` (a list) in order, running each adjacent
    pair listed in ``RULES`` as its fused call."""
    n = len(mods)
    if n < 2 or not _enabled[0]:
        for m in mods:
            input = m(input)
        return input
    types = [type(m) for m in mods]
    i = 0
    while i < n:
        m = mods[i]
        for k in (3, 2):
            if i + k <= n:
                rule = RULES.get(tuple(types[i:i + k]))
                run = mods[i:i + k]
                if rule is not None and not any(_hooked(c) for c in run):
                    out = rule(*run, input)
                    if out is not NotImplemented:
                        input = out
                        i += k
                        break
        else:
            input = m(input)
            i += 1
    return input
