"""Dropout layer (torch.nn.Dropout): active in train mode, identity in eval mode."""
from __future__ import annotations

import numbers

from .. import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zeroes elements with probability ``p`` in training (scaling the rest by 1 / (1 - p))."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not (0.0 <= p <= 1.0):
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        """In training mode, zero each element with probability p and scale the rest by 1/(1-p);
        the identity in eval mode. Any shape. ``inplace=True`` writes into ``input``.
        """
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        """``p=..., inplace=...``."""
        return f"p={self.p}, inplace={self.inplace}"
