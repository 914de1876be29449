"""Per-op time of fastdl beside PyTorch (same inputs, same thread count, one run):
relu, sigmoid, softmax and cross_entropy at the PEERS.md shapes, and ResNet's residual join
relu(batch_norm(x) + r) (fastdl fused, and unfused as three ops), forward and forward+backward
through each library's autograd. Results are verified against PyTorch before timing.

Usage: PYTHONPATH=python python bench/ops.py [--threads 1 2] [--repeat 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastdl
import fastdl.functional as F

try:
    import torch
except ImportError:  # pragma: no cover - the bench still reports fastdl alone
    torch = None


def _median_time(fn, repeat, min_time=0.05):
    fn()  # warm-up
    n = 1
    while True:  # calibrate: enough calls per sample for >= min_time / repeat
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time / repeat or n >= 1 << 16:
            break
        n *= 4
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return float(np.median(samples))


def _bn_add_relu(fused, r):
    """relu(batch_norm(x) + r) in training mode: fastdl's fused kernel (or the unfused chain)."""
    def fn(lib, x):
        if lib is F and fused:
            return F.batch_norm_add_relu(x, r, None, None, training=True)
        rr = r if lib is F else torch.from_numpy(r)
        return lib.relu(lib.batch_norm(x, None, None, training=True) + rr)
    return fn


def _cases(rng):
    x1k = rng.standard_normal((256, 1000)).astype(np.float32)
    xconv = rng.standard_normal((64, 64, 28, 28)).astype(np.float32)
    x10 = rng.standard_normal((256, 10)).astype(np.float32)
    t10 = rng.integers(0, 10, 256)
    xres, rres = rng.standard_normal((2, 64, 64, 14, 14)).astype(np.float32)
    return [
        ("relu", "256x1000", x1k, lambda lib, x: lib.relu(x), None),
        ("relu", "N64 64ch 28x28", xconv, lambda lib, x: lib.relu(x), None),
        ("sigmoid", "256x1000", x1k, lambda lib, x: lib.sigmoid(x), None),
        ("softmax dim=1", "256x1000", x1k, lambda lib, x: lib.softmax(x, dim=1), None),
        ("log_softmax dim=1", "256x1000", x1k, lambda lib, x: lib.log_softmax(x, dim=1), None),
        ("cross_entropy", "256x10 (mean)", x10, lambda lib, x, t: lib.cross_entropy(x, t), t10),
        ("bn+add+relu", "N64 64ch 14x14", xres, _bn_add_relu(True, rres), None),
        ("bn+add+relu unfus", "N64 64ch 14x14", xres, _bn_add_relu(False, rres), None),
    ]


def _run_fastdl(fn, x, t, backward):
    xt = fastdl.tensor(x, requires_grad=backward)
    if t is None:
        y = fn(F, xt)
        if backward:
            y.backward(np.ones(y.shape, np.float32))
    else:
        y = fn(F, xt, t)
        if backward:
            y.backward()
    return y, xt


def _run_torch(fn, x, t, backward):
    xt = torch.from_numpy(x).requires_grad_(backward)
    with torch.set_grad_enabled(backward):
        if t is None:
            y = fn(torch.nn.functional, xt)
            if backward:
                y.backward(torch.ones_like(y))
        else:
            y = fn(torch.nn.functional, xt, t)
            if backward:
                y.backward()
    return y, xt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cases = _cases(rng)
    print(f"fastdl {fastdl.__version__} isa={fastdl.get_isa()}"
          + (f", torch {torch.__version__}" if torch else ", torch not installed"))
    hdr = f"{'op':<18} {'shape':<16} {'thr':>3} | {'fastdl fwd':>11} {'torch fwd':>11} {'ratio':>6} | " \
          f"{'fastdl f+b':>11} {'torch f+b':>11} {'ratio':>6}"
    print(hdr)
    print("-" * len(hdr))
    for threads in args.threads:
        fastdl.set_num_threads(threads)
        if torch:
            torch.set_num_threads(threads)
        for name, shape, x, fn, t in cases:
            tt = None if t is None or torch is None else torch.from_numpy(t)
            # verify first
            yf, xf = _run_fastdl(fn, x, t, True)
            if torch:
                yt, xt = _run_torch(fn, x, tt, True)
                np.testing.assert_allclose(yf.data, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
                np.testing.assert_allclose(xf.grad.data, xt.grad.numpy(), rtol=1e-5, atol=1e-5)
            row = []
            for backward in (False, True):
                tf = _median_time(lambda: _run_fastdl(fn, x, t, backward), args.repeat)
                tp = _median_time(lambda: _run_torch(fn, x, tt, backward), args.repeat) if torch else float("nan")
                row.append((tf, tp))

            def fmt(s):
                return f"{s * 1e6:9.1f}us" if s < 1e-3 else f"{s * 1e3:9.2f}ms"

            print(f"{name:<18} {shape:<16} {threads:>3} | {fmt(row[0][0]):>11} {fmt(row[0][1]):>11} "
                  f"{row[0][1] / row[0][0]:6.2f} | {fmt(row[1][0]):>11} {fmt(row[1][1]):>11} "
                  f"{row[1][1] / row[1][0]:6.2f}")
    print("ratio = torch time / fastdl time (> 1: fastdl faster)")


if __name__ == "__main__":
    main()
