"""Pooling: C++ kernels vs the float64 references (both ISAs, 1 and 2 threads), the references
vs finite differences, fastdl vs PyTorch, NaN / -inf windows and the bad-input list."""
import numpy as np
import pytest

import fastdl
from fastdl import _C
from fastdl import functional as F
from fastdl import nn
from conftest import torch_or_skip
from reference import pool as ref
from reference.fd import numeric_grad

# (shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),    # the common 2x2/2 fast path
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0), (1, 1), False),    # 2x2/2 with a dropped edge
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),     # ceil_mode keeps the edge
    ((1, 2, 7, 8), (3, 2), (2, 2), (1, 1), (1, 1), True),
    ((3, 2, 10, 9), (3, 3), (2, 3), (1, 0), (2, 2), False),   # dilation 2
    ((2, 2, 5, 5), (5, 5), (5, 5), (0, 0), (1, 1), False),    # kernel == input
    ((2, 1, 6, 6), (2, 2), (3, 3), (0, 0), (1, 1), False),    # stride > kernel
    ((1, 3, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),    # 1x1 images
    ((2, 2, 7, 5), (3, 3), (1, 1), (1, 1), (1, 1), False),    # overlapping windows
    ((1, 4, 14, 14), (3, 3), (2, 2), (1, 1), (1, 1), True),   # ResNet stem pool
]
AVG_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),   # 2x2/2 fast path
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0), False, True, 3),      # fast path, dropped edge, divisor
    ((1, 2, 7, 9), (2, 2), (2, 2), (0, 0), True, True, None),    # ceil_mode: partial last window
    ((2, 3, 9, 7), (3, 2), (2, 2), (1, 1), True, True, None),
    ((2, 3, 9, 7), (3, 2), (2, 2), (1, 1), True, False, None),
    ((1, 2, 7, 8), (3, 3), (2, 1), (1, 0), False, False, None),
    ((2, 2, 6, 5), (2, 3), (3, 1), (1, 1), True, True, 5),
    ((2, 1, 5, 5), (5, 5), (5, 5), (0, 0), False, True, None),
    ((1, 3, 1, 1), (1, 1), (1, 1), (0, 0), False, True, None),
]
ADAPTIVE_CASES = [((2, 3, 7, 9), (1, 1)), ((2, 3, 7, 9), (3, 4)), ((1, 2, 5, 5), (5, 5)), ((2, 2, 4, 6), (7, 5)),
                  ((2, 2, 10, 3), (3, 2)), ((1, 1, 1, 1), (2, 3))]


def _distinct(rng, shape):
    """Random values without ties (max-pool argmax is then unique and gradients are smooth)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.37 - n * 0.15).astype(np.float32)


# ---- references vs finite differences ---------------------------------------------------

def test_reference_max_backward_fd(rng):
    x = _distinct(rng, (1, 2, 5, 6)).astype(np.float64)
    args = ((3, 2), (2, 2), (1, 1), (1, 1), True)
    y, idx = ref.max_pool2d_forward(x, *args)
    dy = rng.standard_normal(y.shape)
    num = numeric_grad(lambda v: ref.max_pool2d_forward(v, *args)[0], x, dy=dy, eps=1e-4)
    np.testing.assert_allclose(ref.max_pool2d_backward(dy, idx, x.shape), num, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("case", [AVG_CASES[1], AVG_CASES[2], AVG_CASES[4]])
def test_reference_avg_backward_fd(rng, case):
    shape, k, s, p, ceil, cip, div = case
    x = rng.standard_normal(shape)
    y = ref.avg_pool2d_forward(x, k, s, p, ceil, cip, div)
    dy = rng.standard_normal(y.shape)
    num = numeric_grad(lambda v: ref.avg_pool2d_forward(v, k, s, p, ceil, cip, div), x, dy=dy)
    np.testing.assert_allclose(ref.avg_pool2d_backward(dy, shape, k, s, p, ceil, cip, div), num, atol=1e-5, rtol=1e-3)


def test_reference_adaptive_backward_fd(rng):
    x = rng.standard_normal((1, 2, 7, 5))
    dy = rng.standard_normal((1, 2, 3, 4))
    num = numeric_grad(lambda v: ref.adaptive_avg_pool2d_forward(v, (3, 4)), x, dy=dy)
    np.testing.assert_allclose(ref.adaptive_avg_pool2d_backward(dy, x.shape), num, atol=1e-5, rtol=1e-3)


# ---- C++ kernels vs the references ------------------------------------------------------

@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_vs_reference(isa, threads, rng, case):
    shape, k, s, p, d, ceil = case
    x = _distinct(rng, shape)
    y, idx = _C.max_pool2d_forward(x, k, s, p, d, ceil)
    ry, ridx = ref.max_pool2d_forward(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y, ry)  # max is exact
    np.testing.assert_array_equal(idx, ridx)
    dy = rng.integers(-4, 5, size=y.shape).astype(np.float32)
    dx = _C.max_pool2d_backward(dy, idx, shape, k, s, p, d, ceil)
    np.testing.assert_array_equal(dx, ref.max_pool2d_backward(dy, ridx, shape).astype(np.float32))


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d_vs_reference(isa, threads, rng, case):
    shape, k, s, p, ceil, cip, div = case
    x = rng.standard_normal(shape).astype(np.float32)
    y = _C.avg_pool2d_forward(x, k, s, p, ceil, cip, div)
    tol = 1e-6 * np.sqrt(k[0] * k[1]) + 1e-6
    np.testing.assert_allclose(y, ref.avg_pool2d_forward(x, k, s, p, ceil, cip, div), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = _C.avg_pool2d_backward(dy, shape, k, s, p, ceil, cip, div)
    np.testing.assert_allclose(dx, ref.avg_pool2d_backward(dy, shape, k, s, p, ceil, cip, div), rtol=tol, atol=tol)


def test_avg_pool2d_exact_tier(isa, rng):
    """Integer inputs and divisor_override=1: window sums are exact."""
    x = rng.integers(-4, 5, size=(2, 3, 9, 8)).astype(np.float32)
    args = ((3, 2), (2, 1), (1, 1), True, True, 1)
    np.testing.assert_array_equal(_C.avg_pool2d_forward(x, *args),
                                  ref.avg_pool2d_forward(x, *args).astype(np.float32))
    dy = rng.integers(-4, 5, size=_C.avg_pool2d_forward(x, *args).shape).astype(np.float32)
    np.testing.assert_array_equal(_C.avg_pool2d_backward(dy, x.shape, *args),
                                  ref.avg_pool2d_backward(dy, x.shape, *args).astype(np.float32))


@pytest.mark.parametrize("case", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d_vs_reference(isa, threads, rng, case):
    shape, out = case
    x = rng.standard_normal(shape).astype(np.float32)
    y = _C.adaptive_avg_pool2d_forward(x, out)
    tol = 1e-6 * np.sqrt(shape[2] * shape[3]) + 1e-6
    np.testing.assert_allclose(y, ref.adaptive_avg_pool2d_forward(x, out), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(_C.adaptive_avg_pool2d_backward(dy, shape), ref.adaptive_avg_pool2d_backward(dy, shape),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("Wd", [1, 7, 8, 9, 15, 16, 17, 33])
def test_max_pool2d_widths_around_simd_tile(isa, rng, Wd):
    x = _distinct(rng, (2, 2, 6, Wd + 1))
    for args in (((2, 2), (2, 2), (0, 0), (1, 1), False), ((2, 2), (2, 2), (0, 0), (1, 1), True),
                 ((3, 3), (1, 1), (1, 1), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True),
                 ((2, 4), (3, 3), (1, 2), (1, 1), True)):  # the 8-lane window plane: edges, ceil
        y, idx = _C.max_pool2d_forward(x, *args)
        ry, ridx = ref.max_pool2d_forward(x, *args)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)


# ---- NaN and -inf windows ---------------------------------------------------------------

@pytest.mark.parametrize("args", [((2, 2), (2, 2), (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True)])
def test_max_pool2d_nan_and_inf_windows(isa, rng, args):
    x = _distinct(rng, (1, 2, 6, 38))  # wide enough for the 8-output SIMD rows
    x[0, 0, 0, 1] = np.nan          # one NaN in a window
    x[0, 0, 0, 4] = np.nan          # a NaN first tap followed by finite taps
    x[0, 0, 5, rng.choice(38, 9, replace=False)] = np.nan   # scattered NaNs
    x[0, 1, 3, 20:24] = -np.inf
    x[0, 0, 2:4, 2:4] = np.nan      # an all-NaN window
    x[0, 1, 0:2, 0:2] = -np.inf     # an all -inf window
    x[0, 1, 4, 4] = np.inf
    y, idx = _C.max_pool2d_forward(x, *args)
    ry, ridx = ref.max_pool2d_forward(x, *args)
    np.testing.assert_array_equal(y, ry)  # NaN == NaN here
    np.testing.assert_array_equal(idx, ridx)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 1, 0, 0] == -np.inf
    assert idx.min() >= 0 and idx.max() < 6 * 38
    dx = _C.max_pool2d_backward(np.ones_like(y), idx, x.shape, *args)  # must stay in bounds
    np.testing.assert_array_equal(dx, ref.max_pool2d_backward(np.ones_like(y), ridx, x.shape).astype(np.float32))
    torch = pytest.importorskip("torch")
    ty, ti = torch.nn.functional.max_pool2d(torch.tensor(x, requires_grad=True), *args, return_indices=True)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, ti.numpy())


def test_max_pool2d_backward_ignores_out_of_plane_indices():
    dy = np.ones((1, 1, 2, 2), np.float32)
    idx = np.array([[[[-1, 0], [100, 3]]]], np.int64)
    dx = _C.max_pool2d_backward(dy, idx, (1, 1, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert dx.sum() == 2 and dx[0, 0, 0, 0] == 1 and dx[0, 0, 0, 3] == 1


# ---- fastdl vs PyTorch -------------------------------------------------------------------

@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_matches_torch(rng, case):
    torch = torch_or_skip()
    shape, k, s, p, d, ceil = case
    x = _distinct(rng, shape)
    xt = fastdl.tensor(x, requires_grad=True)
    layer = nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)
    y = layer(xt)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)(tx)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    _, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    _, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(idx.data, tidx.numpy())


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d_matches_torch(rng, case):
    torch = torch_or_skip()
    shape, k, s, p, ceil, cip, div = case
    x = rng.standard_normal(shape).astype(np.float32)
    xt = fastdl.tensor(x, requires_grad=True)
    y = nn.AvgPool2d(k, s, p, ceil, cip, div)(xt)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.AvgPool2d(k, s, p, ceil, cip, div)(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ADAPTIVE_CASES + [((3, 7, 9), (2, 3)), ((2, 3, 7, 9), (None, 4)), ((2, 3, 6, 6), 1)])
def test_adaptive_avg_pool2d_matches_torch(rng, case):
    torch = torch_or_skip()
    shape, out = case
    x = rng.standard_normal(shape).astype(np.float32)
    xt = fastdl.tensor(x, requires_grad=True)
    y = nn.AdaptiveAvgPool2d(out)(xt)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.AdaptiveAvgPool2d(out)(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_pooling_unbatched_and_empty_batch(rng):
    torch = torch_or_skip()
    x = _distinct(rng, (3, 6, 7))
    y = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.data, torch.nn.functional.max_pool2d(torch.tensor(x), 2).numpy())
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 2, 1).data,
                               torch.nn.functional.avg_pool2d(torch.tensor(x), 3, 2, 1).numpy(), rtol=1e-6, atol=1e-6)
    for fn, out in ((lambda t: F.max_pool2d(t, 2), (0, 3, 3, 3)), (lambda t: F.avg_pool2d(t, 2), (0, 3, 3, 3)),
                    (lambda t: F.adaptive_avg_pool2d(t, 2), (0, 3, 2, 2))):
        xt = fastdl.tensor(np.zeros((0, 3, 6, 7), np.float32), requires_grad=True)
        y = fn(xt)
        assert y.shape == out
        y.backward(np.zeros(out, np.float32))
        assert xt.grad.shape == (0, 3, 6, 7)


def test_pool_reprs():
    assert repr(nn.MaxPool2d(3, 2, 1)) == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"


# ---- bad inputs -------------------------------------------------------------------------

X = np.zeros((1, 2, 5, 5), np.float32)


@pytest.mark.parametrize("fn, exc, match", [
    (lambda: F.max_pool2d(np.zeros((5, 5)), 2), ValueError, r"expected 3-D .* or 4-D .*got shape \(5, 5\)"),
    (lambda: F.max_pool2d(X, 7), ValueError,
     r"max_pool2d: input 5x5 .* input 5 with kernel 7, padding 0, stride 7, dilation 1 gives output size 0.*"
     r"input shape \(1, 2, 5, 5\)"),
    (lambda: F.max_pool2d(X, 2, stride=0), ValueError, r"stride must be >= 1"),
    (lambda: F.max_pool2d(X, 2, dilation=0), ValueError, r"dilation must be >= 1"),
    (lambda: F.max_pool2d(X, 2, padding=-1), ValueError, r"padding must be >= 0"),
    (lambda: F.max_pool2d(X, 3, padding=2), ValueError, r"padding should be at most half of kernel size"),
    (lambda: F.max_pool2d(X, 0), ValueError, r"kernel_size must be >= 1"),
    (lambda: F.max_pool2d(None, 2), TypeError, r"input must be a Tensor or an array"),
    (lambda: F.avg_pool2d(X, 2, padding=2), ValueError, r"padding should be at most half"),
    (lambda: F.avg_pool2d(X, 6), ValueError, r"avg_pool2d: input 5x5"),
    (lambda: F.avg_pool2d(X, 2, divisor_override=0), ValueError, r"divisor_override must be non-zero"),
    (lambda: F.adaptive_avg_pool2d(X, 0), ValueError, r"output_size must be >= 1"),
    (lambda: F.adaptive_avg_pool2d(np.zeros((1, 2, 0, 5)), 2), ValueError, r"non-zero height and width"),
    (lambda: F.max_pool2d(X, 2**40, stride=1, padding=2**39 + 10), ValueError, r"padding should be at most half"),
    (lambda: F.max_pool2d(X, 2**63 - 1, padding=2**62 - 1), OverflowError, r"overflow"),
    (lambda: F.max_pool2d(X, 2**63), OverflowError, r"does not fit in int64"),
])
def test_pool_bad_inputs(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_max_pool2d_huge_kernel_and_padding(isa):
    # a 2^40 kernel with 2^39 padding is valid (one window covering the plane): no 2^39-step loops
    x = np.arange(50, dtype=np.float32).reshape(1, 2, 5, 5)
    y, idx = _C.max_pool2d_forward(x, (2**40, 2**40), (2**40, 2**40), (2**39, 2**39), (1, 1), False)
    np.testing.assert_array_equal(y.ravel(), [24, 49])
    np.testing.assert_array_equal(idx.ravel(), [24, 24])
    a = _C.avg_pool2d_forward(x, (2**40, 2**40), (2**40, 2**40), (2**39, 2**39), False, False, None)
    np.testing.assert_allclose(a.ravel(), [12, 37])


def test_pool_backward_bad_shapes():
    with pytest.raises(ValueError, match=r"grad_output: expected shape \(1, 2, 2, 2\)"):
        _C.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float32), np.zeros((1, 2, 2, 2), np.int64), (1, 2, 5, 5),
                               (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(ValueError, match=r"indices: expected shape"):
        _C.max_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), np.zeros((2, 2), np.int64), (1, 2, 5, 5),
                               (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(ValueError, match=r"input_shape must have 4 sizes"):
        _C.avg_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), (2, 5, 5), (2, 2), (2, 2), (0, 0), False, True,
                               None)
