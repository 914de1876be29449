"""fastdl.onnx: export fastdl models to ONNX and import ONNX models as trainable fastdl modules.

Needs the optional ``onnx`` package (``pip install fastdl[onnx]``, which also installs
``onnxruntime`` to run exported models).

``export(model, args, f, ...)`` traces the model once in eval mode (its train/eval flags are
restored afterwards) and writes a checked ONNX model. Every fastdl.nn layer exports except the
losses and the tree-structured modules: Linear, Conv2d (stride, padding, dilation, groups),
MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (1x1 or evenly dividing), BatchNorm1d/2d (running
statistics), ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softmax, LogSoftmax, Dropout, Identity,
Flatten, Embedding, Residual, RNN/LSTM/GRU (layers, bidirectional, batch_first, initial
states) and their cells; user models built from them may glue layers with Tensor arithmetic,
matmul, reshape/view/flatten, transpose/permute, squeeze/unsqueeze, int and slice indexing,
sum/mean and ``fastdl.cat``. Anything else raises ``ExportError`` naming the operations and
the modules they ran in.

``import_model(path_or_proto)`` builds an ``OnnxModule``: ONNX initializers become Parameters
(BatchNormalization statistics become buffers) and ``forward`` evaluates the graph with fastdl
operations, so autograd works and the model fine-tunes. The op set is what
``torch.onnx.export`` writes for MLPs, CNNs and recurrent nets (see ``SUPPORTED_OPS``).
"""
from __future__ import annotations

from ._graph import ExportError, OnnxImportError

__all__ = ["export", "import_model", "ExportError", "OnnxImportError", "OnnxModule", "SUPPORTED_OPS"]


def _require_onnx(what):
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError(f"fastdl.onnx.{what} needs the 'onnx' package: pip install 'fastdl[onnx]' "
                          "(or pip install onnx onnxruntime)") from None


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=17):
    """Writes ``model`` as ONNX to ``f`` (a path, written atomically, or a binary file object),
    tracing it in eval mode on the example input(s) ``args`` (a Tensor / array or a tuple; an
    LSTM state may be a nested (h0, c0) tuple). PyTorch's signature: ``input_names`` /
    ``output_names`` name the graph's inputs and outputs (default input, output or input_0,
    ...); ``dynamic_axes`` maps a name to {axis: "dim_name"} or a list of axes whose size may
    change (batch, sequence length). The model is checked with ``onnx.checker`` (full check)
    before it is written. Returns the ``onnx.ModelProto``."""
    _require_onnx("export")
    from ._export import export as _export

    return _export(model, args, f, input_names, output_names, dynamic_axes, opset_version)


def import_model(path_or_model_proto):
    """A trainable ``fastdl.nn.Module`` computing the ONNX graph in ``path_or_model_proto`` (a
    path, bytes, a binary file object or an ``onnx.ModelProto``). Its forward takes the graph's
    inputs in order and returns its output (a tuple when there are several)."""
    _require_onnx("import_model")
    from ._import import import_model as _import

    return _import(path_or_model_proto)


def __getattr__(name):
    if name in ("OnnxModule", "SUPPORTED_OPS"):
        from . import _import

        return getattr(_import, name)
    raise AttributeError(f"module 'fastdl.onnx' has no attribute {name!r}")
