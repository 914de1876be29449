"""The ONNX ops import_model evaluates, each with fastdl operations.

Every op is ``fn(module, args, attrs, n_out)``: ``args`` are the input values (a Tensor for
float data, a numpy array for integer constants and shape arithmetic, None for an omitted
optional input). When all inputs are numpy the op computes in numpy (constant folding).
"""
from __future__ import annotations

import numpy as np

import fastdl

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from ._graph import OnnxImportError
from ._rnn import torch_weights


def _np(v):
    return not isinstance(v, Tensor)


def _tensor(v):
    return v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=np.float32))


def _ints(v):
    return [int(i) for i in np.asarray(v.data if isinstance(v, Tensor) else v).reshape(-1)]


def _axis(a, ndim):
    return int(a) % ndim if ndim else 0


def _pads(attrs, op):
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise OnnxImportError(f"fastdl.onnx.import_model: {op} with auto_pad={attrs['auto_pad']!r} is not "
                              "supported (explicit pads are)")
    p = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(p) != 4 or p[0] != p[2] or p[1] != p[3]:
        raise OnnxImportError(f"fastdl.onnx.import_model: {op} needs 2-D symmetric pads, got {p}")
    return (p[0], p[1])


def _spatial(x, op):
    if x.ndim != 4:
        raise OnnxImportError(f"fastdl.onnx.import_model: {op} supports 2-D (N, C, H, W) input only, "
                              f"got shape {x.shape}")


# ------------------------------------------------------------------ arithmetic and layers
def _binary(fn):
    def op(m, a, attrs, n):
        x, y = a[0], a[1]
        if _np(x) and _np(y):
            return fn(np.asarray(x), np.asarray(y))
        if _np(x):   # ndarray (op) Tensor: Tensor's reflected operator (array priority)
            x = _tensor(x)
        return fn(x, y)
    return op


def _gemm(m, a, attrs, n):
    A, B, C = (a + [None])[:3]
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    A = _tensor(A)
    if attrs.get("transA", 0):
        A = A.transpose(0, 1)
    if attrs.get("transB", 0) and alpha == 1.0 and (C is None or (beta == 1.0 and np.ndim(C.data if isinstance(
            C, Tensor) else C) == 1)):
        return F.linear(A, B, C)
    y = A @ (B.transpose(0, 1) if attrs.get("transB", 0) else B)
    if alpha != 1.0:
        y = y * alpha
    if C is not None:
        y = y + (C * beta if beta != 1.0 else C)
    return y


def _conv(m, a, attrs, n):
    x, w, b = (a + [None])[:3]
    _spatial(x, "Conv")
    return F.conv2d(x, w, b, tuple(attrs.get("strides", [1, 1])), _pads(attrs, "Conv"),
                    tuple(attrs.get("dilations", [1, 1])), int(attrs.get("group", 1)))


def _batchnorm(m, a, attrs, n):
    x, scale, bias, mean, var = a[:5]
    return F.batch_norm(x, mean, var, scale, bias, training=m.training,
                        momentum=1.0 - float(attrs.get("momentum", 0.9)), eps=float(attrs.get("epsilon", 1e-5)))


def _maxpool(m, a, attrs, n):
    if n > 1:
        raise OnnxImportError("fastdl.onnx.import_model: MaxPool with an Indices output is not supported")
    x = a[0]
    _spatial(x, "MaxPool")
    k = tuple(attrs["kernel_shape"])
    return F.max_pool2d(x, k, tuple(attrs.get("strides", [1, 1])), _pads(attrs, "MaxPool"),
                        tuple(attrs.get("dilations", [1, 1])), ceil_mode=bool(attrs.get("ceil_mode", 0)))


def _avgpool(m, a, attrs, n):
    x = a[0]
    _spatial(x, "AveragePool")
    return F.avg_pool2d(x, tuple(attrs["kernel_shape"]), tuple(attrs.get("strides", [1, 1])),
                        _pads(attrs, "AveragePool"), bool(attrs.get("ceil_mode", 0)),
                        bool(attrs.get("count_include_pad", 0)))


def _global_avg(m, a, attrs, n):
    _spatial(a[0], "GlobalAveragePool")
    return F.adaptive_avg_pool2d(a[0], 1)


def _softmax(fn, name):
    def op(m, a, attrs, n):
        x = a[0]
        axis = _axis(attrs.get("axis", -1 if m.opset >= 13 else 1), x.ndim)
        if m.opset < 13 and axis != x.ndim - 1:
            raise OnnxImportError(f"fastdl.onnx.import_model: {name} before opset 13 flattens to 2-D; only "
                                  "the last axis is supported")
        return fn(x, axis)
    return op


def _dropout(m, a, attrs, n):
    ratio = float(np.asarray(a[1]).reshape(-1)[0]) if len(a) > 1 and a[1] is not None else attrs.get("ratio", 0.5)
    y = F.dropout(a[0], ratio, m.training) if ratio > 0 else a[0]
    if n > 1:
        raise OnnxImportError("fastdl.onnx.import_model: Dropout with a mask output is not supported")
    return y


# ------------------------------------------------------------------ shapes
def _reshape_to(x, shape):
    return np.reshape(x, shape) if _np(x) else x.reshape(*shape)


def _flatten(m, a, attrs, n):
    x = a[0]
    axis = _axis(attrs.get("axis", 1), x.ndim + 1) if x.ndim else 0
    lead = int(np.prod(x.shape[:axis])) if axis else 1
    return _reshape_to(x, (lead, -1))


def _reshape(m, a, attrs, n):
    x, shape = a[0], _ints(a[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return _reshape_to(x, tuple(shape))


def _axes(a, attrs):
    if len(a) > 1 and a[1] is not None:
        return _ints(a[1])
    return list(attrs["axes"]) if "axes" in attrs else None


def _unsqueeze(m, a, attrs, n):
    x, axes = a[0], _axes(a, attrs)
    r = x.ndim + len(axes)
    shape = list(x.shape)
    for ax in sorted(_axis(v, r) for v in axes):
        shape.insert(ax, 1)
    return _reshape_to(x, tuple(shape))


def _squeeze(m, a, attrs, n):
    x, axes = a[0], _axes(a, attrs)
    drop = {_axis(v, x.ndim) for v in axes} if axes is not None else {i for i, s in enumerate(x.shape) if s == 1}
    return _reshape_to(x, tuple(s for i, s in enumerate(x.shape) if i not in drop))


def _transpose(m, a, attrs, n):
    x = a[0]
    perm = list(attrs.get("perm", range(x.ndim - 1, -1, -1)))
    return np.transpose(x, perm) if _np(x) else x.permute(*perm)


def _gather(m, a, attrs, n):
    x, idx = a[0], np.asarray(a[1])
    axis = _axis(attrs.get("axis", 0), x.ndim)
    if _np(x):
        return np.take(x, idx, axis=axis)
    idx = np.where(idx < 0, idx + x.shape[axis], idx).astype(np.int64)
    if axis == 0 and x.ndim == 2 and idx.ndim >= 1:
        return F.embedding(idx, x)
    key = (slice(None),) * axis + ((int(idx),) if idx.ndim == 0 else (idx,))
    return x[key]


def _slice(m, a, attrs, n):
    x = a[0]
    if len(a) > 1:
        starts, ends = _ints(a[1]), _ints(a[2])
        axes = _ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(starts)))
        steps = _ints(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(starts)
    else:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    key = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        key[_axis(ax, x.ndim)] = slice(s, e, st)
    return x[tuple(key)]


def _concat(m, a, attrs, n):
    parts = [v for v in a if v is not None]
    axis = attrs.get("axis", 0)
    if all(_np(v) for v in parts):
        return np.concatenate([np.asarray(v) for v in parts], axis=axis)
    return fastdl.cat([_tensor(v) for v in parts], dim=axis)


def _constant(m, a, attrs, n):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key], dtype=np.float32 if "float" in key else (np.int64 if "int" in key else None))
    raise OnnxImportError(f"fastdl.onnx.import_model: Constant with attributes {sorted(attrs)} is not supported")


def _constant_of_shape(m, a, attrs, n):
    value = np.asarray(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)
    return np.full(_ints(a[0]), value[0], dtype=value.dtype)


def _expand(m, a, attrs, n):
    x = a[0]
    shape = np.broadcast_shapes(tuple(x.shape), tuple(_ints(a[1])))
    return np.broadcast_to(x, shape).copy() if _np(x) else x.expand(*shape)


def _shape(m, a, attrs, n):
    s = np.asarray(a[0].shape, dtype=np.int64)
    return s[attrs.get("start", 0):attrs.get("end", None)]


def _cast(m, a, attrs, n):
    from onnx import helper

    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    x = a[0]
    if _np(x):
        return np.asarray(x).astype(dtype)
    if dtype.kind == "f":
        return x
    raise OnnxImportError(f"fastdl.onnx.import_model: Cast of a float tensor to {dtype} is not differentiable")


def _reduce(method):
    def op(m, a, attrs, n):
        x = a[0]
        axes = _axes(a, attrs)
        keep = bool(attrs.get("keepdims", 1))
        if axes is None or not axes:
            axes = list(range(x.ndim))
        axes = tuple(_axis(v, x.ndim) for v in axes)
        if _np(x):
            return getattr(np, method)(x, axis=axes, keepdims=keep)
        return getattr(x, method)(dim=axes, keepdim=keep)
    return op


def _unary(fn, np_fn=None):
    def op(m, a, attrs, n):
        return np_fn(a[0]) if np_fn is not None and _np(a[0]) else fn(_tensor(a[0]))
    return op


OPS = {
    "Gemm": _gemm, "MatMul": _binary(lambda x, y: x @ y), "Add": _binary(lambda x, y: x + y),
    "Sub": _binary(lambda x, y: x - y), "Mul": _binary(lambda x, y: x * y), "Div": _binary(lambda x, y: x / y),
    "Conv": _conv, "BatchNormalization": _batchnorm, "MaxPool": _maxpool, "AveragePool": _avgpool,
    "GlobalAveragePool": _global_avg,
    "Relu": _unary(F.relu), "Sigmoid": _unary(F.sigmoid), "Tanh": _unary(F.tanh),
    "LeakyRelu": lambda m, a, attrs, n: F.leaky_relu(a[0], attrs.get("alpha", 0.01)),
    "Elu": lambda m, a, attrs, n: F.elu(a[0], attrs.get("alpha", 1.0)),
    "Softmax": _softmax(F.softmax, "Softmax"), "LogSoftmax": _softmax(F.log_softmax, "LogSoftmax"),
    "Neg": _unary(lambda x: -x, np.negative), "Exp": _unary(lambda x: x.exp(), np.exp),
    "Log": _unary(lambda x: x.log(), np.log), "Sqrt": _unary(lambda x: x.sqrt(), np.sqrt),
    "Identity": lambda m, a, attrs, n: a[0], "Dropout": _dropout,
    "Flatten": _flatten, "Reshape": _reshape, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
    "Transpose": _transpose, "Gather": _gather, "Slice": _slice, "Concat": _concat,
    "Constant": _constant, "ConstantOfShape": _constant_of_shape, "Expand": _expand, "Shape": _shape, "Cast": _cast,
    "ReduceMean": _reduce("mean"), "ReduceSum": _reduce("sum"),
}


# ------------------------------------------------------------------ recurrent ops
_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _mode(op, attrs):
    acts = [s.lower() for s in attrs.get("activations", [])]
    if op == "RNN" and acts and all(s == "relu" for s in acts):
        return "RNN_RELU"
    return {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN_TANH"}[op]


def check_recurrent(op, ins, attrs, inits, where):
    """Raises for the recurrent-op features fastdl's layers do not have."""
    problems = []
    D = 2 if attrs.get("direction", "forward") == "bidirectional" else 1
    if attrs.get("direction", "forward") not in ("forward", "bidirectional"):
        problems.append(f"direction={attrs['direction']!r}")
    acts = [s.lower() for s in attrs.get("activations", [])]
    if acts and acts != [s.lower() for s in _ACTS[op]] * D and not (op == "RNN" and acts == ["relu"] * D):
        problems.append(f"activations={attrs['activations']}")
    for key in ("clip", "activation_alpha", "activation_beta"):
        if key in attrs:
            problems.append(key)
    if attrs.get("input_forget", 0):
        problems.append("input_forget=1")
    if op == "GRU" and not attrs.get("linear_before_reset", 0):
        problems.append("linear_before_reset=0 (fastdl's GRU is PyTorch's, linear_before_reset=1)")
    if len(ins) > 4 and ins[4]:
        problems.append("sequence_lens")
    if op == "LSTM" and len(ins) > 7 and ins[7]:
        problems.append("peepholes (input P)")
    for i in ins[1:3] + ins[3:4]:
        if i and i not in inits:
            problems.append(f"weights {i!r} computed in the graph (they must be initializers)")
    if problems:
        raise OnnxImportError(f"fastdl.onnx.import_model: {op} node {where}: unsupported {', '.join(problems)}")


def recurrent_module(op, ins, attrs, inits):
    """An nn.RNN / nn.GRU / nn.LSTM holding the node's weights in PyTorch's layout."""
    W, R = inits[ins[1]], inits[ins[2]]
    B = inits[ins[3]] if len(ins) > 3 and ins[3] else None
    D, G4H, I = W.shape
    H = int(attrs.get("hidden_size", R.shape[-1]))
    mode = _mode(op, attrs)
    batch_first = bool(attrs.get("layout", 0))
    kw = dict(bias=B is not None, batch_first=batch_first, bidirectional=D == 2)
    if op == "LSTM":
        mod = nn.LSTM(I, H, **kw)
    elif op == "GRU":
        mod = nn.GRU(I, H, **kw)
    else:
        mod = nn.RNN(I, H, nonlinearity="relu" if mode == "RNN_RELU" else "tanh", **kw)
    for d in range(D):
        sfx = "_l0" + ("_reverse" if d else "")
        w_ih, w_hh, b_ih, b_hh = torch_weights(W[d], R[d], None if B is None else B[d], mode, H)
        getattr(mod, "weight_ih" + sfx).data[...] = w_ih
        getattr(mod, "weight_hh" + sfx).data[...] = w_hh
        if B is not None:
            getattr(mod, "bias_ih" + sfx).data[...] = b_ih
            getattr(mod, "bias_hh" + sfx).data[...] = b_hh
    return mod


def _run_recurrent(mod, a, attrs):
    x = _tensor(a[0])
    D, H = (2 if mod.bidirectional else 1), mod.hidden_size
    bf = mod.batch_first
    states = [None if v is None else _tensor(v) for v in (a + [None] * 7)[5:7]]
    if bf:   # layout=1: states are (N, D, H)
        states = [None if s is None else s.permute(1, 0, 2) for s in states]
    h0, c0 = states
    if mod.mode == "LSTM":
        hx = None if h0 is None and c0 is None else (
            h0 if h0 is not None else Tensor(np.zeros(c0.shape, np.float32)),
            c0 if c0 is not None else Tensor(np.zeros(h0.shape, np.float32)))
        y, (hn, cn) = mod(x, hx)
    else:
        y, hn = mod(x, h0)
        cn = None
    s0, s1 = y.shape[0], y.shape[1]
    y = y.reshape(s0, s1, D, H)                     # (T, N, D, H) or (N, T, D, H)
    if not bf:
        y = y.permute(0, 2, 1, 3)                   # ONNX Y: (T, D, N, H)
    else:
        hn = hn.permute(1, 0, 2)
        cn = cn.permute(1, 0, 2) if cn is not None else None
    return (y, hn, cn) if mod.mode == "LSTM" else (y, hn)


RECURRENT = {"LSTM": _run_recurrent, "GRU": _run_recurrent, "RNN": _run_recurrent}
OPS.update({k: None for k in RECURRENT})  # listed as supported; run through RECURRENT
