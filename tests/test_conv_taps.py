"""conv2d skips kernel taps that fall in the zero padding for every output position (issue 9):
3x3 convolutions on 1x1 maps run as 1x1 convolutions on the centre tap, 3x3 stride 2 on 2x2 maps
on a 2x2 slice, and so on. Forward and every gradient (dw zero outside the live taps) against the
float64 reference, bitwise on small-integer inputs, on every ISA level and thread count."""
import numpy as np
import pytest

from fastdl import _C
from reference import conv as ref

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = [
    (3, 5, 1, 1, 7, 3, 3, (1, 1), (1, 1), (1, 1), 1),    # ResNet stage 5: centre tap only
    (2, 4, 2, 2, 6, 3, 3, (2, 2), (1, 1), (1, 1), 1),    # 3x3/2 on 2x2 -> 1x1: taps 1..2
    (2, 3, 1, 2, 4, 5, 5, (1, 1), (2, 2), (1, 1), 1),    # 5x5 on 1x2: rows 2, columns 1..3 live
    (2, 4, 1, 1, 4, 7, 7, (2, 2), (3, 3), (1, 1), 2),    # 7x7 on 1x1, groups 2
    (2, 2, 2, 3, 3, 3, 3, (1, 1), (2, 2), (2, 2), 1),    # dilation 2
    (1, 3, 1, 9, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),    # one row: only kernel row 1 is live
    (2, 3, 3, 1, 2, 3, 1, (2, 1), (1, 0), (1, 1), 1),    # non-square kernel
    (2, 2, 2, 2, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),    # 2x2 stride 1: every tap is live (no trim)
    (1, 1, 1, 1, 2, 1, 1, (4, 4), (2, 2), (1, 1), 1),    # 1x1 kernel, padding only: falls back
]
IDS = [f"N{c[0]}C{c[1]}H{c[2]}W{c[3]}K{c[4]}R{c[5]}S{c[6]}s{c[7][0]}p{c[8][0]}d{c[9][0]}g{c[10]}" for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_padding_taps_exact(isa, threads, rng, case):
    N, C, H, W, K, R, S, st, pd, dl, g = case

    def draw(shape):
        return rng.integers(-4, 5, size=shape).astype(np.float32)

    x, w, b = draw((N, C, H, W)), draw((K, C // g, R, S)), draw((K,))
    y = _C.conv2d_forward(x, w, b, st, pd, dl, g)
    np.testing.assert_array_equal(y, ref.conv2d_forward(x, w, b, st, pd, dl, g).astype(np.float32))
    dy = draw(y.shape)
    got = _C.conv2d_backward(dy, x, w, st, pd, dl, g)
    for name, a, e in zip(("dx", "dw", "db"), got, ref.conv2d_backward(dy, x, w, st, pd, dl, g)):
        np.testing.assert_array_equal(a, e.astype(np.float32), err_msg=name)
