"""PyTorch features of issue 14 item 6, each checked against PyTorch (values and gradients with
the same weights): Conv2d padding strings, MaxPool2d indices + MaxUnpool2d."""
import numpy as np
import pytest

import fastdl
from fastdl import functional as F, nn
from conftest import torch_or_skip


def _close(a, b, tol=2e-4):
    a = a.data if isinstance(a, fastdl.Tensor) else a
    b = b.detach().numpy() if hasattr(b, "detach") else b
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("kernel,dilation,padding", [(3, 1, "same"), (4, 1, "same"), ((2, 5), (3, 1), "same"),
                                                     ((4, 3), (1, 2), "same"), (3, 2, "valid")])
def test_conv2d_padding_strings_match_torch(rng, kernel, dilation, padding):
    torch = torch_or_skip()
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    m = nn.Conv2d(4, 6, kernel, padding=padding, dilation=dilation)
    tm = torch.nn.Conv2d(4, 6, k, padding=padding, dilation=dilation)
    tm.load_state_dict({k_: torch.tensor(v) for k_, v in m.state_dict().items()})
    xt = fastdl.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = m(xt), tm(tx)
    _close(y, ty)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _close(xt.grad, tx.grad.numpy(), 1e-3)
    _close(m.weight.grad, tm.weight.grad.numpy(), 1e-3)
    assert repr(m) == repr(tm)
    # functional and unbatched input
    _close(F.conv2d(x[0], m.weight, m.bias, padding=padding, dilation=dilation),
           torch.nn.functional.conv2d(torch.tensor(x[0]), tm.weight, tm.bias, padding=padding, dilation=dilation))


def test_conv2d_padding_string_errors():
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(2, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv2d(2, 3, 3, padding="full")
    x, w = np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match="strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="Invalid padding string"):
        F.conv2d(x, w, padding="Same")
    nn.Conv2d(2, 3, 3, stride=2, padding="valid")  # valid works with any stride


def test_max_pool_indices_and_unpool_match_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    pool, unpool = nn.MaxPool2d(3, 2, padding=1, return_indices=True), nn.MaxUnpool2d(3, 2, padding=1)
    tpool = torch.nn.MaxPool2d(3, 2, padding=1, return_indices=True)
    tunpool = torch.nn.MaxUnpool2d(3, 2, padding=1)
    xt, tx = fastdl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, idx = pool(xt)
    ty, tidx = tpool(tx)
    assert idx.data.dtype == np.int64
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    for size in (None, (7, 9), (2, 3, 8, 10)):
        z, tz = unpool(y, idx, output_size=size), tunpool(ty, tidx, output_size=size)
        _close(z, tz, 0)
    g = rng.standard_normal(z.shape).astype(np.float32)
    z.backward(g)
    tz.backward(torch.tensor(g))
    _close(xt.grad, tx.grad.numpy(), 1e-6)
    # unbatched and functional
    y3, i3 = F.max_pool2d(x[0], 2, return_indices=True)
    ty3, ti3 = torch.nn.functional.max_pool2d(torch.tensor(x[0]), 2, return_indices=True)
    _close(F.max_unpool2d(y3, i3, 2, output_size=(7, 9)),
           torch.nn.functional.max_unpool2d(ty3, ti3, 2, output_size=(7, 9)), 0)


def test_max_unpool_errors():
    y, idx = F.max_pool2d(np.ones((1, 1, 4, 4), np.float32), 2, return_indices=True)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(y, idx, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match="invalid max index"):
        F.max_unpool2d(y, idx.data + 100, 2)
    with pytest.raises(ValueError, match="indices"):
        F.max_unpool2d(y, idx.data[..., :1], 2)


def _twin_mlp(torch):
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    return m, tm


def _np(a):
    return None if a is None else np.array(a.detach().numpy() if hasattr(a, "numpy") else a.data)


def test_forward_hooks_match_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 4)).astype(np.float32)
    runs = []
    for mod, t in zip(_twin_mlp(torch), (fastdl.tensor, torch.tensor)):
        seen = []
        h1 = mod[0].register_forward_pre_hook(lambda mm, args: args[0] * 2)  # non-tuple is wrapped
        h2 = mod[2].register_forward_hook(lambda mm, args, out: seen.append(tuple(args[0].shape)) or out + 1)
        ys = [mod(t(x))]
        h1.remove()
        h1.remove()  # idempotent
        ys.append(mod(t(x)))
        with mod[1].register_forward_hook(lambda mm, args, out: out * 0):
            ys.append(mod(t(x)))
        h2.remove()
        ys.append(mod(t(x)))
        mod[2].register_forward_hook(lambda mm, args, out: None)  # None keeps the output
        ys.append(mod(t(x)))
        runs.append(([_np(y) for y in ys], seen))
    for a, b in zip(runs[0][0], runs[1][0]):
        _close(a, b, 1e-5)
    assert runs[0][1] == runs[1][1] == [(2, 5)] * 3


def test_full_backward_hook_matches_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((3, 4)).astype(np.float32)
    g = rng.standard_normal((3, 3)).astype(np.float32)
    got = []
    for mod, t in zip(_twin_mlp(torch), (fastdl.tensor, torch.tensor)):
        rec, first = [], []

        def hook(mm, gin, gout, rec=rec):
            rec.append([_np(a) for a in gin + gout])
            return tuple(None if a is None else a * 3 for a in gin)

        h = mod[1].register_full_backward_hook(hook)
        mod[0].register_full_backward_hook(lambda mm, gin, gout: first.append([_np(a) for a in gin + gout]))
        xt = t(x, requires_grad=True)
        mod(xt).backward(t(g))
        res = [rec, first, _np(xt.grad), _np(mod[0].weight.grad)]
        h.remove()
        xt.grad = None
        mod(xt).backward(t(g))
        res.append(_np(xt.grad))
        # an input that needs no gradient: grad_input is (None,), the hook still runs
        mod(t(x)).sum().backward()
        got.append(res)
    (rf, ff, *vf), (rt, ft, *vt) = got
    assert len(rf) == len(rt) == 1 and len(ff) == len(ft) == 3
    for a, b in zip(rf[0] + ff[0] + ff[1] + ff[2] + vf, rt[0] + ft[0] + ft[1] + ft[2] + vt):
        assert (a is None) == (b is None)
        if a is not None:
            _close(a, b, 1e-5)
    assert ff[2][0] is None


def test_hook_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="callable"):
        m.register_forward_hook(3)
    m.register_full_backward_hook(lambda mm, gin, gout: (None, None))
    with pytest.raises(RuntimeError, match="expected 1"):
        m(fastdl.tensor(np.ones((1, 2), np.float32), requires_grad=True)).sum().backward()


REPR_CASES = [
    ("t([[1., 2.]], requires_grad=True)", "tensor([[1., 2.]], requires_grad=True)"),
    ("t(3.)", "tensor(3.)"),
    ("t([0.123456, 1e-5])", "tensor([1.2346e-01, 1.0000e-05])"),
    ("t([1, 2])", "tensor([1, 2])"),
    ("t([-1, 20])", "tensor([-1, 20])"),
    ("t([True, False])", "tensor([ True, False])"),
    ("t([1.5, -2.25, 100.])", "tensor([  1.5000,  -2.2500, 100.0000])"),
    ("t([1., float('nan'), float('inf')])", "tensor([1., nan, inf])"),
    ("t([1e9, 1.])", "tensor([1.0000e+09, 1.0000e+00])"),
    ("t([[0.25, -1.5], [3., 0.125]])", "tensor([[ 0.2500, -1.5000],\n        [ 3.0000,  0.1250]])"),
    ("t([[1., 2.]], requires_grad=True) * 2", None),
]


@pytest.mark.parametrize("expr,text", REPR_CASES)
def test_tensor_repr_matches_torch(expr, text):
    torch = torch_or_skip()
    f, tt = eval(expr, {"t": fastdl.tensor}), eval(expr, {"t": torch.tensor})
    if text is None:  # grad_fn: PyTorch numbers its backward classes (MulBackward0)
        assert repr(f) == "tensor([[2., 4.]], grad_fn=<MulBackward>)"
        assert repr(tt) == "tensor([[2., 4.]], grad_fn=<MulBackward0>)"
    else:
        assert repr(f) == repr(tt) == text


def test_tensor_repr_dtype_and_empty():
    assert repr(fastdl.tensor([0.5], dtype=fastdl.float64)) == "tensor([0.5000], dtype=fastdl.float64)"
    assert repr(fastdl.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(fastdl.tensor(np.zeros(0, np.int64))) == "tensor([], dtype=fastdl.int64)"


def test_tensor_to():
    t = fastdl.tensor([1.7, -2.5])
    assert t.to(fastdl.int64).tolist() == [1, -2]
    assert t.to("cpu") is t and t.to(device="cpu") is t and t.to(fastdl.float32) is t
    assert t.to(fastdl.float64).dtype == np.float64
    assert t.to("cpu", fastdl.bool).dtype == np.bool_
    assert t.to(fastdl.tensor([1, 2])).dtype == np.int64  # another tensor's dtype
    assert t.to(dtype=np.int32).dtype == np.int64  # integers are int64
    c = t.to(copy=True)
    assert c is not t and c.tolist() == t.tolist()
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cpu:0", copy=True)
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="cuda"):
        t.to("cuda")
    with pytest.raises(TypeError, match="unsupported dtype"):
        t.to(np.complex64)


def test_module_repr_matches_torch():
    torch = torch_or_skip()
    f = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                      nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), nn.LSTM(3, 4, num_layers=2))
    t = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)),
                            torch.nn.LSTM(3, 4, num_layers=2))
    assert repr(f) == repr(t)


@pytest.mark.parametrize("layers,bidir,batch_first,bias,unbatched",
                         [(1, False, False, True, False), (2, True, True, True, False), (2, False, False, False, False),
                          (1, True, False, True, True)])
def test_lstm_proj_size_matches_torch(rng, layers, bidir, batch_first, bias, unbatched):
    torch = torch_or_skip()
    I, H, P, T, N = 3, 5, 2, 4, 2
    m = nn.LSTM(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias, proj_size=P)
    tm = torch.nn.LSTM(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias,
                       proj_size=P)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())  # a torch state_dict loads unchanged
    assert repr(m) == repr(tm)
    D = 2 if bidir else 1
    shape = (T, I) if unbatched else ((N, T, I) if batch_first else (T, N, I))
    x = rng.standard_normal(shape).astype(np.float32)
    sb = () if unbatched else (N,)
    h0 = rng.standard_normal((layers * D,) + sb + (P,)).astype(np.float32)
    c0 = rng.standard_normal((layers * D,) + sb + (H,)).astype(np.float32)
    xt, tx = fastdl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for hx, thx in ((None, None), ((fastdl.tensor(h0), fastdl.tensor(c0)), (torch.tensor(h0), torch.tensor(c0)))):
        y, (h, c) = m(xt, hx)
        ty, (th, tc) = tm(tx, thx)
        for a, b in ((y, ty), (h, th), (c, tc)):
            _close(a, b, 1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    gc = rng.standard_normal(c.shape).astype(np.float32)
    ((y * fastdl.tensor(gy)).sum() + (c * fastdl.tensor(gc)).sum() + h.sum()).backward()
    ((ty * torch.tensor(gy)).sum() + (tc * torch.tensor(gc)).sum() + th.sum()).backward()
    _close(xt.grad, tx.grad.numpy(), 1e-4)
    for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
        _close(p.grad, tp.grad.numpy(), 1e-4)


def test_lstm_proj_size_errors():
    with pytest.raises(ValueError, match="smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=-1)
    m = nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="h_0"):
        m(np.zeros((2, 1, 3), np.float32), (np.zeros((1, 1, 4), np.float32), np.zeros((1, 1, 4), np.float32)))


@pytest.mark.parametrize("shape", [(4, 2), (16, 20)], ids=["kernel", "class-axis"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fn,weighted,ls", [("cross_entropy", False, 0.0), ("cross_entropy", True, 0.0),
                                            ("cross_entropy", False, 0.2), ("cross_entropy", True, 0.1),
                                            ("nll_loss", False, 0.0), ("nll_loss", True, 0.0)])
def test_loss_over_class_axis_matches_torch(rng, fn, reduction, weighted, ls, shape):
    """(4, 2) positions go through the transposed fused kernel, (16, 20) over the class axis."""
    torch = torch_or_skip()
    assert F.loss._over_class_axis(np.zeros((1, 1) + shape)) == (shape == (16, 20))
    N, C = 3, 5
    x = rng.standard_normal((N, C) + shape).astype(np.float32)
    t = rng.integers(0, C, (N,) + shape)
    t[0, 0, 0] = t[2, 3, 1] = -100  # ignored
    w = rng.uniform(0.5, 2, C).astype(np.float32) if weighted else None
    kw = {"label_smoothing": ls} if ls else {}
    xt, tx = fastdl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = getattr(F, fn)(xt, t, weight=w, reduction=reduction, **kw)
    ty = getattr(torch.nn.functional, fn)(tx, torch.tensor(t), weight=None if w is None else torch.tensor(w),
                                         reduction=reduction, **kw)
    _close(y, ty, 1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _close(xt.grad, tx.grad.numpy(), 1e-5)
    # the module form and the 2-D kernel path agree with the (N, C, d) path
    mod = nn.CrossEntropyLoss(weight=w, reduction=reduction, label_smoothing=ls) if fn == "cross_entropy" else \
        nn.NLLLoss(weight=w, reduction=reduction)
    _close(mod(x, t), ty, 1e-5)
    flat = getattr(F, fn)(np.moveaxis(x, 1, -1).reshape(-1, C), t.reshape(-1), weight=w, reduction=reduction, **kw)
    _close(flat.data.reshape(np.shape(y.data)), y.data, 1e-5)


@pytest.mark.parametrize("S", [4, 300])
def test_loss_over_class_axis_errors(S):
    x = np.zeros((2, 3, S), np.float32)
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        F.cross_entropy(x, np.full((2, S), 3))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        F.nll_loss(x, np.full((2, S), -1))
    with pytest.raises(ValueError, match="target size"):
        F.cross_entropy(x, np.zeros((2, 3), np.int64))
    for fn in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match="weight"):
            fn(x, np.zeros((2, S), np.int64), weight=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.zeros((2, S), np.int64), label_smoothing=1.5)
    assert np.isnan(F.cross_entropy(x, np.full((2, S), -100)).item())  # all ignored: NaN, as torch
