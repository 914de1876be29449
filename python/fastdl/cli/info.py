"""``fastdl info`` (the default): version, kernel path, threads and a GEMM self-check."""
from __future__ import annotations

import time

import numpy as np

from .argtypes import positive_int


def register(sub):
    p = sub.add_parser("info", help="version, ISA, threads and a GEMM self-check (the default)",
                       description=__doc__)
    p.add_argument("--threads", type=positive_int, default=None,
                   help="OpenMP threads (default: fastdl's setting, from OMP_NUM_THREADS or the cores)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import fastdl

    if args.threads:
        fastdl.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    a = rng.integers(-4, 5, size=(67, 129)).astype(np.float32)
    b = rng.integers(-4, 5, size=(129, 45)).astype(np.float32)
    ok = np.array_equal(fastdl.ops.gemm(a, b), (a.astype(np.float64) @ b).astype(np.float32))
    n = 512
    x = rng.standard_normal((n, n), dtype=np.float32)
    fastdl.ops.gemm(x, x)
    reps = 5
    t = time.perf_counter()
    for _ in range(reps):
        fastdl.ops.gemm(x, x)
    gf = 2 * n**3 * reps / (time.perf_counter() - t) / 1e9
    print(f"fastdl {fastdl.__version__}")
    supported = [s for s in ("avx2", "avx512") if fastdl._C.cpu_supports(s)]
    print(f"isa: {fastdl.get_isa()} (cpu supports: {', '.join(['generic'] + supported)})")
    print(f"threads: {fastdl.get_num_threads()} (OpenMP: {fastdl._C.has_openmp()})")
    print(f"gemm self-check: {'ok' if ok else 'FAILED'}; {n}x{n}x{n}: {gf:.1f} GFLOP/s")
    return 0 if ok else 1
