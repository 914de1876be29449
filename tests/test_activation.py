"""Activations, exp and softmax: float64 references (checked by finite differences), the C++
kernels on both ISA paths and 1/2 threads, the functional API and the layers vs PyTorch."""
import numpy as np
import pytest

import fastdl
import fastdl.functional as F
import fastdl.nn as nn
from fastdl import _C
from conftest import torch_or_skip
from reference import activation as ref
from reference.fd import numeric_grad

RTOL, ATOL = 1.3e-6, 1e-5
SIZES = [1, 7, 8, 9, 15, 16, 17, 33, 1000]

KERNELS = {  # name -> (forward(x), backward(dy, x, y))
    "relu": (lambda x: _C.relu_forward(x), lambda dy, x, y: _C.relu_backward(dy, y)),
    "leaky_relu": (lambda x: _C.leaky_relu_forward(x, 0.1), lambda dy, x, y: _C.leaky_relu_backward(dy, x, 0.1)),
    "elu": (lambda x: _C.elu_forward(x, 1.5), lambda dy, x, y: _C.elu_backward(dy, x, 1.5)),
    "sigmoid": (lambda x: _C.sigmoid_forward(x), lambda dy, x, y: _C.sigmoid_backward(dy, y)),
    "tanh": (lambda x: _C.tanh_forward(x), lambda dy, x, y: _C.tanh_backward(dy, y)),
}


def _away_from_kinks(rng, n, scale=3.0):
    x = rng.standard_normal(n) * scale
    x[np.abs(x) < 1e-3] = 0.5
    return x


# ---- 1. the references are right ------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ref.ELEMENTWISE))
def test_reference_backward_matches_finite_differences(name, rng):
    fwd, bwd = ref.ELEMENTWISE[name]
    x = _away_from_kinks(rng, 12)
    v = rng.standard_normal(12)
    num = numeric_grad(lambda z: (fwd(z) * v).sum(), x)
    np.testing.assert_allclose(bwd(v, x, fwd(x)), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_reference_softmax_backward_matches_finite_differences(log, dim, rng):
    x = rng.standard_normal((2, 3, 4))
    v = rng.standard_normal((2, 3, 4))
    f = ref.log_softmax if log else ref.softmax
    b = ref.log_softmax_backward if log else ref.softmax_backward
    num = numeric_grad(lambda z: (f(z, dim) * v).sum(), x)
    np.testing.assert_allclose(b(v, f(x, dim), dim), num, rtol=1e-6, atol=1e-8)


# ---- 2. kernels vs the references -----------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_matches_reference(isa, name, n, rng):
    fwd, bwd = KERNELS[name]
    rfwd, rbwd = ref.ELEMENTWISE[name]
    x = _away_from_kinks(rng, n).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)
    y = fwd(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, rfwd(x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(bwd(dy, x, y), rbwd(dy, x, y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_threads_large(isa, threads, name, rng):
    fwd, bwd = KERNELS[name]
    rfwd, rbwd = ref.ELEMENTWISE[name]
    x = _away_from_kinks(rng, 300_003).astype(np.float32).reshape(3, -1)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y = fwd(x)
    np.testing.assert_allclose(y, rfwd(x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(bwd(dy, x, y), rbwd(dy, x, y), rtol=RTOL, atol=ATOL)


def test_relu_exact_and_gradient_zero_at_zero(isa):
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan], np.float32)
    y = _C.relu_forward(x)
    np.testing.assert_array_equal(y[:5], np.maximum(x[:5], 0))
    assert np.isnan(y[5])
    dx = _C.relu_backward(np.ones(6, np.float32), y)
    np.testing.assert_array_equal(dx[:5], [0, 0, 0, 1, 1])


def test_exp_accuracy_sweep(isa):
    x = np.linspace(-87.3, 88.7, 1_000_003, dtype=np.float32)
    y = _C.exp(x)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(y - exact) / ulp) <= 4.0


def test_exp_special_values(isa):
    big = np.array([88.73, 89.0, 100.0, 1e30, np.inf], np.float32)
    assert np.all(np.isposinf(_C.exp(big)))
    small = np.array([-87.5, -100.0, -1e30, -np.inf], np.float32)
    ys = _C.exp(small)
    assert np.all(ys >= 0) and np.all(ys < 1.2e-38)
    if isa != "generic":  # the AVX2 code (also used on the avx512 level)
        np.testing.assert_array_equal(ys, 0.0)  # underflow flushed, no denormals
    assert np.isnan(_C.exp(np.array([np.nan], np.float32)))[0]
    assert _C.exp(np.array([0.0], np.float32))[0] == 1.0


def test_sigmoid_abs_error(isa):
    x = np.linspace(-30, 30, 600_001, dtype=np.float32)
    err = np.abs(_C.sigmoid_forward(x) - ref.sigmoid(x))
    assert err.max() <= 1e-6
    ext = _C.sigmoid_forward(np.array([-1e4, -100, 100, 1e4, np.nan], np.float32))
    np.testing.assert_allclose(ext[:4], [0, 0, 1, 1], rtol=0, atol=1e-37)
    assert np.isnan(ext[4])


def test_tanh_abs_error(isa):
    x = np.linspace(-20, 20, 400_001, dtype=np.float32)
    assert np.abs(_C.tanh_forward(x) - ref.tanh(x)).max() <= 1e-6
    ext = _C.tanh_forward(np.array([-1e4, 1e4, np.nan], np.float32))
    np.testing.assert_array_equal(ext[:2], [-1, 1])
    assert np.isnan(ext[2])


def test_out_buffer_and_errors(isa):
    x = np.array([-1.0, 2.0], np.float32)
    out = np.empty(2, np.float32)
    assert _C.relu_forward(x, out=out) is out
    np.testing.assert_array_equal(out, [0, 2])
    _C.sigmoid_forward(x, out=x)  # in place
    np.testing.assert_allclose(x, ref.sigmoid([-1.0, 2.0]), rtol=RTOL)
    with pytest.raises(ValueError, match="out"):
        _C.relu_forward(x, out=np.empty(2, np.float64))
    with pytest.raises(ValueError, match="out"):
        _C.relu_forward(x, out=np.empty(3, np.float32))
    with pytest.raises(ValueError, match="same shape"):
        _C.relu_backward(np.ones(3, np.float32), np.ones(2, np.float32))
    with pytest.raises(TypeError):
        F.relu(None)


# ---- 3. softmax / log_softmax ---------------------------------------------------------------
SOFTMAX_CASES = [((1,), 0), ((7,), -1), ((3, 17), 1), ((5, 1000), 1), ((33, 8), 0), ((2, 3, 4), 0),
                 ((2, 3, 4), 1), ((2, 3, 4), 2), ((4, 33, 9), 1), ((2, 5, 300), 1), ((3, 2, 17), -2)]


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES)
def test_softmax_kernel_matches_reference(isa, log, shape, dim, rng):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    fwd = _C.log_softmax_forward if log else _C.softmax_forward
    bwd = _C.log_softmax_backward if log else _C.softmax_backward
    rf = ref.log_softmax if log else ref.softmax
    rb = ref.log_softmax_backward if log else ref.softmax_backward
    y = fwd(x, dim)
    C = shape[dim]
    # docs/kernels.md §4: rel/abs 1e-6; the sum of C exponentials adds ~sqrt(C) u
    rt = max(1e-6, 1e-7 * np.sqrt(C))
    np.testing.assert_allclose(y, rf(x, dim), rtol=rt, atol=1e-6 if not log else 1e-5)
    tol = max(1e-5, 1e-6 * np.sqrt(C))
    np.testing.assert_allclose(bwd(dy, y, dim), rb(dy, y, dim), rtol=tol, atol=tol)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((4000, 10), 1), ((64, 3000), 1), ((8, 10, 1000), 1)])
def test_softmax_threads(isa, threads, log, shape, dim, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    fwd = _C.log_softmax_forward if log else _C.softmax_forward
    rf = ref.log_softmax if log else ref.softmax
    np.testing.assert_allclose(fwd(x, dim), rf(x, dim), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_special_rows(isa, log):
    fwd = _C.log_softmax_forward if log else _C.softmax_forward
    y = fwd(np.array([[1000.0, 1001.0]], np.float32), 1)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, (ref.log_softmax if log else ref.softmax)(np.array([[0.0, 1.0]]), 1), rtol=1e-6)
    ninf = np.full((2, 9), -np.inf, np.float32)
    ninf[1] = 0
    y = fwd(ninf, 1)
    assert np.all(np.isnan(y[0])) and np.all(np.isfinite(y[1]))  # all -inf row -> NaN (torch)
    pinf = np.zeros((1, 9), np.float32)
    pinf[0, 3] = np.inf
    assert np.all(np.isnan(fwd(pinf, 1)))  # +inf -> NaN (torch)
    # same along a non-last dim (column kernel)
    assert np.all(np.isnan(fwd(np.ascontiguousarray(ninf.T), 0)[:, 0]))


def test_softmax_degenerate_shapes(isa):
    np.testing.assert_array_equal(_C.softmax_forward(np.float32(3.0), 0), 1.0)
    assert _C.softmax_forward(np.zeros((0, 5), np.float32), 1).shape == (0, 5)
    assert _C.softmax_forward(np.zeros((3, 0), np.float32), 1).shape == (3, 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        _C.softmax_forward(np.zeros((2, 3), np.float32), 2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax(np.zeros((2, 3)), dim=-3)


# ---- 4. functional + layers vs PyTorch --------------------------------------------------------
TORCH_CASES = [
    ("relu", lambda F_, x: F_.relu(x), None),
    ("leaky_relu", lambda F_, x: F_.leaky_relu(x, 0.2), None),
    ("elu", lambda F_, x: F_.elu(x, 0.7), None),
    ("sigmoid", lambda F_, x: F_.sigmoid(x), None),
    ("tanh", lambda F_, x: F_.tanh(x), None),
    ("softmax0", lambda F_, x: F_.softmax(x, 0), None),
    ("softmax1", lambda F_, x: F_.softmax(x, dim=1), None),
    ("log_softmax2", lambda F_, x: F_.log_softmax(x, dim=2), None),
    ("log_softmax-1", lambda F_, x: F_.log_softmax(x, -1), None),
]


@pytest.mark.parametrize("name,fn,_", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_functional_matches_torch(isa, name, fn, _, rng):
    torch = torch_or_skip()
    x = _away_from_kinks(rng, 4 * 5 * 6).reshape(4, 5, 6).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xf = fastdl.tensor(x, requires_grad=True)
    yf = fn(F, xf)
    yf.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = fn(torch.nn.functional, xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(yf.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_elu_gradient_at_zero_matches_torch(isa):
    torch = torch_or_skip()
    x = np.array([0.0, -0.0, -2.0, 2.0], np.float32)
    xf = fastdl.tensor(x, requires_grad=True)
    F.elu(xf, 2.0).backward(np.ones(4, np.float32))
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.elu(xt, 2.0).backward(torch.ones(4))
    np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=RTOL)


def test_functional_accepts_numpy_and_returns_new_tensor():
    x = np.array([[-1.0, 2.0]])
    y = F.relu(x)
    assert isinstance(y, fastdl.Tensor) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [[0, 2]])
    t = fastdl.tensor([[-1.0, 2.0]])
    assert F.relu(t) is not t
    np.testing.assert_array_equal(t.data, [[-1, 2]])  # input untouched
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(np.zeros((2, 3)))
    np.testing.assert_allclose(y.data, 1 / 3)


MODULES = [
    (lambda m: m.ReLU(), "ReLU()"),
    (lambda m: m.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)"),
    (lambda m: m.ELU(alpha=0.5), "ELU(alpha=0.5)"),
    (lambda m: m.Sigmoid(), "Sigmoid()"),
    (lambda m: m.Tanh(), "Tanh()"),
    (lambda m: m.Softmax(dim=1), "Softmax(dim=1)"),
    (lambda m: m.LogSoftmax(dim=-1), "LogSoftmax(dim=-1)"),
]


@pytest.mark.parametrize("make,text", MODULES, ids=[t for _, t in MODULES])
def test_modules_match_torch(make, text, rng):
    torch = torch_or_skip()
    mf, mt = make(nn), make(torch.nn)
    assert repr(mf) == text == repr(mt)
    assert list(mf.parameters()) == [] and mf.state_dict() == {}
    x = _away_from_kinks(rng, 24).reshape(4, 6).astype(np.float32)
    xf = fastdl.tensor(x, requires_grad=True)
    yf = mf(xf)
    yf.backward(np.ones_like(x))
    xt = torch.tensor(x, requires_grad=True)
    mt(xt).backward(torch.ones_like(xt))
    np.testing.assert_allclose(yf.data, mt(torch.tensor(x)).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_noncontiguous_and_other_dtypes_equal_contiguous(rng):
    base = rng.standard_normal((6, 10))
    variants = [base.T, base[::2], base[:, ::-1], np.asfortranarray(base), base.astype(np.float32)]
    ro = base.astype(np.float32)
    ro.setflags(write=False)
    variants.append(ro)
    for v in variants:
        c = np.ascontiguousarray(v, dtype=np.float32)
        np.testing.assert_array_equal(F.relu(v).data, F.relu(c).data)
        np.testing.assert_array_equal(F.softmax(v, dim=0).data, F.softmax(c, dim=0).data)
        np.testing.assert_array_equal(F.log_softmax(v, dim=1).data, F.log_softmax(c, dim=1).data)
    np.testing.assert_array_equal(F.sigmoid(np.array([0, 1, -1])).data, F.sigmoid(np.array([0.0, 1.0, -1.0])).data)
