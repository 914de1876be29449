"""Float64 numpy references of the loss kernels, forward and backward (gradient of the
reduced loss times the upstream gradient g). Inputs are (N, C) logits; class targets (N,)."""
from __future__ import annotations

import numpy as np

from .activation import log_softmax, softmax


def _reduce(per, reduction, denom):
    if reduction == "none":
        return per
    s = per.sum()
    return s if reduction == "sum" else s / denom


def cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", ls=0.0):
    x = np.asarray(x, np.float64)
    N, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    logp = log_softmax(x, 1)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    nll = -w[tt] * logp[np.arange(N), tt]
    smooth = -(logp * w).sum(1)
    per = np.where(keep, (1 - ls) * nll + ls / C * smooth, 0.0)
    denom = (w[tt] * keep).sum()
    return _reduce(per, reduction, denom)


def cross_entropy_backward(g, x, t, weight=None, ignore_index=-100, reduction="mean", ls=0.0):
    x = np.asarray(x, np.float64)
    N, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    p = softmax(x, 1)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    a = (ls / C) * np.tile(w, (N, 1))
    a[np.arange(N), tt] += (1 - ls) * w[tt]
    d = p * a.sum(1, keepdims=True) - a
    denom = (w[tt] * keep).sum()
    gi = np.asarray(g, np.float64) * np.ones(N) if reduction != "none" else np.asarray(g, np.float64)
    if reduction == "mean":
        gi = gi / denom
    return np.where(keep[:, None], d * gi[:, None], 0.0)


def cross_entropy_prob(x, q, weight=None, reduction="mean", ls=0.0):
    x = np.asarray(x, np.float64)
    N, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    q = np.asarray(q, np.float64) * (1 - ls) + ls / C
    per = -(w * q * log_softmax(x, 1)).sum(1)
    return _reduce(per, reduction, N)


def cross_entropy_prob_backward(g, x, q, weight=None, reduction="mean", ls=0.0):
    x = np.asarray(x, np.float64)
    N, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    a = w * (np.asarray(q, np.float64) * (1 - ls) + ls / C)
    d = softmax(x, 1) * a.sum(1, keepdims=True) - a
    gi = np.asarray(g, np.float64) * np.ones(N)
    if reduction == "mean":
        gi = gi / N
    return d * gi[:, None]


def nll_loss(x, t, weight=None, ignore_index=-100, reduction="mean"):
    x = np.asarray(x, np.float64)
    N, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    per = np.where(keep, -w[tt] * x[np.arange(N), tt], 0.0)
    return _reduce(per, reduction, (w[tt] * keep).sum())


def mse_loss(x, y, reduction="mean"):
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    return _reduce(d * d, reduction, d.size)


def mse_loss_backward(g, x, y, reduction="mean"):
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    s = np.asarray(g, np.float64) / (d.size if reduction == "mean" else 1)
    return 2 * d * s


def l1_loss(x, y, reduction="mean"):
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    return _reduce(np.abs(d), reduction, d.size)


def l1_loss_backward(g, x, y, reduction="mean"):
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    s = np.asarray(g, np.float64) / (d.size if reduction == "mean" else 1)
    return np.sign(d) * s


def bce_with_logits(x, y, weight=None, pos_weight=None, reduction="mean"):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    lw = 1.0 if pos_weight is None else 1 + (np.asarray(pos_weight, np.float64) - 1) * y
    per = (1 - y) * x + lw * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))
    if weight is not None:
        per = per * weight
    return _reduce(per, reduction, x.size)


def bce_with_logits_backward(g, x, y, weight=None, pos_weight=None, reduction="mean"):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    lw = 1.0 if pos_weight is None else 1 + (np.asarray(pos_weight, np.float64) - 1) * y
    d = (1 - y) - lw / (1 + np.exp(x))
    if weight is not None:
        d = d * weight
    s = np.asarray(g, np.float64) / (x.size if reduction == "mean" else 1)
    return d * s
