"""API documentation: every public name has a docstring, and the documentation site builds
with warnings as errors (skipped when mkdocs is not installed; .ci/run always builds it)."""
import importlib
import inspect
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The documented packages; the optional ones are checked when present.
PACKAGES = ["fastdl", "fastdl.nn", "fastdl.nn.init", "fastdl.nn.utils", "fastdl.functional", "fastdl.ops",
            "fastdl.optim", "fastdl.optim.lr_scheduler", "fastdl.data", "fastdl.data.datasets",
            "fastdl.data.transforms", "fastdl.train", "fastdl.train.callbacks", "fastdl.models", "fastdl.io",
            "fastdl.cli"]
OPTIONAL = ["fastdl.onnx", "fastdl.distributed", "fastdl.experiments"]

# Public names still without a docstring in modules being restructured in another branch
# (tensor / autograd internals, functional, nn): to be written there, then removed from here.
KNOWN_GAPS = set("""
    fastdl.Tensor.shape fastdl.Tensor.ndim fastdl.Tensor.dtype fastdl.Tensor.is_leaf
    fastdl.Tensor.grad_fn fastdl.Tensor.dim fastdl.Tensor.size fastdl.Tensor.numel
    fastdl.Tensor.item fastdl.Tensor.tolist fastdl.Tensor.fill_ fastdl.Tensor.zero_
    fastdl.Tensor.add_ fastdl.Tensor.sub_ fastdl.Tensor.mul_ fastdl.Tensor.div_
    fastdl.Tensor.bool fastdl.Tensor.device fastdl.Tensor.contiguous fastdl.Tensor.add
    fastdl.Tensor.mul fastdl.Tensor.sub fastdl.Tensor.div fastdl.Tensor.pow fastdl.Tensor.neg
    fastdl.Tensor.abs fastdl.Tensor.matmul fastdl.Tensor.exp fastdl.Tensor.log
    fastdl.Tensor.sqrt fastdl.Tensor.relu fastdl.Tensor.sigmoid fastdl.Tensor.tanh
    fastdl.Tensor.softmax fastdl.Tensor.log_softmax fastdl.Tensor.sum fastdl.Tensor.mean
    fastdl.Tensor.std fastdl.Tensor.min fastdl.Tensor.argmax fastdl.Tensor.argmin
    fastdl.Tensor.reshape fastdl.Tensor.view fastdl.Tensor.flatten fastdl.Tensor.transpose
    fastdl.Tensor.t fastdl.Tensor.permute fastdl.Tensor.squeeze fastdl.Tensor.unsqueeze
    fastdl.Tensor.expand fastdl.nn.AdaptiveAvgPool2d.forward
    fastdl.nn.AdaptiveAvgPool2d.extra_repr fastdl.nn.AvgPool2d.forward
    fastdl.nn.AvgPool2d.extra_repr fastdl.nn.BCEWithLogitsLoss.forward
    fastdl.nn.Conv2d.reset_parameters fastdl.nn.Conv2d.forward fastdl.nn.Conv2d.extra_repr
    fastdl.nn.CrossEntropyLoss.forward fastdl.nn.Dropout.forward fastdl.nn.Dropout.extra_repr
    fastdl.nn.ELU.forward fastdl.nn.ELU.extra_repr fastdl.nn.Embedding.reset_parameters
    fastdl.nn.Embedding.forward fastdl.nn.Embedding.extra_repr fastdl.nn.Flatten.forward
    fastdl.nn.Flatten.extra_repr fastdl.nn.Identity.forward fastdl.nn.L1Loss.forward
    fastdl.nn.LeakyReLU.forward fastdl.nn.LeakyReLU.extra_repr fastdl.nn.Linear.reset_parameters
    fastdl.nn.Linear.forward fastdl.nn.Linear.extra_repr fastdl.nn.LogSoftmax.forward
    fastdl.nn.LogSoftmax.extra_repr fastdl.nn.MSELoss.forward fastdl.nn.MaxPool2d.forward
    fastdl.nn.MaxPool2d.extra_repr fastdl.nn.Module.register_parameter
    fastdl.nn.Module.add_module fastdl.nn.Module.register_module fastdl.nn.Module.named_modules
    fastdl.nn.Module.modules fastdl.nn.Module.named_children fastdl.nn.Module.children
    fastdl.nn.Module.named_parameters fastdl.nn.Module.parameters fastdl.nn.Module.named_buffers
    fastdl.nn.Module.buffers fastdl.nn.Module.apply fastdl.nn.Module.train fastdl.nn.Module.eval
    fastdl.nn.Module.requires_grad_ fastdl.nn.Module.zero_grad fastdl.nn.Module.forward
    fastdl.nn.Module.extra_repr fastdl.nn.ModuleList.append fastdl.nn.ModuleList.extend
    fastdl.nn.NLLLoss.forward fastdl.nn.RNN.extra_repr fastdl.nn.RNNBase.reset_parameters
    fastdl.nn.RNNBase.all_weights fastdl.nn.RNNBase.extra_repr fastdl.nn.RNNBase.forward
    fastdl.nn.RNNCellBase.reset_parameters fastdl.nn.RNNCellBase.extra_repr
    fastdl.nn.RNNCellBase.forward fastdl.nn.ReLU.forward fastdl.nn.ReLU.extra_repr
    fastdl.nn.Residual.forward fastdl.nn.Sequential.append fastdl.nn.Sequential.forward
    fastdl.nn.Sigmoid.forward fastdl.nn.Softmax.forward fastdl.nn.Softmax.extra_repr
    fastdl.nn.Tanh fastdl.nn.Tanh.forward fastdl.nn.Tree.is_leaf
    fastdl.nn.TreeClassifier.forward fastdl.nn.init.uniform_ fastdl.nn.init.normal_
    fastdl.nn.init.constant_ fastdl.nn.init.zeros_ fastdl.nn.init.ones_
    fastdl.nn.init.xavier_uniform_ fastdl.nn.init.xavier_normal_ fastdl.nn.init.kaiming_uniform_
    fastdl.nn.init.kaiming_normal_
""".split())


def _modules():
    mods = [importlib.import_module(m) for m in PACKAGES]
    for m in OPTIONAL:
        try:
            mods.append(importlib.import_module(m))
        except ModuleNotFoundError as e:
            if not m.startswith(e.name or "\0"):
                raise
    return mods


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return [(n, getattr(module, n)) for n in names]


def _has_doc(obj):
    doc = inspect.getdoc(obj)
    return bool(doc and len(doc.strip()) >= 10)


def _members(cls):
    """Public methods and properties a class defines itself (inherited ones are checked where
    they are defined); an override inherits its base's docstring (inspect.getdoc)."""
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if inspect.isfunction(raw) or isinstance(raw, property):
            yield name, getattr(cls, name)


def missing_docstrings():
    missing, seen = [], set()
    for module in _modules():
        if not _has_doc(module):
            missing.append(module.__name__)
        for name, obj in _public(module):
            if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
                continue  # submodules are walked on their own; constants need no docstring
            key = (getattr(obj, "__module__", ""), getattr(obj, "__qualname__", name))
            if key in seen:
                continue
            seen.add(key)
            qual = f"{module.__name__}.{name}"
            if not _has_doc(obj):
                missing.append(qual)
            if inspect.isclass(obj):
                missing += [f"{qual}.{m}" for m, member in _members(obj) if not _has_doc(member)]
    return [m for m in missing if m not in KNOWN_GAPS]


def test_every_public_name_has_a_docstring():
    missing = missing_docstrings()
    assert not missing, f"{len(missing)} public names without a docstring:\n  " + "\n  ".join(missing)


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs") or sys.executable
    cmd = [mkdocs] if mkdocs != sys.executable else [sys.executable, "-m", "mkdocs"]
    out = subprocess.run(cmd + ["build", "--strict", "-q", "-f", os.path.join(ROOT, "mkdocs.yml"),
                                "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for page in ("index.html", "getting-started/index.html", "api/nn/index.html", "api/train/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    train = (tmp_path / "site" / "api" / "train" / "index.html").read_text()
    assert 'id="fastdl.train.fit"' in train and "TensorBoard" in train
