"""Recurrent language-model training step: fastdl beside PyTorch.

The model of Dive into Deep Learning's chapter 9: one-hot characters (vocabulary 28) ->
LSTM (or GRU) with 256 hidden units over 35 steps, batch 32 -> linear decoder ->
cross-entropy -> gradient clipping (norm 1) -> SGD (lr 1). Both frameworks start from the
same weights and see the same batches.

First verifies that one step gives the same loss and parameters in both, then times steps in
a fresh subprocess per (framework, cell, threads) so peak RSS is measured per framework.
Prints median ms/step, tokens/s, the ratio torch/fastdl (> 1: fastdl faster) and peak RSS.

    python bench/rnn.py [--cells lstm,gru] [--steps 30] [--threads 1,2]
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

VOCAB, HIDDEN, SEQ, BATCH = 28, 256, 35, 32


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (SEQ + 1, BATCH))
    x = np.eye(VOCAB, dtype=np.float32)[ids[:-1]]  # (T, N, V) one-hot
    y = ids[1:].reshape(-1)                        # (T * N,) next characters
    return x, y


def make_weights(cell, seed=0):
    """PyTorch-named parameters, PyTorch's init U(-1/sqrt(H), 1/sqrt(H)) for all of them."""
    rng = np.random.default_rng(seed)
    G = 4 if cell == "lstm" else 3
    k = 1 / np.sqrt(HIDDEN)
    shapes = {"rnn.weight_ih_l0": (G * HIDDEN, VOCAB), "rnn.weight_hh_l0": (G * HIDDEN, HIDDEN),
              "rnn.bias_ih_l0": (G * HIDDEN,), "rnn.bias_hh_l0": (G * HIDDEN,),
              "decoder.weight": (VOCAB, HIDDEN), "decoder.bias": (VOCAB,)}
    return {n: rng.uniform(-k, k, s).astype(np.float32) for n, s in shapes.items()}


# ------------------------------------------------------------------------------ fastdl
def fastdl_step_fn(cell, weights, x, y):
    import fastdl
    import fastdl.functional as F
    from fastdl import nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(VOCAB, HIDDEN)
            self.decoder = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.decoder(out.reshape(-1, HIDDEN))

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

    def params():
        return {n: p.data.copy() for n, p in model.named_parameters()}

    return step, params


# ------------------------------------------------------------------------------ torch
def torch_step_fn(cell, weights, x, y):
    import torch

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(VOCAB, HIDDEN)
            self.decoder = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.decoder(out.reshape(-1, HIDDEN))

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
    x, y = make_data()
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
    x, y = make_data()
    step, _ = make(cell, make_weights(cell), x, y)
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median": statistics.median(times), "rss_mb": peak_rss_mb()}))


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
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--worker", choices=["fastdl", "torch"])
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.cells, int(args.threads), args.steps)
        return
    import fastdl
    import torch

    print(f"LM step: vocab {VOCAB}, hidden {HIDDEN}, seq {SEQ}, batch {BATCH}; fastdl ISA={fastdl.get_isa()}, "
          f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})")
    for cell in args.cells.split(","):
        err = verify(cell)
        print(f"{cell}: verified against torch (max parameter difference after 2 steps {err:.2e})")
        for threads in [int(t) for t in args.threads.split(",")]:
            f = run_worker("fastdl", cell, threads, args.steps)
            t = run_worker("torch", cell, threads, args.steps)
            tok = SEQ * BATCH
            print(f"{cell:>4} threads={threads}  fastdl {f['median'] * 1e3:7.2f} ms/step ({tok / f['median']:7.0f} tok/s, "
                  f"peak RSS {f['rss_mb']:5.0f} MB)   torch {t['median'] * 1e3:7.2f} ms/step "
                  f"({tok / t['median']:7.0f} tok/s, peak RSS {t['rss_mb']:5.0f} MB)   "
                  f"ratio torch/fastdl {t['median'] / f['median']:.2f}x")


if __name__ == "__main__":
    main()
