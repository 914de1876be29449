"""Raw kernels on numpy arrays, without autograd (for users with their own loop, benchmarks)."""
from __future__ import annotations

from . import _C

__all__ = ["gemm", "matmul", "fma_peak", "pack_b", "gemm_packed"]


# The binding itself (a CPython vectorcall function, documented in cpp/bindings/bind_gemm.cpp):
# no Python frame in between, since the call's fixed cost matters for small products.
gemm = _C.gemm


def pack_b(b, *, trans_b=False, isa=None):
    """Packs ``op(b)`` (K x N) once into the GEMM micro-kernel's panel layout of ``isa``
    (default: the active path) and returns a ``PackedB`` for :func:`gemm_packed` (like MKL's
    ``cblas_sgemm_pack``). The packed copy does not follow later changes to ``b``.
    Raises ValueError for a non-2-D ``b`` or an unknown ISA name, UnsupportedIsaError for a
    level the CPU lacks.
    """
    return _C.pack_b(b, bool(trans_b), _C.get_isa() if isa is None else str(isa))


def gemm_packed(a, b, *, trans_a=False, alpha=1.0, beta=0.0, out=None):
    """``alpha * op(a) @ B + beta * out`` with ``b`` a ``PackedB`` from :func:`pack_b`.

    Same rules for ``a`` and ``out`` as :func:`gemm`; raises ValueError when op(a)'s columns
    differ from the packed operand's rows.
    """
    if not isinstance(b, _C.PackedB):
        raise TypeError(f"gemm_packed: b must be a PackedB from pack_b, got {type(b).__name__}")
    return _C.gemm_packed(a, b, bool(trans_a), float(alpha), float(beta), out)


def matmul(a, b):
    """``a @ b`` for 2-D arrays, in float32 (through the SGEMM); returns a new array."""
    return _C.gemm(a, b)


def fma_peak(isa=None, seconds=0.5):
    """The machine's measured float32 FMA peak in GFLOP/s, on the current thread count.

    Runs 12 independent vector FMA chains per thread on ``isa``'s widest vectors (default: the
    active path) for about ``seconds`` and returns the best of five repetitions. Benchmarks
    divide achieved GFLOP/s by it to report a fraction of peak. Raises ValueError for an
    unknown ISA name or ``seconds`` outside (0, 60], and ``fastdl._C.UnsupportedIsaError``
    for a level the CPU lacks.
    """
    return _C.fma_peak(_C.get_isa() if isa is None else str(isa), float(seconds))
