"""Shared helpers of the per-micro-kernel tests (tests/test_ukernels_*.py): the ISA levels, the
generated lengths around the vector widths, and the call wrapper that turns a level the CPU lacks
into a skip."""
import numpy as np
import pytest

from fastdl import _C

T = _C.testing
ALL_ISAS = ("generic", "avx2", "avx512")
# Lengths around the vector widths: below, at and above 8 and 16, and a long odd one.
LENGTHS = (1, 7, 8, 9, 15, 16, 17, 33, 67)


def run(fn, isa, *args, **kw):
    """Calls a testing binding; an ISA level the CPU lacks becomes a skip."""
    try:
        return fn(isa, *args, **kw)
    except _C.UnsupportedIsaError as e:
        pytest.skip(str(e))


def rand(rng, *shape, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def close(got, want, rtol=2e-5, atol=2e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)
