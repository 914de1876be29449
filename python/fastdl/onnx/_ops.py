"""Export emitters: one function per fastdl.nn layer, functional op and Tensor method that
writes the ONNX nodes computing it.

Each emitter gets the tracer ``tr`` (``tr.g`` the Graph, ``tr.name(x)`` the ONNX name of a
traced Tensor or a new initializer for a constant), the arguments of the call and its concrete
result ``out`` (shapes), and returns the ONNX name(s) of the result in the structure of ``out``.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ._graph import ExportError
from ._rnn import emit_rnn, emit_rnn_cell


def _pair(v):
    if isinstance(v, (tuple, list)):
        return tuple(int(a) for a in v)
    return (int(v), int(v))


def _stride(stride, kernel):
    return kernel if stride is None or stride == () or stride == [] else _pair(stride)


def _batched_4d(tr, x, fn, hint):
    """Runs ``fn(name_of_4d_input) -> name`` on (N, C, H, W); a 3-D (C, H, W) input gets a
    batch axis added and removed around it."""
    xn = tr.name(x)
    if x.ndim == 3:
        return tr.g.squeeze(fn(tr.g.unsqueeze(xn, [0])), [0], hint=hint)
    return fn(xn)


# ---------------------------------------------------------------------------- functional
def linear(tr, out, x, weight, bias=None, hint="linear"):
    g = tr.g
    if x.ndim == 2:
        ins = [tr.name(x), tr.name(weight)] + ([tr.name(bias)] if bias is not None else [])
        return g.node("Gemm", ins, hint=hint, transB=1)
    wt = g.init(np.ascontiguousarray(np.asarray(weight.data).T), f"{hint}.weight_t")
    y = g.node("MatMul", [tr.name(x), wt], hint=hint if bias is None else f"{hint}_mm")
    return y if bias is None else g.node("Add", [y, tr.name(bias)], hint=hint)


def conv2d(tr, out, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, hint="conv"):
    w = weight.shape
    if isinstance(padding, str):  # "valid" / "same": ONNX pads may be asymmetric (begin, end)
        tot = [0, 0] if padding == "valid" else [d * (k - 1) for d, k in zip(_pair(dilation), w[2:])]
        pads = [t // 2 for t in tot] + [t - t // 2 for t in tot]
    else:
        p = _pair(padding)
        pads = [p[0], p[1], p[0], p[1]]
    ins = [tr.name(weight)] + ([tr.name(bias)] if bias is not None else [])
    return _batched_4d(tr, x, lambda xn: tr.g.node(
        "Conv", [xn] + ins, hint=hint, kernel_shape=list(w[2:]), strides=list(_pair(stride)),
        pads=pads, dilations=list(_pair(dilation)), group=int(groups)), hint)


def max_pool2d(tr, out, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, hint="maxpool"):
    if return_indices:
        raise ExportError("fastdl.onnx.export: max_pool2d with return_indices=True is not supported")
    k, p = _pair(kernel_size), _pair(padding)
    return _batched_4d(tr, x, lambda xn: tr.g.node(
        "MaxPool", [xn], hint=hint, kernel_shape=list(k), strides=list(_stride(stride, k)),
        pads=[p[0], p[1], p[0], p[1]], dilations=list(_pair(dilation)), ceil_mode=int(bool(ceil_mode))), hint)


def avg_pool2d(tr, out, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, hint="avgpool"):
    if divisor_override is not None:
        raise ExportError("fastdl.onnx.export: avg_pool2d with divisor_override is not supported by ONNX")
    k, p = _pair(kernel_size), _pair(padding)
    return _batched_4d(tr, x, lambda xn: tr.g.node(
        "AveragePool", [xn], hint=hint, kernel_shape=list(k), strides=list(_stride(stride, k)),
        pads=[p[0], p[1], p[0], p[1]], ceil_mode=int(bool(ceil_mode)),
        count_include_pad=int(bool(count_include_pad))), hint)


def adaptive_avg_pool2d(tr, out, x, output_size, hint="avgpool"):
    H, W = x.shape[-2:]
    h, w = out.shape[-2:]
    if (h, w) == (1, 1):
        return _batched_4d(tr, x, lambda xn: tr.g.node("GlobalAveragePool", [xn], hint=hint), hint)
    if H % h or W % w:
        raise ExportError(f"fastdl.onnx.export: adaptive_avg_pool2d from {H}x{W} to {h}x{w} has unequal "
                          "windows, which ONNX cannot express (sizes must divide, or output 1x1)")
    k = [H // h, W // w]
    return _batched_4d(tr, x, lambda xn: tr.g.node("AveragePool", [xn], hint=hint, kernel_shape=k, strides=k), hint)


def batch_norm(tr, out, x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5, hint="bn"):
    if training or running_mean is None or running_var is None:
        raise ExportError(f"fastdl.onnx.export: batch_norm at {hint!r} normalises with batch statistics "
                          "(training=True or no running statistics); ONNX export needs eval-mode running stats")
    g = tr.g
    C = x.shape[1]
    scale = tr.name(weight) if weight is not None else g.init(np.ones(C, np.float32), f"{hint}.weight")
    shift = tr.name(bias) if bias is not None else g.init(np.zeros(C, np.float32), f"{hint}.bias")
    ins = [scale, shift, tr.name(running_mean), tr.name(running_var)]
    xn = tr.name(x)
    if x.ndim == 2:  # (N, C): ONNX BatchNormalization wants spatial axes
        y = g.node("BatchNormalization", [g.unsqueeze(xn, [2])] + ins, hint=f"{hint}_4d", epsilon=float(eps))
        return g.squeeze(y, [2], hint=hint)
    return g.node("BatchNormalization", [xn] + ins, hint=hint, epsilon=float(eps))


def batch_norm_relu(tr, out, *args, hint="bn", **kwargs):
    return tr.g.node("Relu", [batch_norm(tr, out, *args, hint=hint, **kwargs)], hint=f"{hint}_relu")


def batch_norm_add_relu(tr, out, input, residual, *args, hint="bn", **kwargs):
    y = batch_norm(tr, out, input, *args, hint=hint, **kwargs)
    return tr.g.node("Relu", [tr.g.node("Add", [y, tr.name(residual, like=out)], hint=f"{hint}_add")],
                     hint=f"{hint}_relu")


def _unary(op, **fixed):
    def emit(tr, out, x, *args, hint=None, **kwargs):
        return tr.g.node(op, [tr.name(x)], hint=hint, **fixed)
    return emit


def leaky_relu(tr, out, x, negative_slope=0.01, inplace=False, hint="leakyrelu"):
    return tr.g.node("LeakyRelu", [tr.name(x)], hint=hint, alpha=float(negative_slope))


def elu(tr, out, x, alpha=1.0, inplace=False, hint="elu"):
    return tr.g.node("Elu", [tr.name(x)], hint=hint, alpha=float(alpha))


def _softmax_axis(x, dim):
    if dim is None:
        return 0 if x.ndim in (0, 1, 3) else 1
    return int(dim) % max(x.ndim, 1)


def softmax(tr, out, x, dim=None, dtype=None, hint="softmax"):
    return tr.g.node("Softmax", [tr.name(x)], hint=hint, axis=_softmax_axis(x, dim))


def log_softmax(tr, out, x, dim=None, dtype=None, hint="logsoftmax"):
    return tr.g.node("LogSoftmax", [tr.name(x)], hint=hint, axis=_softmax_axis(x, dim))


def dropout(tr, out, x, p=0.5, training=True, inplace=False, hint="dropout"):
    if training and p > 0:
        raise ExportError("fastdl.onnx.export: dropout with training=True is random; export runs in eval mode "
                          "(call F.dropout with training=self.training)")
    return tr.g.node("Identity", [tr.name(x)], hint=hint)


def embedding(tr, out, ids, weight, hint="embedding"):
    return tr.g.node("Gather", [tr.name(weight), tr.name(ids)], hint=hint, axis=0)


FUNCTIONAL = {
    "linear": linear, "conv2d": conv2d, "max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d, "batch_norm": batch_norm, "batch_norm_relu": batch_norm_relu,
    "batch_norm_add_relu": batch_norm_add_relu,
    "relu": _unary("Relu"), "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"),
    "leaky_relu": leaky_relu, "elu": elu, "softmax": softmax, "log_softmax": log_softmax, "dropout": dropout,
}


# ---------------------------------------------------------------------------- modules
def _bn_args(m, x):
    return (x, m.running_mean, m.running_var, m.weight, m.bias, False, m.momentum, m.eps)


def _module_table():
    """type -> emitter(tr, module, out, hint, *args, **kwargs). An emitter applies only to
    modules that keep the class's own forward (a subclass overriding forward is traced)."""
    def act(fn, *attrs):
        return lambda tr, m, out, hint, x: fn(tr, out, x, *(getattr(m, a) for a in attrs), hint=hint)

    def bn(tr, m, out, hint, x):
        if not m.track_running_stats:
            raise ExportError(f"fastdl.onnx.export: {type(m).__name__} at {hint!r} has no running statistics "
                              "(track_running_stats=False), so it normalises with batch statistics in eval mode")
        return batch_norm(tr, out, *_bn_args(m, x), hint=hint)

    return {
        nn.Linear: lambda tr, m, out, hint, x: linear(tr, out, x, m.weight, m.bias, hint=hint),
        nn.Conv2d: lambda tr, m, out, hint, x: conv2d(tr, out, x, m.weight, m.bias, m.stride, m.padding,
                                                      m.dilation, m.groups, hint=hint),
        nn.MaxPool2d: act(max_pool2d, "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
        nn.AvgPool2d: act(avg_pool2d, "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                          "divisor_override"),
        nn.AdaptiveAvgPool2d: act(adaptive_avg_pool2d, "output_size"),
        nn.BatchNorm1d: bn, nn.BatchNorm2d: bn,
        nn.ReLU: act(FUNCTIONAL["relu"]), nn.Sigmoid: act(FUNCTIONAL["sigmoid"]), nn.Tanh: act(FUNCTIONAL["tanh"]),
        nn.LeakyReLU: act(leaky_relu, "negative_slope"), nn.ELU: act(elu, "alpha"),
        nn.Softmax: act(softmax, "dim"), nn.LogSoftmax: act(log_softmax, "dim"),
        nn.Dropout: lambda tr, m, out, hint, x: tr.g.node("Identity", [tr.name(x)], hint=hint),
        nn.Identity: lambda tr, m, out, hint, x: tr.g.node("Identity", [tr.name(x)], hint=hint),
        nn.Flatten: lambda tr, m, out, hint, x: flatten(tr, out, x, m.start_dim, m.end_dim, hint=hint),
        nn.Embedding: lambda tr, m, out, hint, x: embedding(tr, out, x, m.weight, hint=hint),
        nn.RNN: emit_rnn, nn.LSTM: emit_rnn, nn.GRU: emit_rnn,
        nn.RNNCell: emit_rnn_cell, nn.LSTMCell: emit_rnn_cell, nn.GRUCell: emit_rnn_cell,
    }


MODULES = _module_table()


def module_emitter(m):
    """The emitter for module ``m``, or None when its forward must be traced."""
    for cls in type(m).__mro__:
        fn = MODULES.get(cls)
        if fn is not None:
            return fn if type(m).forward is cls.forward else None
    return None


# ---------------------------------------------------------------------------- Tensor methods
def _binary(op, reflected=False):
    def emit(tr, out, a, b, hint=None):
        x, y = tr.name(a, like=out), tr.name(b, like=out)
        return tr.g.node(op, [y, x] if reflected else [x, y], hint=hint)
    return emit


def _reshape_target(in_shape, out_shape, requested=None):
    """Reshape target that keeps leading dims copied (0) so dynamic axes stay dynamic."""
    target = list(out_shape)
    i = 0
    while i < min(len(in_shape), len(out_shape)) and in_shape[i] == out_shape[i]:
        target[i] = 0
        i += 1
    if requested is not None and -1 in requested and len(requested) == len(out_shape):
        j = list(requested).index(-1)
        if target[j] != 0:
            target[j] = -1
    return target


def reshape(tr, out, x, *shape, hint="reshape"):
    req = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    return tr.g.reshape(tr.name(x), _reshape_target(x.shape, out.shape, req), hint=hint)


def flatten(tr, out, x, start_dim=0, end_dim=-1, hint="flatten"):
    if x.ndim == 0:
        return tr.g.reshape(tr.name(x), [1], hint=hint)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return tr.g.reshape(tr.name(x), [0] * s + [-1] + list(x.shape[e + 1:]), hint=hint)


def permute(tr, out, x, *dims, hint="transpose"):
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    return tr.g.node("Transpose", [tr.name(x)], hint=hint, perm=[int(d) % x.ndim for d in dims])


def transpose(tr, out, x, d0, d1, hint="transpose"):
    perm = list(range(x.ndim))
    a, b = d0 % x.ndim, d1 % x.ndim
    perm[a], perm[b] = perm[b], perm[a]
    return tr.g.node("Transpose", [tr.name(x)], hint=hint, perm=perm)


def squeeze(tr, out, x, dim=None, hint="squeeze"):
    dims = range(x.ndim) if dim is None else (dim if isinstance(dim, (tuple, list)) else (dim,))
    axes = [d % x.ndim for d in dims if x.shape[d % x.ndim] == 1]
    return tr.g.squeeze(tr.name(x), axes, hint=hint) if axes else tr.g.node("Identity", [tr.name(x)], hint=hint)


def unsqueeze(tr, out, x, dim, hint="unsqueeze"):
    return tr.g.unsqueeze(tr.name(x), [dim % (x.ndim + 1)], hint=hint)


def getitem(tr, out, x, key, hint="index"):
    """x[key] for keys made of ints and slices (step > 0): Slice and Gather nodes."""
    key = key if isinstance(key, tuple) else (key,)
    g = tr.g
    name, axis = tr.name(x), 0
    for k in key:
        if isinstance(k, slice):
            start, stop, step = k.start, k.stop, k.step
            if step is not None and step <= 0:
                raise ExportError(f"fastdl.onnx.export: slice with step {step} is not supported")
            if (start, stop, step) != (None, None, None):
                name = g.slice(name, [0 if start is None else start], [2 ** 62 if stop is None else stop],
                               [axis], [1 if step is None else step], hint=hint)
            axis += 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            name = g.node("Gather", [name, g.init(np.array(int(k), np.int64), "index")], hint=hint, axis=axis)
        else:
            raise ExportError(f"fastdl.onnx.export: indexing with {type(k).__name__} is not supported "
                              "(ints and slices are)")
    return name if name != tr.name(x) else g.node("Identity", [name], hint=hint)


def _reduce(op):
    def emit(tr, out, x, dim=None, keepdim=False, hint=None):
        g = tr.g
        dims = range(x.ndim) if dim is None else (dim if isinstance(dim, (tuple, list)) else (dim,))
        axes = [int(d) % x.ndim for d in dims]
        if op == "ReduceSum" or g.opset >= 18:
            return g.node(op, [tr.name(x), g.ints(axes, "axes")], hint=hint, keepdims=int(bool(keepdim)))
        return g.node(op, [tr.name(x)], hint=hint, axes=axes, keepdims=int(bool(keepdim)))
    return emit


TENSOR_METHODS = {
    "__add__": _binary("Add"), "__radd__": _binary("Add", True), "__sub__": _binary("Sub"),
    "__rsub__": _binary("Sub", True), "__mul__": _binary("Mul"), "__rmul__": _binary("Mul", True),
    "__truediv__": _binary("Div"), "__rtruediv__": _binary("Div", True), "__matmul__": _binary("MatMul"),
    "__rmatmul__": _binary("MatMul", True),
    "__neg__": _unary("Neg"), "exp": _unary("Exp"), "log": _unary("Log"), "sqrt": _unary("Sqrt"),
    "relu": _unary("Relu"), "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"),
    "softmax": softmax, "log_softmax": log_softmax,
    "reshape": reshape, "view": reshape, "flatten": flatten, "permute": permute, "transpose": transpose,
    "squeeze": squeeze, "unsqueeze": unsqueeze, "__getitem__": getitem,
    "sum": _reduce("ReduceSum"), "mean": _reduce("ReduceMean"),
    # copies and views of the same values (detach must not turn a traced value into a constant)
    "detach": _unary("Identity"), "clone": _unary("Identity"), "contiguous": _unary("Identity"),
    "float": _unary("Identity"),
}


def cat(tr, out, tensors, dim=0, hint="concat"):
    return tr.g.node("Concat", [tr.name(t) for t in tensors], hint=hint, axis=int(dim) % out.ndim)
