"""Data-parallel training over MPI: LeNet-BN on MNIST-5k with DistributedDataParallel.

    mpiexec -n 2 python examples/ddp_mnist.py [--epochs 5] [--batch-size 32] [--plot ddp.png]

(as root, Open MPI also wants ``--allow-run-as-root``, or OMPI_ALLOW_RUN_AS_ROOT=1 and
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the environment). ``pip install 'fastdl[distributed]'``
installs mpi4py and Open MPI's ``mpiexec``; a plain ``python examples/ddp_mnist.py`` runs it
as a job of one process.

Every rank builds the model (rank 0's weights are copied to the others), ``fit`` gives each
rank its share of the 4 000 training images (a DistributedSampler, ``--batch-size`` images
per rank and step) and the gradients are averaged across ranks during backward, so with 2
ranks and 32 images each a step is one step of examples/lenet.py's batch of 64. Only rank 0
prints and writes the plot; the validation numbers are means over all ranks' shares of the
1 000 test images. One OpenMP thread per rank (``--threads``): the ranks use the cores.
"""
import argparse
import os
import sys

import fastdl
import fastdl.distributed as dist
import fastdl.models
from fastdl import nn, optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet import load_data  # noqa: E402  (MNIST-5k as 4 000 / 1 000 images in [0, 1])


def main(epochs=5, batch_size=32, threads=1, seed=0, verbose=1, plot=None):
    """Trains LeNet-BN data-parallel over the MPI job; returns the test accuracy (all ranks)."""
    dist.init_process_group("mpi")
    fastdl.set_num_threads(threads)
    rank, world = dist.get_rank(), dist.get_world_size()
    Xtr, Xte, ytr, yte = load_data(seed)
    fastdl.manual_seed(seed)
    model = nn.parallel.DistributedDataParallel(fastdl.models.lenet_bn())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if rank == 0 and verbose:
        print(f"{world} rank(s) x {threads} thread(s); global batch {world * batch_size}", flush=True)
    hist = fastdl.train.fit(model, (Xtr, ytr), nn.CrossEntropyLoss(), opt, epochs=epochs, val_data=(Xte, yte),
                            scheduler=sched, batch_size=batch_size, verbose=verbose)
    acc = fastdl.train.evaluate(model, (Xte, yte))["accuracy"]
    if rank == 0:
        if verbose:
            print(f"test accuracy: {acc:.4f}", flush=True)
        if plot:
            hist.plot(plot, title=f"LeNet-BN, {world} MPI ranks")
    dist.destroy_process_group()
    return acc


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="LeNet-BN on MNIST-5k, data-parallel over MPI")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32, help="images per rank and step")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads per rank")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="PNG of the learning curves (written by rank 0)")
    a = p.parse_args()
    main(a.epochs, a.batch_size, a.threads, a.seed, plot=a.plot)
