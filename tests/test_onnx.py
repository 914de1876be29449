"""fastdl.onnx.export: every layer, zoo model and recurrent model exported, checked with
onnx.checker (full check) and run in ONNX Runtime at two batch (and sequence) sizes: outputs
equal fastdl's within 1e-5 relative. Import tests: test_onnx_import.py (shares the helpers)."""
import io
import os

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl import functional as F

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import fastdl.onnx as fo  # noqa: E402

TOL = 1e-5  # max |ONNX Runtime - fastdl| / max |fastdl|, per output


def rel_err(got, ref):
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))


def _flat(v):
    return [y for x in v for y in _flat(x)] if isinstance(v, (tuple, list)) else [v]


def roundtrip(model, make_inputs, batch_axes, out_batch_axes=None, sizes=(2, 5), seq_axes=None, seqs=None,
              opset=17):
    """Exports ``model`` on make_inputs(sizes[0]) with the batch (and sequence) axes dynamic,
    runs ONNX Runtime on inputs of each size and returns the worst relative error."""
    model.eval()
    first = make_inputs(sizes[0], *(seqs[:1] if seqs else ()))
    n_in = len(first)
    names = [f"in{i}" for i in range(n_in)]
    outs = _flat(model(*[fastdl.tensor(a) for a in first]))
    onames = [f"out{i}" for i in range(len(outs))]
    dyn = {}
    for n, ax in zip(names, batch_axes):
        if ax is not None:
            dyn[n] = {ax: "N"}
    for n, ax in zip(names, seq_axes or ()):
        if ax is not None:
            dyn.setdefault(n, {})[ax] = "T"
    for n, ax in zip(onames, out_batch_axes if out_batch_axes is not None else [0] * len(onames)):
        if ax is not None:
            dyn[n] = {ax: "N"}
    buf = io.BytesIO()
    fo.export(model, tuple(first), buf, input_names=names, output_names=onames, dynamic_axes=dyn, opset_version=opset)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i, n in enumerate(sizes):
        ins = make_inputs(n, *((seqs[i],) if seqs else ()))
        ref = [t.detach().numpy() for t in _flat(model(*[fastdl.tensor(a) for a in ins]))]
        got = sess.run(onames, dict(zip(names, ins)))
        for g, r in zip(got, ref):
            assert g.shape == r.shape
            worst = max(worst, rel_err(g, r))
    return worst


def _randn(*shape, seed=0):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def _warm(model, x):
    """One training-mode forward so BatchNorm running statistics are not the defaults."""
    model.train()
    with fastdl.no_grad():
        model(fastdl.tensor(x))
    model.eval()
    return model


# ------------------------------------------------------------------ every layer
def _image(C, H=8, W=8):
    return lambda n: [_randn(n, C, H, W)]


class BnAddRelu(nn.Module):
    """The functional residual join called directly (its own ONNX emitter: BN, Add, Relu)."""

    def __init__(self, C):
        super().__init__()
        self.bn = nn.BatchNorm2d(C)

    def forward(self, x):
        return fastdl.functional.batch_norm_add_relu(x, x * 0.5, *self.bn._args(x)[1:])


LAYERS = {
    "linear": (lambda: nn.Linear(6, 4), lambda n: [_randn(n, 6)]),
    "linear_3d_nobias": (lambda: nn.Linear(6, 4, bias=False), lambda n: [_randn(n, 3, 6)]),
    "linear_3d": (lambda: nn.Linear(6, 4), lambda n: [_randn(n, 3, 6)]),
    "conv": (lambda: nn.Conv2d(3, 4, 3), _image(3)),
    "conv_stride_pad_dil": (lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1)), _image(3)),
    "conv_groups_nobias": (lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False), _image(4)),
    "maxpool": (lambda: nn.MaxPool2d(2), _image(2)),
    "maxpool_pad_stride_dil": (lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=1), _image(2, 9, 7)),
    "maxpool_ceil": (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), _image(2, 8, 8)),
    "avgpool": (lambda: nn.AvgPool2d(2), _image(2)),
    "avgpool_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1), _image(2, 9, 9)),
    "avgpool_pad_exclude": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), _image(2, 9, 9)),
    "adaptive_avgpool_global": (lambda: nn.AdaptiveAvgPool2d(1), _image(3, 5, 7)),
    "adaptive_avgpool_2x2": (lambda: nn.AdaptiveAvgPool2d((2, 2)), _image(3, 6, 4)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(5), lambda n: [_randn(n, 5)]),
    "batchnorm1d_3d": (lambda: nn.BatchNorm1d(5), lambda n: [_randn(n, 5, 4)]),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), _image(3)),
    "batchnorm2d_noaffine": (lambda: nn.BatchNorm2d(3, affine=False), _image(3)),
    "relu": (lambda: nn.ReLU(), lambda n: [_randn(n, 7)]),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), lambda n: [_randn(n, 7)]),
    "elu": (lambda: nn.ELU(0.7), lambda n: [_randn(n, 7)]),
    "sigmoid": (lambda: nn.Sigmoid(), lambda n: [_randn(n, 7)]),
    "tanh": (lambda: nn.Tanh(), lambda n: [_randn(n, 7)]),
    "softmax": (lambda: nn.Softmax(dim=1), lambda n: [_randn(n, 7, 3)]),
    "log_softmax": (lambda: nn.LogSoftmax(dim=-1), lambda n: [_randn(n, 7)]),
    "dropout": (lambda: nn.Dropout(0.5), lambda n: [_randn(n, 7)]),
    "identity": (lambda: nn.Identity(), lambda n: [_randn(n, 7)]),
    "flatten": (lambda: nn.Flatten(), _image(2, 3, 4)),
    "flatten_2": (lambda: nn.Flatten(2), _image(2, 3, 4)),
    "embedding": (lambda: nn.Embedding(10, 4), lambda n: [np.arange(3 * n).reshape(n, 3) % 10]),
    "residual": (lambda: nn.Residual(3, 3), _image(3)),
    "residual_1x1": (lambda: nn.Residual(3, 4, use_1x1conv=True, strides=2), _image(3)),
    "batch_norm_add_relu": (lambda: BnAddRelu(3), _image(3)),
    "bn_relu_sequential": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()), _image(3)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_exports(name):
    make, inputs = LAYERS[name]
    fastdl.manual_seed(0)
    m = make()
    x = inputs(4)[0]
    if x.dtype.kind == "f":
        _warm(m, x)
    assert roundtrip(m, inputs, [0]) <= TOL


ZOO = {"lenet": 1e-5, "lenet_bn": 1e-5, "nin": 1e-5, "resnet18": 1e-5}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_exports(name):
    fastdl.manual_seed(0)
    m = getattr(fastdl.models, name)()
    _warm(m, _randn(8, 1, 28, 28))
    err = roundtrip(m, lambda n: [_randn(n, 1, 28, 28)], [0], sizes=(2, 3))
    assert err <= ZOO[name], err


# ------------------------------------------------------------------ recurrent
class SeqModel(nn.Module):
    """A recurrent layer, all of its outputs returned; optional initial states as inputs."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, *state):
        hx = None if not state else (tuple(state) if len(state) == 2 else state[0])
        return self.rnn(x, hx)


RECURRENT = [(cls, L, bi, bf, st) for cls in ("RNN", "GRU", "LSTM")
             for L, bi, bf, st in ((1, False, False, False), (2, True, True, True), (3, False, False, True),
                                   (2, True, False, False))] + [("RNN_relu", 2, True, True, True)]


@pytest.mark.parametrize("cls,layers,bidirectional,batch_first,states", RECURRENT)
def test_recurrent_exports(cls, layers, bidirectional, batch_first, states):
    fastdl.manual_seed(1)
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    rnn = nn.RNN(4, 5, nonlinearity="relu", **kw) if cls == "RNN_relu" else getattr(nn, cls)(4, 5, **kw)
    D = 2 if bidirectional else 1
    n_states = (2 if cls == "LSTM" else 1) if states else 0

    def inputs(n, t):
        x = _randn(*((n, t, 4) if batch_first else (t, n, 4)))
        return [x] + [_randn(layers * D, n, 5, seed=s) for s in range(n_states)]

    bax, tax = (0, 1) if batch_first else (1, 0)
    outs = 3 if cls == "LSTM" else 2
    err = roundtrip(SeqModel(rnn), inputs, [bax] + [1] * n_states, [bax] + [1] * (outs - 1),
                    seq_axes=[tax], seqs=(3, 6))
    assert err <= TOL


@pytest.mark.parametrize("cls", ["RNNCell", "GRUCell", "LSTMCell"])
def test_cell_exports(cls):
    fastdl.manual_seed(2)
    cell = getattr(nn, cls)(4, 3)
    n_states = 2 if cls == "LSTMCell" else 1
    model = SeqModel(cell)
    model.forward = lambda x, *s: cell(x, (tuple(s) if len(s) == 2 else s[0]) if s else None)
    err = roundtrip(model, lambda n: [_randn(n, 4)] + [_randn(n, 3, seed=s) for s in range(n_states)],
                    [0] * (1 + n_states), [0] * n_states)
    assert err <= TOL


def test_user_model_with_tensor_glue():
    """A user model: LSTM, last time step by indexing, Tensor arithmetic, concat, view, mean."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(12, 4)
            self.lstm = nn.LSTM(4, 5, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(10 + 10, 3)

        def forward(self, ids):
            y, (h, c) = self.lstm(self.emb(ids))
            last = y[:, -1]
            pooled = y.mean(1)
            z = fastdl.cat([last, 2 - pooled * 0.5 + 1], dim=1)
            return F.log_softmax(self.fc(z.view(z.shape[0], -1)), dim=1), h.detach().permute(1, 0, 2).reshape(-1, 10)

    fastdl.manual_seed(3)
    err = roundtrip(Net(), lambda n, t: [np.arange(n * t).reshape(n, t) % 12], [0], [0, 0],
                    seq_axes=[1], seqs=(4, 7))
    assert err <= TOL


@pytest.mark.parametrize("cls", ["GRU", "LSTM"])
def test_unbatched_recurrent_exports(cls):
    fastdl.manual_seed(5)
    rnn = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True)
    n_states = 2 if cls == "LSTM" else 1
    model = SeqModel(rnn).eval()
    names = ["x", "h0", "c0"][:1 + n_states]
    first = [_randn(5, 3)] + [_randn(4, 4, seed=s) for s in range(n_states)]
    buf = io.BytesIO()
    fo.export(model, tuple(first), buf, input_names=names, dynamic_axes={"x": {0: "T"}})
    sess = ort.InferenceSession(buf.getvalue())
    for T in (5, 2):
        ins = [_randn(T, 3, seed=T)] + first[1:]
        ref = [t.detach().numpy() for t in _flat(model(*[fastdl.tensor(a) for a in ins]))]
        for g, r in zip(sess.run(None, dict(zip(names, ins))), ref):
            assert g.shape == r.shape and rel_err(g, r) <= TOL


@pytest.mark.parametrize("opset", [13, 21])
def test_other_opsets(opset):
    fastdl.manual_seed(6)
    m = _warm(fastdl.models.lenet_bn(), _randn(8, 1, 28, 28))
    assert roundtrip(m, lambda n: [_randn(n, 1, 28, 28)], [0], opset=opset) <= TOL
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    net.forward = lambda x: nn.Sequential.forward(net, x).mean(1, keepdim=True) + x.sum(1, keepdim=True)
    assert roundtrip(net, lambda n: [_randn(n, 4)], [0], opset=opset) <= TOL


def test_output_names_may_equal_module_names():
    m = nn.Sequential(nn.Linear(3, 3))
    proto = fo.export(m, _randn(2, 3), io.BytesIO(), input_names=["0"], output_names=["0_out"])
    assert [o.name for o in proto.graph.output] == ["0_out"]
    proto = fo.export(m, _randn(2, 3), io.BytesIO(), output_names=["linear"])
    assert [o.name for o in proto.graph.output] == ["linear"]


def test_functional_forms_export():
    """A model written with fastdl.functional calls on its own parameters."""

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            y = F.conv2d(x, self.conv.weight, self.conv.bias, stride=1, padding=1)
            y = F.batch_norm(y, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias)
            y = F.elu(F.leaky_relu(y, 0.1), 0.5)
            y = F.avg_pool2d(F.max_pool2d(F.relu(y), 2), 2, padding=1)
            y = F.adaptive_avg_pool2d(F.sigmoid(y), 1).flatten(1)
            y = F.dropout(F.tanh(F.linear(y, self.fc.weight, self.fc.bias)), 0.5, self.training)
            return F.softmax(y, dim=1)

    fastdl.manual_seed(9)
    m = Functional()
    m.bn.running_mean.data[...] = _randn(4)
    m.bn.running_var.data[...] = np.abs(_randn(4)) + 0.5
    assert roundtrip(m, _image(2), [0]) <= TOL


# ------------------------------------------------------------------ export contract
def test_mode_restored_and_file_outputs(tmp_path):
    m = fastdl.models.lenet_bn()
    m.train()
    m[1].eval()
    modes = [mod.training for mod in m.modules()]
    path = tmp_path / "lenet_bn.onnx"
    proto = fo.export(m, _randn(2, 1, 28, 28), str(path))
    assert [mod.training for mod in m.modules()] == modes
    assert os.listdir(tmp_path) == ["lenet_bn.onnx"]  # written atomically: no temporary left
    assert onnx.load(str(path)).graph.node[0].op_type == proto.graph.node[0].op_type
    with open(tmp_path / "f.onnx", "wb") as fh:
        fo.export(m, (_randn(2, 1, 28, 28),), fh, input_names=["image"], output_names=["logits"], opset_version=13)
    p = onnx.load(str(tmp_path / "f.onnx"))
    assert [i.name for i in p.graph.input] == ["image"] and [o.name for o in p.graph.output] == ["logits"]
    assert p.opset_import[0].version == 13 and p.ir_version == 7  # the oldest IR with opset 13


def test_unbatched_conv_and_pool_export():
    fastdl.manual_seed(8)
    m = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1))
    x = _randn(2, 8, 8)
    assert roundtrip(m, lambda n: [x], [None], [None]) <= TOL

def test_unsupported_operations_are_named():
    class Clamped(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.head = nn.Sequential(nn.ReLU(), nn.MSELoss())

        def forward(self, x):
            y = self.fc(x).clamp(min=0.5) ** 2
            return self.head[1](self.head[0](y), fastdl.zeros(2, 3))

    m = Clamped()
    with pytest.raises(fo.ExportError) as e:  # every failure is listed, with the module it ran in
        fo.export(m, _randn(2, 3), io.BytesIO())
    msg = str(e.value)
    assert "Clamp in Clamped" in msg and "Pow" in msg and "(MSELoss)" in msg, msg
    assert m.training
    with pytest.raises(fo.ExportError, match="track_running_stats"):
        fo.export(nn.BatchNorm1d(3, track_running_stats=False), _randn(2, 3), io.BytesIO())
    with pytest.raises(fo.ExportError, match="unequal windows"):
        fo.export(nn.AdaptiveAvgPool2d(2), _randn(1, 1, 5, 5), io.BytesIO())
    with pytest.raises(fo.ExportError, match="divisor_override"):
        fo.export(nn.AvgPool2d(2, divisor_override=3), _randn(1, 1, 4, 4), io.BytesIO())
    with pytest.raises(fo.ExportError, match="does not depend"):
        fo.export(_Numpy(), _randn(2, 3), io.BytesIO())


class _Numpy(nn.Module):
    def forward(self, x):
        return fastdl.tensor(np.tanh(x.data))


def test_bad_export_arguments(tmp_path):
    m = nn.Linear(3, 2)
    x = _randn(2, 3)
    with pytest.raises(TypeError, match="model"):
        fo.export(object(), x, io.BytesIO())
    with pytest.raises(TypeError, match="args"):
        fo.export(m, "x", io.BytesIO())
    with pytest.raises(TypeError, match="args"):
        fo.export(m, (), io.BytesIO())
    with pytest.raises(TypeError, match="dtype"):
        fo.export(m, np.array([["a"]]), io.BytesIO())
    with pytest.raises(ValueError, match="opset_version"):
        fo.export(m, x, io.BytesIO(), opset_version=9)
    with pytest.raises(TypeError, match="f must be"):
        fo.export(m, x, 42)
    with pytest.raises(ValueError, match="input_names"):
        fo.export(m, x, io.BytesIO(), input_names=["a", "b"])
    with pytest.raises(ValueError, match="not an input or output"):
        fo.export(m, x, io.BytesIO(), dynamic_axes={"nope": {0: "N"}})
    with pytest.raises(ValueError, match="out of range"):
        fo.export(m, x, io.BytesIO(), input_names=["x"], dynamic_axes={"x": {5: "N"}})
    with pytest.raises(ValueError, match="shape"):  # the model itself rejects the input
        fo.export(m, _randn(2, 4), io.BytesIO())
    with pytest.raises(FileNotFoundError):
        fo.export(m, x, str(tmp_path / "missing_dir" / "m.onnx"))
    assert m.training


def test_export_onnx_example(tmp_path):
    pytest.importorskip("mlxtend")
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
    import export_onnx

    res = export_onnx.main(quick=True, out=str(tmp_path / "lenet_bn.onnx"), verbose=0)
    assert res["accuracy_fastdl"] > 0.6
    assert res["accuracy_onnxruntime"] == res["accuracy_fastdl"] and res["predictions_differing"] == 0
    assert res["max_rel_diff"] <= TOL


def test_lazy_attribute_and_missing_onnx_message(monkeypatch):
    import importlib
    import sys

    assert importlib.import_module("fastdl").onnx is fo  # fastdl.onnx after a plain `import fastdl`
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the package were not installed
    with pytest.raises(ImportError, match=r"fastdl\[onnx\]"):
        fo.export(nn.Linear(2, 2), _randn(1, 2), io.BytesIO())
    with pytest.raises(ImportError, match=r"fastdl\[onnx\]"):
        fo.import_model(b"")
