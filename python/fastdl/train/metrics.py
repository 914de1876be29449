"""Metrics computed on numpy outputs and targets, averaged over samples by the loop.

A metric is a function ``metric(output, target) -> float`` giving the mean over the batch;
``fit``/``evaluate`` weight each batch by its size. Pass built-ins by name ("accuracy") or any
callable (logged under its ``__name__``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "resolve"]


def accuracy(output, target):
    """Fraction of correct class predictions.

    ``output`` (N, C) with C > 1: predicted class = argmax over the last axis (logits or
    probabilities). ``output`` (N,) or (N, 1): binary logits, predicted class = output > 0.
    ``target``: class indices (N,), 0/1 values shaped like a binary output, or class
    probabilities (N, C) (their argmax is the true class).
    """
    out = np.asarray(output)
    tgt = np.asarray(target)
    if out.ndim >= 2 and out.shape[-1] > 1:
        pred = out.argmax(axis=-1)
        if tgt.shape == out.shape:
            tgt = tgt.argmax(axis=-1)
    else:
        pred = (out.reshape(len(out), -1)[:, 0] > 0) if out.ndim else np.asarray(out > 0)
        tgt = tgt.reshape(len(tgt), -1)[:, 0] if tgt.ndim else tgt
    if tgt.dtype.kind == "f" and tgt.size and not np.all(tgt == np.round(tgt)):
        raise ValueError(f"accuracy: targets are not class labels (non-integer values such as "
                         f"{tgt[tgt != np.round(tgt)].flat[0]!r}); for regression pass metrics=()")
    if pred.shape != tgt.shape:
        raise ValueError(f"accuracy: predictions of shape {pred.shape} (from output {out.shape}) do not match "
                         f"targets of shape {np.asarray(target).shape}")
    if pred.size == 0:
        return float("nan")
    return float(np.mean(pred == tgt))


_BUILTIN = {"accuracy": accuracy, "acc": accuracy}


def resolve(metrics):
    """[(name, fn)] for a sequence of names and callables."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    out = []
    for m in metrics:
        if isinstance(m, str):
            if m not in _BUILTIN:
                raise ValueError(f"unknown metric {m!r}; built-ins: {sorted(_BUILTIN)}, or pass a callable "
                                 "metric(output, target) -> float")
            out.append(("accuracy" if m == "acc" else m, _BUILTIN[m]))
        elif callable(m):
            out.append((getattr(m, "__name__", type(m).__name__), m))
        else:
            raise TypeError(f"a metric must be a name or a callable, got {type(m).__name__}")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate metric names {names}")
    return out
