"""Train LeNet-BN on MNIST-5k, export it to ONNX, run it with ONNX Runtime and compare.

    pip install 'fastdl[onnx,datasets]'
    python examples/export_onnx.py [--epochs 2] [--out lenet_bn.onnx] [--quick]

The exported graph has a dynamic batch axis (``dynamic_axes``), so ONNX Runtime runs the
whole 1 000-image test set in one call although the export traced a batch of 2. Prints the
test accuracy of both runtimes, the largest relative difference of the logits (float32
rounding: ~1e-7) and how many predictions differ (0). ``--quick`` trains two epochs on 1 024
images (the test suite runs it that way).
"""
import argparse
import time

import numpy as np

import fastdl
import fastdl.models
import fastdl.onnx
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, datasets, train_test_split


def train_lenet_bn(Xtr, ytr, epochs, seed=0, verbose=1):
    """LeNet-BN with SGD + momentum (lr 0.1, cosine-annealed), batch 64."""
    fastdl.manual_seed(seed)
    model = fastdl.models.lenet_bn()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=64, shuffle=True, seed=seed)
    fastdl.train.fit(model, loader, nn.CrossEntropyLoss(), opt, epochs=epochs, scheduler=sched, verbose=verbose)
    return model


def main(epochs=2, out="lenet_bn.onnx", quick=False, verbose=1):
    import onnxruntime as ort

    X, y = datasets.load_mnist_5k()
    X = (X / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=1000, seed=0, stratify=y)
    if quick:
        Xtr, ytr, epochs = Xtr[:1024], ytr[:1024], 2
    model = train_lenet_bn(Xtr, ytr, epochs, verbose=verbose)

    # export: trace one small batch in eval mode; the batch axis stays dynamic
    fastdl.onnx.export(model, Xte[:2], out, input_names=["image"], output_names=["logits"],
                       dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})

    model.eval()
    t0 = time.perf_counter()
    with fastdl.no_grad():
        ref = model(Xte).numpy()
    t_fastdl = time.perf_counter() - t0
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    (got,) = session.run(["logits"], {"image": Xte})
    t_ort = time.perf_counter() - t0

    res = {
        "accuracy_fastdl": float(np.mean(ref.argmax(1) == yte)),
        "accuracy_onnxruntime": float(np.mean(got.argmax(1) == yte)),
        "max_rel_diff": float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))),
        "predictions_differing": int(np.sum(got.argmax(1) != ref.argmax(1))),
    }
    if verbose:
        print(f"wrote {out}")
        print(f"test accuracy: fastdl {res['accuracy_fastdl']:.4f} ({t_fastdl * 1e3:.0f} ms), "
              f"ONNX Runtime {res['accuracy_onnxruntime']:.4f} ({t_ort * 1e3:.0f} ms) on {len(Xte)} images")
        print(f"logits: max relative difference {res['max_rel_diff']:.2e}, "
              f"{res['predictions_differing']} predictions differ")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default="lenet_bn.onnx")
    ap.add_argument("--quick", action="store_true", help="2 epochs on 1024 images")
    a = ap.parse_args()
    main(a.epochs, a.out, a.quick)
