"""Per-call overhead of tiny ops (16 elements) in fastdl beside PyTorch, with and without
autograd recording, and the time of ``import fastdl`` (fresh interpreter, best of 5).

    python bench/overhead.py [--quick]

Each number is the best of several repeats of the mean time per call over many calls
(microseconds). "grad" means the input requires grad, so the call records a graph node.
Results are verified first (both libraries compute the same values).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def per_call_us(fn, number, repeat):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def import_time_s(module, repeat=5):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    code = f"import time; t0 = time.perf_counter(); import {module}; print(time.perf_counter() - t0)"
    best = float("inf")
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        best = min(best, float(out.stdout.strip()))
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    number, repeat = (2000, 3) if args.quick else (20000, 7)

    import fastdl
    import fastdl.functional as F

    a = np.linspace(-1, 1, 16, dtype=np.float32)
    b = np.linspace(2, 3, 16, dtype=np.float32)
    fa, fb = fastdl.tensor(a), fastdl.tensor(b)
    ga, gb = fastdl.tensor(a, requires_grad=True), fastdl.tensor(b, requires_grad=True)
    rows = [("relu", lambda: F.relu(fa), lambda: F.relu(ga)),
            ("add", lambda: fa + fb, lambda: ga + gb)]
    # verify
    np.testing.assert_array_equal(F.relu(fa).data, np.maximum(a, 0))
    np.testing.assert_allclose((fa + fb).data, a + b)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
        tga, tgb = ta.clone().requires_grad_(), tb.clone().requires_grad_()
        trows = {"relu": (lambda: torch.relu(ta), lambda: torch.relu(tga)),
                 "add": (lambda: ta + tb, lambda: tga + tgb)}
        np.testing.assert_array_equal(torch.relu(ta).numpy(), F.relu(fa).data)
    print(f"bench/overhead.py  isa={fastdl.get_isa()} threads={fastdl.get_num_threads()}  "
          "(us per call on 16 floats, best of repeats; ratio = torch / fastdl)")
    print(f"{'op':<6} {'autograd':<9} {'fastdl us':>10} {'torch us':>9} {'ratio':>6}")
    for name, plain, grad in rows:
        for label, fn, idx in (("off", plain, 0), ("grad", grad, 1)):
            f_us = per_call_us(fn, number, repeat)
            if torch is not None:
                t_us = per_call_us(trows[name][idx], number, repeat)
                print(f"{name:<6} {label:<9} {f_us:10.2f} {t_us:9.2f} {t_us / f_us:6.2f}")
            else:
                print(f"{name:<6} {label:<9} {f_us:10.2f} {'-':>9} {'-':>6}")
    fi = import_time_s("fastdl", 3 if args.quick else 5)
    line = f"import fastdl: {fi * 1e3:.1f} ms (best of {3 if args.quick else 5}, fresh interpreter)"
    if torch is not None:
        ti = import_time_s("torch", 3 if args.quick else 5)
        line += f";  import torch: {ti * 1e3:.1f} ms"
    print(line)


if __name__ == "__main__":
    main()
