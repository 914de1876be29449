"""ISA dispatch and thread control (thin wrappers over fastdl._C)."""
from __future__ import annotations

import os

from . import _C
from ._args import is_int

__all__ = ["get_isa", "set_isa", "get_num_threads", "set_num_threads"]


def get_isa() -> str:
    """The kernel path in use: ``'avx512'``, ``'avx2'`` or ``'generic'``.

    ``'avx512'`` runs the AVX-512 GEMM micro-kernel and the AVX2 code of every other kernel.
    """
    return _C.get_isa()


def set_isa(name: str) -> None:
    """Select the kernel path (``'generic'``, ``'avx2'`` or ``'avx512'``).

    Raises ValueError for an unknown name or a path this CPU (or build) lacks.
    """
    if not isinstance(name, str):
        raise TypeError(f"set_isa: name must be a str, got {type(name).__name__}")
    _C.set_isa(name)


def get_num_threads() -> int:
    """Threads used by fastdl's parallel kernels (starts at OMP_NUM_THREADS or the core count)."""
    return _C.get_num_threads()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (n >= 1) in fastdl's kernels; raises ValueError for n < 1."""
    if not is_int(n):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _C.set_num_threads(int(n))


def _apply_environment() -> None:
    isa = os.environ.get("FASTDL_ISA")
    if isa:
        try:
            _C.set_isa(isa.strip().lower())
        except ValueError as e:
            raise ImportError(f"FASTDL_ISA={isa!r}: {e}") from None
    threads = os.environ.get("FASTDL_NUM_THREADS")
    if threads:
        try:
            n = int(threads)
        except ValueError:
            raise ImportError(f"FASTDL_NUM_THREADS={threads!r} is not an integer") from None
        try:
            set_num_threads(n)
        except ValueError as e:
            raise ImportError(f"FASTDL_NUM_THREADS={threads!r}: {e}") from None
