"""First-chapter claims: linear regression three ways, numerically stable softmax, and input
normalisation speeding up gradient descent."""
from __future__ import annotations

import numpy as np

import fastdl
import fastdl.functional as F
from fastdl import nn, optim

from ._common import accuracy, first_at_or_below, integer_xticks, train_epoch
from ._registry import Experiment, Result, register


# ---- linear_regression ---------------------------------------------------------------------
LINREG_RULE = ("supported if each of the three methods (hand-written numpy gradients, fastdl autograd + SGD, "
               "closed form) ends with |w - 2| < 0.05 and |b| < 0.15, and the hand-written and autograd "
               "runs agree to 1e-3 in both w and b")


def linreg_verdict(m):
    ok = all(abs(m[f"w_{k}"] - 2) < 0.05 and abs(m[f"b_{k}"]) < 0.15 for k in ("hand", "autograd", "closed"))
    return ok and m["max_diff_hand_autograd"] < 1e-3


def linreg_run(ctx):
    x = np.arange(1.0, 6.0)
    y = 2 * x
    lr, iters = 0.01, 1000
    w0, b0 = (float(v) for v in ctx.rng.normal(0.0, 1.0, size=2))   # the seed picks the start point
    # 1. the note's gradients, by hand, in float64 numpy
    w, b = w0, b0
    hand_loss, hand_w, hand_b = [], [], []
    for _ in range(iters):
        err = w * x + b - y
        hand_loss.append(float(np.mean(err ** 2)))
        dw = np.mean(2 * err * x)          # dL/dw = mean(2 (w x + b - y) x)
        db = np.mean(2 * err)              # dL/db = mean(2 (w x + b - y))
        w, b = w - lr * dw, b - lr * db
        hand_w.append(w)
        hand_b.append(b)
    # 2. fastdl autograd + optim.SGD
    W = nn.Parameter(fastdl.tensor(np.float32(w0)))
    B = nn.Parameter(fastdl.tensor(np.float32(b0)))
    X, Y = fastdl.tensor(x), fastdl.tensor(y)
    opt = optim.SGD([W, B], lr=lr)
    auto_loss, auto_w, auto_b = [], [], []
    for _ in range(iters):
        loss = F.mse_loss(W * X + B, Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        auto_loss.append(loss.item())
        auto_w.append(W.item())
        auto_b.append(B.item())
    # 3. closed form: least squares on [x, 1]
    (wc, bc), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)
    m = {"w_hand": w, "b_hand": b, "w_autograd": auto_w[-1], "b_autograd": auto_b[-1],
         "w_closed": float(wc), "b_closed": float(bc),
         "loss_hand": float(np.mean((w * x + b - y) ** 2)), "loss_autograd": auto_loss[-1],
         "max_diff_hand_autograd": max(abs(w - auto_w[-1]), abs(b - auto_b[-1]))}
    table = [["method", "w", "b", "final loss"],
             ["hand-written (numpy)", m["w_hand"], m["b_hand"], m["loss_hand"]],
             ["autograd + SGD", m["w_autograd"], m["b_autograd"], m["loss_autograd"]],
             ["closed form", m["w_closed"], m["b_closed"], float(np.mean((wc * x + bc - y) ** 2))]]
    config = {"x": x.tolist(), "y": "2x", "lr": lr, "iterations": iters, "w0": w0, "b0": b0}
    curves = {"hand_loss": hand_loss, "autograd_loss": auto_loss, "hand_w": hand_w, "hand_b": hand_b,
              "autograd_w": auto_w, "autograd_b": auto_b, "w_closed": float(wc), "b_closed": float(bc)}
    return Result(m, config, curves, table)


def linreg_plot(fig, r):
    c = r.curves
    a1, a2 = fig.subplots(1, 2)
    a1.semilogy(c["hand_loss"], label="hand-written gradients (numpy)", lw=3, alpha=0.5)
    a1.semilogy(c["autograd_loss"], "--", label="fastdl autograd + SGD")
    a1.set(xlabel="iteration", ylabel="mean squared error", title="loss (y = 2x, lr 0.01)")
    a1.legend()
    for k, style in (("hand", "-"), ("autograd", "--")):
        a2.plot(c[f"{k}_w"], style, label=f"w ({k})")
        a2.plot(c[f"{k}_b"], style, label=f"b ({k})")
    a2.axhline(c["w_closed"], color="k", lw=0.8, ls=":", label="closed form w, b")
    a2.axhline(c["b_closed"], color="k", lw=0.8, ls=":")
    a2.set(xlabel="iteration", ylabel="parameter value", title="w -> 2, b -> 0")
    a2.legend()


register(Experiment(
    "linear_regression", "y = 2x three ways: hand-written gradients, autograd + SGD, closed form",
    "Gradient descent on y = 2x (x = 1..5, lr 0.01, 1000 steps) finds w = 2, b = 0 - with the gradients "
    "written by hand, with autograd, and as the closed-form least-squares solution.",
    LINREG_RULE, linreg_verdict, linreg_run, linreg_plot))


# ---- softmax -------------------------------------------------------------------------------
SOFTMAX_RULE = ("supported if the naive float32 softmax (exp(z) / sum exp(z)) gives inf/NaN on some rows at "
                "the largest logit scale, while fastdl's softmax and cross-entropy stay finite at every scale "
                "and match a float64 max-subtracted reference (probabilities within 1e-5, loss within 1e-4 "
                "relative), and softmax regression on digits reaches >= 90% test accuracy")


def softmax_verdict(m):
    naive_fails = m["naive_nonfinite_frac"][-1] > 0
    stable_ok = max(m["fastdl_prob_err"]) < 1e-5 and max(m["fastdl_ce_rel_err"]) < 1e-4 \
        and max(m["fastdl_nonfinite_frac"]) == 0
    return bool(naive_fails and stable_ok and m["digits_test_accuracy"] >= 0.9)


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def softmax_run(ctx):
    scales = [1.0, 10.0, 100.0, 1000.0]
    rows, classes = 256, 10
    m = {k: [] for k in ("naive_nonfinite_frac", "naive_ce_nonfinite_frac", "fastdl_nonfinite_frac",
                         "fastdl_prob_err", "fastdl_ce_rel_err")}
    for s in scales:
        z = (ctx.rng.standard_normal((rows, classes)) * s).astype(np.float32)
        t = ctx.rng.integers(0, classes, rows)
        z64 = z.astype(np.float64)
        ref_logp = z64 - z64.max(1, keepdims=True)
        ref_logp -= np.log(np.exp(ref_logp).sum(1, keepdims=True))
        ref_ce = -ref_logp[np.arange(rows), t]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p = _naive_softmax(z)
            ce = -np.log(p[np.arange(rows), t])
        m["naive_nonfinite_frac"].append(float(np.mean(~np.isfinite(p).all(1))))
        m["naive_ce_nonfinite_frac"].append(float(np.mean(~np.isfinite(ce))))
        fp = F.softmax(z, dim=1).data
        fce = F.cross_entropy(z, t, reduction="none").data
        m["fastdl_nonfinite_frac"].append(float(np.mean(~(np.isfinite(fp).all(1) & np.isfinite(fce)))))
        m["fastdl_prob_err"].append(float(np.abs(fp - np.exp(ref_logp)).max()))
        m["fastdl_ce_rel_err"].append(float((np.abs(fce - ref_ce) / np.maximum(np.abs(ref_ce), 1.0)).max()))
    # softmax regression on scikit-learn's digits
    from fastdl.data import datasets, train_test_split
    X, y = datasets.load_digits()
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=ctx.seed, stratify=y)
    epochs = 4 if ctx.quick else 15
    model = nn.Linear(64, 10)
    opt = optim.SGD(model.parameters(), lr=0.5)
    acc, losses = [], []
    for _ in range(epochs):
        losses.append(float(np.mean(train_epoch(model, opt, Xtr, ytr, 64, ctx.rng))))
        acc.append(accuracy(model, Xte, yte))
    m["digits_test_accuracy"] = acc[-1]
    table = [["logit scale", "naive softmax inf/NaN rows", "naive CE inf/NaN", "fastdl inf/NaN",
              "fastdl max |p - p64|"]]
    table += [[s, m["naive_nonfinite_frac"][i], m["naive_ce_nonfinite_frac"][i], m["fastdl_nonfinite_frac"][i],
               m["fastdl_prob_err"][i]] for i, s in enumerate(scales)]
    table.append([f"digits test acc ({epochs} ep)", acc[-1], "", "", ""])
    config = {"logit_scales": scales, "rows_per_scale": rows, "classes": classes,
              "logits": "standard normal x scale, float32", "digits": "sklearn digits / 16, 80/20 stratified split",
              "model": "Linear(64, 10)", "optimizer": "SGD lr 0.5, batch 64", "epochs": epochs}
    return Result(m, config, {"scales": scales, "digits_acc": acc, "digits_loss": losses}, table)


def softmax_plot(fig, r):
    a1, a2 = fig.subplots(1, 2)
    s = r.curves["scales"]
    a1.semilogx(s, r.metrics["naive_nonfinite_frac"], "o-", label="naive exp(z)/sum exp(z)")
    a1.semilogx(s, r.metrics["naive_ce_nonfinite_frac"], "s--", label="naive -log softmax")
    a1.semilogx(s, r.metrics["fastdl_nonfinite_frac"], "^-", label="fastdl softmax / cross_entropy")
    a1.set(xlabel="logit scale (std of the logits)", ylabel="fraction of rows with inf/NaN",
           title="overflow on large logits (float32)", ylim=(-0.05, 1.05))
    a1.legend()
    ep = np.arange(1, len(r.curves["digits_acc"]) + 1)
    a2.plot(ep, r.curves["digits_acc"], "o-", label="test accuracy")
    a2.plot(ep, r.curves["digits_loss"], "s--", label="train loss")
    a2.set(xlabel="epoch", ylabel="accuracy / loss", title="softmax regression on digits")
    integer_xticks(a2)
    a2.legend()


register(Experiment(
    "softmax", "naive vs stable softmax on large logits; softmax regression on digits",
    "Computing softmax as exp(z)/sum(exp(z)) overflows on large logits; subtracting the max first (as "
    "fastdl does) is exact and finite, and softmax regression classifies digits.",
    SOFTMAX_RULE, softmax_verdict, softmax_run, softmax_plot))


# ---- normalization ---------------------------------------------------------------------------
NORM_THRESHOLD = 0.2
NORM_RULE = (f"supported if z-score reaches training loss <= {NORM_THRESHOLD} in fewer than half the "
             "gradient-descent steps that raw features need, each scaler with its best learning rate from "
             "the same grid (a scaler that never reaches the threshold counts as infinitely slow)")


def norm_verdict(m):
    z, raw = m["steps_to_threshold"]["z-score"], m["steps_to_threshold"]["raw"]
    return z is not None and (raw is None or z < raw / 2)


def _scalers():
    from fastdl.data import transforms as T
    return {"raw": None, "min-max": T.MinMaxScaler(), "z-score": T.StandardScaler(), "decimal": T.DecimalScaler()}


def norm_run(ctx):
    from fastdl.data import datasets
    X, y = datasets.load_wine()
    steps = 60 if ctx.quick else 300
    lrs = [1e-4, 1e-2, 1.0] if ctx.quick else [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0]
    best, best_lr, final, curves = {}, {}, {}, {}
    for name, scaler in _scalers().items():
        Xs = X if scaler is None else scaler.fit_transform(X)
        runs = []
        for lr in lrs:
            fastdl.manual_seed(ctx.seed)                  # same initial weights for every scaler and lr
            model = nn.Linear(13, 3)
            opt = optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(steps):                        # full-batch gradient descent
                loss = F.cross_entropy(model(Xs), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if not np.isfinite(losses[-1]):
                    break
            hit = first_at_or_below(losses, NORM_THRESHOLD)
            last = losses[-1] if np.isfinite(losses[-1]) else float("inf")
            runs.append((hit if hit is not None else steps + 1, last, lr, losses))
        hit, last, lr, losses = min(runs, key=lambda r: (r[0], r[1]))   # fastest, then lowest final loss
        best[name] = hit if hit <= steps else None
        best_lr[name], final[name], curves[name] = lr, last, losses
    m = {"steps_to_threshold": best, "best_lr": best_lr, "final_loss": final, "max_steps": steps}
    table = [["scaler", "best lr", f"steps to loss <= {NORM_THRESHOLD}", f"loss after {steps} steps"]]
    table += [[k, best_lr[k], best[k] if best[k] is not None else f"> {steps}", final[k]] for k in best]
    config = {"data": "scikit-learn wine (178 x 13, 3 classes), all samples", "model": "Linear(13, 3), softmax",
              "optimizer": "full-batch gradient descent (SGD, no momentum)", "lr_grid": lrs, "max_steps": steps,
              "threshold": NORM_THRESHOLD, "init": "same seeded initial weights for every run"}
    return Result(m, config, {"loss": curves}, table)


def norm_plot(fig, r):
    a1, a2 = fig.subplots(1, 2)
    for name, losses in r.curves["loss"].items():
        a1.semilogy(np.arange(1, len(losses) + 1), losses, label=f"{name} (lr {r.metrics['best_lr'][name]:g})")
    a1.axhline(NORM_THRESHOLD, color="k", ls=":", lw=0.8, label="threshold")
    a1.set(xlabel="gradient-descent step", ylabel="training cross-entropy", title="wine: loss at each scaler's best lr")
    a1.legend()
    names = list(r.metrics["steps_to_threshold"])
    mx = r.metrics["max_steps"]
    vals = [r.metrics["steps_to_threshold"][n] or mx for n in names]
    bars = a2.bar(names, vals, color=["C0", "C1", "C2", "C3"])
    for b, n in zip(bars, names):
        if r.metrics["steps_to_threshold"][n] is None:
            a2.text(b.get_x() + b.get_width() / 2, mx, "never", ha="center", va="bottom")
    a2.set(xlabel="feature scaling", ylabel=f"steps to loss <= {NORM_THRESHOLD}", title="speed of gradient descent")


register(Experiment(
    "normalization", "raw vs min-max vs z-score vs decimal scaling on wine: steps to a loss threshold",
    "Normalising the input features (min-max, z-score, decimal scaling) speeds up gradient descent on data "
    "whose features have very different scales.",
    NORM_RULE, norm_verdict, norm_run, norm_plot))
