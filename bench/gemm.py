"""SGEMM benchmark: fastdl beside numpy (OpenBLAS) and torch.mm (MKL) in the same run.

    python bench/gemm.py                  # 1 and 2 threads, square 64..2048 + DL shapes
    python bench/gemm.py --quick          # fewer shapes, shorter timing
    python bench/gemm.py --threads 1 --shapes 6x784x25,16x100x150,256x10x256  # the small DL shapes
    python bench/gemm.py --isa avx2,avx512 # fastdl paths to time (default: the best one)
    python bench/gemm.py --peer-isa avx2  # restrict the peers to AVX2 (OPENBLAS_CORETYPE=Haswell,
                                          # MKL_ENABLE_INSTRUCTIONS=AVX2): same ISA as fastdl

Every result is verified against a float64 reference before timing. All calls write into a
preallocated output (np.matmul(out=), torch.mm(out=), fastdl.ops.gemm(out=)), called from
Python as a user would (the fixed cost of the call is part of the time). The libraries are
timed interleaved (round after round, each round a batch of calls of every library), so a
neighbour's load hits all of them alike. GFLOP/s = 2MNK/t; 'med' is the median and 'best' the
fastest of the rounds; ratio = fastdl / better peer; 'peak' = fastdl's median over
fastdl.ops.fma_peak() measured in the same run on the same thread count.
'packed' is fastdl.ops.gemm_packed with B packed once beforehand (fastdl.ops.pack_b), the
cost a layer pays when it reuses a weight across calls (recurrent steps).
The small DL shapes (issue 11 target >= 1.2x the better peer on 1 thread): 6x784x25 (LeNet
conv1 as a GEMM), 16x100x150, 256x10x256 (an MLP's 10-class output layer, N = 10).
"""
import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
parser.add_argument("--peer-isa", choices=["native", "avx2"], default="native",
                    help="avx2: force the AVX2 kernels of OpenBLAS and MKL (set before import)")
parser.add_argument("--isa", default=None,
                    help="comma-separated fastdl ISA paths (default: the best supported)")
parser.add_argument("--min-time", type=float, default=None, help="seconds per measurement")
parser.add_argument("--shapes", default=None,
                    help="comma-separated MxNxK to time instead of the default list, e.g. "
                         "6x784x25,16x100x150,256x10x256")
args = parser.parse_args()
if args.peer_isa == "avx2":
    os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    os.environ["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import fastdl  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # torch is a peer, not a dependency
    torch = None

SQUARE = [64, 128, 256, 512, 1024, 2048]
DL = [(6, 784, 25), (16, 100, 150), (64, 3136, 576), (128, 784, 1152), (256, 196, 2304),
      (512, 49, 4608), (256, 256, 784), (256, 10, 256)]


def measure(runs, min_time, min_rounds=7, max_rounds=2000):
    """Interleaved timing: rounds of `inner` calls of every function (inner sized so a batch
    takes >= ~50 us); returns {name: (median, best)} seconds per call."""
    for f in runs.values():
        f()
    t0 = time.perf_counter()
    first = next(iter(runs.values()))
    first()
    inner = max(1, int(50e-6 / max(time.perf_counter() - t0, 1e-7)))
    ts = {k: [] for k in runs}
    start = time.perf_counter()
    while True:
        for k, f in runs.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            ts[k].append((time.perf_counter() - t0) / inner)
        n = len(ts[k])
        if n >= max_rounds or (n >= min_rounds and time.perf_counter() - start >= min_time):
            break
    out = {}
    for k, v in ts.items():
        v.sort()
        out[k] = (v[len(v) // 2], v[0])
    return out


def verify(name, got, a, b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    tol = 2 * max(a.shape[1], 2) * 2.0 ** -24 * (np.abs(a64) @ np.abs(b64)) + 1e-30
    err = np.abs(got.astype(np.float64) - ref)
    if not (err <= tol).all():
        raise SystemExit(f"VERIFY FAILED: {name} max err {err.max():.3g}")


def main():
    threads_list = [int(t) for t in args.threads.split(",")]
    isas = args.isa.split(",") if args.isa else [fastdl.get_isa()]
    min_time = args.min_time if args.min_time is not None else (0.2 if args.quick else 0.6)
    square = [n for n in SQUARE if not args.quick or n <= 1024]
    shapes = [(n, n, n) for n in square] + DL
    if args.shapes:
        shapes = [tuple(int(d) for d in s.split("x")) for s in args.shapes.split(",")]

    print(f"fastdl {fastdl.__version__}: isa={fastdl.get_isa()} openmp={fastdl._C.has_openmp()} "
          f"gemm config={fastdl._C._gemm_config()}")
    for info in threadpool_info():
        print(f"threadpool: {info.get('internal_api')} {info.get('version')} "
              f"arch={info.get('architecture')} threading={info.get('threading_layer')} "
              f"file={os.path.basename(info.get('filepath', ''))}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS')}")
    if torch is not None:
        print(f"torch {torch.__version__}: cpu capability={torch.backends.cpu.get_cpu_capability()} "
              f"mkl={torch.backends.mkl.is_available()}")
    else:
        print("torch not installed: torch column skipped")

    rng = np.random.default_rng(0)
    hdr = (f"{'MxNxK':>16} {'thr':>3} | {'fastdl med/best':>15} | {'numpy med/best':>15} | "
           f"{'torch med/best':>15} | {'packed med/best':>15} | {'ratio med':>9} {'best':>6} | "
           f"{'peak':>5}")
    results = []
    for isa, threads in [(i, t) for i in isas for t in threads_list]:
        fastdl.set_isa(isa)
        fastdl.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        peak = fastdl.ops.fma_peak(isa)
        print(f"\n== fastdl isa={isa}, {threads} thread(s), GFLOP/s (fma_peak {peak:.1f}) ==")
        print(hdr)
        with threadpool_limits(limits=threads):
            for M, N, K in shapes:
                a = rng.standard_normal((M, K)).astype(np.float32)
                b = rng.standard_normal((K, N)).astype(np.float32)
                out_f = np.empty((M, N), np.float32)
                out_n = np.empty((M, N), np.float32)
                flops = 2.0 * M * N * K
                name = f"{M}x{N}x{K}"
                fastdl.ops.gemm(a, b, out=out_f)
                verify(name + " fastdl", out_f, a, b)
                np.matmul(a, b, out=out_n)
                verify(name + " numpy", out_n, a, b)
                runs = {
                    "fastdl": lambda: fastdl.ops.gemm(a, b, out=out_f),
                    "numpy": lambda: np.matmul(a, b, out=out_n),
                }
                pb, out_p = fastdl.ops.pack_b(b), np.empty((M, N), np.float32)
                fastdl.ops.gemm_packed(a, pb, out=out_p)
                verify(name + " packed", out_p, a, b)
                runs["packed"] = lambda: fastdl.ops.gemm_packed(a, pb, out=out_p)
                if torch is not None:
                    ta, tb, to = torch.from_numpy(a), torch.from_numpy(b), torch.empty(M, N)
                    torch.mm(ta, tb, out=to)
                    verify(name + " torch", to.numpy(), a, b)
                    runs["torch"] = lambda: torch.mm(ta, tb, out=to)
                g = {lib: (flops / med * 1e-9, flops / best * 1e-9)
                     for lib, (med, best) in measure(runs, min_time).items()}
                peers = [v for k, v in g.items() if k not in ("fastdl", "packed")]
                r_med = g["fastdl"][0] / max(p[0] for p in peers)
                r_best = g["fastdl"][1] / max(p[1] for p in peers)
                cols = [f"{g[k][0]:7.1f}/{g[k][1]:7.1f}" if k in g else f"{'-':>15}"
                        for k in ("fastdl", "numpy", "torch", "packed")]
                print(f"{name:>16} {threads:>3} | " + " | ".join(cols) +
                      f" | {r_med:9.2f} {r_best:6.2f} | {g['fastdl'][0] / peak:5.2f}", flush=True)
                results.append((isa, M, N, K, threads, g, r_med))

    # Targets of issue 2 item 7 and issue 11 item 4 (informational).
    print("\n== targets (median-based) ==")
    by = {(isa, M, N, K, t): (g, r) for isa, M, N, K, t, g, r in results}
    for (isa, M, N, K, t), (g, r) in by.items():
        if M == N == K and M >= 256 and t == 1:
            print(f"{isa} 1 thread {M}^3: {g['fastdl'][0]:.1f} GFLOP/s (target >= 85), "
                  f"ratio {r:.2f} (target >= 1.05)")
        if M == N == K and M >= 1024 and t == 2:
            print(f"{isa} 2 threads {M}^3: {g['fastdl'][0]:.1f} GFLOP/s (target >= 160)")
        if (M, N, K) in [(6, 784, 25), (16, 100, 150), (256, 10, 256)]:
            print(f"{isa} {t} thread(s) {M}x{N}x{K}: ratio {r:.2f} (target >= 1.2 on 1 thread)")
    if 1 in threads_list and 2 in threads_list:
        slower = [f"{isa} {M}x{N}x{K}" for (isa, M, N, K, t), (g, _) in by.items()
                  if t == 2 and g["fastdl"][0] < 0.97 * by[(isa, M, N, K, 1)][0]["fastdl"][0]]
        print("2 threads slower than 1 (by > 3%):", ", ".join(slower) if slower else "none")

if __name__ == "__main__":
    main()
