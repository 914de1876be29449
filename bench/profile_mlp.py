"""Phase profile of a small training step, fastdl beside PyTorch (same weights, same threads).

Usage: PYTHONPATH=python python bench/profile_mlp.py [--model mlp|softmax|linreg|all]
       [--threads 1 2] [--steps 300] [--rounds 3]

Times zero_grad, forward+loss, backward and opt.step of each step, alternating fastdl and
PyTorch steps in the same process (the machine may be shared: ratios measured back to back
are what counts). Prints the median (or --percentile) of each phase per round and the
PyTorch / fastdl ratio.
Inference (``mlp-infer``) times the forward pass under no_grad. Both models start from the
same weights; the losses of the first steps are checked equal first.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastdl
import fastdl.nn as fnn

PHASES = ("zero_grad", "forward+loss", "backward", "opt.step")


def build(model, torch):
    rng = np.random.default_rng(0)
    if model == "linreg":
        dims, loss_name, lr = [13, 1], "mse", 0.01
    elif model == "softmax":
        dims, loss_name, lr = [784, 10], "ce", 0.1
    else:
        dims, loss_name, lr = [784, 256, 10], "ce", 0.1
    x = rng.standard_normal((256, dims[0])).astype(np.float32)
    if loss_name == "ce":
        y = rng.integers(0, dims[-1], 256).astype(np.int64)
    else:
        y = rng.standard_normal((256, 1)).astype(np.float32)
    f_layers, t_layers = [], []
    for i in range(len(dims) - 1):
        fl = fnn.Linear(dims[i], dims[i + 1])
        tl = torch.nn.Linear(dims[i], dims[i + 1])
        with torch.no_grad():
            tl.weight.copy_(torch.from_numpy(fl.weight.data.copy()))
            tl.bias.copy_(torch.from_numpy(fl.bias.data.copy()))
        f_layers.append(fl)
        t_layers.append(tl)
        if i < len(dims) - 2:
            f_layers.append(fnn.ReLU())
            t_layers.append(torch.nn.ReLU())
    fm, tm = fnn.Sequential(*f_layers), torch.nn.Sequential(*t_layers)
    if loss_name == "ce":
        fl_fn, tl_fn = fnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    else:
        fl_fn, tl_fn = fnn.MSELoss(), torch.nn.MSELoss()
    fo = fastdl.optim.SGD(fm.parameters(), lr=lr)
    to = torch.optim.SGD(tm.parameters(), lr=lr)
    fx, fy = fastdl.tensor(x), (fastdl.tensor(y) if y.dtype == np.float32 else y)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    return (fm, fl_fn, fo, fx, fy), (tm, tl_fn, to, tx, ty)


clock = time.perf_counter


def step(parts, times):
    model, loss_fn, opt, x, y = parts
    t0 = clock()
    opt.zero_grad()
    t1 = clock()
    loss = loss_fn(model(x), y)
    t2 = clock()
    loss.backward()
    t3 = clock()
    opt.step()
    t4 = clock()
    for name, a, b in zip(PHASES, (t0, t1, t2, t3), (t1, t2, t3, t4)):
        times[name].append(b - a)
    times["step"].append(t4 - t0)
    return float(loss.item())


def infer(parts, times, no_grad):
    model, _, _, x, _ = parts
    t0 = clock()
    with no_grad():
        model(x)
    times["forward"].append(clock() - t0)


def stat(v):
    """The median, or the --percentile-th percentile (a low one estimates the undisturbed time
    on a loaded machine)."""
    return float(np.percentile(v, PERCENTILE))


PERCENTILE = 50


def fmt(s):
    return f"{s * 1e6:8.1f} us" if s < 1e-3 else f"{s * 1e3:8.3f} ms"


def run(model, threads, steps, rounds, torch):
    fastdl.set_num_threads(threads)
    torch.set_num_threads(threads)
    f, t = build("mlp" if model == "mlp-infer" else model, torch)
    if model != "mlp-infer":
        lf = [step(f, {k: [] for k in PHASES + ("step",)}) for _ in range(3)]
        lt = [step(t, {k: [] for k in PHASES + ("step",)}) for _ in range(3)]
        if not np.allclose(lf, lt, rtol=1e-4, atol=1e-5):
            raise SystemExit(f"{model}: losses differ: fastdl {lf} torch {lt}")
        names = PHASES + ("step",)
    else:
        with fastdl.no_grad():
            a = f[0](f[3]).numpy()
        with torch.no_grad():
            b = t[0](t[3]).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        names = ("forward",)
    print(f"\n== {model}, {threads} thread(s), ISA {fastdl.get_isa()}, {steps} steps x {rounds} rounds")
    print(f"{'phase':<14}" + "".join(f"{'fastdl':>12}{'torch':>12}{'ratio':>7}" for _ in range(1)))
    for r in range(rounds):
        tf = {k: [] for k in names}
        tt = {k: [] for k in names}
        for _ in range(steps):
            if model == "mlp-infer":
                infer(f, tf, fastdl.no_grad)
                infer(t, tt, torch.no_grad)
            else:
                step(f, tf)
                step(t, tt)
        for k in names:
            mf, mt = stat(tf[k]), stat(tt[k])
            print(f"{k:<14}{fmt(mf):>12}{fmt(mt):>12}{mt / mf:7.2f}")
        print("-")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all", choices=["mlp", "softmax", "linreg", "mlp-infer", "all"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the calling thread's CPU time (1-thread runs on a busy machine)")
    ap.add_argument("--percentile", type=float, default=50,
                    help="statistic of each phase (50 = median; e.g. 10 on a busy machine)")
    args = ap.parse_args()
    import torch

    global clock, PERCENTILE
    PERCENTILE = args.percentile
    if args.cpu_time:
        clock = time.thread_time

    models = ["mlp", "mlp-infer", "softmax", "linreg"] if args.model == "all" else [args.model]
    for m in models:
        for th in args.threads:
            run(m, th, args.steps, args.rounds, torch)


if __name__ == "__main__":
    main()
