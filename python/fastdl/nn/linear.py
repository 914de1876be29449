"""Linear, Identity and Flatten layers."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from . import init
from .module import Module, Parameter
from .._args import count_arg

__all__ = ["Linear", "Identity", "Flatten"]


class Linear(Module):
    """y = x W^T + b (torch.nn.Linear). weight: (out_features, in_features), bias: (out_features,).

    Default initialisation as PyTorch: W ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with
    a = sqrt(5)), b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            count_arg(v, name, "Linear", minimum=0)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw weight and bias from U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's
        default).
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        """input (*, in_features) -> (*, out_features) = input @ weight.T + bias; ValueError naming
        the shapes when the last size differs.
        """
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        """``in_features=..., out_features=..., bias=...``."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored, like torch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        """Return ``input`` unchanged."""
        return input


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one (torch.nn.Flatten; defaults keep the batch dim)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        """Merge dimensions start_dim .. end_dim of ``input`` into one (see Tensor.flatten)."""
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        """``start_dim=..., end_dim=...``."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
