"""Optimizer step time: fastdl's fused SGD/Adam/AdamW beside torch.optim (single-tensor
foreach=False, foreach=True and fused=True) on the same parameters and gradients.

Verifies first that fastdl and torch (foreach=False) give the same parameters after a few
steps, then prints median step times and the ratio torch/fastdl, for 1 and 2 threads.
Usage: python bench/optim.py [--sizes mlp,1m] [--repeat 50]
"""
import argparse
import statistics
import time

import numpy as np

import fastdl
from fastdl.nn import Parameter

SIZES = {
    "mlp": [(256, 784), (256,), (10, 256), (10,)],  # MLP 784-256-10 (203 530 parameters)
    "1m": [(1000, 1000)],
    "4m": [(2000, 2000)],
}
CASES = {
    "SGD(momentum=0.9, nesterov)": ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True)),
    "Adam": ("Adam", dict(lr=1e-3)),
    "AdamW(amsgrad)": ("AdamW", dict(lr=1e-3, amsgrad=True)),
}


def median_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="mlp,1m")
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    import torch

    rng = np.random.default_rng(0)
    print(f"fastdl ISA={fastdl.get_isa()}, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})")
    for size in args.sizes.split(","):
        shapes = SIZES[size]
        n = sum(int(np.prod(s)) for s in shapes)
        init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for threads in (1, 2):
            fastdl.set_num_threads(threads)
            torch.set_num_threads(threads)
            for label, (cls, kw) in CASES.items():
                ours = [Parameter(a.copy()) for a in init]
                for p, g in zip(ours, grads):
                    p.grad = fastdl.Tensor(g)
                opt = getattr(fastdl.optim, cls)(ours, **kw)
                variants = {}
                for name, extra in (("foreach=False", dict(foreach=False)), ("foreach=True", dict(foreach=True)),
                                    ("fused", dict(fused=True))):
                    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
                    for tp, g in zip(theirs, grads):
                        tp.grad = torch.tensor(g)
                    try:
                        variants[name] = (theirs, getattr(torch.optim, cls)(theirs, **kw, **extra))
                    except (RuntimeError, ValueError):
                        pass
                # verify: 3 steps each, same parameters as torch's single-tensor path
                theirs, topt = variants["foreach=False"]
                for _ in range(3):
                    opt.step()
                    topt.step()
                err = max(float(np.abs(p.data - tp.detach().numpy()).max()) for p, tp in zip(ours, theirs))
                assert err < 1e-5, f"{label}: fastdl and torch differ by {err}"
                t_ours = median_time(opt.step, args.repeat)
                line = f"{size:>4} ({n:>8} params) threads={threads} {label:<28} fastdl {t_ours * 1e6:9.1f} us"
                with torch.no_grad():
                    for name, (_, o) in variants.items():
                        t = median_time(o.step, args.repeat)
                        line += f" | torch {name} {t * 1e6:9.1f} us ({t / t_ours:4.2f}x)"
                print(line, flush=True)


if __name__ == "__main__":
    main()
