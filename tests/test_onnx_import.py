"""fastdl.onnx.import_model: PyTorch-exported MLPs, CNNs with BatchNorm and recurrent nets give
PyTorch's outputs and train with fastdl step for step; fastdl's own exports import back;
bad input and unsupported ops raise clear errors."""
import io
import warnings

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl import functional as F

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
import fastdl.onnx as fo  # noqa: E402

from conftest import torch_or_skip  # noqa: E402
from test_onnx import TOL, SeqModel, _flat, _randn, _warm, rel_err  # noqa: E402


def test_reimport_of_exported_model_matches():
    fastdl.manual_seed(4)
    m = _warm(fastdl.models.lenet_bn(), _randn(8, 1, 28, 28))
    buf = io.BytesIO()
    fo.export(m, _randn(2, 1, 28, 28), buf)
    back = fo.import_model(buf.getvalue()).eval()
    x = _randn(3, 1, 28, 28)
    assert rel_err(back(x).detach().numpy(), m(x).detach().numpy()) <= TOL
    assert set(back.state_dict()) >= {k for k in m.state_dict() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("cls", ["GRU", "LSTM"])
def test_reimport_of_exported_recurrent_model_matches(cls):
    fastdl.manual_seed(7)
    rnn = getattr(nn, cls)(4, 5, num_layers=2, bidirectional=True, batch_first=True)
    model = SeqModel(rnn).eval()
    states = [_randn(4, 3, 5, seed=s) for s in range(2 if cls == "LSTM" else 1)]
    ins = [_randn(3, 6, 4)] + states
    buf = io.BytesIO()
    fo.export(model, tuple(ins), buf)
    back = fo.import_model(buf.getvalue()).eval()
    for g, r in zip(_flat(back(*ins)), _flat(model(*ins))):
        assert rel_err(g.detach().numpy(), r.detach().numpy()) <= TOL


def test_import_rejects_bad_input(tmp_path):
    from onnx import TensorProto, helper

    with pytest.raises(TypeError, match="expected a path"):
        fo.import_model(3.5)
    with pytest.raises(FileNotFoundError):
        fo.import_model(str(tmp_path / "none.onnx"))
    g = helper.make_graph([helper.make_node("Cos", ["x"], ["y"]), helper.make_node("Erf", ["y"], ["z"]),
                           helper.make_node("Relu", ["z"], ["w"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("w", TensorProto.FLOAT, [2])])
    with pytest.raises(fo.OnnxImportError, match=r"unsupported ONNX op\(s\): Cos, Erf\. Supported"):
        fo.import_model(helper.make_model(g))
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = fo.import_model(helper.make_model(g))
    with pytest.raises(TypeError, match="takes 1 input"):
        m(_randn(2), _randn(2))
    assert np.array_equal(m(np.array([-1.0, 2.0], np.float32)).numpy(), [0.0, 2.0])


def _torch_export(torch, model, x, batch_axis, dynamo, **kw):
    """The model as torch.onnx.export writes it: the TorchScript exporter (dynamo=False) with
    ``kw``, or the torch.export-based one (torch's default, which needs onnxscript)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            prog = torch.onnx.export(model, (x,), dynamo=True, input_names=["x"], output_names=["y"],
                                     dynamic_axes={"x": {batch_axis: "N"}, "y": {0: "N"}})
            return prog.model_proto
        buf = io.BytesIO()
        torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {batch_axis: "N"}, "y": {0: "N"}}, **kw)
    return buf.getvalue()


def _torch_models(torch):
    """name -> (model factory, input shape with N for the batch, exporter options)."""
    tn = torch.nn

    class Rec(tn.Module):
        def __init__(self, cls, **kw):
            super().__init__()
            self.rnn = cls(4, 6, **kw)
            self.fc = tn.Linear(6 * (2 if kw.get("bidirectional") else 1), 3)

        def forward(self, x):
            y = self.rnn(x)[0]
            return self.fc(y[:, -1] if self.rnn.batch_first else y[-1])

    return {
        "mlp": (lambda: tn.Sequential(tn.Linear(8, 16), tn.ReLU(), tn.Linear(16, 16), tn.Tanh(), tn.Linear(16, 3)),
                ("N", 8), {}),
        "cnn_bn": (lambda: tn.Sequential(tn.Conv2d(1, 4, 3, padding=1), tn.BatchNorm2d(4), tn.ReLU(), tn.MaxPool2d(2),
                                         tn.Conv2d(4, 6, 3), tn.BatchNorm2d(6), tn.LeakyReLU(0.1), tn.AvgPool2d(2),
                                         tn.Flatten(), tn.Linear(6, 8), tn.BatchNorm1d(8), tn.ELU(), tn.Dropout(0.3),
                                         tn.Linear(8, 3)), ("N", 1, 8, 8), {"do_constant_folding": False}),
        "cnn_bn_folded": (lambda: tn.Sequential(tn.Conv2d(1, 4, 3), tn.BatchNorm2d(4), tn.Sigmoid(),
                                                tn.AdaptiveAvgPool2d(1), tn.Flatten(), tn.Linear(4, 3)),
                          ("N", 1, 8, 8), {}),
        "cnn_bn_training_export": (lambda: tn.Sequential(tn.Conv2d(1, 3, 3), tn.BatchNorm2d(3), tn.ReLU(),
                                                         tn.Flatten(), tn.Linear(108, 8), tn.BatchNorm1d(8),
                                                         tn.Dropout(0.3), tn.Linear(8, 3)), ("N", 1, 8, 8),
                                   {"training": torch.onnx.TrainingMode.TRAINING}),
        "lstm": (lambda: Rec(tn.LSTM, num_layers=2, bidirectional=True, batch_first=True), ("N", 5, 4),
                 {"do_constant_folding": False}),
        "gru": (lambda: Rec(tn.GRU, num_layers=2), (5, "N", 4), {}),
    }


@pytest.mark.parametrize("name", ["mlp", "cnn_bn", "cnn_bn_folded", "cnn_bn_training_export", "lstm", "gru"])
def test_torch_exported_model_imports_and_trains(name):
    _with_one_torch_thread(_import_and_train, name, dynamo=False)


@pytest.mark.parametrize("name", ["mlp", "cnn_bn_folded", "lstm", "gru"])
def test_torch_dynamo_exported_model_imports_and_trains(name):
    pytest.importorskip("onnxscript")  # torch's default exporter needs it
    _with_one_torch_thread(_import_and_train, name, dynamo=True)


def _with_one_torch_thread(fn, *args, **kwargs):
    torch = torch_or_skip()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: torch's thread pool only costs here (0.4 s a call when loaded)
    try:
        fn(torch, *args, **kwargs)
    finally:
        torch.set_num_threads(threads)


def _import_and_train(torch, name, dynamo):
    torch.manual_seed(0)
    make, shape, kw = _torch_models(torch)[name]
    model = make()
    ax = shape.index("N")
    rng = np.random.default_rng(0)
    X = rng.standard_normal([16 if s == "N" else s for s in shape]).astype(np.float32)
    batch = lambda n: np.ascontiguousarray(np.take(X, np.arange(n), axis=ax))  # noqa: E731
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(X))  # BatchNorm statistics away from their initial values
    model.eval()
    fm = fo.import_model(_torch_export(torch, model, torch.from_numpy(batch(2)), ax, dynamo, **kw)).eval()
    for n in (2, 7):
        with torch.no_grad():
            ref = model(torch.from_numpy(batch(n))).numpy()
        assert rel_err(fm(batch(n)).detach().numpy(), ref) <= TOL
    # fine-tune with fastdl: the imported parameters train, step for step as PyTorch trains the
    # original (BatchNorm on batch statistics, dropout off), except where the exporter folded
    # BatchNorm into the convolution (another training function, same inference) or kept the
    # Dropout (a training-mode export: fastdl's own random mask)
    y = rng.integers(0, 3, 16)
    fm.train()
    model.train()
    for mod in model.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = 0.0
    opt = fastdl.optim.SGD(fm.parameters(), lr=0.2)
    topt = torch.optim.SGD(model.parameters(), lr=0.2)
    losses, tlosses = [], []
    for _ in range(8):
        opt.zero_grad()
        loss = F.cross_entropy(fm(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        tlosses.append(tloss.item())
    assert losses[-1] < losses[0] - 0.01, losses
    assert all(p.grad is not None for p in fm.parameters())
    if name not in ("cnn_bn_folded", "cnn_bn_training_export"):  # (both exporters fold cnn_bn_folded)
        np.testing.assert_allclose(losses, tlosses, rtol=1e-4)


def test_import_names_parameters_safely():
    """Initializer names become state_dict keys where they can ("fc.weight"); names that are
    not a module path or would shadow an attribute ("training", "forward") are sanitised."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    inits = {"fc.weight": w, "onnx::MatMul_7": w.T.copy(), "forward": np.eye(2, dtype=np.float32),
             "training": np.full(1, 2.0, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "fc.weight"], ["a"], transB=1),      # x W^T
             helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["b0"]),        # x W^T
             helper.make_node("MatMul", ["b0", "forward"], ["b"]),               # @ I
             helper.make_node("Add", ["a", "b"], ["y"]),
             helper.make_node("Mul", ["y", "training"], ["z"])]                  # * 2
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 2])],
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()])
    m = fo.import_model(helper.make_model(g))
    keys = set(m.state_dict())
    assert {"fc.weight", "onnx__MatMul_7"} <= keys and len(keys) == 4, keys
    assert callable(m.forward) and isinstance(m.training, bool)
    x = _randn(2, 3)
    np.testing.assert_allclose(m(x).detach().numpy(), 4 * (x @ w.T), rtol=1e-6)
