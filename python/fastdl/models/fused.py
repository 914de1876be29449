"""FusedSequential: a Sequential that runs BatchNorm followed by ReLU as one fused kernel."""
from __future__ import annotations

from .. import nn
from ..nn.normalization import _BatchNorm

__all__ = ["FusedSequential"]


class FusedSequential(nn.Sequential):
    """``nn.Sequential`` (same children, names and state_dict) whose forward replaces each
    ``BatchNorm -> ReLU`` pair by ``F.batch_norm_relu``: one pass instead of two forward, and
    no stored ReLU mask in backward. Results equal the unfused Sequential's."""

    def forward(self, input):
        """Run the children in order on ``input`` (the first child's input shape, e.g.
        (N, C, H, W)), fusing each BatchNorm -> ReLU pair; returns the last child's output."""
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, _BatchNorm) and i + 1 < len(mods) and type(mods[i + 1]) is nn.ReLU:
                input = m.forward_relu(input)
                i += 2
                continue
            input = m(input)
            i += 1
        return input
