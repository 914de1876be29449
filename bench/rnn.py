"""Recurrent language-model training step: fastdl beside PyTorch.

The model of Dive into Deep Learning's chapter 9: one-hot characters (vocabulary 28) ->
LSTM (or GRU) with 256 hidden units over 35 steps, batch 32 -> linear decoder ->
cross-entropy -> gradient clipping (norm 1) -> SGD (lr 1); and the same with a 2-layer LSTM,
hidden 512, 50 steps, batch 64 over a vocabulary of 512 (`lstm2`: input 512). Both frameworks
start from the same weights and see the same batches.

First verifies that two steps give the same loss and parameters in both, then times steps in
a fresh subprocess per (framework, model, threads) so peak RSS is measured per framework.
Prints median ms/step, tokens/s, the ratio torch/fastdl (> 1: fastdl faster), the fraction of
the FMA peak (fastdl.ops.fma_peak on the same thread count, measured in the same run) each
reaches on the step's GEMM FLOPs (recurrent layers and decoder, forward + backward), and peak RSS.

    python bench/rnn.py [--cells lstm,gru,lstm2] [--steps N] [--threads 1,2] [--cpu-time] [--peak GFLOPS]
                        [--rounds R]

On a loaded machine wall times and the measured peak drift together with the load; with
--cpu-time the medians are of the process CPU time (meaningful for 1 thread: time the step
really ran) and --peak replaces the measured peak (e.g. one taken while the machine was idle).
--rounds R runs the two frameworks' workers alternately R times each (fastdl, torch, fastdl, ...)
and reports the median of their per-round medians, so a load that drifts during the run hits
both alike.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

# name: (layer class, vocabulary = input size, hidden, layers, sequence length, batch, default timed steps)
MODELS = {
    "lstm": ("LSTM", 28, 256, 1, 35, 32, 30),
    "gru": ("GRU", 28, 256, 1, 35, 32, 30),
    "lstm2": ("LSTM", 512, 512, 2, 50, 64, 5),
}


def step_flops(cell):
    """GEMM FLOPs of one training step that the step needs: forward 2*T*N*G*H*(I + H) per layer
    plus the decoder 2*T*N*H*V; backward the weight gradients (as much again) and the input
    gradients (as much again) except the first layer's input gradient, 2*T*N*G*H*V: the one-hot
    input needs none (counting it would add 3 % to the LSTM LM's FLOPs)."""
    kind, V, H, L, T, N, _ = MODELS[cell]
    G = 4 if kind == "LSTM" else 3
    f = sum(2 * T * N * G * H * ((V if layer == 0 else H) + H) for layer in range(L)) + 2 * T * N * H * V
    return 3 * f - 2 * T * N * G * H * V


def make_data(cell, seed=0):
    _, V, _, _, T, N, _ = MODELS[cell]
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (T + 1, N))
    x = np.eye(V, dtype=np.float32)[ids[:-1]]  # (T, N, V) one-hot
    y = ids[1:].reshape(-1)                    # (T * N,) next characters
    return x, y


def make_weights(cell, seed=0):
    """PyTorch-named parameters, PyTorch's init U(-1/sqrt(H), 1/sqrt(H)) for all of them."""
    kind, V, H, L, _, _, _ = MODELS[cell]
    rng = np.random.default_rng(seed)
    G = 4 if kind == "LSTM" else 3
    k = 1 / np.sqrt(H)
    shapes = {"decoder.weight": (V, H), "decoder.bias": (V,)}
    for layer in range(L):
        shapes.update({f"rnn.weight_ih_l{layer}": (G * H, V if layer == 0 else H), f"rnn.weight_hh_l{layer}": (G * H, H),
                       f"rnn.bias_ih_l{layer}": (G * H,), f"rnn.bias_hh_l{layer}": (G * H,)})
    return {n: rng.uniform(-k, k, s).astype(np.float32) for n, s in shapes.items()}


# ------------------------------------------------------------------------------ fastdl
def fastdl_step_fn(cell, weights, x, y, mark=None):
    """(step, params) closures; ``mark(phase)``, when given, is called after each phase of the
    step (bench/rnn_profile.py times them)."""
    import fastdl
    import fastdl.functional as F
    from fastdl import nn

    kind, V, H, L = MODELS[cell][:4]

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(V, H, num_layers=L)
            self.decoder = nn.Linear(H, V)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.decoder(out.reshape(-1, H))

    model = LM()
    model.load_state_dict(weights)
    opt = fastdl.optim.SGD(model.parameters(), lr=1.0)
    xt = fastdl.tensor(x)

    def step():
        loss = F.cross_entropy(model(xt), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    def step_marked():
        out = model(xt)
        mark("forward")
        loss = F.cross_entropy(out, y)
        mark("loss")
        opt.zero_grad()
        mark("zero_grad")
        loss.backward()
        mark("backward")
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        mark("clip")
        opt.step()
        mark("optimizer")
        return loss.item()

    def params():
        return {n: p.data.copy() for n, p in model.named_parameters()}

    return (step if mark is None else step_marked), params


# ------------------------------------------------------------------------------ torch
def torch_step_fn(cell, weights, x, y):
    import torch

    kind, V, H, L = MODELS[cell][:4]

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(V, H, num_layers=L)
            self.decoder = torch.nn.Linear(H, V)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.decoder(out.reshape(-1, H))

    model = LM()
    model.load_state_dict({n: torch.tensor(w) for n, w in weights.items()})
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    def params():
        return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}

    return step, params


def verify(cell):
    x, y = make_data(cell)
    w = make_weights(cell)
    fs, fp = fastdl_step_fn(cell, w, x, y)
    ts, tp = torch_step_fn(cell, w, x, y)
    for i in range(2):
        lf, lt = fs(), ts()
        assert abs(lf - lt) < 1e-4 * max(1.0, abs(lt)), f"{cell} step {i}: loss fastdl {lf} torch {lt}"
    a, b = fp(), tp()
    err = max(float(np.abs(a[n] - b[n]).max()) for n in a)
    assert err < 1e-4, f"{cell}: parameters differ by {err} after 2 steps"
    return err


def worker(framework, cell, threads, steps):
    if framework == "fastdl":
        import fastdl

        fastdl.set_num_threads(threads)
        make = fastdl_step_fn
    else:
        import torch

        torch.set_num_threads(threads)
        make = torch_step_fn
    x, y = make_data(cell)
    step, _ = make(cell, make_weights(cell), x, y)
    for _ in range(3):
        step()
    times, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"median": statistics.median(times), "cpu": statistics.median(cpu), "rss_mb": peak_rss_mb()}))


def peak_rss_mb():
    """Peak RSS of this process: VmHWM (ru_maxrss would include the forking parent's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(framework, cell, threads, steps):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", framework, "--cells", cell, "--threads", str(threads),
                          "--steps", str(steps)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default=",".join(MODELS))
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: per model, 30 or 5)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cpu-time", action="store_true", help="medians of process CPU time instead of wall time")
    ap.add_argument("--peak", type=float, default=0.0, help="FMA peak in GFLOP/s (default: measured per thread count)")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the two frameworks' workers this many times")
    ap.add_argument("--worker", choices=["fastdl", "torch"])
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.cells, int(args.threads), args.steps)
        return
    import fastdl
    import torch

    print(f"LM training step; fastdl ISA={fastdl.get_isa()}, torch {torch.__version__} "
          f"({torch.backends.cpu.get_cpu_capability()})")
    threads_list = [int(t) for t in args.threads.split(",")]
    peaks = {}
    for threads in threads_list:
        fastdl.set_num_threads(threads)
        peaks[threads] = args.peak or fastdl.ops.fma_peak()
        print(f"threads={threads}: FMA peak {peaks[threads]:.0f} GFLOP/s ({'given' if args.peak else 'measured'}); "
              f"times are {'process CPU' if args.cpu_time else 'wall'} time")
    for cell in args.cells.split(","):
        kind, V, H, L, T, N, default_steps = MODELS[cell]
        err = verify(cell)
        print(f"{cell}: {L}-layer {kind}, vocab {V}, hidden {H}, seq {T}, batch {N}; verified against torch "
              f"(max parameter difference after 2 steps {err:.2e})")
        steps = args.steps or default_steps
        fl = step_flops(cell)
        for threads in threads_list:
            runs = [(run_worker("fastdl", cell, threads, steps), run_worker("torch", cell, threads, steps))
                    for _ in range(args.rounds)]
            key = "cpu" if args.cpu_time else "median"
            f = {"median": statistics.median(r[0][key] for r in runs), "rss_mb": max(r[0]["rss_mb"] for r in runs)}
            t = {"median": statistics.median(r[1][key] for r in runs), "rss_mb": max(r[1]["rss_mb"] for r in runs)}
            tok = T * N
            pf, pt = fl / f["median"] / 1e9 / peaks[threads], fl / t["median"] / 1e9 / peaks[threads]
            print(f"{cell:>5} threads={threads}  fastdl {f['median'] * 1e3:8.2f} ms/step ({tok / f['median']:7.0f} tok/s, "
                  f"{pf:5.1%} of peak, peak RSS {f['rss_mb']:5.0f} MB)   torch {t['median'] * 1e3:8.2f} ms/step "
                  f"({tok / t['median']:7.0f} tok/s, {pt:5.1%} of peak, peak RSS {t['rss_mb']:5.0f} MB)   "
                  f"ratio torch/fastdl {t['median'] / f['median']:.2f}x")


if __name__ == "__main__":
    main()
