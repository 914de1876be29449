"""What ``fit`` / ``evaluate`` do differently when the model is a DistributedDataParallel:
data given as arrays or a Dataset is split between the ranks, epoch means are reduced over
the ranks, and only rank 0 prints or writes files."""
from __future__ import annotations

import numpy as np

from ..data.sampler import DistributedSampler
from ..distributed.process_group import _is_rank0 as is_rank0  # noqa: F401  (no mpi4py import)
from ..nn.parallel import DistributedDataParallel


def is_ddp(model) -> bool:
    return isinstance(model, DistributedDataParallel)


def shard_sampler(dataset, shuffle):
    """The sampler that gives this rank its share of ``dataset``. Training (``shuffle``): a
    DistributedSampler seeded from rank 0's fastdl generator, so ``fastdl.manual_seed`` on
    rank 0 fixes the run. Validation: rank r takes samples r, r + world, ... (no padding, so
    the sample-weighted means reduced over ranks are the means over the whole set)."""
    from .. import distributed as dist
    from .. import random

    if shuffle:
        seed = np.array([random.default_generator().integers(0, 2**31)], dtype=np.int64)
        dist.broadcast(seed, 0)
        return DistributedSampler(dataset, shuffle=True, seed=int(seed[0]))
    return range(dist.get_rank(), len(dataset), dist.get_world_size())


def set_epoch(loader, epoch):
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


def reduce_meter(meter, has_loss):
    """Turn each rank's sample-weighted sums into sums over all ranks (one allreduce). The
    keys come from the configuration, not from the batches seen, so a rank that saw no batch
    still sends a vector of the same length."""
    from .. import distributed as dist

    keys = (["loss"] if has_loss else []) + [name for name, _ in meter.metric_fns]
    vec = np.array([meter.n] + [meter.sums.get(k, 0.0) for k in keys], dtype=np.float64)
    dist.all_reduce(vec)
    meter.n = int(vec[0])
    meter.sums = dict(zip(keys, vec[1:].tolist()))
