"""Raw kernels on numpy arrays, without autograd (for users with their own loop, benchmarks)."""
from __future__ import annotations

from . import _C

__all__ = ["gemm", "matmul", "fma_peak", "pack_b", "gemm_packed"]


_gemm = _C.gemm  # bound once: the call's fixed cost matters for small products


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
    """``alpha * op(a) @ op(b) + beta * out`` in float32 (op = transpose when trans_*).

    Like ``torch.addmm(out, op(a), op(b), beta=beta, alpha=alpha)`` on 2-D arrays. ``a`` and
    ``b`` are 2-D numeric array-likes, converted to float32 C-contiguous when they are not.
    ``out``, when given, must be a writeable float32 C-contiguous array of the result's shape
    (M, N) that does not overlap ``a`` or ``b``; it is written in place and returned, and read
    only when ``beta != 0`` (``beta == 0`` ignores NaN in it). Without ``out`` a new array is
    returned and ``beta`` has no effect. K == 0 gives ``beta * out`` (zeros for a new array);
    ``alpha == 0`` gives ``beta * out`` without reading ``a`` or ``b``.

    Raises TypeError for non-arrays/non-numeric dtypes, ValueError for wrong ndim, inner
    dimensions that disagree or a bad ``out``, OverflowError when M*N*K overflows int64.
    """
    return _gemm(a, b, trans_a, trans_b, alpha, beta, out)  # the binding converts the flags


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
