"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""
from __future__ import annotations

import numpy as np

from .. import _C
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam`` (single-tensor numerics).

    For each parameter ``p`` with gradient ``g``, at step ``t`` (counted per parameter from 1;
    one fused C++ pass per tensor)::

        if maximize:          g = -g
        if weight_decay != 0:
            if decoupled_weight_decay: p = p * (1 - lr * weight_decay)     # AdamW
            else:                      g = g + weight_decay * p            # L2
        m = beta1 * m + (1 - beta1) * g                 # state['exp_avg']
        v = beta2 * v + (1 - beta2) * g * g             # state['exp_avg_sq']
        if amsgrad: v_max = max(v_max, v); v_hat = v_max   # state['max_exp_avg_sq']
        else:       v_hat = v
        p = p - lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    ``state[p]['step']`` holds t. Parameters whose ``grad`` is None are skipped.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr (float): learning rate. Default: 1e-3.
        betas (tuple of 2 floats): coefficients of the running averages of the gradient and
            its square, each in [0, 1). Default: (0.9, 0.999).
        eps (float): added to the denominator. Default: 1e-8.
        weight_decay (float): L2 penalty (decoupled decay for AdamW). Default: 0.
        amsgrad (bool): use the AMSGrad variant. Default: False.
        maximize (bool): maximize the objective instead of minimising it. Default: False.
        decoupled_weight_decay (bool): AdamW's decoupled weight decay. Default: False.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        self._validate_group(defaults)
        defaults["betas"] = (float(betas[0]), float(betas[1]))
        super().__init__(params, defaults)

    def _validate_group(self, group):
        lr, eps, betas, weight_decay = group["lr"], group["eps"], group["betas"], group["weight_decay"]
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of floats, got {betas!r}") from None
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            amsgrad = bool(group["amsgrad"])
            maximize = bool(group["maximize"])
            decoupled = bool(group["decoupled_weight_decay"])
            for param, grad, state in self._updates(group):
                if "step" not in state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param)
                    state["exp_avg_sq"] = np.zeros_like(param)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = np.zeros_like(param)
                step = int(state["step"]) + 1
                _C.adam_update(param, state["exp_avg"], state["exp_avg_sq"],
                               state["max_exp_avg_sq"] if amsgrad else None, grad, step, lr, beta1,
                               beta2, eps, weight_decay, decoupled, maximize)
                state["step"] = step
        return loss


class AdamW(Adam):
    r"""AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay
    (``p = p * (1 - lr * weight_decay)`` before the Adam update; the gradient is not changed).
    See :class:`Adam` for the full update rule. Default weight_decay: 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
