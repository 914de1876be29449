"""Compiled vs eager fastdl, interleaved in one process (robust on a shared machine).

Usage: PYTHONPATH=python python bench/compile_ab.py [--models lenet,lenet_bn,nin,resnet18]
       [--batch 64] [--pairs 7] [--modes train,infer] [--threads 1] [--profile]

For each model: two identical copies; one steps eagerly, the other through
fastdl.compile_step (SGD with momentum) or fastdl.compile (inference), alternating call by call,
so both see the same machine load. Verifies the first losses (train) or outputs (infer) agree,
then prints the median time of each and eager / compiled (> 1: the compiled step is faster).
--profile: also the compiled train step's time per plan op (Plan.run_timed, median of --pairs runs).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastdl
from fastdl import models, nn
from fastdl.optim import SGD


def train_pair(eager_pair, compiled_pair, loss_fn, x, y):
    """(eager step, compiled step) callables over two (model, optimizer) pairs on one batch."""
    m1, o1 = eager_pair
    m2, o2 = compiled_pair

    def eager():
        o1.zero_grad()
        loss = loss_fn(m1(fastdl.tensor(x)), y)
        loss.backward()
        o1.step()
        return loss

    step = fastdl.compile_step(m2, loss_fn, o2)
    return eager, lambda: step(x, y)


def _pair(name, mode, batch, pairs):
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def make():
        fastdl.manual_seed(0)
        m = getattr(models, name)()
        return m, SGD(m.parameters(), lr=0.01, momentum=0.9)

    (m1, o1), (m2, o2) = make(), make()
    loss_fn = nn.CrossEntropyLoss()
    if mode == "train":
        eager, compiled = train_pair((m1, o1), (m2, o2), loss_fn, x, y)
    else:
        m1.eval()
        m2.eval()

        def eager():
            with fastdl.no_grad():
                return m1(fastdl.tensor(x))

        predict = fastdl.compile(m2)
        compiled = lambda: predict(x)  # noqa: E731
    state = fastdl.random.get_rng_state()
    a = [np.asarray(eager().data).copy() for _ in range(2)]
    fastdl.random.set_rng_state(state)  # dropout: the same seeds for the compiled copy
    b = [np.asarray(compiled().data).copy() for _ in range(2)]
    np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)
    te, tc = [], []
    for _ in range(pairs):
        t0 = time.perf_counter()
        eager()
        te.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        compiled()
        tc.append(time.perf_counter() - t0)
    return np.median(te) * 1e3, np.median(tc) * 1e3


def profile(name, batch, reps):
    """Per-op time of the compiled train step's plan: {op name: (calls, median ms per step)}."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    fastdl.manual_seed(0)
    m = getattr(models, name)()
    step = fastdl.compile_step(m, nn.CrossEntropyLoss(), SGD(m.parameters(), lr=0.01, momentum=0.9))
    for _ in range(2):
        step(x, y)
    (replay,) = [e for e in step._plans.values() if hasattr(e, "plan")]
    names = [s[0] for s in replay.plan.steps()]
    runs = np.array([replay.plan.run_timed(x, y) for _ in range(reps)])
    per_step = np.median(runs, axis=0) * 1e3
    out = {}
    for n, t in zip(names, per_step):
        c, tot = out.get(n, (0, 0.0))
        out[n] = (c + 1, tot + t)
    return dict(sorted(out.items(), key=lambda kv: -kv[1][1])), float(np.median(runs.sum(axis=1))) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet,lenet_bn,nin,resnet18")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="per-op times of the compiled train step's plan")
    args = ap.parse_args()
    fastdl.set_num_threads(args.threads)
    print(f"bench/compile_ab.py  isa={fastdl.get_isa()}  threads={args.threads}  batch={args.batch}  "
          f"(median ms of {args.pairs} interleaved pairs)")
    print(f"{'model':<10} {'mode':<6} {'eager ms':>9} {'compiled ms':>12} {'eager/compiled':>15}")
    for name in args.models.split(","):
        for mode in args.modes.split(","):
            te, tc = _pair(name, mode, args.batch, args.pairs)
            print(f"{name:<10} {mode:<6} {te:9.2f} {tc:12.2f} {te / tc:15.2f}", flush=True)
        if args.profile:
            ops, total = profile(name, args.batch, args.pairs)
            print(f"  plan of {name} (train): {total:.2f} ms per step")
            for op, (calls, ms) in ops.items():
                print(f"    {op:<30} x{calls:<3} {ms:8.3f} ms  {100 * ms / total:5.1f} %")


if __name__ == "__main__":
    main()
