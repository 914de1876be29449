"""Per-micro-kernel tests of the gemm, linear, conv, pool and batchnorm kernel tables.

Every entry of each family's per-ISA table is reached directly through fastdl._C.testing on every
ISA level (a level the CPU lacks is a skip). Cases are GENERATED from the small tables below
(XNNPACK's test/*.yaml -> tester): GEMM sizes around the register tile MR x NR of THAT level's
table (gemm_table(isa)), depths {1, 7, KC, KC + 1}; pool and batchnorm lengths around the vector
widths; all checked against float64 numpy references.
"""
import numpy as np
import pytest

from reference import conv as rc
from reference import pool as rp
from ukernel_cases import ALL_ISAS, LENGTHS, T, close, rand, run

# Sizes as functions of the tile: full tiles, partial tiles, a one-row/one-column tile.
M_CASES = {"1": lambda t: 1, "MR-1": lambda t: t["mr"] - 1, "MR": lambda t: t["mr"], "MR+1": lambda t: t["mr"] + 1,
           "2MR+3": lambda t: 2 * t["mr"] + 3}
N_CASES = {"1": lambda t: 1, "NR-1": lambda t: t["nr"] - 1, "NR": lambda t: t["nr"], "NR+1": lambda t: t["nr"] + 1,
           "2NR+3": lambda t: 2 * t["nr"] + 3}


def depths(t):
    return (1, 7, t["kc"], t["kc"] + 1)


def table(isa):
    return run(T.gemm_table, isa)


def ref_pack_a(a, mr):
    """Panels of MR rows: element (i, k) of panel p at p*MR*kc + k*MR + i; rows past m are zero."""
    m, k = a.shape
    pad = np.zeros((-(-m // mr) * mr, k), np.float32)
    pad[:m] = a
    return pad.reshape(-1, mr, k).transpose(0, 2, 1).ravel()


def ref_pack_b(b, nr):
    """Panels of NR columns: element (k, j) of panel q at q*NR*kc + k*NR + j; columns past n are zero."""
    k, n = b.shape
    pad = np.zeros((k, -(-n // nr) * nr), np.float32)
    pad[:, :n] = b
    return pad.reshape(k, -1, nr).transpose(1, 0, 2).ravel()


def check_gemm(got, a, b, c, alpha, beta):
    """|got - (alpha*A*B + beta*C)| within a float32 dot-product bound; beta == 0 never reads C."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = alpha * (a64 @ b64) + (beta * c.astype(np.float64) if beta else 0.0)
    bound = abs(alpha) * (np.abs(a64) @ np.abs(b64)) + (abs(beta) * np.abs(c) if beta else 0.0)
    assert np.all(np.isfinite(got)), "NaN/inf in the result (a NaN in C leaked with beta == 0?)"
    assert np.all(np.abs(got - want) <= 2e-6 * (a.shape[1] + 4) * bound + 1e-6)


ALPHA_BETA = ((1.0, 0.0), (0.5, 1.5))  # beta == 0 runs with C full of NaN


def c_for(rng, m, n, beta):
    return np.full((m, n), np.nan, np.float32) if beta == 0 else rand(rng, m, n)


# (operand, size cases, table key of its tile, packer, reference packer, (size, depth) -> shape)
PACKERS = {
    "a": (M_CASES, "mr", T.gemm_pack_a, ref_pack_a, lambda size, k: (size, k)),
    "b": (N_CASES, "nr", T.gemm_pack_b, ref_pack_b, lambda size, k: (k, size)),
}
PACK_CASES = [(op, case) for op in sorted(PACKERS) for case in sorted(PACKERS[op][0])]


@pytest.mark.parametrize("op,case", PACK_CASES)
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_gemm_pack(isa, op, case):
    cases, tile, entry, ref, shape = PACKERS[op]
    t = table(isa)
    size = cases[case](t)
    rng = np.random.default_rng(size)
    for k in depths(t):
        x = rand(rng, *shape(size, k))
        want = ref(x, t[tile])
        np.testing.assert_array_equal(run(entry, isa, x), want)
        np.testing.assert_array_equal(run(entry, isa, np.ascontiguousarray(x.T), trans=True), want)


def macro_entry(isa, t, a, b, c, alpha, beta, _):
    return run(T.gemm_macro, isa, ref_pack_a(a, t["mr"]), ref_pack_b(b, t["nr"]), c, a.shape[1], alpha, beta)


def direct_entry(isa, t, a, b, c, alpha, beta, trans):
    a_in = np.ascontiguousarray(a.T) if trans else a
    return run(T.gemm_direct, isa, a_in, b, c, alpha, beta, trans_a=trans)


# The macro-kernel (on reference-packed panels) and the direct kernel (A read in place, also
# transposed), over the generated tile-edge sizes, two (alpha, beta) cases each.
@pytest.mark.parametrize("ncase", sorted(N_CASES))
@pytest.mark.parametrize("mcase", sorted(M_CASES))
@pytest.mark.parametrize("entry", [macro_entry, direct_entry], ids=["macro", "direct"])
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_gemm_macro_and_direct(isa, entry, mcase, ncase):
    t = table(isa)
    m, n = M_CASES[mcase](t), N_CASES[ncase](t)
    rng = np.random.default_rng(m * 100 + n)
    for k in depths(t):
        a, b = rand(rng, m, k, scale=1.0), rand(rng, k, n, scale=1.0)
        for (alpha, beta), trans in zip(ALPHA_BETA, (False, True)):
            c = c_for(rng, m, n, beta)
            check_gemm(entry(isa, t, a, b, c, alpha, beta, trans), a, b, c, alpha, beta)


# The dot kernel (few columns, lanes along k): rows and columns around its 4 x 4 (avx512) or
# 2 x 4 tile, depths around the vector width (the masked k tail), B in place (trans_b) or
# transposed by the kernel.
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_gemm_dot(isa):
    lanes = table(isa)["lanes"]
    rng = np.random.default_rng(lanes)
    for m, n in [(1, 1), (3, 5), (4, 4), (5, 10), (9, 3), (2, 7)]:
        for k in (1, lanes - 1, lanes, lanes + 1, 4 * lanes + 3):
            a, b = rand(rng, m, k, scale=1.0), rand(rng, k, n, scale=1.0)
            for (alpha, beta), trans in zip(ALPHA_BETA, (False, True)):
                c = c_for(rng, m, n, beta)
                b_in = np.ascontiguousarray(b.T) if trans else b
                check_gemm(run(T.gemm_dot, isa, a, b_in, c, alpha, beta, trans_b=trans), a, b, c, alpha, beta)


def test_gemm_table_and_bad_input():
    t = T.gemm_table("generic")
    assert set(t) == {"mr", "nr", "mc", "kc", "nc", "lanes"} and all(v > 0 for v in t.values())
    with pytest.raises(ValueError, match="ap"):
        T.gemm_macro("generic", np.zeros(3, np.float32), np.zeros(t["nr"], np.float32), np.zeros((1, 1), np.float32), 1)
    with pytest.raises(ValueError, match="gemm_direct"):
        T.gemm_direct("generic", np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="gemm_dot"):
        T.gemm_dot("generic", np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="isa|ISA"):
        T.gemm_table("sse9")


@pytest.mark.parametrize("rows", (1, 7, 9))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_linear_sum_rows(isa, rows):
    rng = np.random.default_rng(rows)
    for n in LENGTHS:
        x = rand(rng, rows, n)
        close(run(T.linear_sum_rows, isa, x), x.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)


# (C, H, W, kernel, stride, padding, dilation): output widths Q around 8 and 16, padding, dilation, 1x1.
CONV_CASES = (
    (1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1)),
    (2, 5, 9, (3, 3), (1, 1), (1, 1), (1, 1)),
    (1, 4, 8, (1, 1), (1, 1), (0, 0), (1, 1)),
    (3, 6, 17, (3, 2), (1, 1), (0, 1), (1, 1)),
    (2, 7, 33, (3, 3), (2, 2), (1, 1), (1, 1)),
    (1, 9, 19, (3, 3), (1, 1), (2, 2), (2, 2)),
    (2, 3, 16, (1, 3), (1, 2), (0, 1), (1, 1)),
)


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_conv_im2col_col2im(isa, case):
    C, H, W, kernel, stride, padding, dilation = CONV_CASES[case]
    rng = np.random.default_rng(case)
    x = rand(rng, C, H, W)
    col = run(T.conv_im2col, isa, x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(col, rc.im2col(x, kernel, stride, padding, dilation))
    dcol = rand(rng, *col.shape)
    close(run(T.conv_col2im, isa, dcol, (C, H, W), kernel, stride, padding, dilation),
          rc.col2im(dcol, (C, H, W), kernel, stride, padding, dilation), rtol=1e-5, atol=1e-5)


# (H, W, kernel, stride, padding, dilation, ceil_mode): output widths around 8 and 16, the 2x2/2 fast path.
POOL_CASES = (
    (2, 2, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (4, 14, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (4, 16, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (5, 35, (2, 2), (2, 2), (0, 0), (1, 1), True),
    # 2x2/2 output widths around the 8-wide average-pool rows: 1, 7, 9, 15, 16, 17 (odd W too)
    (3, 3, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (3, 15, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (4, 18, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (2, 31, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (5, 33, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (2, 34, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (6, 9, (3, 3), (1, 1), (1, 1), (1, 1), False),
    (7, 17, (3, 2), (2, 1), (1, 0), (1, 1), True),
    (8, 20, (2, 3), (1, 1), (0, 1), (2, 2), False),
)


# (K, C, H, W, kernel, stride, padding, dilation): output widths around the vector width (8, 16),
# channels around the 4 x 6 tile, LeNet's two layers, row stride, dilation, 1x1 maps.
DW_SMALL_CASES = [
    (6, 1, 28, 28, (5, 5), (1, 1), (2, 2), (1, 1)),
    (16, 6, 14, 14, (5, 5), (1, 1), (0, 0), (1, 1)),
    (1, 1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1)),
    (5, 3, 9, 7, (3, 3), (1, 1), (1, 1), (1, 1)),
    (7, 2, 6, 17, (3, 2), (2, 1), (0, 3), (1, 1)),
    (4, 1, 11, 19, (3, 3), (1, 1), (2, 1), (2, 2)),
    (9, 1, 5, 33, (7, 7), (3, 1), (3, 3), (1, 1)),
    (3, 3, 4, 8, (1, 3), (1, 1), (0, 1), (1, 1)),
    (2, 1, 3, 16, (3, 3), (1, 1), (1, 1), (1, 2)),
]


@pytest.mark.parametrize("case", range(len(DW_SMALL_CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_conv_dw_small(isa, case):
    """The small weight-gradient kernel against the float64 reference (conv2d_backward of one
    image); beta 0 never reads dw (NaN there stays out), beta 1 adds to it."""
    K, C, H, W, kernel, stride, padding, dilation = DW_SMALL_CASES[case]
    rng = np.random.default_rng(case)
    x = rand(rng, C, H, W)
    w = rand(rng, K, C, *kernel)
    y = rc.conv2d_forward(x[None].astype(np.float64), w.astype(np.float64), None, stride, padding, dilation)
    dy = rand(rng, *y.shape[1:])
    _, ref, _ = rc.conv2d_backward(dy[None].astype(np.float64), x[None].astype(np.float64), w.astype(np.float64),
                                   stride, padding, dilation)
    absref = rc.conv2d_backward(np.abs(dy[None]).astype(np.float64), np.abs(x[None]).astype(np.float64),
                                w.astype(np.float64), stride, padding, dilation)[1]
    bound = 2e-7 * (dy[0].size + 4) * absref + 1e-30  # float32 dot-product error bound
    got = run(T.conv_dw_small, isa, dy, x, np.full(w.shape, np.nan, np.float32), stride, padding, dilation, 0.0)
    assert np.all(np.abs(got - ref) <= bound)
    got = run(T.conv_dw_small, isa, dy, x, w, stride, padding, dilation, 1.0)
    assert np.all(np.abs(got - (ref + w)) <= bound + 2e-7 * np.abs(w))


def test_conv_dw_small_bad_input():
    x, dw = np.zeros((1, 5, 5), np.float32), np.zeros((2, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv_dw_small: dy"):
        T.conv_dw_small("generic", np.zeros((2, 4, 3), np.float32), x, dw)
    with pytest.raises(ValueError, match=r"conv_dw_small: stride_w must be 1"):
        T.conv_dw_small("generic", np.zeros((2, 3, 2), np.float32), x, dw, (1, 2))


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_pool_planes(isa, case):
    H, W, kernel, stride, padding, dilation, ceil = POOL_CASES[case]
    rng = np.random.default_rng(case)
    x = rand(rng, H, W)
    y, idx = run(T.pool_max_plane, isa, x, kernel, stride, padding, dilation, ceil)
    ry, ridx = rp.max_pool2d_forward(x[None, None], kernel, stride, padding, dilation, ceil)
    np.testing.assert_array_equal(y, ry[0, 0])
    np.testing.assert_array_equal(idx, ridx[0, 0])
    dy = rand(rng, *y.shape)
    close(run(T.pool_max_backward_plane, isa, dy, idx, (H, W), kernel, stride, padding, dilation, ceil),
          rp.max_pool2d_backward(dy[None, None], ridx, (1, 1, H, W))[0, 0], rtol=1e-6)
    if dilation == (1, 1):
        for include_pad, divisor in ((True, 0), (False, 0), (True, 3)):
            ref_div = divisor or None
            y = run(T.pool_avg_plane, isa, x, kernel, stride, padding, ceil, include_pad, divisor)
            close(y, rp.avg_pool2d_forward(x[None, None], kernel, stride, padding, ceil, include_pad, ref_div)[0, 0])
            dy = rand(rng, *y.shape)
            close(run(T.pool_avg_backward_plane, isa, dy, (H, W), kernel, stride, padding, ceil, include_pad, divisor),
                  rp.avg_pool2d_backward(dy[None, None], (1, 1, H, W), kernel, stride, padding, ceil, include_pad,
                                         ref_div)[0, 0])
    out = (max(1, H // 2), max(1, W // 3))
    y = run(T.pool_adaptive_avg_plane, isa, x, out)
    close(y, rp.adaptive_avg_pool2d_forward(x[None, None], out)[0, 0])
    dy = rand(rng, *out)
    close(run(T.pool_adaptive_avg_backward_plane, isa, dy, (H, W)),
          rp.adaptive_avg_pool2d_backward(dy[None, None], (1, 1, H, W))[0, 0])


def bn_ref(dy, x, m, a, b, relu):
    """float64: y = (x - m)*a + b (relu: max(y, 0)) and e = dy, or dy*[y > 0] when relu."""
    y = (x - m) * a + b
    e = dy * (y > 0) if relu else dy
    return (np.maximum(y, 0) if relu else y), e


@pytest.mark.parametrize("relu", [False, True], ids=["plain", "relu"])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_batchnorm_entries(isa, n, relu):
    rng = np.random.default_rng(n)
    x, dy = rand(rng, n), rand(rng, n)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    s, ss = run(T.batchnorm_row_stats, isa, x)
    close([s, ss], [x64.sum(), (x64 * x64).sum()], rtol=1e-6, atol=1e-5)
    s, ss = run(T.batchnorm_col_stats, isa, x)
    close(s, x64)
    close(ss, x64 * x64)
    # row entries: scalar coefficients
    m, a, b, k1, k2, k3 = 0.25, 1.5, -0.5, 0.7, -0.3, 0.1
    y, e = bn_ref(dy64, x64, m, a, b, relu)
    close(run(T.batchnorm_row_affine, isa, x, m, a, b, relu), y, rtol=1e-5, atol=1e-5)
    sdy, sdx = run(T.batchnorm_row_bwd_stats, isa, dy, x, m, a, b, relu)
    close([sdy, sdx], [e.sum(), (e * (x64 - m)).sum()], rtol=1e-5, atol=1e-4)
    close(run(T.batchnorm_row_bwd_dx, isa, dy, x, m, a, b, relu, k1, k2, k3), k1 * e + k2 * (x64 - m) + k3,
          rtol=1e-5, atol=1e-5)
    # col entries: one coefficient per element
    mv, av, bv, k1v, k2v, k3v = (rand(rng, n, scale=1.0) for _ in range(6))
    cm, ca, cb = (v.astype(np.float64) for v in (mv, av, bv))
    y, e = bn_ref(dy64, x64, cm, ca, cb, relu)
    close(run(T.batchnorm_col_affine, isa, x, mv, av, bv, relu), y, rtol=1e-5, atol=1e-5)
    sdy, sdx = run(T.batchnorm_col_bwd_stats, isa, dy, x, mv, av, bv, relu)
    close(sdy, e, rtol=1e-6)
    close(sdx, e * (x64 - cm), rtol=1e-5, atol=1e-5)
    want = k1v.astype(np.float64) * e + k2v.astype(np.float64) * (x64 - cm) + k3v.astype(np.float64)
    close(run(T.batchnorm_col_bwd_dx, isa, dy, x, mv, av, bv, relu, k1v, k2v, k3v), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_batchnorm_add_relu_entries(isa, n):
    rng = np.random.default_rng(100 + n)
    x, r, dy = rand(rng, n), rand(rng, n), rand(rng, n)
    x64, r64 = x.astype(np.float64), r.astype(np.float64)
    m, a, b = 0.25, 1.5, -0.5
    mv, av, bv = (rand(rng, n, scale=1.0) for _ in range(3))
    for name, coef, ref_coef in (("row", (m, a, b), (m, a, b)),
                                 ("col", (mv, av, bv), tuple(v.astype(np.float64) for v in (mv, av, bv)))):
        y, bits = run(getattr(T, f"batchnorm_{name}_affine_add_relu"), isa, x, r, *coef)
        cm, ca, cb = ref_coef
        close(y, np.maximum((x64 - cm) * ca + cb + r64, 0), rtol=1e-5, atol=1e-5)
        # one bit per value, little-endian in each byte, unused high bits 0
        assert bits.dtype == np.uint8 and bits.shape == ((n + 7) // 8,)
        np.testing.assert_array_equal(bits, np.packbits(y > 0, bitorder="little"))
        e = run(T.batchnorm_mask_grad, isa, dy, bits)
        np.testing.assert_array_equal(e, np.where(y > 0, dy, np.float32(0)))
    # NaN passes the gradient (relu_backward's rule), -0 and 0 do not
    x = np.array([np.nan, 0.25, 1.0, 0.0, 2.0, -1.0, 0.25, 0.25, 3.0], np.float32)
    r = np.zeros(9, np.float32)
    y, bits = run(T.batchnorm_row_affine_add_relu, isa, x, r, 0.25, 1.0, 0.0)
    np.testing.assert_array_equal(np.unpackbits(bits, bitorder="little")[:9], [1, 0, 1, 0, 1, 0, 0, 0, 1])


def test_pool_bn_bad_input():
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="pool_max_backward_plane: dy"):
        T.pool_max_backward_plane("generic", np.zeros((3, 3), np.float32), np.zeros((2, 2), np.int64), (4, 4), (2, 2),
                                  (2, 2))
    with pytest.raises(ValueError, match="divisor"):
        T.pool_avg_plane("generic", x, (2, 2), (2, 2), divisor=-1)
    with pytest.raises(ValueError, match="batchnorm_col_affine: m"):
        T.batchnorm_col_affine("generic", np.zeros(4, np.float32), np.zeros(3, np.float32), np.zeros(4, np.float32),
                               np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="batchnorm_mask_grad: bits"):
        T.batchnorm_mask_grad("generic", np.zeros(9, np.float32), np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="conv_col2im: col"):
        T.conv_col2im("generic", np.zeros((2, 2), np.float32), (1, 3, 3), (2, 2))
