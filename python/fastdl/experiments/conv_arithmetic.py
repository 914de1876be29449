"""Convolution arithmetic: the output-size formula against real layers, and the 1x1 convolution
as a per-pixel fully connected layer."""
from __future__ import annotations

import numpy as np

import fastdl
from fastdl import models, nn

from ._registry import Experiment, Result, register

SHAPED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _two(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def formula(w, f, p, s):
    """N = floor((W - F + 2P) / S) + 1."""
    return (w - f + 2 * p) // s + 1


def layer_shapes(model, input_shape):
    """Run ``model`` (eval, no_grad) on zeros of shape ``(1, *input_shape)``; for every conv and
    pooling layer return (name, type, kernel, stride, padding, input HxW, output HxW)."""
    rows = []

    def wrap(name, m, orig):
        def forward(x):
            y = orig(x)
            rows.append((name, type(m).__name__, _two(m.kernel_size), _two(m.stride), _two(m.padding),
                         tuple(x.shape[-2:]), tuple(y.shape[-2:])))
            return y
        return forward

    patched = [m for m in model.modules() if isinstance(m, SHAPED)]
    for name, m in model.named_modules():
        if isinstance(m, SHAPED):
            object.__setattr__(m, "forward", wrap(name, m, m.forward))
    try:
        model.eval()
        with fastdl.no_grad():
            model(np.zeros((1, *input_shape), np.float32))
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
    return rows


RULE = ("supported if the output size of every convolution and pooling layer of LeNet, NiN and ResNet-18 "
        "(height and width) equals N = floor((W - F + 2P) / S) + 1, and a 1x1 convolution equals the per-pixel "
        "Linear layer with the same weights, and both equal the per-pixel matrix product computed in float64, to "
        "within 1e-5 (max |difference| / max |output|)")


def verdict(m):
    return (m["formula_mismatches"] == 0 and m["layers_checked"] > 0 and m["conv1x1_vs_linear_rel_err"] < 1e-5
            and m["conv1x1_vs_float64_rel_err"] < 1e-5)


def run(ctx):
    nets = {"LeNet": models.lenet(), "NiN": models.nin(), "ResNet-18": models.resnet18()}
    checked, mismatches, points, layers = 0, 0, [], []
    table = [["model / check", "layers", "sizes checked", "formula mismatches"]]
    for net_name, net in nets.items():
        rows = layer_shapes(net, (1, 28, 28))
        bad = 0
        for name, typ, k, s, p, hw_in, hw_out in rows:
            ns = [formula(hw_in[d], k[d], p[d], s[d]) for d in range(2)]
            bad += sum(int(n != o) for n, o in zip(ns, hw_out))
            points += [(net_name, n, o) for n, o in zip(ns, hw_out)]
            layers.append({"model": net_name, "layer": name, "type": typ, "F": k, "S": s, "P": p,
                           "in": hw_in, "formula": ns, "real": hw_out})
        checked += 2 * len(rows)
        mismatches += bad
        table.append([net_name, len(rows), 2 * len(rows), bad])
    # a 1x1 convolution is a Linear layer applied to every pixel's channel vector
    N, C, O, H = (2, 32, 48, 7) if ctx.quick else (8, 96, 96, 14)
    conv = nn.Conv2d(C, O, kernel_size=1)
    lin = nn.Linear(C, O)
    lin.load_state_dict({"weight": conv.weight.data.reshape(O, C), "bias": conv.bias.data})
    X = ctx.rng.standard_normal((N, C, H, H)).astype(np.float32)
    with fastdl.no_grad():
        y_conv = conv(X).data
        y_lin = lin(X.transpose(0, 2, 3, 1).reshape(-1, C)).data.reshape(N, H, H, O).transpose(0, 3, 1, 2)
    rel = float(np.abs(y_conv - y_lin).max() / np.abs(y_conv).max())
    # and both against the per-pixel matrix product in float64: y[n, o, h, w] = sum_c W[o, c] x[n, c, h, w] + b[o]
    ref = np.einsum("oc,nchw->nohw", conv.weight.data.reshape(O, C).astype(np.float64), X) \
        + conv.bias.data.astype(np.float64)[None, :, None, None]
    rel64 = float(np.abs(y_conv - ref).max() / np.abs(ref).max())
    # parameters and FLOPs of NiN's k x k vs 1x1 convolutions
    nin = nets["NiN"]
    kernel = {name: m.kernel_size for name, m in nin.named_modules() if isinstance(m, nn.Conv2d)}
    info = fastdl.summary(nin, (1, 28, 28), print_fn=None)
    cost = {"1x1": {"params": 0, "flops": 0, "layers": 0}, "kxk": {"params": 0, "flops": 0, "layers": 0}}
    per_block = []
    for row in info["layers"]:
        if row["name"] in kernel:
            key = "1x1" if _two(kernel[row["name"]]) == (1, 1) else "kxk"
            for f in ("params", "flops"):
                cost[key][f] += row[f]
            cost[key]["layers"] += 1
            per_block.append((row["name"], key, row["params"], row["flops"]))
    m = {"layers_checked": checked, "formula_mismatches": mismatches, "conv1x1_vs_linear_rel_err": rel,
         "conv1x1_vs_linear_max_abs": float(np.abs(y_conv - y_lin).max()),
         "conv1x1_vs_float64_rel_err": rel64, "nin_cost": cost,
         "nin_1x1_param_share": cost["1x1"]["params"] / (cost["1x1"]["params"] + cost["kxk"]["params"]),
         "nin_1x1_flop_share": cost["1x1"]["flops"] / (cost["1x1"]["flops"] + cost["kxk"]["flops"])}
    table.append(["1x1 conv vs per-pixel Linear", "", "max rel. diff", f"{rel:.2e}"])
    table.append(["1x1 conv vs float64 matmul", "", "max rel. diff", f"{rel64:.2e}"])
    for key in ("kxk", "1x1"):
        table.append([f"NiN {key} convs", cost[key]["layers"], f"{cost[key]['params']:,} params",
                      f"{cost[key]['flops'] / 1e6:.1f} MFLOP"])
    config = {"input": "1 x 28 x 28 (batch 1, eval mode)", "models": list(nets),
              "conv1x1_check": {"batch": N, "in_channels": C, "out_channels": O, "size": H,
                                "input": "standard normal (seeded)"},
              "flops": "fastdl.summary: 2 per multiply-add, one 28x28 image"}
    return Result(m, config, {"points": points, "layers": layers, "nin_convs": per_block}, table)


def plot(fig, r):
    a1, a2 = fig.subplots(1, 2)
    pts = r.curves["points"]
    for i, net in enumerate(dict.fromkeys(p[0] for p in pts)):
        xs = [p[1] for p in pts if p[0] == net]
        ys = [p[2] for p in pts if p[0] == net]
        a1.scatter(xs, ys, s=60 - 18 * i, label=net, alpha=0.7)
    hi = max(max(p[1], p[2]) for p in pts) + 1
    a1.plot([0, hi], [0, hi], "k:", lw=0.8, label="N = real")
    a1.set(xlabel="formula N = (W - F + 2P)/S + 1", ylabel="real output size",
           title=f"{r.metrics['layers_checked']} layer sizes, {r.metrics['formula_mismatches']} mismatches")
    a1.legend()
    convs = r.curves["nin_convs"]
    x = np.arange(len(convs))
    a2.bar(x - 0.2, [c[2] for c in convs], 0.4, label="parameters",
           color=["C1" if c[1] == "1x1" else "C0" for c in convs])
    a2.bar(x + 0.2, [c[3] / 100 for c in convs], 0.4, label="FLOPs / 100", color="none",
           edgecolor=["C1" if c[1] == "1x1" else "C0" for c in convs], hatch="//")
    a2.set_yscale("log")
    a2.set_xticks(x, [f"{c[0]}\n{c[1]}" for c in convs], fontsize=7)
    a2.set(ylabel="count (log)", title="NiN convolutions: k x k (blue) vs 1 x 1 (orange)")
    a2.legend()


register(Experiment(
    "conv_arithmetic", "output-size formula vs real shapes in LeNet/NiN/ResNet-18; 1x1 conv = per-pixel Linear",
    "A layer's output size is N = (W - F + 2P)/S + 1 (rounded down), and a 1x1 convolution is a fully "
    "connected layer applied to every pixel.",
    RULE, verdict, run, plot))
