"""Convolution and pooling layers, forward+backward, fastdl beside PyTorch in the same run.

Each case is verified against PyTorch first (outputs and all gradients), then timed: median of
--reps runs after a warm-up, for 1 and 2 threads. Prints ms per forward+backward, GFLOP/s
(conv: 3 x 2*MACs) or GB/s (pooling: bytes read + written), and the ratio torch / fastdl
(> 1 means fastdl is faster). Conv rows also print the fraction of the measured FMA peak
(fastdl.ops.fma_peak on the same thread count) on the layer's real FLOPs: taps that fall in the
zero padding are not counted.

    PYTHONPATH=python python bench/conv.py [--reps 7] [--threads 1 2] [--only conv|pool] [--match nin] [--cpu-time]
                                           [--peak GFLOPS_PER_CORE]

--cpu-time measures process CPU time instead of wall time (useful on a shared, oversubscribed
machine, meaningful for 1 thread only).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastdl
import fastdl.ops
from fastdl import functional as F

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

# name, N, C, K, H, W, kernel, stride, padding
CONVS = [
    ("lenet conv1 1->6 5x5 p2 @28", 256, 1, 6, 28, 28, 5, 1, 2),
    ("lenet conv2 6->16 5x5 @14", 256, 6, 16, 14, 14, 5, 1, 0),
    ("3x3 64->64 @28", 32, 64, 64, 28, 28, 3, 1, 1),
    ("3x3 128->128 @14", 32, 128, 128, 14, 14, 3, 1, 1),
    ("3x3 256->256 @7", 32, 256, 256, 7, 7, 3, 1, 1),
    ("1x1 256->64 @14", 32, 256, 64, 14, 14, 1, 1, 0),
    ("3x3/2 64->128 @28", 32, 64, 128, 28, 28, 3, 2, 1),
    ("nin 5x5 96->256 p2 @12", 32, 96, 256, 12, 12, 5, 1, 2),
    ("nin 1x1 96->96 @14", 64, 96, 96, 14, 14, 1, 1, 0),
    ("nin 1x1 256->256 @6", 64, 256, 256, 6, 6, 1, 1, 0),
    ("nin 1x1 384->384 @2", 64, 384, 384, 2, 2, 1, 1, 0),
]
# name, activation shape, op, args
POOLS = [
    ("max 2x2 lenet1 act", (256, 6, 28, 28), "max", (2, 2, 0)),
    ("avg 2x2 lenet1 act", (256, 6, 28, 28), "avg", (2, 2, 0)),
    ("max 2x2 lenet2 act", (256, 16, 10, 10), "max", (2, 2, 0)),
    ("avg 2x2 lenet2 act", (256, 16, 10, 10), "avg", (2, 2, 0)),
    ("max 3x3/2 p1 64@28", (32, 64, 28, 28), "max", (3, 2, 1)),
    ("max 2x2 64@28", (32, 64, 28, 28), "max", (2, 2, 0)),
    ("avg 2x2 128@14", (32, 128, 14, 14), "avg", (2, 2, 0)),
    ("global avg 256@7", (32, 256, 7, 7), "adaptive", (1,)),
    ("max 3x3/2 nin 96@14", (64, 96, 14, 14), "max", (3, 2, 0)),
    ("max 3x3/2 nin 256@6", (64, 256, 6, 6), "max", (3, 2, 0)),
    ("max 3x3/2 p1 nin 384@2", (64, 384, 2, 2), "max", (3, 2, 1)),
]


CLOCK = time.perf_counter


def median_ms(fn, reps):
    fn()  # warm-up (workspaces, page faults)
    ts = []
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        ts.append(CLOCK() - t0)
    return statistics.median(ts) * 1e3


def conv_case(case, reps, rng):
    name, N, C, K, H, W, k, s, p = case
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((K, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    P = (H + 2 * p - k) // s + 1
    dy = rng.standard_normal((N, K, P, P)).astype(np.float32)

    fx, fw, fb = (fastdl.tensor(a, requires_grad=True) for a in (x, w, b))

    def run_fastdl():
        fx.grad = fw.grad = fb.grad = None
        y = F.conv2d(fx, fw, fb, s, p)
        y.backward(dy)
        return y

    y = run_fastdl()
    out = {"fastdl": median_ms(run_fastdl, reps)}
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)

        def run_torch():
            tx.grad = tw.grad = tb.grad = None
            ty = torch.nn.functional.conv2d(tx, tw, tb, s, p)
            ty.backward(tdy)
            return ty

        ty = run_torch()
        tol = 1e-4 * np.sqrt(C * k * k)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=tol, atol=tol)
        tolw = 1e-4 * np.sqrt(N * P * P)
        np.testing.assert_allclose(fw.grad.data, tw.grad.numpy(), rtol=tolw, atol=tolw)
        np.testing.assert_allclose(fb.grad.data, tb.grad.numpy(), rtol=tolw, atol=tolw)
        out["torch"] = median_ms(run_torch, reps)
    return out, real_conv_flops(N, C, K, H, W, k, s, p) / 1e9, "GF/s"


def real_conv_flops(N, C, K, H, W, k, s, p):
    """FLOPs of forward + backward-data + backward-weights (3 x 2 x MACs) over taps that land in
    the input: a tap in the zero padding is no work."""
    def taps(size):  # sum over output positions of in-range kernel offsets, one dimension
        out = (size + 2 * p - k) // s + 1
        return sum(1 for o in range(out) for r in range(k) if 0 <= o * s - p + r < size)
    return 3 * 2.0 * N * K * C * taps(H) * taps(W)


def pool_case(case, reps, rng):
    name, shape, op, args = case
    x = rng.standard_normal(shape).astype(np.float32)
    fx = fastdl.tensor(x, requires_grad=True)
    if op == "max":
        k, s, p = args
        f_fn = lambda t: F.max_pool2d(t, k, s, p)  # noqa: E731
        t_fn = lambda t: torch.nn.functional.max_pool2d(t, k, s, p)  # noqa: E731
    elif op == "avg":
        k, s, p = args
        f_fn = lambda t: F.avg_pool2d(t, k, s, p)  # noqa: E731
        t_fn = lambda t: torch.nn.functional.avg_pool2d(t, k, s, p)  # noqa: E731
    else:
        f_fn = lambda t: F.adaptive_avg_pool2d(t, args[0])  # noqa: E731
        t_fn = lambda t: torch.nn.functional.adaptive_avg_pool2d(t, args[0])  # noqa: E731
    y0 = f_fn(fx)
    dy = rng.standard_normal(y0.shape).astype(np.float32)

    def run_fastdl():
        fx.grad = None
        y = f_fn(fx)
        y.backward(dy)
        return y

    y = run_fastdl()
    out = {"fastdl": median_ms(run_fastdl, reps)}
    if torch is not None:
        tx = torch.tensor(x, requires_grad=True)
        tdy = torch.tensor(dy)

        def run_torch():
            tx.grad = None
            ty = t_fn(tx)
            ty.backward(tdy)
            return ty

        ty = run_torch()
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
        out["torch"] = median_ms(run_torch, reps)
    # forward reads x, writes y (+ indices for max); backward reads dy (+ indices), writes dx
    nx, ny = x.size, int(np.prod(y.shape))
    idx = 2 if op == "max" else 0  # int64 indices = 2 floats each, written then read
    gbytes = 4.0 * (nx + ny + ny * idx + ny + ny * idx + nx) / 1e9
    return out, gbytes, "GB/s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", choices=["conv", "pool"], default=None)
    ap.add_argument("--match", default=None, help="only the cases whose name contains this text (e.g. nin)")
    ap.add_argument("--cpu-time", action="store_true", help="time with process CPU time instead of wall time")
    ap.add_argument("--peak", type=float, default=None,
                    help="1-core FMA peak in GFLOP/s (default: best of 3 fastdl.ops.fma_peak runs; on a loaded "
                         "machine that wall-clock measurement is low, pass the quiet-machine value, ~120 here)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    rng = np.random.default_rng(0)
    print(f"fastdl {fastdl.__version__} isa={fastdl.get_isa()}; torch {torch.__version__ if torch else 'absent'}; "
          f"clock={'process CPU time' if args.cpu_time else 'wall'}")
    print(f"{'case':32s} {'thr':>3s} {'fastdl ms':>10s} {'torch ms':>9s} {'rate':>12s} {'torch/fastdl':>12s} "
          f"{'peak':>6s} {'fastdl%':>7s} {'torch%':>6s}")
    jobs = []
    if args.only in (None, "conv"):
        jobs += [(c[0], conv_case, c) for c in CONVS]
    if args.only in (None, "pool"):
        jobs += [(c[0], pool_case, c) for c in POOLS]
    jobs = [j for j in jobs if args.match is None or args.match in j[0]]
    for t in args.threads:
        fastdl.set_num_threads(t)
        if torch is not None:
            torch.set_num_threads(t)
        # GFLOP/s of the active ISA on t threads
        peak = args.peak * t if args.peak else max(fastdl.ops.fma_peak(seconds=0.3) for _ in range(3))
        for name, fn, case in jobs:
            out, work, unit = fn(case, args.reps, rng)
            f_ms = out["fastdl"]
            t_ms = out.get("torch", float("nan"))
            frac = ""
            if unit == "GF/s":
                frac = f" {peak:6.0f} {100 * work / (f_ms / 1e3) / peak:6.1f}% {100 * work / (t_ms / 1e3) / peak:5.1f}%"
            print(f"{name:32s} {t:3d} {f_ms:10.3f} {t_ms:9.3f} {work / (f_ms / 1e3):7.1f} {unit:4s} "
                  f"{t_ms / f_ms:11.2f}x{frac}", flush=True)


if __name__ == "__main__":
    main()
