"""The fused Conv2d + ReLU (conv2d_forward(relu=True), conv2d_backward(relu_output=...),
F.conv2d_relu, the (Conv2d, ReLU) fusion rule; cpp/src/conv/conv_epilogue.cpp) and NiN's 1x1
convolutions (the GEMM per image, no im2col).

1x1 layers against the float64 reference within the K-scaled bound of docs/kernels.md §4 on every
ISA level, at channel counts around the register tiles (1, 3, 7, 8, 9, 15, 16, 17, 33), maps down
to 1x1, image folds and depth past one GEMM block; the fused layer bitwise equal to conv2d
followed by relu (and relu's backward before conv2d's) on every engine (direct, flat, im2col, tap
classes, groups), forward and every gradient, and bitwise the same on 1, 2 and 3 threads."""
import numpy as np
import pytest

import fastdl
import fastdl.functional as F
from fastdl import _C, nn
from fastdl.nn import fusion
from reference import conv as rc
from test_fusion import _assert_fusion_is_bitwise
from ukernel_cases import rand
from conftest import on_thread_counts

U = 2.0 ** -24
ONE = (1, 1)
ZERO = (0, 0)

# (N, C, K, H, W)
CASES = (
    (2, 1, 1, 1, 1), (3, 3, 7, 2, 2), (2, 8, 9, 3, 5), (4, 9, 8, 6, 6), (2, 15, 16, 1, 1),
    (3, 16, 17, 2, 3), (2, 17, 33, 5, 5), (5, 33, 15, 14, 14),  # 5*196 columns: two column blocks
    (2, 600, 7, 3, 3),    # depth 600: two depth blocks of the forward
    (40, 5, 12, 4, 4),    # 640 columns of depth in the weight gradient: two blocks
    (64, 24, 24, 1, 1),   # one column per image
)


def check(got, want, bound):
    err = np.abs(np.asarray(got, np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"error {err[worst]:.3g} > bound {bound[worst]:.3g} at {worst}"


def arrays(case, seed=0):
    N, C, K, H, W = case
    rng = np.random.default_rng(seed + sum(case))
    return rand(rng, N, C, H, W), rand(rng, K, C, 1, 1), rand(rng, K), rand(rng, N, K, H, W)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "N{}C{}K{}_{}x{}".format(*c))
def test_1x1_and_fused_relu_vs_reference(isa, case):
    x, w, b, dy = arrays(case)
    N, C, K, H, W = case
    y = _C.conv2d_forward(x, w, b, ONE, ZERO, ONE, 1)
    check(y, rc.conv2d_forward(x, w, b), 2 * (C + 1) * U * rc.conv2d_forward(np.abs(x), np.abs(w), np.abs(b)) + 1e-30)
    dx, dw, db = _C.conv2d_backward(dy, x, w, ONE, ZERO, ONE, 1)
    rdx, rdw, rdb = rc.conv2d_backward(dy, x, w)
    mdx, mdw, mdb = rc.conv2d_backward(np.abs(dy), np.abs(x), np.abs(w))
    check(dx, rdx, 2 * K * U * mdx + 1e-30)
    check(dw, rdw, 2 * N * H * W * U * mdw + 1e-30)
    check(db, rdb, 2 * N * H * W * U * mdb + 1e-30)
    only_dx = _C.conv2d_backward(dy, x, w, ONE, ZERO, ONE, 1, True, False, False)
    only_dw = _C.conv2d_backward(dy, x, w, ONE, ZERO, ONE, 1, False, True, False)
    np.testing.assert_array_equal(only_dx[0], dx)
    np.testing.assert_array_equal(only_dw[1], dw)
    # the fused ReLU: the same as relu after the convolution, and relu's backward before it
    yr = _C.conv2d_forward(x, w, b, ONE, ZERO, ONE, 1, relu=True)
    np.testing.assert_array_equal(yr, _C.relu_forward(y))
    got = _C.conv2d_backward(dy, x, w, ONE, ZERO, ONE, 1, relu_output=yr)
    for g, r in zip(got, _C.conv2d_backward(_C.relu_backward(dy, yr), x, w, ONE, ZERO, ONE, 1)):
        np.testing.assert_array_equal(g, r)


def test_fused_relu_thread_count_independence():
    x, w, b, dy = arrays((9, 33, 40, 14, 14))
    def fused():
        y = _C.conv2d_forward(x, w, b, ONE, ZERO, ONE, 1, relu=True)
        return (y, *_C.conv2d_backward(dy, x, w, ONE, ZERO, ONE, 1, relu_output=y))

    outs = on_thread_counts(fused)
    for got in outs[1:]:
        for g, r in zip(got, outs[0]):
            np.testing.assert_array_equal(g, r)


# (x shape, weight shape, stride, padding): one layer per engine conv2d picks
ENGINE_CASES = {
    "1x1": ((3, 8, 5, 5), (9, 8, 1, 1), 1, 0),
    "direct": ((2, 16, 7, 7), (16, 16, 3, 3), 1, 1),
    "im2col_1x1_s2": ((2, 8, 6, 6), (5, 8, 1, 1), 2, 0),
    "flat": ((3, 1, 12, 12), (6, 1, 5, 5), 1, 0),
    "tap_classes": ((2, 16, 2, 2), (8, 16, 3, 3), 1, 1),
    "groups": ((2, 6, 5, 5), (4, 3, 3, 3), 1, 1),
}


@pytest.mark.parametrize("name", list(ENGINE_CASES))
def test_conv2d_relu_bitwise_equal_to_the_chain(isa, name):
    xs, ws, s, p = ENGINE_CASES[name]
    rng = np.random.default_rng(len(name))
    groups = xs[1] // ws[1]
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.3).astype(np.float32)
    b = (rng.standard_normal(ws[0]) * 0.3).astype(np.float32)
    x[0, 0, 0, 0] = np.nan  # NaN outputs stay NaN, and pass their gradient (relu's rule)
    results = []
    for fused in (True, False):
        xt, wt, bt = (fastdl.tensor(a, requires_grad=True) for a in (x, w, b))
        if fused:
            y = F.conv2d_relu(xt, wt, bt, s, p, 1, groups)
        else:
            y = F.relu(F.conv2d(xt, wt, bt, s, p, 1, groups))
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        y.backward(dy)
        results.append([y.data, xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()])
    for g, r in zip(*results):
        np.testing.assert_array_equal(g, r)
    assert np.isnan(results[0][0]).any() and (results[0][0] >= 0)[~np.isnan(results[0][0])].all()


def test_conv2d_relu_unbatched_same_padding_and_no_bias():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((5, 4, 2, 2)).astype(np.float32)
    for bias in (None, rng.standard_normal(5).astype(np.float32)):
        np.testing.assert_array_equal(F.conv2d_relu(x, w, bias, padding="same").data,
                                      F.relu(F.conv2d(x, w, bias, padding="same")).data)


def test_relu_output_is_checked():
    x, w, b, dy = arrays((2, 3, 4, 2, 2))
    with pytest.raises(ValueError, match="relu_output"):
        _C.conv2d_backward(dy, x, w, ONE, ZERO, ONE, 1, relu_output=np.zeros((2, 4, 2, 3), np.float32))


def test_conv_relu_fusion_rule_nin(isa):
    # the rule table fuses NiN's (Conv2d, ReLU) pairs: bitwise the layers run one by one
    assert fusion.RULES[(nn.Conv2d, nn.ReLU)] is not None
    _assert_fusion_is_bitwise(fastdl.models.nin, (3, 1, 28, 28), np.random.default_rng(0), modes=(False,))
