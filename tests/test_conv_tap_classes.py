"""Convolutions on small output maps by classes of output positions (cpp/src/conv/tap_classes.cpp):
conv2d takes this engine for output maps of at most 4 positions where some tap lies in the
padding (ResNet-18's 2x2 stage at 28x28). Forward, backward-data and backward-weights against the
float64 reference within the K-scaled bound of docs/kernels.md §4, on every ISA level (the GEMM
under it differs), at channel counts around the vector widths, stride 1 / 2 / 3, padding up to
the kernel, outputs that see only padding (the bias alone), batch chunks; bitwise the same on 1,
2 and 3 threads; and the same numbers as the im2col engine forced by FASTDL_CONV_ENGINE."""
import numpy as np
import pytest

from fastdl import _C
from reference import conv as rc
from ukernel_cases import rand
from conftest import on_thread_counts

U = 2.0 ** -24

# (N, C, K, H, W, kernel, stride, padding): every output map has <= 4 positions
CASES = (
    (2, 16, 16, 2, 2, 3, 1, 1),    # ResNet-18's 2x2 stage: four classes of 4 live taps
    (3, 17, 9, 4, 4, 3, 2, 1),     # stride 2 onto 2x2
    (2, 8, 24, 3, 3, 5, 2, 2),     # 5x5 / 2 onto 2x2
    (1, 33, 8, 2, 2, 7, 1, 3),     # 7x7 on a 2x2 map
    (2, 3, 16, 1, 2, 3, 1, 1),     # a 1x2 map
    (4, 1, 7, 4, 1, 3, 2, 1),      # 2x1, one input channel
    (3, 15, 1, 1, 1, 3, 1, 1),     # one output channel; 1x1 (trimmed to the centre first)
    (2, 6, 5, 3, 2, 3, 3, 2),      # stride 3
    (2, 4, 3, 1, 1, 1, 2, 1),      # 1x1 kernel with padding: every output sees only padding
)


def case_arrays(case, seed=0):
    N, C, K, H, W, k, s, p = case
    rng = np.random.default_rng(seed + sum(case))
    return rand(rng, N, C, H, W), rand(rng, K, C, k, k), rand(rng, K), (s, s), (p, p)


def check(got, want, bound):
    err = np.abs(np.asarray(got, np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"error {err[worst]:.3g} > bound {bound[worst]:.3g} at {worst}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: "N{}C{}K{}_{}x{}_k{}s{}p{}".format(*c))
def test_small_map_conv_vs_reference(isa, threads, case):
    x, w, b, st, pad = case_arrays(case)
    N, C, K, H, W, k, s, p = case
    d = (1, 1)
    y = _C.conv2d_forward(x, w, b, st, pad, d, 1)
    want = rc.conv2d_forward(x, w, b, st, pad, d)
    mag = rc.conv2d_forward(np.abs(x), np.abs(w), np.abs(b), st, pad, d)
    check(y, want, 2 * (C * k * k + 1) * U * mag + 1e-30)
    dy = rand(np.random.default_rng(7), *y.shape)
    dx, dw, db = _C.conv2d_backward(dy, x, w, st, pad, d, 1, True, True, True)
    rdx, rdw, rdb = rc.conv2d_backward(dy, x, w, st, pad, d)
    mdx, mdw, mdb = rc.conv2d_backward(np.abs(dy), np.abs(x), np.abs(w), st, pad, d)
    check(dx, rdx, 2 * (K * k * k) * U * mdx + 1e-30)
    check(dw, rdw, 2 * (N * y.shape[2] * y.shape[3]) * U * mdw + 1e-30)
    check(db, rdb, 2 * (N * y.shape[2] * y.shape[3]) * U * mdb + 1e-30)
    # each gradient alone (the others not requested) is the same
    only_dx = _C.conv2d_backward(dy, x, w, st, pad, d, 1, True, False, False)
    only_dw = _C.conv2d_backward(dy, x, w, st, pad, d, 1, False, True, False)
    np.testing.assert_array_equal(only_dx[0], dx)
    np.testing.assert_array_equal(only_dw[1], dw)
    assert only_dx[1] is None and only_dw[0] is None


def test_outputs_seeing_only_padding_are_the_bias():
    x, w, b, st, pad = case_arrays((2, 4, 3, 1, 1, 1, 2, 1))
    y = _C.conv2d_forward(x, w, b, st, pad, (1, 1), 1)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], y.shape))
    dx, dw, _ = _C.conv2d_backward(np.ones_like(y), x, w, st, pad, (1, 1), 1, True, True, True)
    assert not dx.any() and not dw.any()


def test_outputs_seeing_only_padding_on_a_fresh_thread():
    # no live tap: an empty scratch request on a thread whose scratch arena is still unmapped
    import threading
    x, w, b, st, pad = case_arrays((2, 4, 3, 1, 1, 1, 2, 1))
    got = {}

    def run():
        try:
            got["y"] = _C.conv2d_forward(x, w, b, st, pad, (1, 1), 1)
            got["grads"] = _C.conv2d_backward(np.ones_like(got["y"]), x, w, st, pad, (1, 1), 1, True, True, True)
        except Exception as e:  # reported below, not swallowed
            got["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert "error" not in got, got.get("error")
    np.testing.assert_array_equal(got["y"], np.broadcast_to(b[None, :, None, None], got["y"].shape))
    assert not got["grads"][0].any() and not got["grads"][1].any()


def test_batch_chunks_and_thread_count_independence():
    # 300 images of 256 channels: two image chunks per class (fixed by the shape: 1 MB columns)
    case = (300, 256, 16, 2, 2, 3, 1, 1)
    x, w, b, st, pad = case_arrays(case)
    dy = rand(np.random.default_rng(3), 300, 16, 2, 2)
    outs = on_thread_counts(lambda: (_C.conv2d_forward(x, w, b, st, pad, (1, 1), 1),
                                     *_C.conv2d_backward(dy, x, w, st, pad, (1, 1), 1, True, True, True)))
    for got in outs[1:]:
        for g, r in zip(got, outs[0]):
            np.testing.assert_array_equal(g, r)
    rdx, rdw, _ = rc.conv2d_backward(dy, x, w, st, pad, (1, 1))
    mdx, mdw, _ = rc.conv2d_backward(np.abs(dy), np.abs(x), np.abs(w), st, pad, (1, 1))
    check(outs[0][1], rdx, 2 * 16 * 9 * U * mdx + 1e-30)
    check(outs[0][2], rdw, 2 * 300 * 4 * U * mdw + 1e-30)


@pytest.mark.parametrize("case", CASES[:4], ids=lambda c: "N{}C{}K{}_{}x{}_k{}s{}p{}".format(*c))
def test_same_numbers_as_im2col(case, monkeypatch):
    x, w, b, st, pad = case_arrays(case)
    y = _C.conv2d_forward(x, w, b, st, pad, (1, 1), 1)
    dy = rand(np.random.default_rng(5), *y.shape)
    got = _C.conv2d_backward(dy, x, w, st, pad, (1, 1), 1, True, True, True)
    monkeypatch.setenv("FASTDL_CONV_ENGINE", "im2col")
    np.testing.assert_allclose(y, _C.conv2d_forward(x, w, b, st, pad, (1, 1), 1), rtol=1e-5, atol=1e-4)
    for g, r in zip(got, _C.conv2d_backward(dy, x, w, st, pad, (1, 1), 1, True, True, True)):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-4)
