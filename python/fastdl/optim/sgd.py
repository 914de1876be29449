"""Stochastic gradient descent (torch.optim.SGD)."""
from __future__ import annotations

import numpy as np

from .. import _C
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g`` (one fused C++ pass per tensor)::

        if maximize:          g = -g
        if weight_decay != 0: g = g + weight_decay * p
        if momentum != 0:
            if first step:    buf = g                      # no dampening on the first step
            else:             buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf   if nesterov   else   buf
        p = p - lr * g

    The buffer is kept in ``state[p]['momentum_buffer']``. Parameters whose ``grad`` is None
    are skipped.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr (float): learning rate. Default: 1e-3.
        momentum (float): momentum factor. Default: 0.
        dampening (float): dampening for momentum. Default: 0.
        weight_decay (float): L2 penalty. Default: 0.
        nesterov (bool): Nesterov momentum (needs momentum > 0 and dampening 0). Default: False.
        maximize (bool): maximize the objective instead of minimising it. Default: False.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if group["nesterov"] and (momentum <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            nesterov = bool(group["nesterov"])
            maximize = bool(group["maximize"])
            for param, grad, state in self._updates(group):
                buf, first = None, False
                if momentum != 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf, first = np.empty_like(param), True
                _C.sgd_update(param, buf, grad, lr, momentum, dampening, weight_decay, nesterov,
                              maximize, first)
                if momentum != 0:
                    state["momentum_buffer"] = buf
        return loss
