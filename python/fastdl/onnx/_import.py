"""fastdl.onnx.import_model: an ONNX graph as a trainable fastdl module.

Float initializers become Parameters (state_dict keys are the ONNX names, so PyTorch's
``fc.weight`` stays ``fc.weight``); BatchNormalization statistics become buffers; recurrent
ops become nn.RNN / nn.GRU / nn.LSTM children with their weights converted to PyTorch's gate
order. ``forward`` evaluates the nodes in order: float values are Tensors (autograd), shape
arithmetic (Shape, Gather, Concat, ... on integer constants) runs in numpy.
"""
from __future__ import annotations

import os
import re

import numpy as np

from .. import nn
from ..tensor import Tensor
from ._graph import OnnxImportError
from ._import_ops import OPS, RECURRENT, check_recurrent, recurrent_module

SUPPORTED_OPS = tuple(sorted(OPS))


class _Holder(nn.Module):
    """A plain container giving dotted initializer names their module path."""

    def forward(self, *args):  # pragma: no cover - never called
        raise RuntimeError("parameter holder")


def _load(src):
    import onnx

    if isinstance(src, onnx.ModelProto):
        return src
    if isinstance(src, (bytes, bytearray)):
        return onnx.load_from_string(bytes(src))
    if isinstance(src, (str, os.PathLike)):
        if not os.path.exists(src):
            raise FileNotFoundError(f"fastdl.onnx.import_model: no such file: {os.fspath(src)!r}")
        return onnx.load(os.fspath(src))
    if hasattr(src, "read"):
        return onnx.load_from_string(src.read())
    raise TypeError("fastdl.onnx.import_model: expected a path, bytes, a binary file object or an "
                    f"onnx.ModelProto, got {type(src).__name__}")


_IDENT = re.compile(r"^\w+$")  # module path parts may be digits (Sequential)


class OnnxModule(nn.Module):
    """A fastdl module running an ONNX graph (built by ``fastdl.onnx.import_model``).

    ``input_names`` / ``output_names`` are the graph's; ``forward(*inputs)`` takes the inputs
    in that order (Tensors or arrays; integer arrays stay integer, e.g. token ids) and returns
    the output, or a tuple of outputs."""

    def __init__(self, proto):
        super().__init__()
        from onnx import numpy_helper

        graph = proto.graph
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
        bad = sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"
                      for n in graph.node if n.domain not in ("", "ai.onnx") or n.op_type not in OPS})
        if bad:
            raise OnnxImportError(f"fastdl.onnx.import_model: unsupported ONNX op(s): {', '.join(bad)}. "
                                  f"Supported: {', '.join(SUPPORTED_OPS)}")
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        self.output_names = [o.name for o in graph.output]
        self._nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n), n.name) for n in graph.node]
        keep = set(self.output_names)
        self._nodes, inits = _untie_identities(self._nodes, inits, keep)
        self._nodes, inits = _fold_recurrent_weights(self._nodes, inits, keep)
        read = {i for _, ins, *_ in self._nodes for i in ins} | keep
        # per node, how many outputs are read (an unread Dropout mask or MaxPool Indices is fine)
        self._n_out = [max([j + 1 for j, o in enumerate(outs) if o in read], default=1)
                       for _, _, outs, *_ in self._nodes]
        self._values = {}   # onnx name -> Parameter / buffer Tensor / numpy constant
        self._rnn = {}      # node index -> child module attribute name
        owned = set()
        for k, (op, ins, outs, attrs, name) in enumerate(self._nodes):
            if op in RECURRENT:
                check_recurrent(op, ins, attrs, inits, name or f"#{k}")
                child = f"{op.lower()}_{k}" if not name else _sanitize(name)
                while not _free(self, child):
                    child += "_"
                self.add_module(child, recurrent_module(op, ins, attrs, inits))
                self._rnn[k] = child
                owned.update(ins[1:4])
        stats = {i for op, ins, *_ in self._nodes if op == "BatchNormalization" for i in ins[3:5]}
        shared = owned & {i for k, (op, ins, *_) in enumerate(self._nodes) if k not in self._rnn for i in ins}
        if shared:
            raise OnnxImportError(f"fastdl.onnx.import_model: recurrent weights {sorted(shared)} are also read by "
                                  "other nodes, which is not supported")
        for name, a in inits.items():
            if name in owned:
                self._values[name] = None  # held, converted, by the recurrent child module
                continue
            if a.dtype.kind == "f":
                a = np.array(a, dtype=np.float32, order="C")
                t = Tensor(a) if name in stats else nn.Parameter(a)
                self._register(name, t, buffer=name in stats)
            else:
                self._values[name] = a
        for op, ins, *_ in self._nodes:
            if op == "BatchNormalization" and not all(i in stats and i in self._values for i in ins[3:5]):
                raise OnnxImportError(f"fastdl.onnx.import_model: BatchNormalization running statistics "
                                      f"{ins[3:5]} must be initializers")

    def _register(self, name, t, buffer):
        """Registers t under its ONNX name: "fc.weight" as parameter "weight" of a child "fc";
        a name that is no such path, or would shadow an attribute, is sanitised instead."""
        parts = name.split(".")
        owner = self if all(_IDENT.match(p) for p in parts) else None
        for p in parts[:-1]:
            if owner is None:
                break
            nxt = owner._modules.get(p)
            if nxt is None and _free(owner, p):
                nxt = _Holder()
                owner.add_module(p, nxt)
            owner = nxt if isinstance(nxt, _Holder) else None
        leaf = parts[-1]
        if owner is None or not _free(owner, leaf):
            owner, leaf = self, _sanitize(name)
            while not _free(self, leaf):
                leaf += "_"
        if buffer:
            owner.register_buffer(leaf, t)
        else:
            owner.register_parameter(leaf, t)
        self._values[name] = t

    def forward(self, *inputs):
        """Evaluates the graph on ``inputs`` (one Tensor or array per graph input, in the
        graph's input order, shaped as the graph declares) with fastdl ops, so autograd reaches
        the parameters. Returns the output Tensor, or a tuple when the graph has several.
        Raises TypeError for a wrong number of inputs and OnnxImportError for a graph that
        reads a value no earlier node produces."""
        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxModule: the graph takes {len(self.input_names)} input(s) "
                            f"{self.input_names}, got {len(inputs)}")
        env = dict(self._values)
        env[""] = None
        for name, x in zip(self.input_names, inputs):
            env[name] = _input(x, name)
        for k, (op, ins, outs, attrs, name) in enumerate(self._nodes):
            args = []
            for i in ins:
                if i not in env:
                    raise OnnxImportError(f"fastdl.onnx.import_model: node {name or op!r} reads {i!r}, which no "
                                          "earlier node produces (the graph is not topologically sorted?)")
                args.append(env[i])
            if k in self._rnn:
                res = RECURRENT[op](self._modules[self._rnn[k]], args, attrs)
            else:
                res = OPS[op](self, args, attrs, self._n_out[k])
            res = res if isinstance(res, (tuple, list)) else (res,)
            for o, v in zip(outs, res):
                if o:
                    env[o] = v
        out = []
        for o in self.output_names:
            if o not in env:
                raise OnnxImportError(f"fastdl.onnx.import_model: graph output {o!r} is never computed")
            v = env[o]
            out.append(v if isinstance(v, Tensor) else Tensor(v))
        return out[0] if len(out) == 1 else tuple(out)

    def extra_repr(self):
        """The graph's input and output names and its node count (shown by ``repr``)."""
        return f"inputs={self.input_names}, outputs={self.output_names}, nodes={len(self._nodes)}"


def _untie_identities(nodes, inits, keep):
    """PyTorch's exporter stores equal initializers once and recreates the others with Identity
    nodes (an untrained BatchNorm's running_mean is its bias: zeros). Each such value gets its
    own copy again, so parameters and statistics stay separate as in the exported model."""
    inits = dict(inits)
    kept = []
    for n in nodes:
        op, ins, outs = n[:3]
        if op == "Identity" and ins[0] in inits and outs[0] not in inits:
            inits[outs[0]] = np.array(inits[ins[0]])
        else:
            kept.append(n)
    used = {i for _, ins, *_ in kept for i in ins} | keep
    return kept, {k: a for k, a in inits.items() if k in used}


def _fold_recurrent_weights(nodes, inits, keep):
    """Evaluates at import time the nodes that compute recurrent weights from initializers
    (PyTorch's exporter without constant folding reorders the gates in the graph with Slice and
    Concat); they leave the graph and their results become initializers."""
    producer = {o: k for k, (op, ins, outs, *_) in enumerate(nodes) for o in outs}
    need, todo = set(), [i for op, ins, *_ in nodes if op in RECURRENT for i in ins[1:4] if i and i not in inits]
    while todo:
        k = producer.get(todo.pop())
        if k is None or k in need:
            continue
        need.add(k)
        todo.extend(i for i in nodes[k][1] if i and i not in inits)
    if not need:
        return nodes, inits
    inits = dict(inits)
    for k in sorted(need):
        op, ins, outs, attrs, name = nodes[k]
        if op in RECURRENT or any(i and i not in inits for i in ins):
            raise OnnxImportError(f"fastdl.onnx.import_model: recurrent weights are computed by node {name or op!r}"
                                  " from graph inputs; they must be constants")
        res = OPS[op](None, [inits[i] if i else None for i in ins], attrs, len(outs))
        for o, v in zip(outs, res if isinstance(res, (tuple, list)) else (res,)):
            inits[o] = np.asarray(v)
    kept = [n for k, n in enumerate(nodes) if k not in need]
    used = {i for _, ins, *_ in kept for i in ins} | keep
    return kept, {n: a for n, a in inits.items() if n in used}


def _free(owner, attr):
    return not (attr in owner._parameters or attr in owner._buffers or attr in owner._modules
                or attr in vars(owner) or hasattr(type(owner), attr))


def _sanitize(name):
    s = re.sub(r"\W", "_", name).strip("_") or "value"
    return s if not s[0].isdigit() else f"v_{s}"


def _input(x, name):
    if isinstance(x, Tensor):
        return x if x.dtype.kind == "f" else np.asarray(x.data)
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return Tensor(a.astype(np.float32))
    if a.dtype.kind in "iub":
        return a
    raise TypeError(f"OnnxModule: input {name!r} must be a Tensor or a numeric array, got dtype {a.dtype}")


def _attrs(node):
    from onnx import helper, numpy_helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if hasattr(v, "raw_data") or hasattr(v, "dims"):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        out[a.name] = v
    return out


def import_model(src):
    return OnnxModule(_load(src))
