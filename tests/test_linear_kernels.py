"""C++ linear-layer kernels (_C.linear_forward / linear_backward / sum_rows) on both ISA paths
against float64 references, and the no-copy adoption of Linear's fresh gradients."""
import numpy as np
import pytest

import fastdl
from fastdl import _C, nn
from reference import linear as ref
from reference.fd import numeric_grad

EPS = 2.0**-24


def test_reference_backward_matches_finite_differences(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    dy = rng.standard_normal((3, 2))
    dx, dw, db = ref.linear_backward(dy, x, w)
    np.testing.assert_allclose(dx, numeric_grad(lambda v: ref.linear(v, w, b), x, dy=dy), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numeric_grad(lambda v: ref.linear(x, v, b), w, dy=dy), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numeric_grad(lambda v: ref.linear(x, w, v), b, dy=dy), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("M", [0, 1, 7, 8, 9, 255, 256, 257, 600])
@pytest.mark.parametrize("N", [1, 7, 8, 9, 15, 16, 17, 31, 33, 40, 100])
def test_sum_rows_matches_reference(isa, M, N, rng):
    x = (rng.standard_normal((M, N)) * 10 + 3).astype(np.float32)
    out = _C.sum_rows(x)
    assert out.shape == (N,) and out.dtype == np.float32
    exact = x.astype(np.float64).sum(axis=0)
    # float sums over chunks of 256 rows: error <= ~min(M, 256) eps sum|x| (+ the final rounding)
    bound = (min(M, 256) + 2) * EPS * np.abs(x.astype(np.float64)).sum(axis=0) + 1e-30
    assert np.all(np.abs(out - exact) <= bound)


def test_sum_rows_same_bits_on_both_paths_and_threads(rng):
    x = rng.standard_normal((1000, 1100)).astype(np.float32)  # large enough to go parallel
    results = []
    prev_isa, prev_t = fastdl.get_isa(), fastdl.get_num_threads()
    try:
        for isa in ("generic", "avx2", "avx512"):
            if not _C.cpu_supports(isa):
                continue
            fastdl.set_isa(isa)
            for t in (1, 2):
                fastdl.set_num_threads(t)
                results.append(_C.sum_rows(x))
    finally:
        fastdl.set_isa(prev_isa)
        fastdl.set_num_threads(prev_t)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_sum_rows_nan_inf_propagate(isa):
    x = np.ones((20, 9), np.float32)
    x[3, 0] = np.nan
    x[5, 8] = np.inf
    out = _C.sum_rows(x)
    assert np.isnan(out[0]) and np.isinf(out[8]) and np.all(out[1:8] == 20)


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (7, 5, 17), (9, 16, 8), (33, 10, 64), (256, 33, 100), (5, 4, 0),
                                   (0, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_backward_match_reference(isa, threads, M, N, K, bias, rng):
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32) if bias else None
    y = _C.linear_forward(x, w, b)
    assert y.shape == (M, N) and y.dtype == np.float32
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    absb = np.abs(b.astype(np.float64)) if bias else 0.0
    tol = 2 * (K + 2) * EPS * (np.abs(x64) @ np.abs(w64).T + absb) + 1e-30
    assert np.all(np.abs(y - ref.linear(x, w, b)) <= tol)
    dy = rng.standard_normal((M, N)).astype(np.float32)
    dx, dw, db = _C.linear_backward(dy, x, w, True, True, True)
    rdx, rdw, rdb = ref.linear_backward(dy, x, w)
    dy64 = np.abs(dy.astype(np.float64))
    assert np.all(np.abs(dx - rdx) <= 2 * (N + 2) * EPS * (dy64 @ np.abs(w64)) + 1e-30)
    assert np.all(np.abs(dw - rdw) <= 2 * (M + 2) * EPS * (dy64.T @ np.abs(x64)) + 1e-30)
    assert np.all(np.abs(db - rdb) <= (M + 2) * EPS * dy64.sum(axis=0) + 1e-30)
    none = _C.linear_backward(dy, x, w, False, True, False)
    assert none[0] is None and none[2] is None
    np.testing.assert_array_equal(none[1], dw)


def test_linear_kernels_bad_inputs():
    x, w = np.zeros((3, 4), np.float32), np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(2, 4\)"):
        _C.linear_forward(np.zeros((3, 5), np.float32), w)
    with pytest.raises(ValueError, match=r"bias.*\(3,\)"):
        _C.linear_forward(x, w, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"dy.*\(3, 3\)"):
        _C.linear_backward(np.zeros((3, 3), np.float32), x, w)
    with pytest.raises(ValueError, match=r"sum_rows: x.*\(3,\)"):
        _C.sum_rows(np.zeros(3, np.float32))


def test_linear_fresh_gradients_are_adopted_and_accumulate(rng):
    lin = nn.Linear(5, 3)
    x = fastdl.tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    lin(x).backward(g)
    first = lin.weight.grad.data.copy()
    grads = [lin.weight.grad.data, lin.bias.grad.data, x.grad.data]
    for a in grads:  # each leaf owns its own gradient array
        assert a.flags.writeable and a.flags.c_contiguous
        assert not any(np.shares_memory(a, o) for o in grads if o is not a)
        assert not np.shares_memory(a, g)
    lin(x).backward(g)  # second pass accumulates in place
    np.testing.assert_allclose(lin.weight.grad.data, 2 * first, rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, 2 * (g.astype(np.float64) @ lin.weight.data), rtol=1e-5, atol=1e-5)
