"""The graph under construction during export: nodes, initializers and unique names."""
from __future__ import annotations

import numpy as np


class ExportError(RuntimeError):
    """A model (or an operation inside it) that fastdl.onnx.export cannot express in ONNX."""


class OnnxImportError(ValueError):
    """An ONNX model that fastdl.onnx.import_model cannot turn into a fastdl module."""


class Graph:
    """Collects ONNX nodes and initializers; every value gets a unique name."""

    def __init__(self, helper, numpy_helper, opset):
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.opset = opset
        self.nodes = []
        self.initializers = {}  # name -> ndarray
        self._used = set()
        self._count = 0

    def fresh(self, hint="v"):
        """A name not used before, built from ``hint``."""
        hint = "/" + (hint or "v").lstrip("/")  # a leading "/" keeps internal names apart from user names
        name = hint
        while name in self._used:
            self._count += 1
            name = f"{hint}_{self._count}"
        self._used.add(name)
        return name

    def reserve(self, name):
        if name in self._used:
            raise ExportError(f"fastdl.onnx.export: the name {name!r} is used twice")
        self._used.add(name)
        return name

    def init(self, array, hint="const"):
        """An initializer holding ``array`` (float arrays become float32); returns its name."""
        a = np.asarray(array)
        if a.dtype.kind == "f":
            a = a.astype(np.float32)
        elif a.dtype.kind in "iub" and a.dtype != np.bool_:
            a = a.astype(np.int64)
        name = self.fresh(hint)
        self.initializers[name] = np.array(a, order="C")  # (ascontiguousarray makes 0-d 1-d)
        return name

    def ints(self, values, hint="shape"):
        """An int64 1-D initializer (shapes, axes, slice bounds)."""
        return self.init(np.asarray(values, dtype=np.int64).reshape(-1), hint)

    def node(self, op, inputs, n_out=1, hint=None, **attrs):
        """Appends a node; returns its output name (or a list when ``n_out`` > 1)."""
        base = hint or op.lower()
        outs = [self.fresh(base if i == 0 else f"{base}_out{i}") for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op, list(inputs), outs, name=self.fresh(f"{base}_node"), **attrs))
        return outs[0] if n_out == 1 else outs

    def unsqueeze(self, x, axes, hint=None):
        return self.node("Unsqueeze", [x, self.ints(axes, "axes")], hint=hint)

    def squeeze(self, x, axes, hint=None):
        return self.node("Squeeze", [x, self.ints(axes, "axes")], hint=hint)

    def reshape(self, x, shape, hint=None):
        return self.node("Reshape", [x, self.ints(shape, "shape")], hint=hint)

    def slice(self, x, starts, ends, axes, steps=None, hint=None):
        ins = [x, self.ints(starts, "starts"), self.ints(ends, "ends"), self.ints(axes, "axes")]
        if steps is not None:
            ins.append(self.ints(steps, "steps"))
        return self.node("Slice", ins, hint=hint)

    def tensors(self):
        return [self.numpy_helper.from_array(a, name) for name, a in self.initializers.items()]
