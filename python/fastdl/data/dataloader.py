"""DataLoader: mini-batches over a Dataset, whole batches sliced at once for TensorDataset."""
from __future__ import annotations

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from .dataset import Dataset, TensorDataset, as_batch_array
from .._args import is_int

__all__ = ["DataLoader"]


def _check_positive_int(name, v):
    if not is_int(v) or v < 1:
        raise ValueError(f"DataLoader: {name} must be a positive int, got {v!r}")
    return int(v)


class DataLoader:
    """Iterates over ``dataset`` in mini-batches; each batch is a tuple of Tensors (one per
    field of a sample; a single Tensor when the dataset's samples are single arrays).

    - ``batch_size``: samples per batch; the last, smaller batch is kept unless
      ``drop_last=True``. ``len(loader)`` is the number of batches per epoch.
    - ``shuffle``: a new permutation every epoch (every ``iter``). With ``seed`` the sequence
      of permutations is reproducible (the loader owns a Generator seeded once); without it the
      permutation is drawn from ``fastdl.random.default_generator()`` (``fastdl.manual_seed``).
    - A ``TensorDataset`` is sliced a whole batch at a time (one fancy index of the permutation
      per array, no per-sample Python loop). Any other Dataset is collated: ``dataset[i]`` for
      each index, fields stacked with numpy. Floating fields become float32 Tensors, integer
      fields int64 Tensors (class labels).
    - Batches are new arrays (copies), never views of the dataset: editing a batch in place
      never changes the data the next epoch sees.
    - ``sampler``: an iterable of dataset indices with a length (a ``DistributedSampler``, a
      list, a range) giving the order of each epoch instead of ``shuffle``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, sampler=None):
        if not (isinstance(dataset, Dataset) or (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__"))):
            raise TypeError(f"DataLoader: dataset must be a Dataset (with __getitem__ and __len__), "
                            f"got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        self.seed = seed
        if sampler is not None:
            if self.shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
            if not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
                raise TypeError(f"DataLoader: sampler must be an iterable of indices with a length, "
                                f"got {type(sampler).__name__}")
        self.sampler = sampler
        self._generator = np.random.default_rng(int(seed)) if seed is not None else None

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, n):
        if self.sampler is not None:
            order = np.asarray(list(self.sampler), dtype=np.int64).reshape(-1)
            bad = order[(order < 0) | (order >= n)]
            if bad.size:
                raise IndexError(f"DataLoader: sampler yielded index {bad[0]} for a dataset of {n} samples")
            return order
        if not self.shuffle:
            return None
        gen = self._generator if self._generator is not None else _random.default_generator()
        return gen.permutation(n)

    def __iter__(self):
        n = len(self.dataset)
        order = self._order(n)
        if self.sampler is not None:
            n = len(order)
        bs = self.batch_size
        stop = (n // bs) * bs if self.drop_last else n
        if isinstance(self.dataset, TensorDataset):
            arrays = self.dataset.arrays
            for start in range(0, stop, bs):
                if order is None:  # a copy, as collate makes: editing a batch never changes the dataset
                    sl = slice(start, min(start + bs, n))
                    yield tuple(Tensor._wrap(a[sl].copy()) for a in arrays)
                else:
                    idx = order[start:start + bs]
                    yield tuple(Tensor._wrap(a[idx]) for a in arrays)
            return
        for start in range(0, stop, bs):
            idx = range(start, min(start + bs, n)) if order is None else order[start:start + bs]
            yield _collate([self.dataset[int(i)] for i in idx])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")


def _field(values, k):
    arrs = [v.data if isinstance(v, Tensor) else v for v in values]
    try:
        stacked = np.stack([np.asarray(a) for a in arrs])
    except ValueError as e:
        shapes = sorted({np.shape(a) for a in arrs}, key=str)
        raise ValueError(f"DataLoader: cannot collate field {k}: samples have different shapes {shapes}") from e
    return Tensor._wrap(as_batch_array(stacked, f"DataLoader field {k}"))


def _collate(samples):
    """Stack a list of samples (each a tuple of fields, or a single array) into Tensors."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        width = len(first)
        if any(not isinstance(s, (tuple, list)) or len(s) != width for s in samples):
            raise ValueError("DataLoader: samples have different numbers of fields")
        return tuple(_field([s[k] for s in samples], k) for k in range(width))
    return _field(samples, 0)
