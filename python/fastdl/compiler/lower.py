"""The lowering table: for each supported Function class, the kernel calls of its forward
and of its backward (see docs/compile.md). A call to any other Function raises Unsupported
(naming it), and the step falls back to eager.

``forward(prog, rec)`` gives each output a buffer and emits the forward ops;
``backward(prog, rec, gout)`` receives the buffer of the output's gradient and adds each input's
contribution with ``prog.grad_into`` / ``prog.grad_alias``. The same kernels and arguments as
the eager bindings, so a replayed step computes what the eager one does.
"""
from __future__ import annotations

import numpy as np

from .._ops_arith import Add
from .._ops_shape import Reshape
from ..functional.activation import _Elu, _LeakyRelu, _Relu, _Sigmoid, _Tanh
from ..functional.linear import _Linear
from ..functional.loss import _CrossEntropy, _ElementwiseLoss
from ..tensor import Tensor
from .lower_conv import CONV_LOWERINGS, CONV_SAFE_PRODUCERS, join_backward, join_forward
from .program import Unsupported
from .trace import Traced

__all__ = ["LOWERINGS", "lower_loss", "SAFE_PRODUCERS"]

# Functions whose backward never reads their own output: an activation may overwrite it.
SAFE_PRODUCERS = {_Linear, Add} | CONV_SAFE_PRODUCERS

# Activation Function -> (code of fastdl::Activation, saves its output (True) or input)
_ACTS = {_Relu: (0, True), _LeakyRelu: (1, False), _Elu: (2, False), _Sigmoid: (3, True), _Tanh: (4, True)}


def _tensor_arg(rec, i):
    a = rec.args[i]
    if not isinstance(a, (Tensor, Traced)):
        raise Unsupported(f"{rec.name} with a non-Tensor argument {i}")
    return a


def _needs(rec, i):
    return rec.needs is not None and bool(rec.needs[i])


# ---- linear ---------------------------------------------------------------------------------
def _linear_fwd(prog, rec):
    x, w = _tensor_arg(rec, 0), _tensor_arg(rec, 1)
    b = rec.args[2]
    K = x.data.shape[-1]
    N = w.data.shape[0]
    y = prog.new_value(rec.outs[0])
    prog.emit("linear_forward", [y, prog.value(x), prog.value(w), prog.value(b)], [x.data.size // K, N, K])


def _linear_bwd(prog, rec, g):
    x, w, b = rec.args
    K = x.data.shape[-1]
    N = w.data.shape[0]
    M = x.data.size // K
    xb, wb = prog.value(x), prog.value(w)
    if _needs(rec, 0):  # dx (M, K) = dy (M, N) @ W (N, K)
        prog.grad_into(x, lambda d: prog.emit("gemm", [d, g, wb], [0, 0, M, K, N, N, K, K], [1.0, 0.0]))
    if _needs(rec, 1):  # dW (N, K) = dy^T (N, M) @ x (M, K)
        prog.grad_into(w, lambda d: prog.emit("gemm", [d, g, xb], [1, 0, N, K, M, N, K, K], [1.0, 0.0]))
    if b is not None and _needs(rec, 2):  # db = dy.sum(0)
        prog.grad_into(b, lambda d: prog.emit("sum_rows", [d, g], [M, N]))


# ---- activations ------------------------------------------------------------------------------
def _act_param(rec):
    return float(rec.args[1]) if len(rec.args) > 1 else 0.0


def _act_fwd(prog, rec):
    x = _tensor_arg(rec, 0)
    if id(rec) in prog.fused:  # done by the BatchNorm before it
        prog.new_value(rec.outs[0], like=prog.value(x))
        return
    code, saves_output = _ACTS[rec.fn]
    xb = prog.value(x)
    # bias + activation: the activation overwrites the linear output it alone reads
    inplace = saves_output and prog.can_overwrite(x, SAFE_PRODUCERS)
    y = prog.new_value(rec.outs[0], like=xb if inplace else None)
    prog.emit("act_forward", [y, xb], [code, x.data.size], [_act_param(rec)])


def _act_bwd(prog, rec, g):
    x = rec.args[0]
    if not _needs(rec, 0):
        return
    if id(rec) in prog.fused:
        prog.grad_alias(x, g)  # the BatchNorm's backward applies the ReLU mask
        return
    code, saves_output = _ACTS[rec.fn]
    saved = prog.values[id(rec.outs[0])] if saves_output else prog.value(x)
    ints, floats = [code, x.data.size], [_act_param(rec)]
    if g.kind == "arena" and id(x) not in prog.grads and id(x) in prog.produced_by and g.id not in prog.shared:
        prog.emit("act_backward", [g, g, saved], ints, floats)  # in place on dy (read by nobody else)
        prog.grad_alias(x, g)
    else:
        prog.grad_into(x, lambda d: prog.emit("act_backward", [d, g, saved], ints, floats))


# ---- views --------------------------------------------------------------------------------------
def _reshape_fwd(prog, rec):
    prog.new_value(rec.outs[0], like=prog.value(_tensor_arg(rec, 0)))


def _reshape_bwd(prog, rec, g):
    if _needs(rec, 0):
        prog.grad_alias(rec.args[0], g)


# ---- elementwise add (residual connections) ------------------------------------------------------
def _add_fwd(prog, rec):
    if id(rec) in prog.joins:  # BatchNorm + add + ReLU
        join_forward(prog, rec)
        return
    a, b = _tensor_arg(rec, 0), _tensor_arg(rec, 1)
    if a.data.shape != b.data.shape:
        raise Unsupported(f"add of tensors of different shapes {a.data.shape} and {b.data.shape} (broadcasting)")
    y = prog.new_value(rec.outs[0])
    prog.emit("add", [y, prog.value(a), prog.value(b)], [a.data.size])


def _add_bwd(prog, rec, g):
    if id(rec) in prog.joins:
        join_backward(prog, rec, g)
        return
    for i in (0, 1):
        if _needs(rec, i):
            prog.grad_alias(rec.args[i], g)


LOWERINGS = {
    _Linear: (_linear_fwd, _linear_bwd),
    Add: (_add_fwd, _add_bwd),
    Reshape: (_reshape_fwd, _reshape_bwd),
}
for _fn in _ACTS:
    LOWERINGS[_fn] = (_act_fwd, _act_bwd)
LOWERINGS.update(CONV_LOWERINGS)


# ---- the loss, fused with its gradient --------------------------------------------------------
def _reduction_flag(rec, reduction):
    if reduction not in ("mean", "sum"):
        raise Unsupported(f"{rec.name} with reduction={reduction!r} as the step's loss")
    return int(reduction == "sum")


def _cross_entropy(prog, rec, loss_buf):
    x = _tensor_arg(rec, 0)
    t, w, ignore_index, reduction, ls = rec.args[1:]
    if x.data.ndim != 2 or not isinstance(t, np.ndarray) or t.dtype != np.int64 or t.shape != x.data.shape[:1]:
        raise Unsupported("cross_entropy other than (N, C) logits with (N,) int64 class indices")
    N, C = x.data.shape
    prob = prog.buf(x.data.nbytes)
    ints = [N, C, ignore_index, _reduction_flag(rec, reduction)]
    bufs = [prog.value(x), prog.value(t), prog.value(w)]
    if _needs(rec, 0):
        prog.grad_into(x, lambda d: prog.emit("cross_entropy", [loss_buf, d, prob] + bufs, ints, [ls]))
    else:
        prog.emit("cross_entropy", [loss_buf, None, prob] + bufs, ints, [ls])


def _elementwise_loss(prog, rec, loss_buf):
    x, y = _tensor_arg(rec, 0), _tensor_arg(rec, 1)
    kind, reduction = rec.args[2:]
    if kind != "mse" or x.data.shape != y.data.shape or _needs(rec, 1):
        raise Unsupported(f"{kind}_loss other than mse with a target of the input's shape")
    ints = [x.data.size, _reduction_flag(rec, reduction)]
    xb, yb = prog.value(x), prog.value(y)
    if _needs(rec, 0):
        prog.grad_into(x, lambda d: prog.emit("mse_loss", [loss_buf, d, xb, yb], ints))
    else:
        prog.emit("mse_loss", [loss_buf, None, xb, yb], ints)


_LOSSES = {_CrossEntropy: _cross_entropy, _ElementwiseLoss: _elementwise_loss}


def lower_loss(prog, rec, loss_buf):
    """The step's loss call: its forward writes the loss into ``loss_buf`` and, in the same op,
    the gradient of its input seeded with 1 (loss + gradient fusion)."""
    fn = _LOSSES.get(rec.fn)
    if fn is None:
        raise Unsupported(f"{rec.name} as the step's loss (compiled losses: cross_entropy, mse_loss)")
    fn(prog, rec, loss_buf)
