"""Recurrent layers alone (forward + backward), fastdl and PyTorch interleaved in one process.

On a shared machine the load drifts; alternating the two frameworks every repetition and
taking medians keeps the ratio meaningful. Prints median ms, ratio torch/fastdl (> 1: fastdl
faster) and the fraction of the measured FMA peak (fastdl.ops.fma_peak on the same thread
count) that fastdl reaches on the layer's GEMM FLOPs (forward 2*T*N*G*H*(I+H) per layer and
direction, backward twice that).

    python bench/rnn_layers.py [--threads 1,2] [--reps 15] [--cpu-time] [--peak GFLOPS]

--cpu-time times process CPU time instead of wall time (for 1 thread on a loaded machine);
--peak replaces the measured peak (bench/rnn.py has the same two options).
"""
import argparse
import statistics
import time

import numpy as np

# name: (cell, input, hidden, layers, steps, batch)
CONFIGS = {
    "LSTM LM": ("LSTM", 28, 256, 1, 35, 32),
    "GRU LM": ("GRU", 28, 256, 1, 35, 32),
    "LSTM 2x512": ("LSTM", 512, 512, 2, 50, 64),
}


def flops(cell, I, H, L, T, N):
    G = 4 if cell == "LSTM" else 3
    f = sum(2 * T * N * G * H * ((I if layer == 0 else H) + H) for layer in range(L))
    return 3 * f  # forward + backward (dX/dh and dW)


def run(name, threads, reps, clock=time.perf_counter):
    import torch

    import fastdl
    from fastdl import nn

    cell, I, H, L, T, N = CONFIGS[name]
    fastdl.set_num_threads(threads)
    torch.set_num_threads(threads)
    tm = getattr(torch.nn, cell)(I, H, num_layers=L)
    m = getattr(nn, cell)(I, H, num_layers=L)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    fx = fastdl.tensor(x, requires_grad=True)
    gy = np.ones((T, N, H), np.float32)
    tgy = torch.tensor(gy)

    def f_step():
        out, _ = m(fx)
        out.backward(gy)

    def t_step():
        out, _ = tm(tx)
        out.backward(tgy)

    for _ in range(2):
        f_step()
        t_step()
    tf, tt = [], []
    for _ in range(reps):
        t0 = clock()
        f_step()
        t1 = clock()
        t_step()
        t2 = clock()
        tf.append(t1 - t0)
        tt.append(t2 - t1)
    return statistics.median(tf), statistics.median(tt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--cpu-time", action="store_true")
    ap.add_argument("--peak", type=float, default=0.0)
    args = ap.parse_args()
    import fastdl

    clock = time.process_time if args.cpu_time else time.perf_counter

    for threads in [int(t) for t in args.threads.split(",")]:
        fastdl.set_num_threads(threads)
        peak = args.peak or fastdl.ops.fma_peak()
        print(f"threads={threads}: FMA peak {peak:.0f} GFLOP/s ({'given' if args.peak else 'measured'}; isa "
              f"{fastdl.get_isa()}; {'process CPU' if args.cpu_time else 'wall'} time)")
        for name in args.configs.split(","):
            f, t = run(name, threads, args.reps, clock)
            gf = flops(*CONFIGS[name]) / f / 1e9
            print(f"  {name:<11} fastdl {f * 1e3:8.2f} ms  torch {t * 1e3:8.2f} ms  ratio {t / f:5.2f}x  "
                  f"fastdl {gf:6.1f} GFLOP/s = {gf / peak:5.1%} of peak (torch {gf * f / t / peak:5.1%})")


if __name__ == "__main__":
    main()
