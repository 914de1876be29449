"""Version counters (issue 15 item 3) and real inplace=True layers (issue 14 item 6),
checked against PyTorch when it is installed."""
import numpy as np
import pytest

import fastdl
import fastdl.functional as F
from fastdl import nn
from conftest import torch_or_skip

MODIFIED = "modified by an inplace operation"


# ---- version counters ------------------------------------------------------------------
def test_saved_input_modified_in_place_raises():
    w = fastdl.tensor([1.0, 2, 3], requires_grad=True)
    x = fastdl.tensor([4.0, 5, 6])
    y = (x * w).sum()
    x.add_(100)
    with pytest.raises(RuntimeError, match=MODIFIED + r".*MulBackward.*version 1; expected version 0"):
        y.backward()


def test_saved_output_modified_through_detach_raises():
    w = fastdl.tensor([1.0, 2, 3], requires_grad=True)
    y = w.exp()
    y.detach().mul_(0)
    with pytest.raises(RuntimeError, match=MODIFIED + r".*output 0 of ExpBackward"):
        y.sum().backward()


def test_optimizer_step_between_backwards_raises():
    lin = nn.Linear(3, 2)
    opt = fastdl.optim.SGD(lin.parameters(), lr=0.1)
    x = fastdl.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    loss = lin(x).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_unsaved_input_may_change_and_data_writes_do_not_count():
    w = fastdl.tensor([1.0, 2, 3], requires_grad=True)
    x = fastdl.tensor([4.0, 5, 6])
    y = (x + w).sum()  # add saves nothing
    x.add_(1)
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [1, 1, 1])
    w.grad = None
    y = (x * w).sum()
    x.data[0] = 7.0  # .data is outside version tracking, as in PyTorch
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [7, 6, 7])


def test_versions_count_and_views_share():
    x = fastdl.tensor(np.zeros((2, 3), np.float32))
    assert x._version == 0
    v = x[0]
    r = x.reshape(6)
    d = x.detach()
    x.add_(1)
    x[1] = 2.0
    d.zero_()
    r.fill_(3.0)
    v.mul_(2)
    x.copy_(np.ones((2, 3)))
    assert x._version == v._version == r._version == d._version == 6
    c = x[[0, 1]]  # advanced indexing copies: its own counter
    c.add_(1)
    assert c._version == 1 and x._version == 6


def test_version_matches_torch():
    torch = torch_or_skip()
    ops = [lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.sub_(1), lambda t: t.div_(2),
           lambda t: t.clamp_(0.5, 2.0), lambda t: t.relu_(), lambda t: t.sigmoid_(), lambda t: t.tanh_(),
           lambda t: t.zero_(), lambda t: t.fill_(3.0), lambda t: t.__setitem__(0, 1.0)]
    a, b = fastdl.tensor(np.ones(3, np.float32)), torch.ones(3)
    for op in ops:
        op(a)
        op(b)
        assert a._version == b._version
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-6)


def test_no_false_error_after_backward_and_retain():
    w = fastdl.tensor([1.0, -2, 3], requires_grad=True)
    y = w.exp()
    loss = y.sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(w.grad.data, 2 * np.exp([1.0, -2, 3]), rtol=1e-6)


# ---- inplace=True activations ------------------------------------------------------------
LAYERS = [
    ("ReLU", {}, lambda t, x: t.nn.ReLU(inplace=True)(x)),
    ("LeakyReLU", {"negative_slope": 0.2}, None),
    ("ELU", {"alpha": 0.7}, None),
    ("Sigmoid", {}, lambda t, x: t.sigmoid_(x)),
    ("Tanh", {}, lambda t, x: t.tanh_(x)),
]


def _torch_inplace(torch, name, kw, x):
    if name in ("Sigmoid", "Tanh"):
        return getattr(x, name.lower() + "_")()
    return getattr(torch.nn, name)(inplace=True, **kw)(x)


@pytest.mark.parametrize("name,kw,_", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_inplace_layer_matches_torch(name, kw, _):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((4, 5)).astype(np.float32)
    wn = rng.standard_normal((5, 5)).astype(np.float32)
    w = fastdl.tensor(wn, requires_grad=True)
    tw = torch.tensor(wn, requires_grad=True)
    h = fastdl.tensor(xn) @ w
    th = torch.tensor(xn) @ tw
    before = h.data
    out = getattr(nn, name)(inplace=True, **kw)(h)
    tout = _torch_inplace(torch, name, kw, th)
    assert out is h and out.data is before  # no copy: the result is the input
    assert out._version == tout._version == 1
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_inplace_relu_keeps_earlier_consumers_right():
    torch = torch_or_skip()
    xn = np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32)

    def run(lib, t):
        w = t(np.array([1.0, -1.0, 2.0, 0.5], np.float32), requires_grad=True)
        h = t(xn) * w
        z = h + 1.0  # recorded before the in-place op: its gradient must bypass relu
        F.relu_(h) if lib == "fastdl" else torch.relu_(h)
        (z.sum() + 3 * h.sum()).backward()
        return w.grad

    np.testing.assert_allclose(run("fastdl", fastdl.tensor).data, run("torch", torch.tensor).numpy())


def test_inplace_on_saved_tensor_raises():
    w = fastdl.tensor([1.0, -2, 3], requires_grad=True)
    h = w * 2.0
    y = h.exp()  # saves its output
    y.relu_()
    with pytest.raises(RuntimeError, match=MODIFIED + r".*ExpBackward"):
        y.sum().backward()
    h2 = w * 3.0
    s = (h2 * w).sum()  # saves h2 as an input
    F.relu(h2, inplace=True)
    with pytest.raises(RuntimeError, match=MODIFIED):
        s.backward()


def test_inplace_on_leaf_requiring_grad_raises():
    w = fastdl.tensor([1.0, -2, 3], requires_grad=True)
    for f in (F.relu_, lambda t: F.leaky_relu(t, inplace=True), lambda t: F.dropout(t, 0.5, inplace=True),
              lambda t: t.sigmoid_()):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            f(w)
    with fastdl.no_grad():
        F.relu_(w)  # allowed without recording, as in PyTorch
    np.testing.assert_array_equal(w.data, [1, 0, 3])


def test_inplace_negative_slope_with_grad_raises():
    h = fastdl.tensor([1.0, -2], requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="negative slope"):
        F.leaky_relu(h, -0.1, inplace=True)
    x = fastdl.tensor([1.0, -2])
    F.leaky_relu(x, -0.5, inplace=True)  # nothing recorded: fine
    np.testing.assert_array_equal(x.data, [1, 1])


def test_inplace_without_grad_and_bad_input():
    x = fastdl.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True) is x and x._version == 1
    np.testing.assert_array_equal(x.data, [0, 2])
    with pytest.raises(TypeError, match="relu_"):
        F.relu(np.zeros(3, np.float32), inplace=True)


def test_dropout_inplace_same_values_and_grad_as_out_of_place():
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((8, 16)).astype(np.float32)
    w = fastdl.tensor(np.ones(16, np.float32), requires_grad=True)
    state = fastdl.random.get_rng_state() if hasattr(fastdl.random, "get_rng_state") else None
    fastdl.manual_seed(3)
    ref = F.dropout(fastdl.tensor(xn) * w, 0.4)
    ref.sum().backward()
    gref = w.grad.data.copy()
    w.grad = None
    fastdl.manual_seed(3)
    h = fastdl.tensor(xn) * w
    before = h.data
    out = nn.Dropout(0.4, inplace=True)(h)
    assert out is h and out.data is before
    np.testing.assert_array_equal(out.data, ref.data)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data, gref)
    del state


def test_inplace_on_view_with_grad_is_refused():
    h = fastdl.tensor(np.ones((2, 3), np.float32), requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="view"):
        F.relu_(h[0])
