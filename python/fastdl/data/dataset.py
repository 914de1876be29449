"""Dataset (the indexable-collection contract) and TensorDataset (aligned in-memory arrays)."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "as_batch_array"]


def as_batch_array(x, name="array"):
    """``x`` (ndarray, Tensor, list) as a C-contiguous array: floats and bools become float32,
    integers int64 (class targets). Other dtypes raise TypeError naming ``name``."""
    if isinstance(x, Tensor):
        x = x.data
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        return np.asarray(a, dtype=np.int64, order="C")
    if a.dtype.kind in "fb":
        return np.asarray(a, dtype=np.float32, order="C")
    raise TypeError(f"{name}: expected a numeric array, got dtype {a.dtype}")


class Dataset:
    """An indexable collection of samples, PyTorch's map-style contract.

    Subclasses implement ``__getitem__(i)`` (one sample: an array, or a tuple such as
    ``(features, label)``) and ``__len__()``. ``DataLoader`` batches any Dataset by collating
    samples; ``TensorDataset`` is sliced a whole batch at a time instead.
    """

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Samples are rows of aligned arrays: ``ds[i] == (a[i], b[i], ...)``.

    Accepts numpy arrays, Tensors or nested lists, all with the same first dimension
    (checked). Arrays are converted once: floating (and bool) data to float32, integers to
    int64. ``arrays`` holds them; ``tensors`` wraps them as Tensors (no copy).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: at least one array is required")
        conv = tuple(as_batch_array(a, f"TensorDataset argument {i}") for i, a in enumerate(arrays))
        for i, a in enumerate(conv):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-d; each array needs a first "
                                 "(sample) dimension")
        n = conv[0].shape[0]
        if any(a.shape[0] != n for a in conv):
            shapes = ", ".join(str(a.shape) for a in conv)
            raise ValueError(f"TensorDataset: size mismatch between arrays, first dimensions differ: {shapes}")
        self.arrays = conv

    @property
    def tensors(self):
        """The arrays as Tensors (sharing memory), in the order given; each has the same first
        dimension N."""
        return tuple(Tensor._wrap(a) for a in self.arrays)

    def __getitem__(self, index):
        return tuple(Tensor._wrap(a[index]) for a in self.arrays)

    def __len__(self):
        return self.arrays[0].shape[0]

    def __repr__(self):
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"
