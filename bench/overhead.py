"""Per-call overhead of tiny tensor operations (16 elements), fastdl beside PyTorch.

Usage: PYTHONPATH=python python bench/overhead.py [--repeat 15] [--number 20000]

Also reports the time of ``import fastdl`` (and ``import torch``) in a fresh interpreter,
best of 5 (target: <= 0.1 s).

Also times one training step of a tiny model (Linear 16->8, ReLU, Linear 8->4, cross-entropy,
SGD with momentum, batch 4): eager fastdl, fastdl.compile_step and PyTorch eager, verified equal
over the same steps first.

Each case is timed interleaved with its PyTorch twin (best of ``repeat`` rounds of
``number`` calls; the minimum is the least disturbed by other processes); results are
verified equal first. Target (issue 3): fastdl's tiny-op cost <= 1/2 of PyTorch's.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import timeit

import numpy as np

import fastdl


def import_seconds(module, repeat=5):
    """Best-of-``repeat`` wall time of ``import module`` in a fresh interpreter (subprocess)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(root, "python") + os.pathsep + env.get("PYTHONPATH", "")
    code = f"import time; t0 = time.perf_counter(); import {module}; print(time.perf_counter() - t0)"
    return min(float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout) for _ in range(repeat))


def tiny_step(args, torch):
    """A whole training step of a tiny model: eager fastdl, compiled fastdl, PyTorch eager."""
    from fastdl import nn
    from fastdl.optim import SGD

    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 16)).astype(np.float32)
    y = rng.integers(0, 4, 4).astype(np.int64)

    def make():
        fastdl.manual_seed(0)
        m = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
        return m, SGD(m.parameters(), lr=0.01, momentum=0.9), nn.CrossEntropyLoss()

    from compile_ab import train_pair  # bench/ is on sys.path when this script runs

    (me, oe, loss_fn), (mc, oc, _) = make(), make()
    eager, compiled = train_pair((me, oe), (mc, oc), loss_fn, x, y)
    for _ in range(3):  # verify: the same losses
        np.testing.assert_allclose(float(compiled()), float(eager()), rtol=1e-5)
    cases = {"eager fastdl": eager, "compiled fastdl": compiled}
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        tl, tx, ty = torch.nn.CrossEntropyLoss(), torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            topt.zero_grad()
            loss = tl(tm(tx), ty)
            loss.backward()
            topt.step()

        cases["torch eager"] = torch_step
    number = max(args.number // 10, 100)
    best = {k: min(timeit.repeat(f, number=number, repeat=args.repeat)) / number * 1e6 for k, f in cases.items()}
    print("tiny training step (16-8-4 MLP, batch 4, SGD momentum):  " +
          "  ".join(f"{k} {v:.1f} us" for k, v in best.items()) +
          (f"  (torch / compiled {best['torch eager'] / best['compiled fastdl']:.1f}x)" if torch is not None else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    else:
        torch.set_num_threads(fastdl.get_num_threads())

    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((2, 16)).astype(np.float32)
    a, b = fastdl.tensor(a_np), fastdl.tensor(b_np)
    x = fastdl.tensor(a_np, requires_grad=True)
    cases = {
        "add (no grad)": (lambda: a + b, None),
        "add (grad)": (lambda: x + b, None),
        "mul (grad)": (lambda: x * b, None),
        "exp (grad)": (lambda: x.exp(), None),
        "sum (grad)": (lambda: x.sum(), None),
        "getitem (grad)": (lambda: x[3:9], None),
    }
    relu = getattr(fastdl.functional, "relu", None)
    if relu is not None:
        cases["relu (no grad)"] = (lambda: relu(a), None)
        cases["relu (grad)"] = (lambda: relu(x), None)
    if torch is not None:
        ta, tb = torch.tensor(a_np), torch.tensor(b_np)
        tx = torch.tensor(a_np, requires_grad=True)
        twins = {
            "add (no grad)": lambda: ta + tb,
            "add (grad)": lambda: tx + tb,
            "mul (grad)": lambda: tx * tb,
            "exp (grad)": lambda: tx.exp(),
            "sum (grad)": lambda: tx.sum(),
            "getitem (grad)": lambda: tx[3:9],
            "relu (no grad)": lambda: torch.relu(ta),
            "relu (grad)": lambda: torch.relu(tx),
        }
        cases = {k: (f, twins[k]) for k, (f, _) in cases.items()}
        for k, (f, g) in cases.items():  # verify before timing
            np.testing.assert_allclose(f().detach().numpy(), g().detach().numpy(), rtol=1e-6, atol=1e-6)

    print(f"fastdl {fastdl.__version__}  isa={fastdl.get_isa()}  threads={fastdl.get_num_threads()}"
          + (f"  torch {torch.__version__}" if torch is not None else "  (torch not installed)"))
    print(f"{'op (16 elements)':18s} {'fastdl us':>10s} {'torch us':>10s} {'ratio':>7s}")
    for k, (f, g) in cases.items():
        tf, tt = [], []
        for _ in range(args.repeat):
            tf.append(timeit.timeit(f, number=args.number) / args.number * 1e6)
            if g is not None:
                tt.append(timeit.timeit(g, number=args.number) / args.number * 1e6)
        mf = min(tf)
        if tt:
            mt = min(tt)
            print(f"{k:18s} {mf:10.2f} {mt:10.2f} {mf / mt:7.2f}   (medians {statistics.median(tf):.2f} / "
                  f"{statistics.median(tt):.2f})")
        else:
            print(f"{k:18s} {mf:10.2f} {'-':>10s}")
    tiny_step(args, torch)
    line = f"import fastdl: {import_seconds('fastdl') * 1e3:.1f} ms (fresh interpreter, best of 5)"
    if torch is not None:
        line += f";  import torch: {import_seconds('torch') * 1e3:.1f} ms"
    print(line)


if __name__ == "__main__":
    main()
