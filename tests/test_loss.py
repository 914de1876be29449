"""Losses: float64 references (checked by finite differences), the fused cross-entropy
kernels on both ISA paths and 1/2 threads, the functional API and the layers vs PyTorch,
and the bad inputs of docs/testing.md §2 row 18."""
import itertools

import numpy as np
import pytest

import fastdl
import fastdl.functional as F
import fastdl.nn as nn
from fastdl import _C
from conftest import torch_or_skip
from reference import loss as ref
from reference.activation import softmax as _softmax
from reference.fd import numeric_grad


def softmax_ref(x):
    return _softmax(x, 1)

SIZES = [1, 7, 8, 9, 15, 16, 17, 33, 1000]


def _tol(C):
    return max(1e-5, 2e-6 * np.sqrt(C))


# ---- 1. the references are right ------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,ls", [(False, 0.0), (True, 0.0), (False, 0.3), (True, 0.2)])
def test_reference_cross_entropy_backward(reduction, weighted, ls, rng):
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, -100, 1, 2])
    w = rng.uniform(0.5, 2, 4) if weighted else None
    g = rng.standard_normal(5) if reduction == "none" else np.float64(1.7)
    num = numeric_grad(lambda z: (ref.cross_entropy(z, t, w, -100, reduction, ls) * g).sum(), x)
    np.testing.assert_allclose(ref.cross_entropy_backward(g, x, t, w, -100, reduction, ls), num, rtol=1e-6, atol=1e-8)
    q = rng.dirichlet(np.ones(4), 5)
    num = numeric_grad(lambda z: (ref.cross_entropy_prob(z, q, w, reduction, ls) * g).sum(), x)
    np.testing.assert_allclose(ref.cross_entropy_prob_backward(g, x, q, w, reduction, ls), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reference_elementwise_backward(reduction, rng):
    x, y = rng.standard_normal(7), rng.standard_normal(7)
    for f, b in [(ref.mse_loss, ref.mse_loss_backward), (ref.l1_loss, ref.l1_loss_backward)]:
        np.testing.assert_allclose(b(1.0, x, y, reduction), numeric_grad(lambda z: f(z, y, reduction), x), rtol=1e-6)
    yb = rng.uniform(0, 1, 7)
    w, pw = rng.uniform(0.5, 2, 7), rng.uniform(0.5, 3, 7)
    num = numeric_grad(lambda z: ref.bce_with_logits(z, yb, w, pw, reduction), x)
    np.testing.assert_allclose(ref.bce_with_logits_backward(1.0, x, yb, w, pw, reduction), num, rtol=1e-6, atol=1e-9)


# ---- 2. fused cross-entropy kernels vs the references -----------------------------------------
@pytest.mark.parametrize("C", SIZES)
def test_cross_entropy_kernel_sizes(isa, C, rng):
    N = 13
    x = (rng.standard_normal((N, C)) * 3).astype(np.float32)
    t = rng.integers(0, C, N)
    t[3] = -100
    loss, prob, denom = _C.cross_entropy_forward(x, t, None, -100, "mean", 0.0)
    assert denom == N - 1
    np.testing.assert_allclose(loss, ref.cross_entropy(x, t), rtol=_tol(C), atol=_tol(C))
    np.testing.assert_allclose(prob, softmax_ref(x), rtol=1e-5, atol=1e-7)
    d = _C.cross_entropy_backward(np.float32(1.0), prob, t, None, -100, "mean", 0.0, denom)
    np.testing.assert_allclose(d, ref.cross_entropy_backward(1.0, x, t), rtol=_tol(C), atol=_tol(C) / N)


@pytest.mark.parametrize("C", [1, 7, 8, 9, 17, 33])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_kernel_options(isa, C, reduction, rng):
    N = 11
    x = (rng.standard_normal((N, C)) * 2).astype(np.float32)
    t = rng.integers(0, C, N)
    t[::4] = C - 1 if C > 1 else 0
    t[5] = 0
    w = rng.uniform(0.2, 2, C).astype(np.float32)
    ls = 0.15
    ii = 0 if C > 1 else -100  # ignore_index inside the class range
    g = rng.standard_normal(N).astype(np.float32) if reduction == "none" else np.float32(0.7)
    loss, prob, denom = _C.cross_entropy_forward(x, t, w, ii, reduction, ls)
    np.testing.assert_allclose(loss, ref.cross_entropy(x, t, w, ii, reduction, ls), rtol=1e-5, atol=1e-5)
    d = _C.cross_entropy_backward(g, prob, t, w, ii, reduction, ls, denom)
    np.testing.assert_allclose(d, ref.cross_entropy_backward(g, x, t, w, ii, reduction, ls), rtol=1e-5, atol=1e-6)
    q = rng.dirichlet(np.ones(C), N).astype(np.float32)
    loss, prob = _C.cross_entropy_prob_forward(x, q, w, reduction, ls)
    np.testing.assert_allclose(loss, ref.cross_entropy_prob(x, q, w, reduction, ls), rtol=1e-5, atol=1e-5)
    d = _C.cross_entropy_prob_backward(g, prob, q, w, reduction, ls)
    np.testing.assert_allclose(d, ref.cross_entropy_prob_backward(g, x, q, w, reduction, ls), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("C", [10, 1000])
def test_cross_entropy_threads(isa, threads, C, rng):
    N = 40_000 // C * 4
    x = rng.standard_normal((N, C)).astype(np.float32)
    t = rng.integers(0, C, N)
    loss, prob, denom = _C.cross_entropy_forward(x, t, None, -100, "sum", 0.1)
    np.testing.assert_allclose(loss, ref.cross_entropy(x, t, None, -100, "sum", 0.1), rtol=1e-5)
    d = _C.cross_entropy_backward(np.float32(1.0), prob, t, None, -100, "sum", 0.1, denom)
    np.testing.assert_allclose(d, ref.cross_entropy_backward(1.0, x, t, None, -100, "sum", 0.1), rtol=1e-5, atol=1e-6)


def test_cross_entropy_extreme_logits(isa):
    x = np.array([[1000.0, 1001.0, -1000.0], [-1e30, 0.0, 1e30]], np.float32)
    loss, prob, _ = _C.cross_entropy_forward(x, np.array([0, 2]), None, -100, "none", 0.0)
    np.testing.assert_allclose(loss, [ref.cross_entropy(np.array([[0.0, 1.0, -2001.0]]), np.array([0]), reduction="sum"), 0.0],
                               rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(prob))


# ---- 3. elementwise losses vs references ------------------------------------------------------
@pytest.mark.parametrize("n", SIZES + [100_003])
@pytest.mark.parametrize("kind", ["mse", "l1"])
def test_elementwise_loss_kernels(isa, kind, n, rng):
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    f, b = getattr(ref, f"{kind}_loss"), getattr(ref, f"{kind}_loss_backward")
    fwd, bwd = getattr(_C, f"{kind}_loss_forward"), getattr(_C, f"{kind}_loss_backward")
    for reduction in ["mean", "sum"]:
        np.testing.assert_allclose(fwd(x, y, reduction), f(x, y, reduction), rtol=1e-5)
        dx, dt = bwd(np.float32(1.3), x, y, reduction, True, True)
        np.testing.assert_allclose(dx, b(1.3, x, y, reduction), rtol=1e-6, atol=1e-12)
        np.testing.assert_array_equal(dt, -dx)
    np.testing.assert_allclose(fwd(x, y, "none"), f(x, y, "none"), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("n", SIZES + [70_001])
def test_bce_with_logits_kernel(isa, n, rng):
    x = (rng.standard_normal(n) * 6).astype(np.float32)
    x[0] = 40.0  # log1p(exp(-40)) = 4e-18 must not vanish relative to the loss
    y = rng.uniform(0, 1, n).astype(np.float32)
    y[0] = 1.0
    w, pw = rng.uniform(0.5, 2, n).astype(np.float32), rng.uniform(0.5, 3, n).astype(np.float32)
    per = _C.bce_with_logits_forward(x, y, w, pw, "none")
    # (1 - y) x + lw softplus(-x) cancels for large |x|: float32 error ~ |x| u (as in PyTorch)
    np.testing.assert_allclose(per, ref.bce_with_logits(x, y, w, pw, "none"), rtol=2e-6, atol=1e-5)
    assert per[0] > 0 and abs(per[0] - np.float64(w[0]) * pw[0] * np.exp(-40.0)) < 1e-6 * per[0]
    np.testing.assert_allclose(_C.bce_with_logits_forward(x, y, None, None, "sum"), ref.bce_with_logits(x, y, reduction="sum"),
                               rtol=1e-5)
    g = rng.standard_normal(n).astype(np.float32)
    dx, dt = _C.bce_with_logits_backward(g, x, y, w, pw, "none", True, True)
    np.testing.assert_allclose(dx, ref.bce_with_logits_backward(g, x, y, w, pw, "none"), rtol=2e-6, atol=1e-5)
    sp = np.log1p(np.exp(-np.abs(x.astype(np.float64)))) + np.maximum(-x.astype(np.float64), 0)
    np.testing.assert_allclose(dt, g * w * (-x + (pw.astype(np.float64) - 1) * sp), rtol=2e-6, atol=1e-5)
    dx, dt = _C.bce_with_logits_backward(np.float32(2.0), x, y, None, None, "mean", True, False)
    assert dt is None
    np.testing.assert_allclose(dx, ref.bce_with_logits_backward(2.0, x, y, reduction="mean"), rtol=2e-6, atol=2.0 / n * 4e-7)
    nan = _C.bce_with_logits_forward(np.array([np.nan, 1.0], np.float32), np.array([0.5, 0.5], np.float32), None, None, "none")
    assert np.isnan(nan[0]) and np.isfinite(nan[1])


# ---- 4. functional + layers vs PyTorch --------------------------------------------------------
def _both(torch, x, fn_f, fn_t, g=None):
    xf = fastdl.tensor(x, requires_grad=True)
    lf = fn_f(xf)
    xt = torch.tensor(x, requires_grad=True)
    lt = fn_t(xt)
    gt = torch.ones_like(lt) if g is None else torch.tensor(g)
    lf.backward(gt.numpy())
    lt.backward(gt)
    return lf, lt, xf.grad.data, xt.grad.numpy()


CE_GRID = list(itertools.product(["mean", "sum", "none"], [False, True], [-100, 1], [0.0, 0.25]))


@pytest.mark.parametrize("reduction,weighted,ignore_index,ls", CE_GRID)
def test_cross_entropy_matches_torch(isa, reduction, weighted, ignore_index, ls, rng):
    torch = torch_or_skip()
    N, C = 9, 5
    x = rng.standard_normal((N, C)).astype(np.float32) * 2
    t = rng.integers(0, C, N)
    t[2] = ignore_index
    t[4] = 1
    w = rng.uniform(0.3, 2, C).astype(np.float32) if weighted else None
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=ls)
    lf, lt, gf, gt = _both(torch, x, lambda z: F.cross_entropy(z, t, weight=w, **kw),
                           lambda z: torch.nn.functional.cross_entropy(
                               z, torch.tensor(t), weight=None if w is None else torch.tensor(w), **kw))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,ls", [(False, 0.0), (True, 0.1)])
def test_cross_entropy_prob_targets_match_torch(reduction, weighted, ls, rng):
    torch = torch_or_skip()
    x = rng.standard_normal((6, 7)).astype(np.float32)
    q = rng.dirichlet(np.ones(7), 6).astype(np.float32)
    w = rng.uniform(0.3, 2, 7).astype(np.float32) if weighted else None
    lf, lt, gf, gt = _both(torch, x, lambda z: F.cross_entropy(z, q, w, reduction=reduction, label_smoothing=ls),
                           lambda z: torch.nn.functional.cross_entropy(
                               z, torch.tensor(q), None if w is None else torch.tensor(w), reduction=reduction,
                               label_smoothing=ls))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_spatial_and_unbatched_match_torch(reduction, rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    t = rng.integers(0, 4, (2, 3, 5))
    t[0, 1, 2] = -100
    lf, lt, gf, gt = _both(torch, x, lambda z: F.cross_entropy(z, fastdl.tensor(t), reduction=reduction, label_smoothing=0.1),
                           lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(t), reduction=reduction,
                                                                       label_smoothing=0.1))
    assert lf.shape == tuple(lt.shape)
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-6)
    q = rng.dirichlet(np.ones(4), (2, 3, 5)).transpose(0, 3, 1, 2).astype(np.float32)
    lf, lt, gf, gt = _both(torch, x, lambda z: F.cross_entropy(z, q, reduction=reduction),
                           lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(q), reduction=reduction))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-6)
    x1 = rng.standard_normal(6).astype(np.float32)
    lf, lt, gf, gt = _both(torch, x1, lambda z: F.cross_entropy(z, np.int64(3), reduction=reduction),
                           lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(3), reduction=reduction))
    assert lf.shape == tuple(lt.shape) == ()
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch(reduction, rng):
    torch = torch_or_skip()
    x = np.log(rng.dirichlet(np.ones(5), 8)).astype(np.float32)
    t = rng.integers(0, 5, 8)
    t[1] = -100
    w = rng.uniform(0.5, 2, 5).astype(np.float32)
    lf, lt, gf, gt = _both(torch, x, lambda z: F.nll_loss(z, t, w, reduction=reduction),
                           lambda z: torch.nn.functional.nll_loss(z, torch.tensor(t), torch.tensor(w), reduction=reduction))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gf, gt, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses_match_torch(name, reduction, rng):
    torch = torch_or_skip()
    x, y = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((4, 6)).astype(np.float32)
    xf, yf = fastdl.tensor(x, requires_grad=True), fastdl.tensor(y, requires_grad=True)
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    lf = getattr(F, name)(xf, yf, reduction=reduction)
    lt = getattr(torch.nn.functional, name)(xt, yt, reduction=reduction)
    g = np.full(lf.shape, 0.5, np.float32)
    lf.backward(g)
    lt.backward(torch.tensor(g))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(yf.grad.data, yt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_mse_broadcast_warns_and_matches_torch(rng):
    torch = torch_or_skip()
    x, y = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((1, 3)).astype(np.float32)
    xf, yf = fastdl.tensor(x, requires_grad=True), fastdl.tensor(y, requires_grad=True)
    with pytest.warns(UserWarning, match="different to the input size"):
        lf = F.mse_loss(xf, yf)
    lf.backward()
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    with pytest.warns(UserWarning):
        torch.nn.functional.mse_loss(xt, yt).backward()
    np.testing.assert_allclose(yf.grad.data, yt.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_matches_torch(isa, reduction, weighted, rng):
    torch = torch_or_skip()
    x = (rng.standard_normal((5, 3)) * 10).astype(np.float32)
    x[0, 0], x[0, 1] = 200.0, -200.0  # stable at extremes
    y = rng.uniform(0, 1, (5, 3)).astype(np.float32)
    w = rng.uniform(0.5, 2, (5, 1)).astype(np.float32) if weighted else None
    pw = rng.uniform(0.5, 3, 3).astype(np.float32) if weighted else None
    xf, yf = fastdl.tensor(x, requires_grad=True), fastdl.tensor(y, requires_grad=True)
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    lf = F.binary_cross_entropy_with_logits(xf, yf, w, reduction=reduction, pos_weight=pw)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, yt, None if w is None else torch.tensor(w), reduction=reduction,
        pos_weight=None if pw is None else torch.tensor(pw))
    g = np.full(lf.shape, 0.5, np.float32)
    lf.backward(g)
    lt.backward(torch.tensor(g))
    assert np.all(np.isfinite(lf.data))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(yf.grad.data, yt.grad.numpy(), rtol=1e-5, atol=1e-5)


LOSS_MODULES = [
    (lambda m: m.MSELoss(), "MSELoss()"),
    (lambda m: m.L1Loss(reduction="sum"), "L1Loss()"),
    (lambda m: m.CrossEntropyLoss(label_smoothing=0.1), "CrossEntropyLoss()"),
    (lambda m: m.NLLLoss(), "NLLLoss()"),
    (lambda m: m.BCEWithLogitsLoss(), "BCEWithLogitsLoss()"),
]


@pytest.mark.parametrize("make,text", LOSS_MODULES, ids=[t for _, t in LOSS_MODULES])
def test_loss_modules_match_torch(make, text, rng):
    torch = torch_or_skip()
    mf, mt = make(nn), make(torch.nn)
    assert repr(mf) == repr(mt) == text
    assert mf.reduction == mt.reduction
    x = rng.standard_normal((6, 4)).astype(np.float32)
    if text.startswith(("CrossEntropy", "NLL")):
        y = rng.integers(0, 4, 6)
    else:
        y = rng.uniform(0, 1, (6, 4)).astype(np.float32)
    lf, lt, gf, gt = _both(torch, x, lambda z: mf(z, y), lambda z: mt(z, torch.tensor(y)))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-6)


def test_weighted_loss_modules_buffers(rng):
    torch = torch_or_skip()
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    mf = nn.CrossEntropyLoss(weight=w, ignore_index=2, reduction="sum")
    mt = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=2, reduction="sum")
    assert list(mf.state_dict()) == list(mt.state_dict()) == ["weight"]
    np.testing.assert_array_equal(mf.state_dict()["weight"].data, w)
    x, t = rng.standard_normal((5, 4)).astype(np.float32), np.array([0, 1, 2, 3, 2])
    lf, lt, gf, gt = _both(torch, x, lambda z: mf(z, t), lambda z: mt(z, torch.tensor(t)))
    np.testing.assert_allclose(lf.data, lt.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gf, gt, rtol=1e-5, atol=1e-7)
    assert list(nn.BCEWithLogitsLoss(pos_weight=np.ones(3)).state_dict()) == ["pos_weight"]


# ---- 5. bad inputs (docs/testing.md §2 row 18) and defined edge results ------------------------------
def test_cross_entropy_bad_targets():
    x = np.zeros((3, 5), np.float32)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.cross_entropy(x, np.array([1, 5, 2]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        F.cross_entropy(x, np.array([1, -1, 2]))
    with pytest.raises(TypeError, match="int64"):
        F.cross_entropy(x, np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, np.array([1, 2]))
    with pytest.raises(ValueError, match="target size"):
        F.cross_entropy(x, np.array([[1], [2], [0]]))
    with pytest.raises(TypeError):
        F.cross_entropy(x, None)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([1, 2, 0]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, np.array([1, 2, 0]), weight=np.ones(4))
    with pytest.raises(IndexError):
        F.nll_loss(x, np.array([0, 9, 0]))
    with pytest.raises(ValueError, match="Target size"):
        F.binary_cross_entropy_with_logits(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="same shape"):
        _C.mse_loss_forward(np.zeros(3, np.float32), np.zeros(4, np.float32), "mean")


def test_cross_entropy_all_ignored_and_empty(isa):
    torch = torch_or_skip()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    t = np.full(3, -100)
    xf = fastdl.tensor(x, requires_grad=True)
    lf = F.cross_entropy(xf, t)
    assert np.isnan(lf.item()) and np.isnan(torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).item())
    lf.backward()
    np.testing.assert_array_equal(xf.grad.data, 0.0)
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
    e = np.zeros((0, 4), np.float32)
    assert np.isnan(F.cross_entropy(e, np.zeros(0, np.int64)).item())
    assert F.cross_entropy(e, np.zeros(0, np.int64), reduction="none").shape == (0,)
    assert np.isnan(F.mse_loss(np.zeros(0), np.zeros(0)).item())


def test_nan_logits_give_nan_loss(isa):
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], np.float32)
    loss = F.cross_entropy(x, np.array([0, 1]), reduction="none").data
    assert np.isnan(loss[0]) and np.isfinite(loss[1])


def test_target_tensor_and_int32_targets():
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    a = F.cross_entropy(x, fastdl.tensor(np.array([0, 1, 2, 1]))).item()
    b = F.cross_entropy(x, np.array([0, 1, 2, 1], np.int32)).item()
    assert a == b


def test_concurrent_python_threads_match_serial(rng):
    """The bindings release the GIL: kernels called from many Python threads at once must give
    the serial results (no shared scratch; docs/testing.md §2 row 21)."""
    import threading

    xs = [rng.standard_normal((64, 37)).astype(np.float32) for _ in range(8)]
    ts = [rng.integers(0, 37, 64) for _ in range(8)]
    serial = [(_C.cross_entropy_forward(x, t, None, -100, "none", 0.1)[0], _C.softmax_forward(x.reshape(8, 8, 37), 1))
              for x, t in zip(xs, ts)]
    errors = []

    def work(i):
        for _ in range(50):
            loss = _C.cross_entropy_forward(xs[i], ts[i], None, -100, "none", 0.1)[0]
            sm = _C.softmax_forward(xs[i].reshape(8, 8, 37), 1)
            if not (np.array_equal(loss, serial[i][0]) and np.array_equal(sm, serial[i][1])):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
