"""cross_entropy / nll_loss with class indices on (N, C, d1, ...) inputs, computed in place
over the class axis (dim 1) of the (N, C, S) view: no transposed copy of the input or of its
gradient (the 2-D (N, C) case runs the fused C++ kernels in ``loss``). The formulas are the
kernels' (cpp/src/loss): with m the class max, ls = log sum exp(z - m), w_t the target's
weight and se = label_smoothing / C,

    loss = -(1 - eps) * w_t * (z_t - m - ls) - se * sum_c w_c (z_c - m - ls)

'mean' divides by the summed w_t of the non-ignored targets.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function

__all__: list = []


def check_targets(t, C, ignore_index):
    """IndexError ("Target 5 is out of bounds.") for a class index outside [0, C) that is not
    ``ignore_index``; returns (valid mask, targets with ignored entries set to 0)."""
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"Target {int(t[bad][0])} is out of bounds.")
    return valid, np.where(valid, t, 0)


def check_weight(weight, C, fn):
    if weight is not None and weight.shape != (C,):
        raise ValueError(f"{fn}: weight: expected shape ({C},), got {weight.shape}")


def _reduce(per, wt, reduction, shape):
    if reduction == "none":
        return per.reshape(shape)
    total = per.sum(dtype=np.float64)
    if reduction == "sum":
        return np.asarray(total, np.float32)
    return np.asarray(total / wt.sum(dtype=np.float64), np.float32)  # NaN when all are ignored


def _grad_scale(g, reduction, wt):
    """Per-position gradient (N, S) of the loss from the incoming gradient g."""
    if reduction == "none":
        return g.reshape(wt.shape)
    scale = float(g) / (wt.sum(dtype=np.float64) if reduction == "mean" else 1.0)
    return np.full(wt.shape, scale, np.float32)


class CrossEntropyND(Function):
    """Arguments: x (N, C, d1, ...), int64 target (N, d1, ...), weight (C,) or None,
    ignore_index, reduction, label_smoothing."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, eps):
        N, C = x.shape[:2]
        check_weight(weight, C, "cross_entropy")
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {eps}")
        x3 = x.reshape(N, C, -1)
        t = target.reshape(N, -1)
        valid, tt = check_targets(t, C, ignore_index)
        m = x3.max(axis=1, keepdims=True)
        prob = np.subtract(x3, m)
        np.exp(prob, out=prob)
        s = prob.sum(axis=1, keepdims=True)
        prob /= s
        ls = np.log(s)
        logp_t = np.take_along_axis(x3, tt[:, None], 1)[:, 0] - m[:, 0] - ls[:, 0]
        wt = (weight[tt] if weight is not None else np.ones_like(logp_t)) * valid
        per = -(1.0 - eps) * wt * logp_t
        if eps:
            w3 = 1.0 if weight is None else weight[None, :, None]
            per -= (eps / C) * valid * (w3 * (x3 - m - ls)).sum(axis=1)
        per = per.astype(np.float32)
        ctx.save(prob, tt, valid, wt, weight)
        ctx.args = (reduction, eps, x.shape)
        return _reduce(per, wt, reduction, target.shape)

    @staticmethod
    def backward(ctx, g):
        prob, tt, valid, wt, weight = ctx.saved
        reduction, eps, shape = ctx.args
        C = shape[1]
        gi = _grad_scale(g, reduction, wt) * valid  # (N, S)
        se = eps / C
        wsum = float(C if weight is None else weight.sum(dtype=np.float64))
        gA = gi * ((1.0 - eps) * wt + se * wsum)
        d = prob * gA[:, None]
        if eps:
            d -= (gi * se)[:, None] * (1.0 if weight is None else weight[None, :, None])
        hit = np.take_along_axis(d, tt[:, None], 1) - (gi * (1.0 - eps) * wt)[:, None]
        np.put_along_axis(d, tt[:, None], hit, 1)
        return d.reshape(shape), None, None, None, None, None


class NLLLossND(Function):
    """Arguments: log-probabilities x (N, C, d1, ...), int64 target (N, d1, ...), weight (C,)
    or None, ignore_index, reduction."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        N, C = x.shape[:2]
        check_weight(weight, C, "nll_loss")
        x3 = x.reshape(N, C, -1)
        valid, tt = check_targets(target.reshape(N, -1), C, ignore_index)
        wt = ((weight[tt] if weight is not None else np.ones(tt.shape, np.float32)) * valid).astype(np.float32)
        per = -wt * np.take_along_axis(x3, tt[:, None], 1)[:, 0]
        ctx.save(tt, wt)
        ctx.args = (reduction, x.shape)
        return _reduce(per.astype(np.float32), wt, reduction, target.shape)

    @staticmethod
    def backward(ctx, g):
        tt, wt = ctx.saved
        reduction, shape = ctx.args
        d = np.zeros((shape[0], shape[1], tt.shape[1]), np.float32)
        np.put_along_axis(d, tt[:, None], (-_grad_scale(g, reduction, wt) * wt)[:, None], 1)
        return d.reshape(shape), None, None, None, None
