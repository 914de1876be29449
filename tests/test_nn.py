"""The Module contract, Linear, containers, init, gradient clipping and summary."""
import math

import numpy as np
import pytest

import fastdl
from fastdl import nn
from conftest import torch_or_skip


def test_linear_matches_reference(isa, threads, rng):
    for n, i, o in [(1, 1, 1), (7, 17, 5), (33, 64, 10), (256, 100, 40)]:
        lin = nn.Linear(i, o)
        x = fastdl.tensor(rng.standard_normal((n, i)).astype(np.float32), requires_grad=True)
        y = lin(x)
        W = lin.weight.data.astype(np.float64)
        b = lin.bias.data.astype(np.float64)
        x64 = x.data.astype(np.float64)
        ref = x64 @ W.T + b
        tol = 2 * (i + 1) * 2**-24 * (np.abs(x64) @ np.abs(W).T + np.abs(b)) + 1e-7
        assert np.all(np.abs(y.data - ref) <= tol)
        g = rng.standard_normal((n, o)).astype(np.float32)
        y.backward(g)
        g64 = g.astype(np.float64)
        np.testing.assert_allclose(x.grad.data, g64 @ W, rtol=1e-5, atol=1e-5 * math.sqrt(o))
        np.testing.assert_allclose(lin.weight.grad.data, g64.T @ x64, rtol=1e-5, atol=1e-5 * math.sqrt(n))
        np.testing.assert_allclose(lin.bias.grad.data, g64.sum(0), rtol=1e-5, atol=1e-5 * math.sqrt(n))


def test_linear_matches_torch_nd_input(rng):
    torch = torch_or_skip()
    lin = nn.Linear(6, 4)
    tl = torch.nn.Linear(6, 4)
    tl.load_state_dict({k: torch.from_numpy(v) for k, v in lin.state_dict().items()})
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    fx = fastdl.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    fy, ty = lin(fx), tl(tx)
    np.testing.assert_allclose(fy.data, ty.detach().numpy(), rtol=1.3e-6, atol=1e-5)
    g = rng.standard_normal(fy.shape).astype(np.float32)
    fy.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.weight.grad.data, tl.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.data, tl.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_bad_inputs():
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(2, 4\)"):
        lin(fastdl.tensor(np.zeros((3, 5), np.float32)))
    with pytest.raises(TypeError):
        lin(None)
    with pytest.raises(ValueError):
        nn.Linear(-1, 2)
    # empty batch: defined result, zero gradients
    x = fastdl.tensor(np.zeros((0, 4), np.float32), requires_grad=True)
    y = lin(x)
    assert y.shape == (0, 2)
    y.backward(np.zeros((0, 2), np.float32))
    assert np.all(lin.weight.grad.data == 0) and np.all(lin.bias.grad.data == 0)


def test_linear_no_bias_and_init_bounds():
    fastdl.manual_seed(0)
    lin = nn.Linear(100, 50, bias=False)
    assert lin.bias is None and list(lin.state_dict()) == ["weight"]
    bound = 1 / math.sqrt(100)
    assert np.abs(lin.weight.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.9 * bound  # really uniform over the range


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.seq = nn.Sequential(nn.Linear(4, 4), nn.Identity(), nn.Linear(4, 2))
        self.register_buffer("steps", np.zeros(1, np.float32))

    def forward(self, x):
        return self.seq(self.fc1(x))


def test_module_contract():
    net = _Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "seq.0.weight", "seq.0.bias", "seq.2.weight", "seq.2.bias"]
    assert list(net.state_dict()) == ["steps"] + names  # torch order: own tensors, then children
    assert [n for n, _ in net.named_buffers()] == ["steps"]
    assert len(list(net.children())) == 2 and len(list(net.modules())) == 6
    assert net.training and not net.eval().training and not net.seq[0].training
    net.train()
    assert net.seq[2].training
    # state_dict round trip into a fresh model gives the same outputs
    other = _Net()
    sd = net.state_dict()
    sd["steps"][:] = 3
    other.load_state_dict(sd)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(net(fastdl.tensor(x)).data, other(fastdl.tensor(x)).data)
    assert other.steps.data[0] == 3
    with pytest.raises(KeyError, match="missing"):
        other.load_state_dict({"fc1.weight": sd["fc1.weight"]})
    missing, unexpected = other.load_state_dict({"fc1.weight": sd["fc1.weight"], "zzz": sd["steps"]}, strict=False)
    assert "fc1.bias" in missing and unexpected == ["zzz"]
    with pytest.raises(ValueError, match="size mismatch for fc1.weight"):
        other.load_state_dict({**sd, "fc1.weight": np.zeros((5, 5), np.float32)})
    with pytest.raises(TypeError):
        net.fc1.weight = fastdl.tensor(np.zeros((4, 3), np.float32))
    assert "(fc1): Linear(in_features=3, out_features=4, bias=True)" in repr(net)


def test_zero_grad_and_requires_grad():
    net = _Net()
    out = net(fastdl.tensor(np.ones((2, 3), np.float32)))
    out.backward(np.ones((2, 2), np.float32))
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_sequential_indexing():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4), nn.Linear(4, 5))
    assert isinstance(seq[-1], nn.Linear) and seq[-1].out_features == 5
    assert len(seq[1:]) == 2
    with pytest.raises(IndexError):
        seq[3]
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]


@pytest.mark.parametrize("fn,args", [("xavier_uniform_", ()), ("xavier_normal_", ()),
                                     ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
                                     ("kaiming_normal_", (0.0, "fan_out", "relu"))])
def test_init_statistics(fn, args):
    fastdl.manual_seed(1)
    t = nn.Parameter(np.empty((400, 300, 2), np.float32))
    getattr(nn.init, fn)(t, *args)
    fan_in, fan_out = 300 * 2, 400 * 2
    if fn.startswith("xavier"):
        std = math.sqrt(2.0 / (fan_in + fan_out))
    else:
        mode_fan = fan_out if args and args[1] == "fan_out" else fan_in
        gain = math.sqrt(2.0) if args and args[2] == "relu" else math.sqrt(2.0)  # leaky_relu a=0
        std = gain / math.sqrt(mode_fan)
    assert abs(t.data.std() - std) < 0.02 * std
    assert abs(t.data.mean()) < 0.02 * std
    nn.init.zeros_(t)
    assert not t.data.any()
    nn.init.ones_(t)
    assert np.all(t.data == 1)
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(nn.Parameter(np.empty(5, np.float32)))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)


def test_manual_seed_reproducible():
    fastdl.manual_seed(7)
    a = nn.Linear(5, 5).weight.data.copy()
    fastdl.manual_seed(7)
    b = nn.Linear(5, 5).weight.data.copy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type, rng):
    torch = torch_or_skip()
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,), (2, 2, 2)]]
    ps = [nn.Parameter(np.zeros(g.shape, np.float32)) for g in grads]
    tps = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad = fastdl.tensor(g.copy())
        tp.grad = torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 0.5, norm_type, foreach=False)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-5)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-5, atol=1e-7)
    nn.utils.clip_grad_value_(ps, 0.01)
    assert max(np.abs(p.grad.data).max() for p in ps) <= 0.01


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(np.zeros(3, np.float32))
    p.grad = fastdl.tensor(np.array([1.0, np.inf, 0.0], np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(2, np.float32))], 1.0).item() == 0.0


def test_summary_counts():
    model = nn.Sequential(nn.Linear(784, 256), nn.Identity(), nn.Linear(256, 10))
    lines = []
    info = fastdl.summary(model, (784,), batch_size=2, print_fn=lines.append)
    assert [r["output_shape"] for r in info["layers"]] == [(2, 256), (2, 256), (2, 10)]
    assert info["total_params"] == 784 * 256 + 256 + 256 * 10 + 10
    assert info["layers"][0]["flops"] == 2 * 2 * 784 * 256
    assert "Total params: 203,530" in lines[0]
    assert model.training  # mode restored
    assert "forward" not in model[0].__dict__  # instrumentation removed


def test_conv_output_size_formula():
    cos = nn.utils.conv_output_size
    assert cos(28, 5, padding=2) == 28 and cos(14, 5) == 10 and cos(7, 3, 1, 2) == 4
    assert cos(10, 3, dilation=2) == 6
    with pytest.raises(ValueError, match="input 5 with kernel 7, padding 0"):
        cos(5, 7)
    for bad in [dict(stride=0), dict(dilation=0), dict(padding=-1)]:
        with pytest.raises(ValueError):
            cos(5, 3, **bad)
