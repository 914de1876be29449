"""The flat convolution engine (cpp/src/conv/conv_flat.cpp, flat_impl.h): stride-1 forward for
few output channels and backward-data for few input channels on zero-padded wide planes.

Each case runs the engine with the kernel table of every ISA level (a level the CPU lacks is a
skip) against the float64 reference, at the register tile's edges: channel counts around the
tile heights (avx512 6, avx2 3, generic 4) and the blocks (1, 3, 6, 7, 8, 9, 15, 16, 17), wide
plane widths around the vector tile (16 x 4 floats on avx512), padding 0-3, dilation, and maps
down to 1x1. Also: the public conv2d picks the engine for LeNet's layers and still matches
the reference, and bad input raises.
"""
import numpy as np
import pytest

import fastdl
from reference import conv as rc
from ukernel_cases import ALL_ISAS, T, rand, run

# (N, C, K, H, W, kernel, padding, dilation)
CASES = [
    (2, 1, 6, 28, 28, (5, 5), (2, 2), (1, 1)),  # LeNet conv1
    (2, 1, 6, 28, 28, (5, 5), (0, 0), (1, 1)),  # LeNet-BN conv1
    (2, 6, 16, 14, 14, (5, 5), (0, 0), (1, 1)),  # LeNet conv2
    (2, 6, 16, 12, 12, (5, 5), (0, 0), (1, 1)),  # LeNet-BN conv2
    (1, 3, 1, 5, 9, (3, 3), (1, 1), (1, 1)),
    (2, 7, 7, 6, 13, (3, 3), (3, 3), (1, 1)),
    (1, 8, 9, 9, 15, (3, 5), (1, 2), (1, 1)),
    (1, 9, 8, 4, 17, (2, 3), (0, 1), (1, 1)),
    (1, 15, 3, 7, 16, (3, 3), (2, 0), (2, 2)),
    (1, 16, 15, 3, 3, (3, 3), (1, 1), (1, 1)),
    (1, 17, 17, 5, 31, (5, 3), (2, 1), (1, 1)),
    (3, 1, 2, 1, 1, (1, 3), (0, 1), (1, 1)),
    (1, 2, 1, 8, 33, (1, 7), (0, 3), (1, 1)),
    (1, 3, 6, 11, 47, (7, 7), (3, 3), (1, 1)),
]


def _bound(x, w, stride, padding, dilation, reduce):
    absref = rc.conv2d_forward(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), None, stride, padding,
                               dilation)
    return 2e-7 * (reduce + 4) * absref + 1e-30


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_flat_forward(isa, case):
    N, C, K, H, W, kernel, padding, dilation = CASES[case]
    rng = np.random.default_rng(case)
    x, w, b = rand(rng, N, C, H, W), rand(rng, K, C, *kernel), rand(rng, K)
    want = rc.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (1, 1), padding,
                             dilation)
    got = run(T.conv_flat, isa, x, w, b, padding, dilation)
    assert got.shape == want.shape
    bound = _bound(x, w, (1, 1), padding, dilation, C * kernel[0] * kernel[1]) + 2e-7 * np.abs(b)[:, None, None]
    assert np.all(np.abs(got - want) <= bound)
    got = run(T.conv_flat, isa, x, w, None, padding, dilation)
    want0 = want - b[:, None, None].astype(np.float64)
    assert np.all(np.abs(got - want0) <= bound + 4e-7 * np.abs(b)[:, None, None])


def _backward_arrays(case, seed):
    """x, w and a gradient dy of the stride-1 output for CASES[case]."""
    N, C, K, H, W, kernel, padding, dilation = CASES[case]
    rng = np.random.default_rng(seed + case)
    x, w = rand(rng, N, C, H, W), rand(rng, K, C, *kernel)
    P, Q = (rc.out_size(s, k, p, 1, d) for s, k, p, d in zip((H, W), kernel, padding, dilation))
    return x, w, rand(rng, N, K, P, Q)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_flat_backward_data(isa, case):
    N, C, K, H, W, kernel, padding, dilation = CASES[case]
    if any(p > d * (k - 1) for p, d, k in zip(padding, dilation, kernel)):
        pytest.skip("backward-data as a forward needs padding <= dilation * (kernel - 1)")
    x, w, dy = _backward_arrays(case, 100)
    want = rc.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64), (1, 1), padding,
                              dilation)[0]
    absref = rc.conv2d_backward(np.abs(dy).astype(np.float64), x.astype(np.float64), np.abs(w).astype(np.float64),
                                (1, 1), padding, dilation)[0]
    got = run(T.conv_flat, isa, dy, w, None, padding, dilation, True, (H, W))
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= 2e-7 * (K * kernel[0] * kernel[1] + 4) * absref + 1e-30)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_flat_backward_weights(isa, case):
    """Weight gradient over the batch (tiles of output channels x taps around the 4 x 5 / 3 x 3
    tiles, images in L2-sized blocks) against the float64 reference."""
    N, C, K, H, W, kernel, padding, dilation = CASES[case]
    x, w, dy = _backward_arrays(case, 200)
    P, Q = dy.shape[2:]
    want = rc.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64), (1, 1), padding,
                              dilation)[1]
    absref = rc.conv2d_backward(np.abs(dy).astype(np.float64), np.abs(x).astype(np.float64), w.astype(np.float64),
                                (1, 1), padding, dilation)[1]
    got = run(T.conv_flat_dw, isa, dy, x, kernel, padding, dilation)
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= 2e-7 * (N * P * Q + 4) * absref + 1e-30)


def test_flat_dw_many_images():
    """More images than one L2 block: the accumulators carry over between blocks."""
    rng = np.random.default_rng(5)
    x, dy = rand(rng, 300, 6, 12, 12), rand(rng, 300, 16, 8, 8)
    want = rc.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), np.zeros((16, 6, 5, 5)), (1, 1), (0, 0),
                              (1, 1))[1]
    for isa in ALL_ISAS:
        got = run(T.conv_flat_dw, isa, dy, x, (5, 5))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-2)


def test_lenet_layers_through_conv2d(isa, threads):
    """The public conv2d (which picks the flat engine for these shapes) against the reference,
    forward and every gradient, on each ISA level (the conftest fixture sets it) and thread count."""
    rng = np.random.default_rng(7)
    for (C, K, H, pad) in ((1, 6, 28, 2), (1, 6, 28, 0), (6, 16, 14, 0), (6, 16, 12, 0)):
        x, w, b = rand(rng, 3, C, H, H), rand(rng, K, C, 5, 5), rand(rng, K)
        xt = fastdl.tensor(x, requires_grad=True)
        wt = fastdl.tensor(w, requires_grad=True)
        bt = fastdl.tensor(b, requires_grad=True)
        y = fastdl.functional.conv2d(xt, wt, bt, padding=pad)
        want = rc.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (1, 1),
                                 (pad, pad), (1, 1))
        np.testing.assert_allclose(y.data, want, rtol=1e-4, atol=1e-3)
        dy = rand(rng, *want.shape)
        y.backward(fastdl.tensor(dy))
        dx, dw, _ = rc.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64),
                                       (1, 1), (pad, pad), (1, 1))
        np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(wt.grad.numpy(), dw, rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(bt.grad.numpy(), dy.astype(np.float64).sum((0, 2, 3)), rtol=1e-4, atol=1e-3)


def test_flat_bad_input():
    with pytest.raises(ValueError, match=r"conv_flat_dw: dy"):
        T.conv_flat_dw("generic", np.zeros((1, 3, 4, 4), np.float32), np.zeros((1, 2, 5, 5), np.float32), (3, 3))
    x, w = np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv_flat: x"):
        T.conv_flat("generic", np.zeros((2, 5, 5), np.float32), w)
    with pytest.raises(ValueError, match=r"conv_flat: x"):
        T.conv_flat("generic", np.zeros((1, 3, 5, 5), np.float32), w)
    with pytest.raises(ValueError, match=r"conv_flat: b"):
        T.conv_flat("generic", x, w, np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=r"conv_flat: dy"):
        T.conv_flat("generic", np.zeros((1, 3, 4, 4), np.float32), w, None, (0, 0), (1, 1), True, (5, 5))
    with pytest.raises(ValueError, match=r"padding <= dilation"):
        T.conv_flat("generic", np.zeros((1, 3, 9, 9), np.float32), w, None, (3, 3), (1, 1), True, (5, 5))
    with pytest.raises(ValueError, match=r"conv_flat: .*too small"):
        T.conv_flat("generic", np.zeros((1, 2, 2, 2), np.float32), w)


@pytest.mark.parametrize("padding", [(3, 3), (2, 4), (0, 3)])
def test_conv2d_backward_data_with_padding_past_the_kernel(isa, padding):
    """Few input channels, stride 1, padding > dilation * (kernel - 1): the flat engine cannot take
    backward-data (the padded dy would be cropped); whichever engine does, dx is the reference's."""
    from fastdl import _C
    rng = np.random.default_rng(11)
    x, w = rand(rng, 2, 3, 6, 7), rand(rng, 4, 3, 3, 3)
    y = _C.conv2d_forward(x, w, None, (1, 1), padding, (1, 1), 1)
    dy = rand(rng, *y.shape)
    dx, dw, _ = _C.conv2d_backward(dy, x, w, (1, 1), padding, (1, 1), 1, True, True, False)
    rdx, rdw, _ = rc.conv2d_backward(dy, x, w, (1, 1), padding, (1, 1))
    np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, rdw, rtol=1e-4, atol=1e-3)
