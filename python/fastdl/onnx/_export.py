"""fastdl.onnx.export: trace a model in eval mode and write ONNX.

Tracing runs the model once on the example inputs with hooks on (1) ``Module.__call__`` for
every fastdl.nn layer (one emitter per layer type, fed from the module's attributes), (2) the
``fastdl.functional`` ops and (3) Tensor methods and ``fastdl.cat``, so user models that glue
layers with Tensor arithmetic, reshapes and indexing export too. Each hooked call runs the
real operation (its result gives the shapes) and writes the ONNX nodes for it. Any other
differentiable operation that touches a traced value is caught at ``Function.apply`` and
reported by name, with the module it ran in; nothing unsupported is silently constant-folded
as long as it goes through fastdl's autograd (inputs are traced with requires_grad on).
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

import numpy as np

from .. import autograd, nn
from .. import functional as F
from ..tensor import Tensor
from . import _ops
from ._graph import ExportError, Graph


class _Tracer:
    def __init__(self, g, model):
        self.g = g
        self.values = {}      # id(Tensor) -> (onnx name, Tensor kept alive)
        self.depth = 0        # > 0 inside a hooked call: inner ops are not traced again
        self.errors = []
        self.stack = []       # module paths being run
        self.paths = {id(m): (f"{n} ({type(m).__name__})" if n else type(m).__name__)
                      for n, m in model.named_modules()}
        self.consts = {id(t): n for n, t in list(model.named_parameters()) + list(model.named_buffers())
                       if t is not None}

    def traced(self, x):
        return isinstance(x, Tensor) and id(x) in self.values

    def bind(self, t, name):
        self.values[id(t)] = (name, t)

    def name(self, x, like=None):
        """The ONNX name of Tensor x; an untraced value becomes an initializer (parameters
        keep their state_dict names)."""
        if isinstance(x, Tensor):
            hit = self.values.get(id(x))
            if hit is not None:
                return hit[0]
            key = self.consts.get(id(x))
            if key is not None and key in self.g.initializers:
                return key
            if key is not None:
                self.g.reserve(key)
                self.g.initializers[key] = np.array(x.data, order="C")
                return key
            return self.g.init(x.data, "const")
        a = np.asarray(x)
        if like is not None and a.dtype.kind in "fiu" and getattr(like, "dtype", None) == np.float32:
            a = a.astype(np.float32)
        return self.g.init(a, "const")

    def where(self):
        return self.stack[-1] if self.stack else "the model's forward"

    def hint(self, op):
        return f"{self.where()}.{op}" if self.stack else op

    def run(self, emitter, orig, args, kwargs, hint, module=None):
        """Runs the real operation untraced, then writes its nodes with ``emitter`` and binds
        the results to their ONNX names."""
        self.depth += 1
        try:
            out = orig(module, *args, **kwargs) if module is not None else orig(*args, **kwargs)
        finally:
            self.depth -= 1
        if module is not None:
            names = emitter(self, module, out, hint, *args, **kwargs)
        else:
            names = emitter(self, out, *args, hint=hint, **kwargs)
        for t, n in zip(_flatten(out), _flatten(names)):
            if isinstance(t, Tensor) and n is not None:
                self.bind(t, n)
        return out


def _flatten(v):
    if isinstance(v, (tuple, list)):
        return [y for x in v for y in _flatten(x)]
    return [v]


def _any_traced(tr, args, kwargs):
    return any(tr.traced(a) for a in _flatten(list(args) + list(kwargs.values())))


@contextlib.contextmanager
def _hooks(tr):
    """Installs the tracing hooks; always removes them."""
    restore = []

    def patch(owner, attr, new):
        had = attr in vars(owner)
        restore.append((owner, attr, vars(owner).get(attr), had))
        setattr(owner, attr, new)

    module_call = nn.Module.__call__

    def call(self, *args, **kwargs):
        if tr.depth or not _any_traced(tr, args, kwargs):
            return module_call(self, *args, **kwargs)
        emitter = _ops.module_emitter(self)
        tr.stack.append(tr.paths.get(id(self), type(self).__name__))
        try:
            if emitter is None:
                return module_call(self, *args, **kwargs)
            return tr.run(emitter, module_call, args, kwargs, tr.stack[-1], module=self)
        finally:
            tr.stack.pop()

    patch(nn.Module, "__call__", call)

    def hooked(orig, emitter, op):
        def fn(*args, **kwargs):
            if tr.depth or not _any_traced(tr, args, kwargs):
                return orig(*args, **kwargs)
            return tr.run(emitter, orig, args, kwargs, tr.hint(op))
        return fn

    for op, emitter in _ops.FUNCTIONAL.items():
        if hasattr(F, op):
            patch(F, op, hooked(getattr(F, op), emitter, op))
    for op, emitter in _ops.TENSOR_METHODS.items():
        if hasattr(Tensor, op):
            patch(Tensor, op, hooked(getattr(Tensor, op), emitter, op.strip("_")))
    import fastdl
    for op in ("cat", "concat", "concatenate"):
        if hasattr(fastdl, op):
            patch(fastdl, op, hooked(getattr(fastdl, op), _ops.cat, "concat"))

    apply = autograd.Function.__dict__["apply"].__func__

    def checked_apply(cls, *args):
        if tr.depth or not _any_traced(tr, args, {}):
            return apply(cls, *args)
        tr.errors.append(f"{cls.__name__.lstrip('_')} in {tr.where()}")
        out = apply(cls, *args)
        for t in _flatten(out):  # its results count as traced, so every later failure is listed too
            if isinstance(t, Tensor):
                tr.bind(t, "<unsupported>")
        return out

    patch(autograd.Function, "apply", classmethod(checked_apply))
    try:
        yield
    finally:
        for owner, attr, old, had in reversed(restore):
            if had:
                setattr(owner, attr, old)
            else:
                delattr(owner, attr)


def _as_args(args):
    if isinstance(args, (Tensor, np.ndarray)):
        args = (args,)
    if not isinstance(args, (tuple, list)) or not args:
        raise TypeError(f"fastdl.onnx.export: args must be a Tensor, an array or a non-empty tuple of them, "
                        f"got {type(args).__name__}")
    out = []
    for i, a in enumerate(args):
        if isinstance(a, (tuple, list)) and all(isinstance(b, (Tensor, np.ndarray)) for b in a):
            out.append(type(a)(_as_args(a)))  # an (h0, c0) state tuple
            continue
        if not isinstance(a, (Tensor, np.ndarray)):
            raise TypeError(f"fastdl.onnx.export: args[{i}] must be a Tensor or a numpy array, "
                            f"got {type(a).__name__}")
        d = np.asarray(a.data if isinstance(a, Tensor) else a)
        if d.dtype.kind == "f":
            out.append(Tensor(d.astype(np.float32), requires_grad=True))
        elif d.dtype.kind in "iu":
            out.append(Tensor(d.astype(np.int64)))
        else:
            raise TypeError(f"fastdl.onnx.export: args[{i}] has dtype {d.dtype}; float and integer inputs "
                            "are supported")
    return tuple(out)


def _names(given, n, default, what):
    if given is None:
        return [default if n == 1 else f"{default}_{i}" for i in range(n)]
    given = list(given)
    if len(given) > n or not all(isinstance(s, str) and s for s in given) or len(set(given)) != len(given):
        raise ValueError(f"fastdl.onnx.export: {what} must be up to {n} distinct non-empty strings "
                         f"(the model has {n}), got {given!r}")
    return given + [f"{default}_{i}" for i in range(len(given), n)]


def _dynamic(dynamic_axes, ranks):
    """{name: {axis: dim_name}} from PyTorch's dynamic_axes forms (dict or list of axes)."""
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in ranks:
            raise ValueError(f"fastdl.onnx.export: dynamic_axes names {name!r}, which is not an input or "
                             f"output name ({sorted(ranks)})")
        if isinstance(axes, (list, tuple)):
            axes = {a: f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
        if not isinstance(axes, dict):
            raise TypeError(f"fastdl.onnx.export: dynamic_axes[{name!r}] must be a dict or a list of axes")
        fixed = {}
        for a, dim in axes.items():
            if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ranks[name] <= a < ranks[name]:
                raise ValueError(f"fastdl.onnx.export: dynamic axis {a!r} of {name!r} is out of range for "
                                 f"rank {ranks[name]}")
            fixed[int(a) % ranks[name]] = str(dim)
        out[name] = fixed
    return out


def _value_info(helper, TensorProto, name, t, dyn, rank_only):
    elem = TensorProto.INT64 if t.dtype.kind in "iu" else TensorProto.FLOAT
    if rank_only:  # an output of a graph with dynamic axes: undeclared sizes may change too
        shape = [dyn.get(i) for i in range(t.ndim)]
    else:
        shape = [dyn.get(i, int(s)) for i, s in enumerate(t.shape)]
    return helper.make_tensor_value_info(name, elem, shape)


def _write(data, f):
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".onnx-", dir=d)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"fastdl.onnx.export: f must be a path or a writable binary file object, "
                        f"got {type(f).__name__}")


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=17):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not isinstance(model, nn.Module):
        raise TypeError(f"fastdl.onnx.export: model must be a fastdl.nn.Module, got {type(model).__name__}")
    top = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, int) or not 13 <= opset_version <= top:
        raise ValueError(f"fastdl.onnx.export: opset_version must be an int in [13, {top}], got {opset_version!r}")
    if not (isinstance(f, (str, os.PathLike)) or hasattr(f, "write")):
        raise TypeError(f"fastdl.onnx.export: f must be a path or a writable binary file object, "
                        f"got {type(f).__name__}")
    inputs = _as_args(args)
    flat_in = _flatten(inputs)
    in_names = _names(input_names, len(flat_in), "input", "input_names")
    g = Graph(helper, numpy_helper, opset_version)
    for n in in_names:
        g.reserve(n)
    tr = _Tracer(g, model)
    for t, n in zip(flat_in, in_names):
        tr.bind(t, n)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with autograd.enable_grad(), nn.fusion.disabled(), _hooks(tr):  # each layer traced by itself
            result = model(*inputs)
    finally:
        for m, mode in modes:
            m.training = mode
    if tr.errors:
        listed = "; ".join(dict.fromkeys(tr.errors))
        raise ExportError(f"fastdl.onnx.export: unsupported operation(s): {listed}. Supported: the layers of "
                          "fastdl.nn but the loss and tree modules, their functional forms, Tensor arithmetic, "
                          "reshapes, transposes, int/slice indexing and fastdl.cat")
    flat_out = _flatten(result)
    if not flat_out or not all(isinstance(t, Tensor) for t in flat_out):
        raise ExportError(f"fastdl.onnx.export: the model must return a Tensor or a tuple of Tensors, "
                          f"got {type(result).__name__}")
    out_names = _names(output_names, len(flat_out), "output", "output_names")
    for t, n in zip(flat_out, out_names):
        if not tr.traced(t):
            raise ExportError(f"fastdl.onnx.export: output {n!r} does not depend on the inputs through "
                              "operations the exporter traces (computed on .data or with numpy?)")
        g.nodes.append(helper.make_node("Identity", [tr.name(t)], [g.reserve(n)], name=g.fresh(f"{n}_node")))
    ranks = {n: t.ndim for n, t in zip(in_names + out_names, flat_in + flat_out)}
    dyn = _dynamic(dynamic_axes, ranks)
    any_dynamic = bool(dyn)
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [_value_info(helper, TensorProto, n, t, dyn.get(n, {}), False) for n, t in zip(in_names, flat_in)],
        [_value_info(helper, TensorProto, n, t, dyn.get(n, {}), any_dynamic) for n, t in zip(out_names, flat_out)],
        initializer=g.tensors())
    opsets = [helper.make_opsetid("", opset_version)]
    proto = helper.make_model(graph, producer_name="fastdl", opset_imports=opsets)
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest IR the opset allows: older runtimes load it
    onnx.checker.check_model(proto, full_check=True)
    buf = io.BytesIO()
    buf.write(proto.SerializeToString())
    _write(buf.getvalue(), f)
    return proto
