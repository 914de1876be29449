"""Batch normalisation layers (torch.nn.BatchNorm1d / BatchNorm2d)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module, Parameter
from .._args import count_arg

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Shared implementation; subclasses fix the accepted input ranks.

    Parameters ``weight`` (ones) and ``bias`` (zeros) when affine; buffers ``running_mean``
    (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (int64, 0-d) when
    track_running_stats — the names, shapes and dtypes of PyTorch, so state_dicts load.
    ``momentum=None`` uses a cumulative moving average (factor 1/num_batches_tracked).
    """

    _ranks: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        count_arg(num_features, "num_features", type(self).__name__)
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=np.float32)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=np.float32)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.array(0, dtype=np.int64)))  # 0-d int64
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def _check_input_dim(self, x):
        if x.ndim not in self._ranks:
            want = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"expected {want} input (got {x.ndim}D input)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): input has {x.shape[1]} channels "
                             f"(dimension 1 of shape {tuple(x.shape)}), expected {self.num_features}")

    def _args(self, x):
        if not isinstance(x, Tensor):
            x = Tensor._wrap(np.ascontiguousarray(x, dtype=np.float32))
        self._check_input_dim(x)
        params, buffers = self._parameters, self._buffers  # direct: avoids Module.__getattr__
        running_mean, running_var, nbt = buffers["running_mean"], buffers["running_var"], buffers["num_batches_tracked"]
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and nbt is not None:
            n = nbt.data.item() + 1
            nbt.data.fill(n)  # a 0-d in-place `+= 1` costs ~8 us in numpy
            if self.momentum is None:
                factor = 1.0 / n
        bn_training = self.training or (running_mean is None and running_var is None)
        use_stats = not self.training or self.track_running_stats
        return (x, running_mean if use_stats else None, running_var if use_stats else None,
                params["weight"], params["bias"], bn_training, factor, self.eps)

    def forward(self, input):
        return F.batch_norm(*self._args(input))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C (torch.nn.BatchNorm1d)."""

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel C (torch.nn.BatchNorm2d)."""

    _ranks = (4,)
