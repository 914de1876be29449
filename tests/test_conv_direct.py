"""Direct convolution on the channel-blocked layout (cpp/src/conv_direct) on every ISA level,
against the float64 reference: the reorders bit-exact, forward / backward-data /
backward-weights within the K-scaled bound of docs/kernels.md §4, at the micro-kernel's edges
(output widths around the register tile: 14 pixels on avx512, 6 / 12 on avx2, 4 on generic;
channel counts around the block of 8 / 16; 1, 2 and 3 output-channel blocks), stride 1 / 2,
padding 0-3, kernel 1 / 3 / 5 / 7, dilation, maps down to 1x1; backward-weights bitwise the same
on 1, 2 and 3 threads; and conv2d's engine choice invisible (direct and im2col agree)."""
import os

import numpy as np
import pytest

from fastdl import _C
from reference import conv as rc
from ukernel_cases import ALL_ISAS, T, rand, run
from conftest import on_thread_counts

U = 2.0 ** -24

# (N, C, K, H, W, kernel, stride, padding, dilation)
CASES = (
    (2, 1, 16, 5, 5, 3, 1, 1, 1),
    (1, 3, 17, 7, 15, 3, 1, 1, 1),
    (2, 6, 16, 14, 14, 5, 1, 0, 1),
    (1, 7, 9, 6, 13, 3, 1, 0, 1),
    (1, 8, 8, 4, 14, 1, 1, 0, 1),
    (1, 9, 33, 5, 16, 3, 1, 1, 1),
    (1, 15, 15, 3, 29, 3, 1, 1, 1),
    (1, 16, 32, 4, 28, 3, 1, 1, 1),
    (2, 17, 31, 9, 9, 3, 2, 1, 1),
    (1, 33, 16, 1, 1, 3, 1, 1, 1),
    (1, 16, 16, 2, 2, 7, 1, 3, 1),
    (1, 8, 24, 6, 7, 5, 1, 2, 1),
    (1, 16, 16, 9, 13, 3, 1, 2, 2),
    (1, 6, 16, 6, 27, 5, 2, 2, 1),
    (1, 17, 17, 7, 7, 3, 1, 0, 1),
    (1, 16, 16, 5, 6, 3, 1, 3, 1),
    (2, 16, 48, 3, 12, 5, 1, 2, 1),
    # Edge columns run as one tile across the batch (widths around the register tile: N = 15 / 17
    # / 9 / 29 images), with only their live taps; maps 1x1, 2x2, 4x4; padding up to 3, dilation.
    (15, 16, 64, 2, 2, 3, 1, 1, 1),
    (17, 8, 16, 1, 1, 3, 1, 1, 1),
    (9, 16, 40, 4, 4, 3, 1, 1, 1),
    (29, 7, 33, 1, 3, 5, 1, 2, 1),
    (8, 16, 17, 7, 5, 3, 2, 3, 1),
    (7, 9, 16, 5, 9, 3, 1, 2, 2),
    (6, 3, 8, 160, 160, 3, 1, 1, 1),  # > 4 MB of blocked input: the batch runs in several image groups
)


def dx_supported(k, s, p, d):
    return s == 1 or d == 1


def check(got, want, bound):
    err = np.abs(np.asarray(got, np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"error {err[worst]:.3g} > bound {bound[worst]:.3g} at {worst}"


def case_arrays(case):
    N, C, K, H, W, k, s, p, d = case
    rng = np.random.default_rng(sum(case))
    x, w, b = rand(rng, N, C, H, W), rand(rng, K, C, k, k), rand(rng, K)
    pad, st, dil = (p, p), (s, s), (d, d)
    return x, w, b, st, pad, dil


@pytest.mark.parametrize("case", CASES, ids=lambda c: "N{}C{}K{}_{}x{}_k{}s{}p{}d{}".format(*c))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_direct_forward_backward(isa, case):
    x, w, b, st, pad, dil = case_arrays(case)
    N, C, K, H, W, k, s, p, d = case
    y = run(T.conv_direct_forward, isa, x, w, b, st, pad, dil)
    want = rc.conv2d_forward(x, w, b, st, pad, dil)
    mag = rc.conv2d_forward(np.abs(x), np.abs(w), np.abs(b), st, pad, dil)
    check(y, want, 2 * (C * k * k + 1) * U * mag + 1e-30)
    dy = rand(np.random.default_rng(7), *y.shape)
    need_dx = dx_supported(k, s, p, d)
    dx, dw = run(T.conv_direct_backward, isa, dy, x, w, st, pad, dil, need_dx, True)
    rdx, rdw, _ = rc.conv2d_backward(dy, x, w, st, pad, dil)
    mdx, mdw, _ = rc.conv2d_backward(np.abs(dy), np.abs(x), np.abs(w), st, pad, dil)
    check(dw, rdw, 2 * (N * y.shape[2] * y.shape[3]) * U * mdw + 1e-30)
    if need_dx:
        check(dx, rdx, 2 * (K * k * k) * U * mdx + 1e-30)
    else:
        assert dx is None


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 2, 5), (8, 3, 4), (17, 2, 19), (33, 1, 3)])
def test_direct_reorders(isa, shape):
    vl = run(T.conv_direct_table, isa)["vl"]
    x = rand(np.random.default_rng(0), *shape)
    C, H, W = shape
    got = run(T.conv_direct_to_blocked, isa, x, 2, 1)
    Cb = -(-C // vl)
    want = np.zeros((Cb * vl, H, 2 + W + 1), np.float32)
    want[:C, :, 2:2 + W] = x
    np.testing.assert_array_equal(got, want.reshape(Cb, vl, H, W + 3).transpose(0, 2, 3, 1))
    row = rand(np.random.default_rng(1), Cb, W, vl)
    plain = row.transpose(0, 2, 1).reshape(Cb * vl, W)
    np.testing.assert_array_equal(run(T.conv_direct_row_to_plain, isa, row, C), plain[:C])


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_direct_weight_gradient_is_thread_count_independent(isa):
    x, w, _, st, pad, dil = case_arrays((5, 33, 40, 9, 11, 3, 1, 1, 1))
    dy = rand(np.random.default_rng(3), 5, 40, 9, 11)
    outs = on_thread_counts(lambda: run(T.conv_direct_backward, isa, dy, x, w, st, pad, dil, True, True))
    for dx, dw in outs[1:]:
        np.testing.assert_array_equal(dx, outs[0][0])
        np.testing.assert_array_equal(dw, outs[0][1])


def test_direct_bad_input():
    x = np.zeros((1, 4, 5, 5), np.float32)
    w = np.zeros((8, 4, 3, 3), np.float32)
    dy = np.zeros((1, 8, 2, 2), np.float32)
    with pytest.raises(ValueError, match="backward-data needs stride 1 or dilation 1"):
        T.conv_direct_backward("generic", np.zeros((1, 8, 1, 1), np.float32), x, w, (2, 2), (0, 0), (2, 2), True, True)
    with pytest.raises(ValueError, match="dy"):
        T.conv_direct_backward("generic", dy, x, w, (1, 1), (0, 0), (1, 1), False, True)
    with pytest.raises(ValueError, match="conv_direct_forward"):
        T.conv_direct_forward("generic", x, np.zeros((8, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match="nch"):
        T.conv_direct_row_to_plain("generic", np.zeros((1, 3, 8), np.float32), 9)


@pytest.mark.parametrize("engine", ["im2col", "direct"])
def test_conv2d_engines_agree(engine, monkeypatch):
    """conv2d gives the reference's numbers whichever engine FASTDL_CONV_ENGINE forces."""
    monkeypatch.setenv("FASTDL_CONV_ENGINE", engine)
    x, w, b, st, pad, dil = case_arrays((2, 16, 32, 6, 10, 3, 1, 1, 1))
    y = _C.conv2d_forward(x, w, b, st, pad, dil, 1)
    np.testing.assert_allclose(y, rc.conv2d_forward(x, w, b, st, pad, dil), rtol=1e-4, atol=1e-4)
    dy = rand(np.random.default_rng(5), *y.shape)
    got = _C.conv2d_backward(dy, x, w, st, pad, dil, 1, True, True, True)
    for g, r in zip(got, rc.conv2d_backward(dy, x, w, st, pad, dil)):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-3)
    assert os.environ["FASTDL_CONV_ENGINE"] == engine
