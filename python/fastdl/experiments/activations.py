"""Activation functions: vanishing gradients in a deep sigmoid network, and dying ReLU units."""
from __future__ import annotations

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn, optim

from ._common import accuracy, integer_xticks, train_epoch
from ._registry import Experiment, Result, register

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


def _digits(seed):
    from fastdl.data import datasets, train_test_split
    X, y = datasets.load_digits()
    return train_test_split(X / 16.0, y, test_size=0.2, seed=seed, stratify=y)


def mlp(act, depth, width, d_in=64, classes=10):
    """d_in -> depth x (Linear(width) -> act) -> Linear(classes), PyTorch's default init."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), ACTIVATIONS[act]()]
        d = width
    layers.append(nn.Linear(d, classes))
    return nn.Sequential(*layers)


def _grad_norms(model, X, y):
    """L2 norm of dLoss/dW for every Linear layer (first to last), loss on the whole set."""
    loss = F.cross_entropy(model(X), y)
    model.zero_grad()
    loss.backward()
    return [float(np.linalg.norm(np.asarray(getattr(m.weight.grad, "data", m.weight.grad))))
            for m in model if isinstance(m, nn.Linear)]


# ---- activations -----------------------------------------------------------------------------
GRAD_RULE = ("supported if, at initialisation, the sigmoid network's first-layer gradient norm is below 1e-3 "
             "of its last layer's (ratio < 1e-3), and the ratio of each of ReLU, LeakyReLU and ELU is at "
             "least 100 times the sigmoid's")


def grad_verdict(m):
    r = m["ratio_first_last_init"]
    return r["sigmoid"] < 1e-3 and all(r[a] >= 100 * r["sigmoid"] for a in ("relu", "leaky_relu", "elu"))


def grad_run(ctx):
    Xtr, Xte, ytr, yte = _digits(ctx.seed)
    depth, width = 8, 64
    epochs = 3 if ctx.quick else 10
    init, trained, ratio0, ratio1, acc = {}, {}, {}, {}, {}
    for act in ACTIVATIONS:
        fastdl.manual_seed(ctx.seed)
        model = mlp(act, depth, width)
        init[act] = _grad_norms(model, Xtr, ytr)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            train_epoch(model, opt, Xtr, ytr, 64, ctx.rng)
        trained[act] = _grad_norms(model, Xtr, ytr)
        ratio0[act] = init[act][0] / init[act][-1]
        ratio1[act] = trained[act][0] / trained[act][-1]
        acc[act] = accuracy(model, Xte, yte)
    m = {"ratio_first_last_init": ratio0, "ratio_first_last_trained": ratio1, "test_accuracy": acc}
    table = [["activation", "|g1|/|g_last| at init", "after training", "test accuracy"]]
    table += [[a, ratio0[a], ratio1[a], acc[a]] for a in ACTIVATIONS]
    config = {"data": "scikit-learn digits / 16, 80/20 stratified split",
              "model": f"MLP 64 -> {depth} x [Linear({width}) -> activation] -> Linear(10), PyTorch default init",
              "optimizer": "Adam lr 1e-3, batch 64", "epochs": epochs,
              "gradient": "L2 norm of dLoss/dW per Linear layer, cross-entropy on the whole training split"}
    return Result(m, config, {"init": init, "trained": trained}, table)


def grad_plot(fig, r):
    axes = fig.subplots(1, len(ACTIVATIONS), sharey=True)
    for ax, act in zip(axes, ACTIVATIONS):
        g0, g1 = r.curves["init"][act], r.curves["trained"][act]
        layers = np.arange(1, len(g0) + 1)
        ax.semilogy(layers, g0, "o-", label="at init")
        ax.semilogy(layers, g1, "s--", label="after training")
        ax.set(title=act, xlabel="layer (1 = input side)")
    axes[0].set_ylabel("||dLoss/dW|| (log)")
    axes[0].legend()


register(Experiment(
    "activations", "per-layer gradient norms of a 9-layer MLP: sigmoid, tanh, ReLU, LeakyReLU, ELU",
    "In a deep sigmoid network the gradients vanish towards the input layers; ReLU-family activations keep "
    "them orders of magnitude larger.",
    GRAD_RULE, grad_verdict, grad_run, grad_plot, figsize=(13, 4)))


# ---- dying_relu ------------------------------------------------------------------------------
DEAD_ACTS = ("relu", "leaky_relu", "elu")
DEAD_RULE = ("supported if, after training with the large learning rate, at least 10% of ReLU's hidden units "
             "are dead and ReLU's dead fraction is at least twice LeakyReLU's and twice ELU's (a unit is dead "
             "when its pre-activation is <= 0 for every training sample; a run whose loss became inf/NaN "
             "counts as 100% dead)")


def dead_verdict(m):
    d = m["dead_fraction"]
    return d["relu"] >= 0.1 and all(d["relu"] >= 2 * d[a] for a in ("leaky_relu", "elu"))


def _dead_per_layer(model, X):
    """Per hidden layer: fraction of units whose pre-activation is <= 0 on every sample."""
    out, h = [], fastdl.tensor(X)
    with fastdl.no_grad():
        for m in list(model)[:-1]:
            h = m(h)
            if isinstance(m, nn.Linear):
                z = h.data
                out.append(float(np.mean(~(z > 0).any(0))) if np.isfinite(z).all() else 1.0)
    return out


def dead_run(ctx):
    Xtr, Xte, ytr, yte = _digits(ctx.seed)
    depth, width, lr = 3, 128, 0.01
    epochs = 3 if ctx.quick else 8
    per_layer, final, acc, diverged = {}, {}, {}, {}
    for act in DEAD_ACTS:
        fastdl.manual_seed(ctx.seed)
        model = mlp(act, depth, width)
        opt = optim.Adam(model.parameters(), lr=lr)
        hist = [_dead_per_layer(model, Xtr)]
        diverged[act] = False
        for _ in range(epochs):
            losses = train_epoch(model, opt, Xtr, ytr, 32, ctx.rng)
            diverged[act] = diverged[act] or not np.isfinite(losses).all()
            hist.append([1.0] * depth if diverged[act] else _dead_per_layer(model, Xtr))
        per_layer[act] = hist
        final[act] = float(np.mean(hist[-1]))     # layers have equal width: mean = fraction of all units
        acc[act] = accuracy(model, Xte, yte)
    m = {"dead_fraction": final, "dead_fraction_init": {a: float(np.mean(per_layer[a][0])) for a in DEAD_ACTS},
         "dead_per_layer": {a: per_layer[a][-1] for a in DEAD_ACTS}, "test_accuracy": acc, "diverged": diverged}
    table = [["activation", "dead at init", "dead after training", "per layer", "test accuracy"]]
    table += [[a, m["dead_fraction_init"][a], final[a], " ".join(f"{v:.2f}" for v in per_layer[a][-1]), acc[a]]
              for a in DEAD_ACTS]
    config = {"data": "scikit-learn digits / 16, 80/20 stratified split",
              "model": f"MLP 64 -> {depth} x [Linear({width}) -> activation] -> Linear(10), PyTorch default init",
              "optimizer": f"Adam lr {lr} (10x the usual 1e-3), batch 32", "epochs": epochs,
              "dead unit": "pre-activation <= 0 for every training sample"}
    return Result(m, config, {"dead_per_layer_per_epoch": per_layer}, table)


def dead_plot(fig, r):
    axes = fig.subplots(1, len(DEAD_ACTS), sharey=True)
    for ax, act in zip(axes, DEAD_ACTS):
        hist = np.array(r.curves["dead_per_layer_per_epoch"][act])
        for layer in range(hist.shape[1]):
            ax.plot(np.arange(hist.shape[0]), hist[:, layer], "o-", label=f"hidden layer {layer + 1}")
        ax.set(title=f"{act}: {r.metrics['dead_fraction'][act]:.0%} dead", xlabel="epoch", ylim=(-0.03, 1.03))
    axes[0].set_ylabel("fraction of dead units")
    integer_xticks(*axes)
    axes[0].legend()


register(Experiment(
    "dying_relu", "fraction of dead units after large-learning-rate training: ReLU vs LeakyReLU vs ELU",
    "With a large learning rate many ReLU units die (never activate again); LeakyReLU and ELU keep far "
    "fewer units dead.",
    DEAD_RULE, dead_verdict, dead_run, dead_plot, figsize=(12, 4)))
