"""Loss layers (torch.nn names and constructor arguments). ``weight`` / ``pos_weight`` are
registered as buffers, as in PyTorch."""
from __future__ import annotations

from .. import functional as F
from .._args import reduction as reduction_arg
from ..tensor import Tensor
from .module import Module

__all__ = ["MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss"]


def _buffer(w):
    if w is None:
        return None
    return w.detach() if isinstance(w, Tensor) else Tensor(w, dtype="float32")


def _data(w):
    return None if w is None else w.data


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = reduction_arg(size_average, reduce, reduction)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer(weight))


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, input, target):
        """Mean squared error between ``input`` and ``target`` of the same shape (broadcast with a
        warning otherwise), reduced per ``reduction``.
        """
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input, target):
        """Mean absolute error between ``input`` and ``target`` of the same shape, reduced per
        ``reduction``.
        """
        return F.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy from logits (see fastdl.functional.cross_entropy)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        """Cross-entropy of logits (C,), (N, C) or (N, C, d1, ...) against class indices (N, d1,
        ...) or class probabilities; see :func:`fastdl.functional.cross_entropy` for the errors.
        """
        return F.cross_entropy(input, target, weight=_data(self.weight), ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        """Negative log-likelihood of log-probabilities (N, C, ...) at class indices (N, ...); see
        :func:`fastdl.functional.nll_loss`.
        """
        return F.nll_loss(input, target, weight=_data(self.weight), ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, numerically stable (see
    fastdl.functional.binary_cross_entropy_with_logits)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input, target):
        """Binary cross-entropy of logits ``input`` against targets in [0, 1] of the same shape
        (sigmoid fused, numerically stable), with weight / pos_weight.
        """
        return F.binary_cross_entropy_with_logits(input, target, weight=_data(self.weight), reduction=self.reduction,
                                                  pos_weight=_data(self.pos_weight))
