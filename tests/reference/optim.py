"""Float64 references of the optimizer update rules (torch.optim.SGD / Adam / AdamW docstrings).

Each takes float arrays, returns new float64 arrays and does not modify its inputs.
"""
import numpy as np


def sgd(param, buf, grad, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
        maximize=False, first=False):
    """One SGD step; returns (param, buf) (buf None when momentum == 0)."""
    p = np.asarray(param, np.float64)
    g = -np.asarray(grad, np.float64) if maximize else np.asarray(grad, np.float64)
    if weight_decay != 0:
        g = g + weight_decay * p
    b = None
    if momentum != 0:
        b = g.copy() if first else momentum * np.asarray(buf, np.float64) + (1 - dampening) * g
        g = g + momentum * b if nesterov else b
    return p - lr * g, b


def adam(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, step, lr, beta1, beta2, eps,
         weight_decay=0.0, decoupled=False, maximize=False):
    """One Adam/AdamW step at step count `step` (>= 1); returns (param, m, v, vmax)."""
    p = np.asarray(param, np.float64)
    g = -np.asarray(grad, np.float64) if maximize else np.asarray(grad, np.float64)
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = beta1 * np.asarray(exp_avg, np.float64) + (1 - beta1) * g
    v = beta2 * np.asarray(exp_avg_sq, np.float64) + (1 - beta2) * g * g
    vmax = None
    v_hat = v
    if max_exp_avg_sq is not None:
        vmax = np.maximum(np.asarray(max_exp_avg_sq, np.float64), v)
        v_hat = vmax
    bc1 = 1 - beta1 ** step
    bc2 = 1 - beta2 ** step
    p = p - (lr / bc1) * m / (np.sqrt(v_hat) / np.sqrt(bc2) + eps)
    return p, m, v, vmax
