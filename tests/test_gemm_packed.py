"""Pre-packed GEMM operand (fastdl.ops.pack_b / gemm_packed) against a float64 reference, on
every ISA level (pack_b's `isa`), at the register-tile edges of each table (6x16, 12x32),
across several KC depth blocks, on 1 and 2 threads, plus argument checks."""
import itertools

import numpy as np
import pytest

import fastdl
from fastdl import _C, ops
from test_gemm import DEFAULT, check_close, operands, reference, set_config
from conftest import on_thread_counts

EDGES_M = [1, 6, 7, 12, 13, 33]
EDGES_N = [1, 10, 16, 17, 32, 33, 65]
EDGES_K = [1, 7, 37]


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], [False, True])))
def test_packed_matches_reference_at_tile_edges(isa, threads, rng, ta, tb):
    set_config(kc=16, thread_flops=0)  # K = 37 spans three depth blocks; tiny shapes split
    try:
        for M, N, K in itertools.product(EDGES_M, EDGES_N, EDGES_K):
            a, b, c = operands(rng, M, N, K, ta, tb)
            pb = ops.pack_b(b, trans_b=tb, isa=isa)
            assert pb.shape == (K, N) and pb.isa == isa
            for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (-1.0, 0.5)]:
                out = c.copy()
                got = ops.gemm_packed(a, pb, trans_a=ta, alpha=alpha, beta=beta, out=out)
                assert got is out
                ref, mag = reference(a, b, c, ta, tb, alpha, beta)
                check_close(got, ref, mag, K, f"M={M} N={N} K={K} ta={ta} tb={tb} beta={beta}")
    finally:
        _C._set_gemm_config(**DEFAULT)


def test_packed_reused_and_thread_invariant(isa, rng):
    """One PackedB serves many products; results are bitwise the same on 1, 2 and 3 threads."""
    b = rng.standard_normal((256, 1024)).astype(np.float32)
    pb = ops.pack_b(b, trans_b=True, isa=isa)  # op(b) = b.T: 1024 x 256
    a = rng.standard_normal((32, 1024)).astype(np.float32)
    outs = [o for pair in on_thread_counts(lambda: (ops.gemm_packed(a, pb), ops.gemm_packed(a, pb))) for o in pair]
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])
    ref, mag = reference(a, b, np.zeros((32, 256), np.float32), False, True, 1.0, 0.0)
    check_close(outs[0], ref, mag, 1024)


def test_packed_empty_and_degenerate(rng):
    pb = ops.pack_b(np.zeros((0, 5), np.float32))  # K = 0: C = beta * C
    out = np.ones((3, 5), np.float32)
    assert np.array_equal(ops.gemm_packed(np.zeros((3, 0), np.float32), pb, beta=0.5, out=out),
                          np.full((3, 5), 0.5, np.float32))
    pb = ops.pack_b(rng.standard_normal((4, 5)).astype(np.float32))
    c = np.full((3, 5), np.nan, np.float32)
    got = ops.gemm_packed(np.ones((3, 4), np.float32), pb, alpha=0.0, beta=0.0, out=c)
    assert np.array_equal(got, np.zeros((3, 5), np.float32))
    assert ops.gemm_packed(np.ones((0, 4), np.float32), pb).shape == (0, 5)


def test_packed_argument_errors(rng):
    pb = ops.pack_b(rng.standard_normal((4, 5)).astype(np.float32))
    with pytest.raises(ValueError, match="inner dimensions"):
        ops.gemm_packed(np.ones((3, 6), np.float32), pb)
    with pytest.raises(ValueError, match="pack_b: b"):
        ops.pack_b(np.ones(4, np.float32))
    with pytest.raises(ValueError):
        ops.pack_b(np.ones((2, 2), np.float32), isa="sse9")
    with pytest.raises(TypeError, match="PackedB"):
        ops.gemm_packed(np.ones((3, 4), np.float32), np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="out"):
        ops.gemm_packed(np.ones((3, 4), np.float32), pb, out=np.ones((3, 6), np.float32))
    with pytest.raises(TypeError, match="out"):
        ops.gemm_packed(np.ones((3, 4), np.float32), pb, out=np.ones((3, 5), np.float64))
    buf = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        ops.gemm_packed(buf, ops.pack_b(np.ones((4, 4), np.float32)), out=buf)
