"""Activation layers (torch.nn names and constructor arguments); each forward is one call
into fastdl.functional."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"]


class _Inplace(Module):
    """A layer whose one option is ``inplace`` (ReLU; for Sigmoid and Tanh a fastdl extension)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        """``inplace=True`` when set, else ''."""
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """max(x, 0). ``inplace=True`` writes into the input and returns it (no copy)."""

    def forward(self, input):
        """max(input, 0) elementwise; any shape, output of the same shape. ``inplace=True`` writes
        into ``input`` and returns it."""
        return F.relu(input, self.inplace)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        """input where positive, negative_slope * input elsewhere; any shape. ``inplace=True``
        writes into ``input`` and returns it."""
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        """The negative slope (and ``inplace=True`` when set)."""
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        """input where positive, alpha * (exp(input) - 1) elsewhere; any shape. ``inplace=True``
        writes into ``input`` and returns it."""
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        """alpha (and ``inplace=True`` when set)."""
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Sigmoid(_Inplace):
    """1 / (1 + exp(-x)); ``inplace=True`` writes into the input."""

    def forward(self, input):
        """1 / (1 + exp(-input)) elementwise; any shape. ``inplace=True`` writes into ``input``."""
        return F.sigmoid(input, self.inplace)


class Tanh(_Inplace):
    """Hyperbolic tangent tanh(x) elementwise, as ``torch.nn.Tanh``; any shape, values in (-1, 1);
    ``inplace=True`` writes into the input."""

    def forward(self, input):
        """tanh(input) elementwise; any shape, values in (-1, 1). ``inplace=True`` writes into ``input``."""
        return F.tanh(input, self.inplace)


class Softmax(Module):
    """Softmax along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        """exp(input) normalised to sum 1 along ``dim``; same shape. IndexError for a dim out of
        range.
        """
        return F.softmax(input, self.dim)

    def extra_repr(self):
        """``dim=...``."""
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        """log(softmax(input)) along ``dim``, computed stably; same shape. IndexError for a dim out
        of range.
        """
        return F.log_softmax(input, self.dim)

    def extra_repr(self):
        """``dim=...``."""
        return f"dim={self.dim}"
