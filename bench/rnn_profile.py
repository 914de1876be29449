"""Where the time of fastdl's LM training step goes (bench/rnn.py's models), per phase.

Runs the step of bench/rnn.py with a mark after each phase (forward, loss, zero_grad,
backward, clip, optimizer) and every function of ``fastdl._C`` wrapped with a timer (thread
CPU time with --cpu-time, else wall time). Prints per step (median over --steps): each phase's
time, the kernels called in it and their time, and "python" = the phase minus its kernels
(autograd, numpy glue, argument conversion).

    PYTHONPATH=python python bench/rnn_profile.py [--cells lstm,gru,lstm2] [--threads 1]
                                                  [--steps 20] [--cpu-time]
"""
import argparse
import collections
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rnn as bench  # noqa: E402

PHASES = ("forward", "loss", "zero_grad", "backward", "clip", "optimizer")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cpu-time", action="store_true", help="thread CPU time (1 thread only) instead of wall time")
    args = ap.parse_args()
    import fastdl
    from fastdl import _C

    fastdl.set_num_threads(args.threads)
    clock = time.thread_time if args.cpu_time else time.perf_counter
    kern = collections.defaultdict(float)   # (phase, kernel) -> seconds in this step
    phase_t = collections.defaultdict(float)
    state = {"t": 0.0}

    def wrap(name, fn):
        def timed(*a, **k):
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                kern[name] += clock() - t0
        return timed

    for name in dir(_C):
        fn = getattr(_C, name)
        if callable(fn) and not name.startswith("_") and not isinstance(fn, type):
            setattr(_C, name, wrap(name, fn))

    by_phase = collections.defaultdict(float)

    def mark(phase):
        now = clock()
        phase_t[phase] += now - state["t"]
        for n, v in kern.items():
            by_phase[(phase, n)] += v
        kern.clear()
        state["t"] = clock()

    for cell in args.cells.split(","):
        x, y = bench.make_data(cell)
        step, _ = bench.fastdl_step_fn(cell, bench.make_weights(cell), x, y, mark=mark)
        samples = collections.defaultdict(list)
        totals = []
        for i in range(args.steps + 3):
            phase_t.clear()
            by_phase.clear()
            kern.clear()
            t0 = state["t"] = clock()
            step()
            if i < 3:
                continue
            totals.append(clock() - t0)
            for k, v in list(phase_t.items()) + list(by_phase.items()):
                samples[k].append(v)
        total = statistics.median(totals)
        fl = bench.step_flops(cell)
        print(f"{cell}: step {total * 1e3:.2f} ms ({fl / total / 1e9:.1f} GFLOP/s on the step's FLOPs), threads "
              f"{args.threads}, {'thread CPU' if args.cpu_time else 'wall'} time, median of {args.steps}")
        for ph in PHASES:
            m = statistics.median(samples[ph])
            ks = sorted((k for k in samples if isinstance(k, tuple) and k[0] == ph), key=lambda k: -statistics.median(samples[k]))
            inner = sum(statistics.median(samples[k]) for k in ks)
            detail = ", ".join(f"{k[1]} {statistics.median(samples[k]) * 1e3:.3f}" for k in ks)
            print(f"  {ph:10s} {m * 1e3:8.3f} ms {m / total:6.1%}   python {(m - inner) * 1e3:6.3f} ms   [{detail}]")


if __name__ == "__main__":
    main()
