"""Containers: Sequential and ModuleList."""
from __future__ import annotations

from collections import OrderedDict

from . import fusion
from .module import Module

__all__ = ["Sequential", "ModuleList"]


class Sequential(Module):
    """Runs modules in order: ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(...))``.

    Children are named "0", "1", ... (or by the dict keys), as in torch, so state_dict keys match.
    Adjacent children listed in ``fastdl.nn.fusion.RULES`` (BatchNorm -> ReLU) run as one
    fused kernel, with the same results as run one by one.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"index {idx} is out of range for Sequential of length {len(mods)}")
        return mods[idx][1]

    def append(self, module):
        """Add ``module`` at the end (named by its index); returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, input):
        """Feed ``input`` through each module in order and return the last output (adjacent
        pairs in ``fusion.RULES`` run fused)."""
        return fusion.run_sequential(list(self._modules.values()), input)


class ModuleList(Module):
    """A list of modules registered as children "0", "1", ..."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            for m in modules:
                self.append(m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[idx]

    def append(self, module):
        """Add ``module`` at the end (named by its index); returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        """Append every module of the iterable ``modules``; returns self."""
        for m in modules:
            self.append(m)
        return self
