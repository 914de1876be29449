"""SGEMM (fastdl.ops.gemm / matmul, fastdl._C.gemm) against a float64 numpy reference.

Tiers (docs/testing.md section 1): a K-scaled float tier |C - C64| <= 2 max(K, 2) u (|alpha| |A||B| +
|beta| |C|) and an exact tier (small integers -> bitwise equality). Every test runs on each ISA
path (`isa`) and on 1 and 2 threads (`threads`); the `path` fixture forces the direct and the
packed algorithm and makes sgemm split between threads even for tiny shapes.
"""
import itertools

import numpy as np
import pytest

import fastdl
from fastdl import _C

U = 2.0 ** -24
DEFAULT = _C._gemm_default_config()
KC = DEFAULT["kc"]
# Edges of the 6x16 (generic, avx2) and 12x32 (avx512) register tiles and of several tiles.
SWEEP_MN = [1, 6, 7, 12, 13, 16, 17, 31, 32, 33, 65]
SWEEP_K = [1, 7, KC, KC + 1]
ALPHA_BETA = list(itertools.product([0.0, 0.5, 1.0], [0.0, 0.5, 1.0]))
TRANS = list(itertools.product([False, True], [False, True]))


def set_config(**kw):
    cfg = dict(DEFAULT)
    cfg.update(kw)
    _C._set_gemm_config(**cfg)


@pytest.fixture(params=["direct", "packed"])
def path(request):
    """Forces one algorithm; thread_flops=0 so 2 threads split even tiny problems."""
    set_config(path=1 if request.param == "direct" else 2, thread_flops=0)
    yield request.param
    _C._set_gemm_config(**DEFAULT)


@pytest.fixture(params=[(12, 8, 32), (24, 8, 64)], ids=["mc12", "mc24"])
def tiny_blocks(request):
    """Small mc/kc/nc: every blocking loop (jc, pc, ic, and jr, ir for both tile sizes) runs
    several times."""
    mc, kc, nc = request.param
    set_config(mc=mc, kc=kc, nc=nc, path=2, thread_flops=0)
    yield
    _C._set_gemm_config(**DEFAULT)


def operands(rng, M, N, K, ta, tb, integers=False):
    def make(shape):
        if integers:
            x = rng.integers(-4, 5, size=shape).astype(np.float32)
            x[rng.random(shape) < 0.3] = 0
            return x
        return rng.standard_normal(shape).astype(np.float32)

    a = make((K, M) if ta else (M, K))
    b = make((N, K) if tb else (K, N))
    c = make((M, N))
    return a, b, c


def reference(a, b, c, ta, tb, alpha, beta):
    a64 = (a.T if ta else a).astype(np.float64)
    b64 = (b.T if tb else b).astype(np.float64)
    r = alpha * (a64 @ b64)
    mag = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta != 0:
        r = r + beta * c.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    return r, mag


def check_close(got, ref, mag, K, what=""):
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.all(np.isfinite(got)), f"non-finite values {what}"
    tol = 2.0 * max(K, 2) * U * mag + 1e-30
    err = np.abs(got.astype(np.float64) - ref)
    bad = err > tol
    assert not bad.any(), f"{what}: {bad.sum()} entries off, max err {err.max():.3g} (tol {tol[bad].min():.3g})"


def run_gemm(a, b, c, ta, tb, alpha, beta):
    """Calls gemm with out=C (NaN-filled when beta == 0, which must never be read)."""
    out = c.copy() if beta != 0 else np.full(c.shape, np.nan, np.float32)
    res = fastdl.ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
    assert res is out
    return out


# ---------------------------------------------------------------- float tier: the tile sweep
@pytest.mark.parametrize("K", SWEEP_K)
@pytest.mark.parametrize("M", SWEEP_MN)
def test_tile_sweep(isa, threads, path, rng, M, K):
    """M, N around the 6x16 and 12x32 tiles, K around KC, all four transposes; alpha/beta cycle through
    all nine combinations over the sweep (every combination meets every shape class)."""
    for n_idx, N in enumerate(SWEEP_MN):
        for t_idx, (ta, tb) in enumerate(TRANS):
            alpha, beta = ALPHA_BETA[(n_idx * 4 + t_idx + M + K) % len(ALPHA_BETA)]
            a, b, c = operands(rng, M, N, K, ta, tb)
            got = run_gemm(a, b, c, ta, tb, alpha, beta)
            ref, mag = reference(a, b, c, ta, tb, alpha, beta)
            check_close(got, ref, mag, K, f"M={M} N={N} K={K} ta={ta} tb={tb} a={alpha} b={beta}")


@pytest.mark.parametrize("alpha,beta", ALPHA_BETA)
def test_alpha_beta_all(isa, threads, path, rng, alpha, beta):
    for (M, N, K), (ta, tb) in itertools.product([(7, 17, 9), (13, 35, KC + 1)], TRANS):
        a, b, c = operands(rng, M, N, K, ta, tb)
        got = run_gemm(a, b, c, ta, tb, alpha, beta)
        ref, mag = reference(a, b, c, ta, tb, alpha, beta)
        check_close(got, ref, mag, K, f"{M}x{N}x{K} ta={ta} tb={tb}")


def test_all_blocking_loops(isa, threads, tiny_blocks, rng):
    """Several NC, KC and MC blocks, with partial last blocks, through every transpose."""
    for (M, N, K), (ta, tb) in itertools.product([(31, 75, 21), (13, 33, 17), (50, 130, 19)],
                                                 TRANS):
        for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (1.0, 0.5)]:
            a, b, c = operands(rng, M, N, K, ta, tb)
            got = run_gemm(a, b, c, ta, tb, alpha, beta)
            ref, mag = reference(a, b, c, ta, tb, alpha, beta)
            check_close(got, ref, mag, K, f"{M}x{N}x{K} ta={ta} tb={tb} a={alpha} b={beta}")


# ---------------------------------------------------------------- exact tier
@pytest.mark.parametrize("K", [7, KC + 1])
def test_exact_small_integers(isa, threads, path, rng, K):
    """Small-integer inputs: every partial sum is exact in float32, so any summation order,
    blocking or thread split must reproduce the float64 reference bit for bit."""
    for (M, N), (ta, tb) in itertools.product([(5, 17), (17, 35), (35, 6), (13, 33), (25, 65)],
                                              TRANS):
        for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (1.0, 0.5)]:
            a, b, c = operands(rng, M, N, K, ta, tb, integers=True)
            got = run_gemm(a, b, c, ta, tb, alpha, beta)
            ref, _ = reference(a, b, c, ta, tb, alpha, beta)
            np.testing.assert_array_equal(got, ref.astype(np.float32))


def test_exact_large_threaded(isa, threads, rng):
    for ta, tb in TRANS:
        a, b, c = operands(rng, 97, 130, 300, ta, tb, integers=True)
        got = run_gemm(a, b, c, ta, tb, 1.0, 1.0)
        ref, _ = reference(a, b, c, ta, tb, 1.0, 1.0)
        np.testing.assert_array_equal(got, ref.astype(np.float32))


# ---------------------------------------------------------------- large (threaded packed path)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_large_packed_threaded(isa, threads, rng, ta, tb):
    M, N, K = 300, 400, 500
    a, b, c = operands(rng, M, N, K, ta, tb)
    for alpha, beta in [(1.0, 0.0), (0.5, 0.5)]:
        got = run_gemm(a, b, c, ta, tb, alpha, beta)
        ref, mag = reference(a, b, c, ta, tb, alpha, beta)
        check_close(got, ref, mag, K, f"ta={ta} tb={tb}")


def test_thread_count_does_not_change_result(isa, rng):
    """Threads split rows/columns of C, never K: results are bitwise identical."""
    prev = fastdl.get_num_threads()
    try:
        for M, N, K in [(300, 100, 400), (40, 500, 300), (200, 12, 700)]:
            a, b, _ = operands(rng, M, N, K, False, False)
            outs = []
            for t in (1, 2):
                fastdl.set_num_threads(t)
                outs.append(fastdl.ops.gemm(a, b))
            np.testing.assert_array_equal(outs[0], outs[1])
    finally:
        fastdl.set_num_threads(prev)


def test_skinny_and_dl_shapes(isa, threads, rng):
    for M, N, K in [(6, 784, 25), (16, 100, 150), (256, 10, 256), (512, 49, 300), (1, 300, 200),
                    (300, 1, 200), (64, 300, 1)]:
        for ta, tb in [(False, False), (False, True)]:
            a, b, c = operands(rng, M, N, K, ta, tb)
            got = run_gemm(a, b, c, ta, tb, 1.0, 0.0)
            ref, mag = reference(a, b, c, ta, tb, 1.0, 0.0)
            check_close(got, ref, mag, K, f"{M}x{N}x{K} tb={tb}")


def sweep_forced_path(path, shapes, rng):
    """Forces `path` (1 direct, 3 dot) with threads splitting even tiny products and checks
    every shape, cycling through the transposes and the alpha / beta combinations."""
    set_config(path=path, thread_flops=0)
    try:
        for i, (M, N, K) in enumerate(shapes):
            ta, tb = TRANS[i % 4]
            alpha, beta = ALPHA_BETA[i % len(ALPHA_BETA)]
            a, b, c = operands(rng, M, N, K, ta, tb)
            got = run_gemm(a, b, c, ta, tb, alpha, beta)
            ref, mag = reference(a, b, c, ta, tb, alpha, beta)
            check_close(got, ref, mag, K, f"path={path} M={M} N={N} K={K} ta={ta} tb={tb} a={alpha} b={beta}")
    finally:
        _C._set_gemm_config(**DEFAULT)


def test_direct_row_bands_and_column_tails(isa, threads, rng):
    """Direct path: row counts whose last band is merged and split (14, 16, 17 on the 12-row
    avx512 tile) or runs the 10-row tile, column tails on ymm (<= 8) and zmm."""
    shapes = [(M, N, (7, 150)[i % 2])
              for i, (M, N) in enumerate(itertools.product([9, 10, 14, 16, 17, 28], [4, 8, 9, 100]))]
    sweep_forced_path(1, shapes, rng)


# ---------------------------------------------------------------- dot path (few columns)
DOT_SHAPES = [(M, N, K) for M in (1, 3, 4, 5, 9) for N in (1, 2, 3, 4, 5, 10, 17)
              for K in (1, 7, 8, 15, 16, 17, 33, 257)]


def test_dot_path_tile_edges(isa, threads, rng):
    """The dot kernel (A unit-stride in k): rows / columns around its tiles, K around the
    vector widths (masked tail), B in place (trans_b) and transposed; a transposed A falls
    back to the direct path."""
    sweep_forced_path(3, DOT_SHAPES, rng)


def test_dot_path_exact_small_integers(isa, rng):
    set_config(path=3)
    try:
        for (M, N, K), tb in itertools.product([(5, 3, 40), (9, 10, 257), (4, 1, 16)], [False, True]):
            a, b, c = operands(rng, M, N, K, False, tb, integers=True)
            got = run_gemm(a, b, c, False, tb, 0.5, 1.0)
            ref, _ = reference(a, b, c, False, tb, 0.5, 1.0)
            np.testing.assert_array_equal(got, ref.astype(np.float32))
    finally:
        _C._set_gemm_config(**DEFAULT)


def test_few_columns_take_the_dot_path_independent_of_threads(isa, rng):
    """256x10x256 (an MLP's 10-class layer) and a GEMV take the dot path on their own (bitwise
    the forced path-3 result), and the result is the same on 1, 2 and 3 threads."""
    prev = fastdl.get_num_threads()
    try:
        for M, N, K in [(256, 10, 256), (64, 1, 1000), (300, 3, 500)]:
            for tb in (False, True):
                a, b, _ = operands(rng, M, N, K, False, tb)
                outs = []
                for t in (1, 2, 3):
                    fastdl.set_num_threads(t)
                    set_config(thread_flops=0)
                    outs.append(fastdl.ops.gemm(a, b, trans_b=tb))
                set_config(path=3)
                forced = fastdl.ops.gemm(a, b, trans_b=tb)
                _C._set_gemm_config(**DEFAULT)
                for o in outs:
                    np.testing.assert_array_equal(o, forced)
    finally:
        fastdl.set_num_threads(prev)
        _C._set_gemm_config(**DEFAULT)


def test_sgemm_vs_torch(isa, threads, rng):
    torch = pytest.importorskip("torch")
    a, b, _ = operands(rng, 70, 90, 130, False, False)
    ref = torch.mm(torch.from_numpy(a).double(), torch.from_numpy(b).double()).numpy()
    mag = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    check_close(fastdl.ops.matmul(a, b), ref, mag, 130, "vs torch")


# ---------------------------------------------------------------- layouts and dtypes
def test_noncontiguous_fortran_float64_inputs(isa, threads, rng):
    base_a = rng.standard_normal((40, 60))
    base_b = rng.standard_normal((60, 50))
    cases = {
        "float64": (base_a, base_b),
        "fortran": (np.asfortranarray(base_a, np.float32), np.asfortranarray(base_b, np.float32)),
        "strided": (np.repeat(base_a.astype(np.float32), 2, axis=1)[:, ::2],
                    base_b.astype(np.float32)[::-1]),
        "transposed view": (base_a.T.astype(np.float32).T, base_b.astype(np.float32).T.copy().T),
        "int": (np.round(base_a * 3).astype(np.int32), base_b.astype(np.float32)),
        "list": (base_a.astype(np.float32).tolist(), base_b.astype(np.float32)),
    }
    for name, (a, b) in cases.items():
        got = fastdl.ops.gemm(a, b)
        a64 = np.asarray(a, dtype=np.float32).astype(np.float64)
        b64 = np.asarray(b, dtype=np.float32).astype(np.float64)
        assert got.flags.c_contiguous and got.dtype == np.float32
        check_close(got, a64 @ b64, np.abs(a64) @ np.abs(b64), 60, name)


def test_out_is_written_in_place_and_matmul(rng):
    a, b, c = operands(rng, 9, 11, 13, False, False)
    out = c.copy()
    res = fastdl.ops.gemm(a, b, beta=1.0, out=out)
    assert res is out
    ref, mag = reference(a, b, c, False, False, 1.0, 1.0)
    check_close(out, ref, mag, 13)
    np.testing.assert_array_equal(fastdl.ops.matmul(a, b), fastdl.ops.gemm(a, b))


def test_sgemm_serial_matches_threaded_via_config(isa, rng):
    """thread_flops=huge forces the one-thread path; results equal the threaded run."""
    a, b, _ = operands(rng, 200, 150, 120, False, True)
    prev = fastdl.get_num_threads()
    try:
        fastdl.set_num_threads(2)
        threaded = fastdl.ops.gemm(a, b, trans_b=True)
        set_config(thread_flops=2 ** 62)
        serial = fastdl.ops.gemm(a, b, trans_b=True)
    finally:
        _C._set_gemm_config(**DEFAULT)
        fastdl.set_num_threads(prev)
    np.testing.assert_array_equal(threaded, serial)


# ---------------------------------------------------------------- zero sizes
@pytest.mark.parametrize("M,N,K", [(0, 5, 3), (4, 0, 3), (0, 0, 0), (4, 5, 0)])
def test_zero_sizes(isa, threads, M, N, K):
    a = np.ones((M, K), np.float32)
    b = np.ones((K, N), np.float32)
    got = fastdl.ops.gemm(a, b)
    assert got.shape == (M, N) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.zeros((M, N), np.float32))
    c = np.full((M, N), 3.0, np.float32)
    assert fastdl.ops.gemm(a, b, beta=0.5, out=c) is c
    np.testing.assert_array_equal(c, np.full((M, N), 1.5, np.float32))  # K == 0: beta * C
    nan = np.full((M, N), np.nan, np.float32)
    fastdl.ops.gemm(a, b, beta=0.0, out=nan)
    np.testing.assert_array_equal(nan, np.zeros((M, N), np.float32))


def test_k_zero_beta_scales(rng):
    c = rng.standard_normal((3, 4)).astype(np.float32)
    out = c.copy()
    fastdl.ops.gemm(np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), beta=0.5, out=out)
    np.testing.assert_array_equal(out, c * np.float32(0.5))


def test_alpha_zero_ignores_operands(rng):
    a = np.full((5, 7), np.nan, np.float32)
    b = np.full((7, 3), np.inf, np.float32)
    c = rng.standard_normal((5, 3)).astype(np.float32)
    out = c.copy()
    fastdl.ops.gemm(a, b, alpha=0.0, beta=1.0, out=out)
    np.testing.assert_array_equal(out, c)


# ---------------------------------------------------------------- bad inputs
F32 = np.ones((3, 4), np.float32)
G32 = np.ones((4, 5), np.float32)


@pytest.mark.parametrize("a,b,exc,match", [
    (np.ones(3, np.float32), G32, ValueError, r"a: expected 2-D.*\(3,\)"),
    (F32, np.ones((4, 5, 1), np.float32), ValueError, r"b: expected 2-D.*\(4, 5, 1\)"),
    (F32, np.ones((5, 4), np.float32), ValueError, r"inner dimensions disagree.*\(3, 4\).*\(5, 4\)"),
    (None, G32, TypeError, "a must be an array"),
    (F32, None, TypeError, "b must be an array"),
    ("abc", G32, TypeError, "a must be an array"),
    (F32, b"xy", TypeError, "b must be an array"),
    (np.array([["a", "b"]]), G32, TypeError, "a must be numeric"),
    (np.ones((3, 4), np.complex64), G32, TypeError, "a must be numeric"),
    (np.array([[object()]]), G32, TypeError, "a must be numeric"),
])
def test_bad_operands(a, b, exc, match):
    with pytest.raises(exc, match=match):
        fastdl.ops.gemm(a, b)


def test_bad_transposed_inner_dims():
    with pytest.raises(ValueError, match="transposed"):
        fastdl.ops.gemm(F32, G32, trans_a=True)


@pytest.mark.parametrize("out,exc,match", [
    (np.zeros((3, 4), np.float32), ValueError, r"out: expected shape \(3, 5\)"),
    (np.zeros((5, 3), np.float32), ValueError, r"out: expected shape \(3, 5\)"),
    (np.zeros(15, np.float32), ValueError, "out: expected 2-D"),
    (np.zeros((3, 5), np.float64), ValueError, "out must be float32"),
    (np.zeros((3, 5), np.float16), ValueError, "out must be float32"),
    (np.zeros((5, 3), np.float32).T, ValueError, "C-contiguous"),
    (np.zeros((3, 10), np.float32)[:, ::2], ValueError, "C-contiguous"),
    ([[0.0] * 5] * 3, TypeError, "out must be a numpy array"),
    ("out", TypeError, "out must be a numpy array"),
])
def test_bad_out(out, exc, match):
    with pytest.raises(exc, match=match):
        fastdl.ops.gemm(F32, G32, out=out)


def test_read_only_out():
    out = np.zeros((3, 5), np.float32)
    out.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        fastdl.ops.gemm(F32, G32, out=out)


def test_out_overlapping_input():
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        fastdl.ops.gemm(a, a, out=a)


@pytest.mark.parametrize("M,N,K", [(2 ** 21, 2 ** 22, 2 ** 21), (2 ** 31, 2 ** 31, 1), (2 ** 40, 2 ** 30, 1)])
def test_size_overflow_raises_before_allocating(M, N, K):
    """Zero-strided views: the operands take no memory, the product overflows int64 (or the
    output byte count does). Must raise OverflowError, not MemoryError or a crash."""
    a = np.broadcast_to(np.float32(1), (M, K))
    b = np.broadcast_to(np.float32(1), (K, N))
    with pytest.raises(OverflowError, match="gemm"):
        fastdl.ops.gemm(a, b)


def test_raw_binding_rejects_none():
    with pytest.raises(TypeError):
        _C.gemm(None, G32)


def test_config_validation():
    for bad in [dict(mc=7), dict(mc=0), dict(kc=0), dict(nc=8), dict(nc=17), dict(path=4),
                dict(thread_flops=-1)]:
        cfg = dict(DEFAULT)
        cfg.update(bad)
        with pytest.raises(ValueError, match="gemm config"):
            _C._set_gemm_config(**cfg)
    assert _C._gemm_config() == DEFAULT
