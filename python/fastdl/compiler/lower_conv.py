"""Lowerings of the convolutional layers: conv2d, batch_norm (+ the BatchNorm + ReLU and
BatchNorm + add + ReLU fusions), max / avg / adaptive-avg pooling and dropout (see lower.py for
the contract)."""
from __future__ import annotations

import numpy as np

from .. import _C
from .._ops_arith import Add
from ..functional.activation import _Relu
from ..functional.conv import _Conv2d
from ..functional.dropout import _Dropout, _DropoutInplace
from ..functional.normalization import _BatchNorm
from ..functional.pooling import _ActAvgPool2d, _AdaptiveAvgPool2d, _AvgPool2d, _MaxPool2d
from ..random import next_seed
from .program import Unsupported

__all__ = ["CONV_LOWERINGS", "CONV_SAFE_PRODUCERS", "join_forward", "join_backward"]

# Their backward never reads their output: a following activation may overwrite it.
CONV_SAFE_PRODUCERS = {_Conv2d, _BatchNorm}


def _needs(rec, i):
    return rec.needs is not None and bool(rec.needs[i])


def _x4(rec):
    x = rec.args[0]
    if x.data.ndim != 4:
        raise Unsupported(f"{rec.name} on a {x.data.ndim}-D input (compiled: batched N, C, H, W)")
    return x


# ---- conv2d ---------------------------------------------------------------------------------------
def _conv_ints(rec):
    x, w = _x4(rec), rec.args[1]
    stride, padding, dilation, groups = rec.args[3:]
    N, C, H, W = x.data.shape
    K, Wc, R, S = w.data.shape
    return [N, C, H, W, K, Wc, R, S, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups]


def _conv_fwd(prog, rec):
    ints = _conv_ints(rec)
    x, w, b = rec.args[:3]
    y = prog.new_value(rec.outs[0])
    prog.emit("conv2d_forward", [y, prog.value(x), prog.value(w), prog.value(b)], ints)


def _conv_bwd(prog, rec, g):
    x, w, b = rec.args[:3]
    ts = [x if _needs(rec, 0) else None, w if _needs(rec, 1) else None,
          b if b is not None and _needs(rec, 2) else None]
    if any(t is not None for t in ts):
        xb, wb, ints = prog.value(x), prog.value(w), _conv_ints(rec)
        prog.grads_into(ts, lambda dx, dw, db: prog.emit("conv2d_backward", [dx, dw, db, g, xb, wb], ints))


# ---- batch_norm (+ ReLU) ------------------------------------------------------------------------
def _bn_ints(rec, relu):
    x = rec.args[0]
    shape = x.data.shape
    return [shape[0], shape[1], x.data.size // max(shape[0] * shape[1], 1), int(bool(rec.args[5])), int(relu)]


def _only_reader(prog, t):
    """The one recorded call reading ``t`` (not the model's output), else None."""
    c = prog.consumers.get(id(t), ())
    return c[0] if len(c) == 1 and id(t) not in prog.pinned else None


def _claim_join(prog, rec):
    """BatchNorm + add + ReLU (ResNet's join): when the BatchNorm's output is read only by an
    add of a same-shape tensor whose sum only a ReLU reads, the add's lowering runs all three as
    one kernel (batch_norm_add_relu: a 1-bit ReLU mask, no BatchNorm output, no ReLU op)."""
    out = rec.outs[0]
    add = _only_reader(prog, out)
    if add is None or add.fn is not Add or id(add) in prog.joins or len(add.args) != 2:
        return False
    residual = add.args[1] if add.args[0] is out else add.args[0]
    relu = _only_reader(prog, add.outs[0])
    if relu is None or relu.fn is not _Relu or getattr(residual, "data", None) is None or \
            residual.data.shape != out.data.shape:
        return False
    prog.joins[id(add)] = (rec, residual, relu)
    prog.fused.update((id(rec), id(relu)))
    return True


def _bn_fwd(prog, rec):
    x, w, b, rm, rv, training, momentum, eps, relu = rec.args
    if not relu and _claim_join(prog, rec):
        return  # emitted by the add (join_forward)
    out = rec.outs[0]
    y = prog.new_value(out)
    nxt = None if relu else prog.sole_consumer(out)
    if nxt is not None and nxt.fn is _Relu:  # BatchNorm + ReLU: one kernel, no ReLU mask
        relu = True
        prog.fused.add(id(nxt))
    C = x.data.shape[1]
    mean, rstd = prog.buf(C * 4), prog.buf(C * 4)
    prog.saved[id(rec)] = (mean, rstd, relu)
    prog.emit("batch_norm_forward", [y, mean, rstd, prog.value(rm), prog.value(rv), prog.value(x), prog.value(w),
                                     prog.value(b)], _bn_ints(rec, relu), [eps, momentum])


def _bn_bwd(prog, rec, g):
    if id(rec) in prog.fused:  # part of a join: done by join_backward
        return
    x, w, b = rec.args[:3]
    mean, rstd, relu = prog.saved[id(rec)]
    ts = [x if _needs(rec, 0) else None, w if w is not None and _needs(rec, 1) else None,
          b if b is not None and _needs(rec, 2) else None]
    if all(t is None for t in ts):
        return
    bufs = [prog.value(x), prog.value(w), prog.value(b), mean, rstd]
    ints = _bn_ints(rec, relu)
    if ts[0] is None:  # the kernel always writes dx: give it a scratch buffer
        scratch = prog.buf(x.data.nbytes)
        prog.grads_into(ts[1:], lambda dw, db: prog.emit("batch_norm_backward", [scratch, dw, db, g] + bufs, ints))
    else:
        prog.grads_into(ts, lambda dx, dw, db: prog.emit("batch_norm_backward", [dx, dw, db, g] + bufs, ints))


def join_forward(prog, add):
    """The add ``add`` of a claimed join: relu(batch_norm(x) + residual) in one op; its output
    (and the fused ReLU's) is the join's y."""
    rec, residual, _ = prog.joins[id(add)]
    x, w, b, rm, rv, training, momentum, eps, _ = rec.args
    N, C, S = _bn_ints(rec, False)[:3]
    y = prog.new_value(add.outs[0])
    mask = prog.buf(_C.Plan.batch_norm_mask_bytes(N, C, S))
    mean, rstd = prog.buf(C * 4), prog.buf(C * 4)
    prog.saved[id(add)] = (mask, mean, rstd)
    prog.emit("batch_norm_add_relu_forward", [y, mask, mean, rstd, prog.value(rm), prog.value(rv), prog.value(x),
                                              prog.value(residual), prog.value(w), prog.value(b)],
              [N, C, S, int(bool(training))], [eps, momentum])


def join_backward(prog, add, g):
    """Gradients of a join from the gradient ``g`` of its output: the BatchNorm's input, weight
    and bias and the residual, in one op (scratch buffers for the ones nobody needs)."""
    rec, residual, _ = prog.joins[id(add)]
    x, w, b = rec.args[:3]
    r_needed = _needs(add, 0 if add.args[0] is residual else 1)
    ts = [x if _needs(rec, 0) else None, w if w is not None and _needs(rec, 1) else None,
          b if b is not None and _needs(rec, 2) else None, residual if r_needed else None]
    if all(t is None for t in ts):
        return
    mask, mean, rstd = prog.saved[id(add)]
    ints = _bn_ints(rec, False)[:4]
    bufs = [g, mask, prog.value(x), prog.value(w), mean, rstd]
    nbytes = x.data.nbytes
    dx_scratch = None if ts[0] is not None else prog.buf(nbytes)  # the kernel always writes dx and
    dr_scratch = None if ts[3] is not None else prog.buf(nbytes)  # dresidual

    def emit(dx, dw, db, dr):
        prog.emit("batch_norm_add_relu_backward", [dx or dx_scratch, dw, db, dr or dr_scratch] + bufs, ints)

    prog.grads_into(ts, emit)


# ---- pooling ------------------------------------------------------------------------------------------
def _pool_dims(rec):
    N, C, H, W = _x4(rec).data.shape
    return [N * C, H, W]


def _max_ints(rec):
    kernel, stride, padding, dilation, ceil_mode, indices_out = rec.args[1:]
    if indices_out is not None:
        raise Unsupported("max_pool2d with return_indices=True")
    return _pool_dims(rec) + [kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], dilation[0],
                              dilation[1], int(bool(ceil_mode))]


def _max_fwd(prog, rec):
    ints = _max_ints(rec)
    y = prog.new_value(rec.outs[0])
    idx = prog.buf(rec.outs[0].data.size * 8)  # int64 argmax per output
    prog.saved[id(rec)] = idx
    prog.emit("max_pool2d_forward", [y, idx, prog.value(rec.args[0])], ints)


def _max_bwd(prog, rec, g):
    if _needs(rec, 0):
        idx, ints = prog.saved[id(rec)], _max_ints(rec)
        prog.grad_into(rec.args[0], lambda d: prog.emit("max_pool2d_backward", [d, g, idx], ints))


def _avg_ints(rec):
    kernel, stride, padding, ceil_mode, count_include_pad, divisor = rec.args[1:]
    return _pool_dims(rec) + [kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
                              int(bool(ceil_mode)), int(bool(count_include_pad)), int(divisor or 0)]


def _adaptive_ints(rec):
    P, Q = rec.outs[0].data.shape[-2:]
    return _pool_dims(rec) + [P, Q]


def _simple_pool(name, ints_of):
    def fwd(prog, rec):
        ints = ints_of(rec)
        y = prog.new_value(rec.outs[0])
        prog.emit(name + "_forward", [y, prog.value(rec.args[0])], ints)

    def bwd(prog, rec, g):
        if _needs(rec, 0):
            ints = ints_of(rec)
            prog.grad_into(rec.args[0], lambda d: prog.emit(name + "_backward", [d, g], ints))

    return fwd, bwd


def _act_pool_ints(rec):  # rec.args: x, activation code, then avg_pool2d's arguments
    kernel, stride, padding, ceil_mode, count_include_pad, divisor = rec.args[2:]
    return _pool_dims(rec) + [kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
                              int(bool(ceil_mode)), int(bool(count_include_pad)), int(divisor or 0), int(rec.args[1])]


def _act_pool_fwd(prog, rec):
    x = rec.args[0]
    s = prog.buf(x.data.nbytes)  # act(x), read by the backward
    prog.saved[id(rec)] = s
    y = prog.new_value(rec.outs[0])
    prog.emit("avg_pool2d_act_forward", [y, s, prog.value(x)], _act_pool_ints(rec))


def _act_pool_bwd(prog, rec, g):
    if _needs(rec, 0):
        s, ints = prog.saved[id(rec)], _act_pool_ints(rec)
        prog.grad_into(rec.args[0], lambda d: prog.emit("avg_pool2d_act_backward", [d, g, s], ints))


# ---- dropout: the same seeds as eager, drawn from fastdl.random on every call ----------------------------
def _dropout_fwd(prog, rec):
    if rec.fn is _DropoutInplace:
        raise Unsupported("dropout(inplace=True)")
    x, p = rec.args[0], float(rec.args[1])
    (slot,) = prog.scalars(1)

    def draw(table, slot=slot):
        table.view(np.int64)[slot] = next_seed()

    prog.fillers.append(draw)
    mask = prog.buf(x.data.size)
    prog.saved[id(rec)] = mask
    y = prog.new_value(rec.outs[0])
    prog.emit("dropout_forward", [y, mask, prog.value(x)], [x.data.size], [p], [slot])


def _dropout_bwd(prog, rec, g):
    if _needs(rec, 0):
        x, p = rec.args[0], float(rec.args[1])
        mask = prog.saved[id(rec)]
        prog.grad_into(x, lambda d: prog.emit("dropout_backward", [d, g, mask], [x.data.size], [p]))


CONV_LOWERINGS = {
    _Conv2d: (_conv_fwd, _conv_bwd),
    _BatchNorm: (_bn_fwd, _bn_bwd),
    _MaxPool2d: (_max_fwd, _max_bwd),
    _AvgPool2d: _simple_pool("avg_pool2d", _avg_ints),
    _AdaptiveAvgPool2d: _simple_pool("adaptive_avg_pool2d", _adaptive_ints),
    _ActAvgPool2d: (_act_pool_fwd, _act_pool_bwd),
    _Dropout: (_dropout_fwd, _dropout_bwd),
    _DropoutInplace: (_dropout_fwd, _dropout_bwd),
}
