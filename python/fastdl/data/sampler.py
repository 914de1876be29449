"""DistributedSampler: each rank's share of a data set's indices (PyTorch's, index for index)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["DistributedSampler"]


def _check_int(name, v, low):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"DistributedSampler: {name} must be an int >= {low}, got {v!r}")
    return int(v)


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` reads in an epoch; pass
    it as ``DataLoader(..., sampler=...)``. Defaults for ``num_replicas`` and ``rank`` come from
    ``fastdl.distributed``.

    The assignment is PyTorch's: the epoch's order (a permutation drawn from a generator
    seeded with ``seed + epoch`` when ``shuffle``, else 0..n-1) is padded by repeating its
    start until it divides evenly (``drop_last=False``) or cut to a multiple of
    ``num_replicas`` (``drop_last=True``); rank r takes positions r, r + num_replicas, ...
    Every rank gets ``len(sampler)`` indices, so all ranks run the same number of steps.
    The permutation comes from numpy's PCG64, not torch's generator, so shuffled orders
    differ from PyTorch's (their assignment to ranks does not). Call ``set_epoch(epoch)``
    before each epoch for a new shuffle (``fit`` does it).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "fastdl.distributed.init_process_group('mpi') first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        self.num_replicas = _check_int("num_replicas", num_replicas, 1)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the interval "
                             f"[0, {self.num_replicas - 1}]")
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DistributedSampler: dataset must have a length, got {type(dataset).__name__}")
        self.dataset = dataset
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = _check_int("seed", seed, 0)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def _order(self, n):
        if self.shuffle:
            return np.random.default_rng(self.seed + self.epoch).permutation(n)
        return np.arange(n)

    def __iter__(self):
        order = self._order(len(self.dataset))
        if not self.drop_last:
            pad = self.total_size - len(order)
            if pad > 0:
                order = np.concatenate([order, np.resize(order, pad)])
        else:
            order = order[:self.total_size]
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch number that seeds the next shuffle (the same on every rank)."""
        self.epoch = _check_int("epoch", epoch, 0)

    def __repr__(self):
        return (f"DistributedSampler(len={self.num_samples}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch})")
