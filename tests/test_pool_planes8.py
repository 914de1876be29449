"""Max-pool forward eight planes at a time (pool_avx2.cpp max_planes8: one plane per vector lane,
for planes of at most 256 inputs; NiN's 3x3/2 pools, ResNet's stem pool): the same values and
indices as the float64 reference (max is exact) on every ISA level, at plane counts around the
8-plane group (1, 3, 7, 8, 9, 15, 16, 17, 33), maps from 1x1 to 16x16, padding, dilation,
ceil mode, NaN and -inf windows; bitwise the same on 1, 2 and 3 threads."""
import numpy as np
import pytest

from fastdl import _C
from reference import pool as rp
from conftest import on_thread_counts

# (kernel, stride, padding, dilation, ceil_mode)
WINDOWS = ((3, 2, 0, 1, False), (3, 2, 1, 1, False), (2, 2, 0, 1, True), (3, 1, 1, 2, False), (1, 1, 0, 1, False))
MAPS = ((1, 1), (2, 2), (6, 6), (5, 7), (14, 14), (16, 16))


@pytest.mark.parametrize("planes", [1, 3, 7, 8, 9, 15, 16, 17, 33])
def test_max_pool_small_planes_vs_reference(isa, planes):
    rng = np.random.default_rng(planes)
    for H, W in MAPS:
        x = rng.standard_normal((1, planes, H, W)).astype(np.float32)
        x[0, 0, H // 2, W // 2] = np.nan                 # NaN wins its windows
        x[0, planes // 2] = -np.inf                      # windows of -inf only: index of the first tap
        x[0, planes - 1, :, : (W + 1) // 2] = 1.0         # ties: the first tap in row-major order
        for k, s, p, d, ceil in WINDOWS:
            if d * (k - 1) + 1 > H + 2 * p or d * (k - 1) + 1 > W + 2 * p:
                continue
            args = ((k, k), (s, s), (p, p), (d, d), ceil)
            y, idx = _C.max_pool2d_forward(x, *args)
            ry, ridx = rp.max_pool2d_forward(x, *args)
            np.testing.assert_array_equal(y, ry, err_msg=f"{H}x{W} {args}")
            np.testing.assert_array_equal(idx, ridx, err_msg=f"{H}x{W} {args}")


def test_max_pool_small_planes_thread_count_independence():
    x = np.random.default_rng(5).standard_normal((7, 45, 14, 14)).astype(np.float32)
    outs = on_thread_counts(lambda: _C.max_pool2d_forward(x, (3, 3), (2, 2), (0, 0), (1, 1), False))
    for y, idx in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        np.testing.assert_array_equal(idx, outs[0][1])
