"""conv2d: C++ kernels vs the float64 reference (exact and float tiers, both ISAs, 1 and 2
threads), the reference vs finite differences, fastdl vs PyTorch, and the bad-input list."""
import threading

import numpy as np
import pytest

import fastdl
from fastdl import _C
from fastdl import functional as F
from fastdl import nn
from conftest import torch_or_skip
from reference import conv as ref
from reference.fd import numeric_grads

U = 2.0 ** -24

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = [
    (2, 3, 7, 9, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1),     # non-square, same padding
    (3, 4, 8, 8, 8, 3, 3, (2, 2), (1, 1), (2, 2), 4),     # dilation 2, groups 4
    (2, 4, 5, 6, 6, 1, 1, (1, 1), (0, 0), (1, 1), 2),     # pointwise (plain GEMM), groups 2
    (1, 2, 5, 5, 3, 5, 5, (1, 1), (0, 0), (1, 1), 1),     # kernel == input, batch 1
    (2, 3, 9, 7, 5, 2, 3, (3, 4), (1, 0), (1, 1), 1),     # stride larger than the kernel, pad pair
    (2, 6, 6, 5, 6, 3, 3, (1, 2), (1, 1), (1, 1), 6),     # depthwise
    (3, 2, 1, 1, 4, 1, 1, (1, 1), (0, 0), (1, 1), 1),     # 1x1 images
    (2, 2, 6, 6, 3, 1, 1, (2, 2), (0, 0), (1, 1), 1),     # 1x1 strided (im2col path)
    (1, 3, 4, 4, 2, 3, 3, (1, 1), (2, 2), (1, 1), 1),     # padding > needed
    (5, 1, 12, 10, 7, 5, 5, (1, 1), (2, 2), (1, 1), 1),   # LeNet-like first layer, odd K
    # P*Q >= 256: one image per GEMM (the cases above fold several images into one GEMM)
    (3, 3, 18, 17, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (3, 4, 16, 17, 6, 1, 1, (1, 1), (0, 0), (1, 1), 2),   # pointwise, no im2col
    (3, 4, 17, 16, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4),   # depthwise
]
IDS = [f"N{c[0]}C{c[1]}H{c[2]}W{c[3]}K{c[4]}R{c[5]}S{c[6]}s{c[7][0]}{c[7][1]}p{c[8][0]}{c[8][1]}"
       f"d{c[9][0]}g{c[10]}" for c in CASES]


def _make(rng, case, integer=False):
    N, C, H, W, K, R, S, st, pd, dl, g = case
    if integer:  # exact tier: small integers, ~30 % zeros: every partial sum is exact in float32
        def draw(shape):
            v = rng.integers(-4, 5, size=shape).astype(np.float32)
            v[rng.random(shape) < 0.3] = 0
            return v
    else:
        def draw(shape):
            return rng.standard_normal(shape).astype(np.float32)
    x = draw((N, C, H, W))
    w = draw((K, C // g, R, S))
    b = draw((K,))
    P = ref.out_size(H, R, pd[0], st[0], dl[0])
    Q = ref.out_size(W, S, pd[1], st[1], dl[1])
    dy = draw((N, K, P, Q))
    return x, w, b, dy


# ---- the reference itself -------------------------------------------------------------

@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[5]], ids=[IDS[1], IDS[4], IDS[5]])
def test_reference_backward_matches_finite_differences(rng, case):
    N, C, H, W, K, R, S, st, pd, dl, g = case
    case = (1, C, min(H, 6), min(W, 6), K, R, S, st, pd, dl, g) if case is not CASES[1] else case
    x, w, b, dy = (a.astype(np.float64) for a in _make(rng, case))
    st, pd, dl, g = case[7:]
    dx, dw, db = ref.conv2d_backward(dy, x, w, st, pd, dl, g)
    ndx, ndw, ndb = numeric_grads(lambda x_, w_, b_: ref.conv2d_forward(x_, w_, b_, st, pd, dl, g),
                                  [x, w, b], dy=dy)
    np.testing.assert_allclose(dx, ndx, atol=1e-5, rtol=1e-3)
    np.testing.assert_allclose(dw, ndw, atol=1e-5, rtol=1e-3)
    np.testing.assert_allclose(db, ndb, atol=1e-5, rtol=1e-3)


def test_reference_im2col_col2im_are_adjoint(rng):
    x = rng.standard_normal((3, 6, 7))
    args = ((3, 2), (2, 1), (1, 2), (2, 1))
    col = ref.im2col(x, *args)
    c = rng.standard_normal(col.shape)
    # <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose((col * c).sum(), (x * ref.col2im(c, x.shape, *args)).sum(), rtol=1e-12)


# ---- C++ kernels vs the reference -----------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_exact_tier(isa, threads, rng, case):
    """Small-integer inputs: forward and all gradients bitwise equal to the float64 reference."""
    x, w, b, dy = _make(rng, case, integer=True)
    st, pd, dl, g = case[7:]
    y = _C.conv2d_forward(x, w, b, st, pd, dl, g)
    np.testing.assert_array_equal(y, ref.conv2d_forward(x, w, b, st, pd, dl, g).astype(np.float32))
    dx, dw, db = _C.conv2d_backward(dy, x, w, st, pd, dl, g)
    rdx, rdw, rdb = ref.conv2d_backward(dy, x, w, st, pd, dl, g)
    np.testing.assert_array_equal(dx, rdx.astype(np.float32))
    np.testing.assert_array_equal(dw, rdw.astype(np.float32))
    np.testing.assert_array_equal(db, rdb.astype(np.float32))


def _assert_within_bound(got, want, bound_abs, K):
    """|got - want| <= 2 (K + 2) u |A||B| elementwise (Higham's GEMM bound), + a tiny floor."""
    err = np.abs(got.astype(np.float64) - want)
    tol = 2.0 * (K + 2) * U * bound_abs + 1e-30
    assert np.all(err <= tol), f"max err {err.max():.3g}, worst ratio {(err / tol).max():.3g}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_float_tier(isa, threads, rng, case):
    """Random normal inputs: within the K-scaled rounding bound of the float64 reference."""
    x, w, b, dy = _make(rng, case)
    st, pd, dl, g = case[7:]
    N, C, H, W, K, R, S = case[:7]
    P, Q = dy.shape[2:]
    y = _C.conv2d_forward(x, w, b, st, pd, dl, g)
    _assert_within_bound(y, ref.conv2d_forward(x, w, b, st, pd, dl, g),
                         ref.conv2d_forward(np.abs(x), np.abs(w), np.abs(b), st, pd, dl, g), (C // g) * R * S)
    dx, dw, db = _C.conv2d_backward(dy, x, w, st, pd, dl, g)
    rdx, rdw, rdb = ref.conv2d_backward(dy, x, w, st, pd, dl, g)
    adx, adw, adb = ref.conv2d_backward(np.abs(dy), np.abs(x), np.abs(w), st, pd, dl, g)
    _assert_within_bound(dx, rdx, adx, (K // g) * R * S)
    _assert_within_bound(dw, rdw, adw, N * P * Q)
    _assert_within_bound(db, rdb, adb, N * P * Q)


@pytest.mark.parametrize("K", [1, 7, 8, 9, 15, 16, 17, 33])
def test_conv2d_sizes_around_simd_tile(isa, rng, K):
    case = (3, 5, 9, 11, K, 3, 3, (1, 1), (1, 1), (1, 1), 1)
    x, w, b, dy = _make(rng, case, integer=True)
    y = _C.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(y, ref.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1)).astype(np.float32))
    dx, dw, db = _C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1)
    rdx, rdw, rdb = ref.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1))
    np.testing.assert_array_equal(dx, rdx.astype(np.float32))
    np.testing.assert_array_equal(dw, rdw.astype(np.float32))


@pytest.mark.parametrize("args", [((3, 3), (1, 1), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 1), (1, 2)),
                                  ((1, 1), (3, 2), (0, 0), (1, 1)), ((5, 4), (1, 1), (2, 1), (1, 1))])
def test_im2col_col2im_exact(isa, rng, args):
    x = rng.integers(-4, 5, size=(3, 9, 8)).astype(np.float32)
    col = _C.im2col(x, *args)
    np.testing.assert_array_equal(col, ref.im2col(x, *args).astype(np.float32))
    c = rng.integers(-4, 5, size=col.shape).astype(np.float32)
    np.testing.assert_array_equal(_C.col2im(c, x.shape, *args), ref.col2im(c, x.shape, *args).astype(np.float32))


def test_conv2d_backward_is_deterministic_per_thread_count(rng):
    prev = fastdl.get_num_threads()
    try:
        x, w, b, dy = _make(rng, (7, 4, 10, 10, 8, 3, 3, (1, 1), (1, 1), (1, 1), 1))
        for t in (1, 2):
            fastdl.set_num_threads(t)
            a = _C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1)
            c = _C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1)
            for u, v in zip(a, c):
                np.testing.assert_array_equal(u, v)
    finally:
        fastdl.set_num_threads(prev)


def test_conv2d_skips_gradients_not_requested(rng):
    x, w, b, dy = _make(rng, CASES[0])
    dx, dw, db = _C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1, need_input=False, need_bias=False)
    assert dx is None and db is None
    np.testing.assert_allclose(dw, ref.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1))[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads_", [1, 2])
def test_conv2d_empty_batch(threads_):
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(threads_)
    try:
        x = fastdl.tensor(np.zeros((0, 3, 8, 8), np.float32), requires_grad=True)
        conv = nn.Conv2d(3, 5, 3, padding=1)
        conv.weight.grad = None
        y = conv(x)
        assert y.shape == (0, 5, 8, 8)
        y.backward(np.zeros(y.shape, np.float32))
        assert x.grad.shape == (0, 3, 8, 8)
        np.testing.assert_array_equal(conv.weight.grad.data, np.zeros((5, 3, 3, 3), np.float32))
        np.testing.assert_array_equal(conv.bias.grad.data, np.zeros(5, np.float32))
        # the C++ backward overwrites its outputs: no garbage from a previous allocation
        for _ in range(3):
            dx, dw, db = _C.conv2d_backward(np.zeros((0, 5, 8, 8), np.float32), x.data, conv.weight.data,
                                            (1, 1), (1, 1), (1, 1), 1)
            assert not dw.any() and not db.any() and dx.shape == (0, 3, 8, 8)
    finally:
        fastdl.set_num_threads(prev)


def test_conv2d_noncontiguous_and_float64_inputs(rng):
    x, w, b, dy = _make(rng, CASES[0])
    want = _C.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # F-ordered view
    got = F.conv2d(xt, w.astype(np.float64), b[::-1].copy()[::-1], padding=1)
    np.testing.assert_array_equal(got.data, want)


def test_conv2d_concurrent_python_threads(rng):
    """The binding releases the GIL: per-thread workspaces must keep concurrent calls apart."""
    x, w, b, dy = _make(rng, (4, 3, 12, 12, 6, 3, 3, (1, 1), (1, 1), (1, 1), 1))
    want = _C.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    want_b = _C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1)
    errors = []

    def work():
        for _ in range(20):
            if not np.array_equal(_C.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1), want):
                errors.append("forward")
            if not np.array_equal(_C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1)[1], want_b[1]):
                errors.append("backward")

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


# ---- fastdl vs PyTorch ----------------------------------------------------------------

def _tol(K):
    return max(1e-5, 1e-6 * np.sqrt(K)) * 4


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_layer_matches_torch(rng, case, bias):
    torch = torch_or_skip()
    N, C, H, W, K, R, S, st, pd, dl, g = case
    x, w, b, dy = _make(rng, case)
    conv = nn.Conv2d(C, K, (R, S), stride=st, padding=pd, dilation=dl, groups=g, bias=bias)
    tconv = torch.nn.Conv2d(C, K, (R, S), stride=st, padding=pd, dilation=dl, groups=g, bias=bias)
    assert [n for n, _ in conv.named_parameters()] == [n for n, _ in tconv.named_parameters()]
    conv.load_state_dict({k: v.detach().numpy() for k, v in tconv.state_dict().items()})
    xt = fastdl.tensor(x, requires_grad=True)
    y = conv(xt)
    y.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = tconv(tx)
    ty.backward(torch.tensor(dy))
    tol = _tol((C // g) * R * S)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=tol, atol=tol)
    tolw = _tol(N * dy.shape[2] * dy.shape[3])
    np.testing.assert_allclose(conv.weight.grad.data, tconv.weight.grad.numpy(), rtol=tolw, atol=tolw)
    if bias:
        np.testing.assert_allclose(conv.bias.grad.data, tconv.bias.grad.numpy(), rtol=tolw, atol=tolw)


def test_conv2d_unbatched_input_matches_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((3, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    xt = fastdl.tensor(x, requires_grad=True)
    wt = fastdl.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, None, stride=(2, 1), padding=1)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, None, stride=(2, 1), padding=1)
    assert y.shape == tuple(ty.shape)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(wt.grad.data, tw.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_conv2d_init_and_repr():
    fastdl.random.manual_seed(3)
    a = nn.Conv2d(6, 16, 5, groups=2)
    fastdl.random.manual_seed(3)
    b = nn.Conv2d(6, 16, 5, groups=2)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.shape == (16, 3, 5, 5) and a.bias.shape == (16,)
    bound = 1 / np.sqrt(3 * 25)
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.weight.data).max() > 0.9 * bound
    assert np.abs(a.bias.data).max() <= bound
    assert a.weight.data.std() == pytest.approx(bound / np.sqrt(3), rel=0.1)
    assert repr(a) == "Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1), groups=2)"
    assert repr(nn.Conv2d(1, 6, 5, padding=2, bias=False)) == \
        "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)"
    assert nn.Conv2d(2, 2, 1, bias=False).bias is None


# ---- bad inputs (docs/testing.md section 2) -------------------------------------------------

X = np.zeros((1, 3, 5, 5), np.float32)
W3 = np.zeros((2, 3, 3, 3), np.float32)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input=np.zeros((1, 1, 10, 10)), weight=np.zeros((3, 3))), ValueError, r"weight: expected 4-D.*\(3, 3\)"),
    (dict(input=np.zeros((10, 10)), weight=W3), ValueError, r"expected 3-D .* or 4-D .*got shape \(10, 10\)"),
    (dict(input=np.zeros((1, 1, 5, 5)), weight=W3), ValueError,
     r"expected input with 3 channels, got 1.*input shape \(1, 1, 5, 5\), weight shape \(2, 3, 3, 3\)"),
    (dict(input=X, weight=np.zeros((1, 3, 7, 7))), ValueError,
     r"input 5x5 with kernel 7x7.*input 5 with kernel 7, padding 0, stride 1, dilation 1 gives output size -1"),
    (dict(input=X, weight=W3, stride=0), ValueError, r"stride must be >= 1"),
    (dict(input=X, weight=W3, stride=(1, -1)), ValueError, r"stride must be >= 1"),
    (dict(input=X, weight=W3, dilation=0), ValueError, r"dilation must be >= 1"),
    (dict(input=X, weight=W3, padding=-1), ValueError, r"padding must be >= 0"),
    (dict(input=X, weight=np.zeros((2, 1, 3, 3)), groups=2), ValueError, r"expected input with 2 channels, got 3"),
    (dict(input=np.zeros((1, 4, 5, 5)), weight=np.zeros((3, 2, 3, 3)), groups=2), ValueError,
     r"out_channels 3 is not divisible by groups=2"),
    (dict(input=X, weight=W3, groups=0), ValueError, r"groups must be >= 1"),
    (dict(input=X, weight=W3, bias=np.zeros(3)), ValueError, r"bias: expected shape \(2,\), got \(3,\)"),
    (dict(input=X, weight=W3, padding=2**40), OverflowError, r"overflow"),
    (dict(input=X, weight=W3, padding=2**62), OverflowError, r"overflow"),
    (dict(input=X, weight=W3, dilation=2**62), OverflowError, r"overflow"),
    (dict(input=None, weight=W3), TypeError, r"input must be a Tensor or an array"),
    (dict(input=X, weight=W3, stride=1.5), TypeError, r"stride must be an int"),
])
def test_conv2d_bad_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        F.conv2d(**kwargs)


def test_conv2d_backward_bad_grad_shape():
    with pytest.raises(ValueError, match=r"grad_output: expected shape \(1, 2, 3, 3\).*got \(1, 2, 3, 4\)"):
        _C.conv2d_backward(np.zeros((1, 2, 3, 4), np.float32), X, W3, (1, 1), (0, 0), (1, 1), 1)


def test_conv2d_size_check_overflows_before_allocating():
    # > 2^31 elements is fine in int64 (no allocation happens here) ...
    assert _C.conv2d_output_shape((1, 1, 2**16 + 1, 2**15 + 1), (1, 1, 1, 1), (1, 1), (0, 0), (1, 1), 1) == \
        (1, 1, 2**16 + 1, 2**15 + 1)
    assert _C.conv2d_output_shape((2**20, 64, 2**10, 2**10), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1) == \
        (2**20, 64, 2**10, 2**10)
    # ... products over 2^63 bytes raise OverflowError
    with pytest.raises(OverflowError):
        _C.conv2d_output_shape((2**40, 2**20, 2**10, 2**10), (2**20, 1, 1, 1), (1, 1), (0, 0), (1, 1), 2**20)
    with pytest.raises(OverflowError):
        _C.conv2d_output_shape((1, 2**31, 4, 4), (2**31, 2**31, 3, 3), (1, 1), (1, 1), (1, 1), 1)
    with pytest.raises(OverflowError):  # padded size
        _C.conv2d_output_shape((1, 1, 5, 5), (1, 1, 3, 3), (1, 1), (2**62, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="negative"):
        _C.conv2d_output_shape((1, -1, 5, 5), (1, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1)


def test_nn_conv2d_bad_construction():
    with pytest.raises(ValueError, match="in_channels=3 must be divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels=3 must be divisible by groups=2"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        nn.Conv2d(4, 4, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        nn.Conv2d(4, 4, 3, padding=-1)


def test_cpp_output_size_matches_python_conv_output_size():
    """The C++ shape arithmetic (conv and pooling, floor and ceil mode) mirrors
    fastdl.nn.utils.conv_output_size, including which arguments are rejected."""
    from fastdl.nn.utils import conv_output_size

    def py(*a, **k):
        try:
            return conv_output_size(*a, **k)
        except ValueError:
            return None

    for size in (1, 2, 5, 8):
        for kernel in (1, 2, 3, 5):
            for pad in (0, 1, 2):
                for stride in (1, 2, 3):
                    for dil in (1, 2):
                        want = py(size, kernel, pad, stride, dil)
                        try:
                            got = _C.conv2d_output_shape((1, 1, size, 3), (1, 1, kernel, 1), (stride, 1), (pad, 0),
                                                         (dil, 1), 1)[2]
                        except ValueError:
                            got = None
                        assert got == want, (size, kernel, pad, stride, dil)
                        if pad > kernel // 2:
                            continue
                        want = py(size, kernel, pad, stride, dil, ceil_mode=True)
                        x = np.zeros((1, 1, size, 1), np.float32)
                        try:
                            got = _C.max_pool2d_forward(x, (kernel, 1), (stride, 1), (pad, 0), (dil, 1), True)[0].shape[2]
                        except ValueError:
                            got = None
                        assert got == want, ("ceil", size, kernel, pad, stride, dil)
