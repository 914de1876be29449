"""Run by tests/test_distributed.py under ``mpiexec -n 2``: ``python ddp_worker.py SCENARIO OUTDIR``.

Scenario ``train`` runs every DDP case of the test in one launch (MPI start-up costs seconds)
and writes ``OUTDIR/rank<r>.npz`` for the test to compare; ``crash`` makes rank 1 raise while
rank 0 waits in an allreduce. The helpers (data, models, the training loop) are shared with
the test's single-process reference runs.
"""
import os
import sys
import time

import numpy as np

import fastdl
from fastdl import nn, optim
from fastdl.tensor import Tensor

STEPS, GLOBAL_BATCH = 6, 16


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, n)


def make_model(seed, bn=False):
    fastdl.manual_seed(seed)
    norm = [nn.BatchNorm2d(4)] if bn else []
    return nn.Sequential(nn.Conv2d(1, 4, 3), *norm, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))


def flat(tensors):
    return np.concatenate([t.data.ravel().astype(np.float64) for t in tensors])


def train_steps(model, X, y, rank=0, world=1, steps=STEPS, batch=GLOBAL_BATCH):
    """SGD with momentum on consecutive global batches; rank r uses samples r, r + world, ...
    of each (one process with rank 0 of 1 trains on the whole global batch)."""
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for s in range(steps):
        lo = (s * batch) % len(X)
        xb, yb = X[lo:lo + batch][rank::world], y[lo:lo + batch][rank::world]
        opt.zero_grad()
        loss_fn(model(Tensor(xb)), Tensor(yb)).backward()
        opt.step()


def scenario_train(out):
    import fastdl.distributed as dist
    from fastdl.nn.parallel import DistributedDataParallel as DDP
    from fastdl.train import CSVLogger, ModelCheckpoint

    r, w = dist.get_rank(), dist.get_world_size()
    res = {}
    # collectives
    t = fastdl.tensor(np.full(3, r + 1.0))
    dist.all_reduce(t)
    res["sum"] = t.data
    m = np.array([r + 1], dtype=np.int64)
    dist.all_reduce(m, op=dist.ReduceOp.MAX)
    res["max"] = m
    a = np.array([r + 1.0, 2.0 * r])
    dist.all_reduce(a, op="avg", async_op=True).wait()
    res["avg"] = a
    b = np.arange(4.0) * (r + 1)
    dist.broadcast(b, src=1)
    res["bcast"] = b
    dist.barrier()
    # different initial weights on the ranks; small buckets (several Iallreduce in flight)
    X, y = data()
    model = make_model(seed=r)
    res["init"] = flat(model.parameters())
    ddp = DDP(model, bucket_cap_mb=1e-4)
    res["nbuckets"] = np.array([len(ddp._reducer.buckets)])
    res["synced"] = flat(model.parameters())
    train_steps(ddp, X, y, r, w)
    res["trained_small_buckets"] = flat(model.parameters())
    # default buckets (one)
    model = make_model(seed=0 if r == 0 else 7)
    train_steps(DDP(model), X, y, r, w)
    res["trained_one_bucket"] = flat(model.parameters())
    # no_sync keeps gradients local
    with ddp.no_sync():
        nn.CrossEntropyLoss()(ddp(Tensor(X[r::w])), Tensor(y[r::w])).backward()
    res["no_sync_grad"] = flat([p.grad for p in ddp.parameters()])
    # BatchNorm buffers: rank 0's reach every rank with the gradients
    bn_model = make_model(seed=r, bn=True)
    bn_ddp = DDP(bn_model)
    bn = bn_model[1]
    with fastdl.no_grad():
        bn.running_mean.data[...] = 100.0 * r
    train_steps(bn_ddp, X, y, r, w, steps=1)
    res["bn_running_mean"] = bn.running_mean.data.copy()
    res["bn_params"] = flat(bn_model.parameters())
    # fit: data split between ranks, logs reduced, files from rank 0 only
    Xv, yv = data(n=21, seed=1)
    model = make_model(seed=3)
    ddp = DDP(model)
    hist = fastdl.train.fit(ddp, (X, y), nn.CrossEntropyLoss(), optim.SGD(ddp.parameters(), lr=0.05), epochs=2,
                            val_data=(Xv, yv), batch_size=8, verbose=2,
                            callbacks=[ModelCheckpoint(os.path.join(out, f"ckpt-r{r}-{{epoch}}.safetensors"),
                                                       save_weights_only=True),
                                       CSVLogger(os.path.join(out, f"log-r{r}.csv"))])
    res["fit_logs"] = np.array([hist.history[k][-1] for k in ("loss", "accuracy", "val_loss", "val_accuracy")])
    res["fit_params"] = flat(model.parameters())
    res["fit_eval"] = np.array(list(fastdl.train.evaluate(ddp, (Xv, yv), nn.CrossEntropyLoss()).values()))
    res["state_keys"] = np.array(list(ddp.state_dict()))
    # a model that differs between ranks is refused on every rank
    try:
        DDP(nn.Sequential(nn.Linear(4, 3 + r)))
        res["mismatch"] = np.array("no error")
    except ValueError as e:
        res["mismatch"] = np.array(str(e))
    np.savez(os.path.join(out, f"rank{r}.npz"), **res)
    dist.destroy_process_group()


def scenario_crash(out):
    import fastdl.distributed as dist

    if dist.get_rank() == 1:
        time.sleep(0.5)
        raise RuntimeError("rank 1 fails on purpose")
    dist.all_reduce(np.zeros(1))  # never completes: rank 1 is gone
    print("rank 0 passed the allreduce", flush=True)


if __name__ == "__main__":
    import fastdl.distributed as dist

    dist.init_process_group("mpi")
    {"train": scenario_train, "crash": scenario_crash}[sys.argv[1]](sys.argv[2])
