"""``fastdl bench``: a quick GEMM, convolution and training-step timing of fastdl beside
PyTorch (when installed) and numpy, in seconds. Every result is checked before it is timed
(against a float64 numpy reference, and against PyTorch with the same weights); times are
medians of ``--repeats`` runs after one warm-up, all measured in this process."""
from __future__ import annotations

import statistics
import time

import numpy as np

from .argtypes import positive_int


def register(sub):
    from . import HelpFormatter

    p = sub.add_parser("bench", help="quick GEMM / conv / training-step timing beside PyTorch",
                       description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="timed runs per case, the median is reported (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="threads for fastdl and PyTorch (default: fastdl's setting, from OMP_NUM_THREADS or the cores)")
    p.add_argument("--no-torch", action="store_true", help="do not import PyTorch even if installed (default: off)")
    p.set_defaults(func=run)
    return p


def _median_s(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _check(name, got, want, tol):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want) / (np.abs(want) + 1.0)))
    if not err <= tol:
        raise SystemExit(f"bench: {name}: result differs from the reference (max rel. error {err:.2e} > {tol:g}); "
                         "not timing a wrong result")


def _gemm(fastdl, torch, rng, repeats):
    n = 512
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ref = a.astype(np.float64) @ b
    _check("gemm (fastdl)", fastdl.ops.gemm(a, b), ref, 1e-4)
    row = {"fastdl": _median_s(lambda: fastdl.ops.gemm(a, b), repeats),
           "numpy": _median_s(lambda: a @ b, repeats)}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        _check("gemm (torch)", (ta @ tb).numpy(), ref, 1e-4)
        row["torch"] = _median_s(lambda: ta @ tb, repeats)
    return f"gemm {n}x{n}x{n}", row


def _conv_reference(x, w):
    """float64 3x3 convolution, padding 1, stride 1 (NCHW, weights (K, C, 3, 3))."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N C H W 3 3
    return np.einsum("nchwij,kcij->nkhw", win, w.astype(np.float64), optimize=True)


def _conv(fastdl, torch, rng, repeats):
    x = rng.standard_normal((32, 16, 32, 32), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32) * 0.1
    F = fastdl.functional

    def ours():
        with fastdl.no_grad():
            return F.conv2d(x, w, padding=1)

    ref = _conv_reference(x, w)
    _check("conv2d (fastdl)", ours().numpy(), ref, 1e-4)
    row = {"fastdl": _median_s(ours, repeats)}
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)

        def theirs():
            with torch.no_grad():
                return torch.nn.functional.conv2d(tx, tw, padding=1)

        _check("conv2d (torch)", theirs().numpy(), ref, 1e-4)
        row["torch"] = _median_s(theirs, repeats)
    return "conv2d 32x16x32x32, 32@3x3", row


def _torch_lenet_bn(torch):
    """fastdl.models.lenet_bn written with torch.nn (the same state_dict keys)."""
    tn = torch.nn
    return tn.Sequential(
        tn.Conv2d(1, 6, 5), tn.BatchNorm2d(6), tn.Sigmoid(), tn.AvgPool2d(2, 2),
        tn.Conv2d(6, 16, 5), tn.BatchNorm2d(16), tn.Sigmoid(), tn.AvgPool2d(2, 2), tn.Flatten(),
        tn.Linear(256, 120), tn.BatchNorm1d(120), tn.Sigmoid(),
        tn.Linear(120, 84), tn.BatchNorm1d(84), tn.Sigmoid(), tn.Linear(84, 10))


def _train_step(fastdl, torch, rng, repeats):
    from fastdl import models, nn, optim

    x = rng.random((128, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    fastdl.manual_seed(0)
    model = models.lenet_bn()
    if torch is not None:
        tmodel = _torch_lenet_bn(torch)
        model.load_state_dict({k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()})
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def ours():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    losses = [ours() for _ in range(3)]
    if not (np.isfinite(losses).all() and losses[2] < losses[0]):
        raise SystemExit(f"bench: training step (fastdl): the loss did not decrease on a fixed batch: {losses}")
    row = {}
    if torch is not None:
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def theirs():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()
            return loss.item()

        tlosses = [theirs() for _ in range(3)]
        _check("training step (fastdl vs torch losses)", losses, np.array(tlosses), 1e-3)
        row["torch"] = _median_s(theirs, repeats)
    row["fastdl"] = _median_s(ours, repeats)
    return "train step lenet_bn, batch 128", row


def run(args) -> int:
    import fastdl

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    if args.threads:
        fastdl.set_num_threads(args.threads)
    threads = fastdl.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    peer = f"torch {torch.__version__}" if torch is not None else "torch not installed" if not args.no_torch \
        else "torch not used"
    print(f"fastdl {fastdl.__version__} | isa {fastdl.get_isa()} | threads {threads} | {peer} | "
          f"median of {args.repeats}, ms")
    cols = ["fastdl", "torch", "numpy"]
    print(f"{'case':<32}" + "".join(f"{c:>10}" for c in cols) + f"{'torch/fastdl':>14}")
    for case in (_gemm, _conv, _train_step):
        name, row = case(fastdl, torch, rng, args.repeats)
        cells = "".join(f"{row[c] * 1e3:>10.2f}" if c in row else f"{'-':>10}" for c in cols)
        ratio = f"{row['torch'] / row['fastdl']:>13.2f}x" if "torch" in row else f"{'-':>14}"
        print(f"{name:<32}{cells}{ratio}")
    print("torch/fastdl > 1: fastdl is faster (all results checked before timing)")
    return 0
