"""Data-parallel scaling of LeNet-BN on MNIST-5k: one process vs two MPI ranks.

Three configurations, each in its own process(es), each measured ``--repeats`` times in
interleaved order (the machine is shared: a burst of other load hits all of them alike), the
median reported:

    A  1 process x 1 thread,  batch b           (the per-rank work of C, alone)
    B  1 process x 2 threads, batch 2b          (the same global batch as C)
    C  2 processes x 1 thread (mpiexec -n 2, DistributedDataParallel), batch b per rank

Scaling efficiency = samples/s(C) / (2 x samples/s(A)) (target >= 0.8); C/B compares the
two ways of using both cores. Samples per CPU-second (process time summed over the ranks)
are printed too: unlike wall time they do not count time a process waits for a core, so
their ratio C/A isolates the work DDP adds (communication, copies) on a loaded machine. Each run trains ``--steps`` timed steps after ``--warmup``
steps on the 4 000-image training split (DataLoader, DistributedSampler under MPI); before
timing, the DDP run checks that both replicas hold identical parameters after the warm-up.

    python bench/ddp.py                       # b = 64, 5 repeats
    python bench/ddp.py --batch 32 --repeats 7 --steps 60
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(args):
    import fastdl
    import fastdl.models
    from fastdl import nn, optim
    from fastdl.data import DataLoader, DistributedSampler, TensorDataset, datasets

    fastdl.set_num_threads(args.threads)
    X, y = datasets.load_mnist_5k()
    X = (X[:4000] / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    y = y[:4000]
    fastdl.manual_seed(0)
    model = fastdl.models.lenet_bn()
    world, rank, dist = 1, 0, None
    if args.mpi:
        import fastdl.distributed as dist

        dist.init_process_group("mpi")
        world, rank = dist.get_world_size(), dist.get_rank()
        model = nn.parallel.DistributedDataParallel(model)
        loader = DataLoader(TensorDataset(X, y), batch_size=args.batch, drop_last=True,
                            sampler=DistributedSampler(TensorDataset(X, y), seed=0))
    else:
        loader = DataLoader(TensorDataset(X, y), batch_size=args.batch, shuffle=True, drop_last=True, seed=0)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def batches():
        epoch = 0
        while True:
            if isinstance(loader.sampler, DistributedSampler):
                loader.sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    it = batches()

    def run(steps):
        for _ in range(steps):
            xb, yb = next(it)
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()

    run(args.warmup)
    if dist is not None:  # verify: the replicas are identical after the warm-up steps
        flat = np.concatenate([p.data.ravel() for p in model.parameters()]).astype(np.float64)
        lo, hi = flat.copy(), flat.copy()
        dist.all_reduce(lo, op="min")
        dist.all_reduce(hi, op="max")
        if not np.array_equal(lo, hi):
            raise SystemExit("bench/ddp.py: the DDP replicas differ after the warm-up")
        dist.barrier()
    start, cpu_start = time.perf_counter(), time.process_time()
    run(args.steps)
    cpu = np.array([time.process_time() - cpu_start])
    if dist is not None:
        dist.barrier()
        dist.all_reduce(cpu)  # CPU seconds of all ranks
    elapsed = time.perf_counter() - start
    samples = args.steps * args.batch * world
    if rank == 0:
        print(json.dumps({"samples_per_s": samples / elapsed, "samples_per_cpu_s": samples / cpu[0]}), flush=True)


def launch(args, threads, batch, ranks):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(threads), "--batch", str(batch),
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "python")] + [p for p in [env.get("PYTHONPATH")] if p])
    if ranks > 1:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = [shutil.which("mpiexec"), "-n", str(ranks), "--oversubscribe", "--bind-to", "none"] + cmd + ["--mpi"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64, help="per-rank batch b")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if shutil.which("mpiexec") is None:
        raise SystemExit("mpiexec not found: pip install 'fastdl[distributed]'")
    configs = {"A 1 proc x 1 thread": (1, args.batch, 1), "B 1 proc x 2 threads": (2, 2 * args.batch, 1),
               "C 2 procs x 1 thread": (1, args.batch, 2)}
    runs = {k: [] for k in configs}
    cpu = {k: [] for k in configs}
    effs = []
    for r in range(args.repeats):
        for k, (threads, batch, ranks) in configs.items():
            res = launch(args, threads, batch, ranks)
            runs[k].append(res["samples_per_s"])
            cpu[k].append(res["samples_per_cpu_s"])
        effs.append(runs["C 2 procs x 1 thread"][-1] / (2 * runs["A 1 proc x 1 thread"][-1]))
        print(f"repeat {r + 1}: " + ", ".join(f"{k[:1]} {v[-1]:.0f}" for k, v in runs.items())
              + f" samples/s; efficiency {effs[-1]:.2f}; load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\nLeNet-BN, MNIST-5k (4000 train), b = {args.batch} per rank, {args.steps} timed steps, "
          f"{args.repeats} repeats (median, [min, max])")
    for k, v in runs.items():
        print(f"  {k:<22} {statistics.median(v):8.0f} samples/s  [{min(v):.0f}, {max(v):.0f}]")
    a, b, c = (statistics.median(v) for v in runs.values())
    print(f"  scaling efficiency C / (2 A): {c / (2 * a):.2f} (median of per-repeat ratios "
          f"{statistics.median(effs):.2f}, [{min(effs):.2f}, {max(effs):.2f}]); C / B: {c / b:.2f}")
    best_a, best_b, best_c = (max(v) for v in runs.values())
    print(f"  fastest repeat of each (the least disturbed): efficiency C / (2 A) {best_c / (2 * best_a):.2f}, "
          f"C / B {best_c / best_b:.2f}")
    ca, cb, cc = (statistics.median(v) for v in cpu.values())
    print(f"  samples per CPU-second (all processes; blind to time spent waiting for the CPU): "
          f"A {ca:.0f}, B {cb:.0f}, C {cc:.0f}; C / A = {cc / ca:.2f} (the work DDP adds per sample)")


if __name__ == "__main__":
    main()
