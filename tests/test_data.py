"""fastdl.data: Dataset, TensorDataset, DataLoader and the feature scalers (vs scikit-learn)."""
import numpy as np
import pytest

import fastdl
from fastdl import Tensor
from fastdl.data import DataLoader, Dataset, TensorDataset
from fastdl.data.transforms import DecimalScaler, MinMaxScaler, StandardScaler


# ---- TensorDataset ------------------------------------------------------------------------
def test_tensor_dataset_converts_dtypes_and_indexes():
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.arange(6, dtype=np.int32)
    ds = TensorDataset(X, fastdl.tensor(y))
    assert len(ds) == 6
    assert ds.arrays[0].dtype == np.float32 and ds.arrays[1].dtype == np.int64
    x3, y3 = ds[3]
    assert isinstance(x3, Tensor) and np.array_equal(x3.data, [6.0, 7.0]) and int(y3.item()) == 3
    assert [t.shape for t in ds.tensors] == [(6, 2), (6,)]


def test_tensor_dataset_checks_first_dimension():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float32(1.0))
    with pytest.raises(TypeError, match="dtype"):
        TensorDataset(np.array(["a", "b"]))


# ---- DataLoader on a TensorDataset --------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (9, 3, True),
                                             (2, 5, False), (2, 5, True), (0, 4, False), (1, 1, False)])
def test_loader_batches_in_order(n, bs, drop_last):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n)
    dl = DataLoader(TensorDataset(X, y), batch_size=bs, drop_last=drop_last)
    batches = list(dl)
    assert len(batches) == len(dl)
    expected_len = n // bs if drop_last else -(-n // bs)
    assert len(dl) == expected_len
    sizes = [len(b[1]) for b in batches]
    full, rest = divmod(n, bs)
    assert sizes == [bs] * full + ([rest] if rest and not drop_last else [])
    if batches:
        xs = np.concatenate([b[0].data for b in batches])
        ys = np.concatenate([b[1].data for b in batches])
        assert np.array_equal(xs, X[:len(xs)]) and np.array_equal(ys, y[:len(ys)])
        assert all(isinstance(t, Tensor) for b in batches for t in b)
        assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


def test_loader_shuffle_is_a_permutation_and_reproducible_with_seed():
    n = 23
    X = np.arange(n, dtype=np.float32)[:, None]
    y = np.arange(n)
    ds = TensorDataset(X, y)

    def epochs(dl, k):
        return [np.concatenate([b[1].data for b in dl]) for _ in range(k)]

    a = epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=7), 3)
    b = epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=7), 3)
    c = epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=8), 3)
    for e in a:
        assert sorted(e.tolist()) == list(range(n))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))  # same seed, same sequence of epochs
    assert not np.array_equal(a[0], a[1])  # a new permutation each epoch
    assert not np.array_equal(a[0], c[0])
    for xb, yb in DataLoader(ds, batch_size=4, shuffle=True, seed=1):  # rows stay aligned
        assert np.array_equal(xb.data[:, 0], yb.data.astype(np.float32))


def test_loader_shuffle_without_seed_follows_global_generator():
    ds = TensorDataset(np.arange(50, dtype=np.float32), np.arange(50))
    fastdl.manual_seed(3)
    a = np.concatenate([b[1].data for b in DataLoader(ds, batch_size=8, shuffle=True)])
    fastdl.manual_seed(3)
    b = np.concatenate([b[1].data for b in DataLoader(ds, batch_size=8, shuffle=True)])
    assert np.array_equal(a, b) and not np.array_equal(a, np.arange(50))


def test_loader_slices_whole_batches_without_per_sample_getitem():
    class Counting(TensorDataset):
        calls = 0

        def __getitem__(self, i):
            Counting.calls += 1
            return super().__getitem__(i)

    ds = Counting(np.zeros((100, 4), np.float32), np.zeros(100, np.int64))
    for shuffle in (False, True):
        assert sum(len(b[0]) for b in DataLoader(ds, batch_size=16, shuffle=shuffle, seed=0)) == 100
    assert Counting.calls == 0


def test_loader_batches_are_copies_editing_them_never_changes_the_dataset():
    """Issue 15: ``for xb, yb in loader: xb /= 2`` must not halve the user's X (PyTorch's
    collate copies as well); shuffled, unshuffled and collated batches, over two epochs."""
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    stored = np.arange(10, dtype=np.float32)

    class Rows(Dataset):  # __getitem__ returns views of its own storage
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return stored[i:i + 1], stored[i:i + 1]

    for ds in (TensorDataset(X, y), Rows()):
        arrays = [np.array(a, copy=True) for a in (ds.arrays if isinstance(ds, TensorDataset) else (stored,))]
        for shuffle in (False, True):
            for _ in range(2):
                for xb, yb in DataLoader(ds, batch_size=4, shuffle=shuffle, seed=0):
                    assert xb.data.flags.c_contiguous and xb.data.flags.writeable
                    xb /= 2
                    yb.data[...] = -1
        now = ds.arrays if isinstance(ds, TensorDataset) else (stored,)
        assert all(np.array_equal(a, b) for a, b in zip(now, arrays)), type(ds).__name__
    assert np.array_equal(X, np.arange(20, dtype=np.float32).reshape(10, 2)) and np.array_equal(y, np.arange(10))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_loader_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=bad)


def test_loader_rejects_non_dataset_and_bad_seed():
    with pytest.raises(TypeError, match="Dataset"):
        DataLoader(42)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(TensorDataset(np.zeros(3)), seed=-1)


# ---- DataLoader on a generic Dataset (collation) ----------------------------------------
class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full((2, 2), i, dtype=np.float64), i * i


def test_loader_collates_generic_dataset():
    dl = DataLoader(Squares(7), batch_size=3)
    batches = list(dl)
    assert len(batches) == len(dl) == 3
    x, y = batches[-1]
    assert x.shape == (1, 2, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(np.concatenate([b[1].data for b in batches]), np.arange(7) ** 2)
    shuffled = np.concatenate([b[1].data for b in DataLoader(Squares(7), batch_size=2, shuffle=True, seed=0)])
    assert sorted(shuffled.tolist()) == sorted((np.arange(7) ** 2).tolist())
    assert len(list(DataLoader(Squares(7), batch_size=3, drop_last=True))) == 2


def test_loader_collate_single_field_and_ragged():
    class Single(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.arange(3) + i

    b = next(iter(DataLoader(Single(), batch_size=4)))
    assert isinstance(b, Tensor) and b.shape == (4, 3) and b.dtype == np.int64

    class Ragged(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.zeros(i + 1), 0

    with pytest.raises(ValueError, match="different shapes"):
        list(DataLoader(Ragged(), batch_size=2))


# ---- scalers vs scikit-learn ---------------------------------------------------------------
def _data(rng):
    X = rng.standard_normal((40, 5)) * np.array([1.0, 10.0, 0.01, 1000.0, 3.0]) + np.array([0, 5, -2, 100, 0])
    X[:, 4] = 7.0  # constant feature
    return X


@pytest.mark.parametrize("ours,theirs", [
    (lambda: MinMaxScaler(), "MinMaxScaler()"),
    (lambda: MinMaxScaler(feature_range=(-1, 2)), "MinMaxScaler(feature_range=(-1, 2))"),
    (lambda: StandardScaler(), "StandardScaler()"),
])
def test_scalers_match_sklearn(rng, ours, theirs):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X = _data(rng)
    Xte = rng.standard_normal((9, 5)) * 50
    a = ours().fit(X)
    b = eval("preprocessing." + theirs).fit(X)
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.transform(Xte), b.transform(Xte), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.inverse_transform(a.transform(Xte)), Xte, rtol=1e-12, atol=1e-9)
    assert np.all(np.isfinite(a.transform(X)))


def test_scalers_handle_nan_like_sklearn(rng):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X = _data(rng)
    X[[1, 5, 7], [0, 1, 1]] = np.nan
    for ours, theirs in ((MinMaxScaler(), preprocessing.MinMaxScaler()),
                         (StandardScaler(), preprocessing.StandardScaler())):
        got, exp = ours.fit_transform(X), theirs.fit_transform(X)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(X))
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)


def test_all_nan_feature_is_left_unchanged():
    X = np.array([[1.0, np.nan], [3.0, np.nan]])
    for s in (MinMaxScaler(), StandardScaler(), DecimalScaler()):
        Y = s.fit_transform(X)
        assert np.all(np.isnan(Y[:, 1])) and np.all(np.isfinite(Y[:, 0]))


def test_standard_scaler_population_std_and_constant(rng):
    X = _data(rng)
    Y = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(Y[:, :4].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Y[:, :4].std(0, ddof=0), 1, rtol=1e-12)
    assert np.array_equal(Y[:, 4], np.zeros(40))  # constant: (x - mean) / 1


def test_minmax_constant_feature_maps_to_range_min():
    X = np.array([[2.0, 5.0], [4.0, 5.0], [3.0, 5.0]])
    Y = MinMaxScaler(feature_range=(-1, 1)).fit_transform(X)
    assert np.array_equal(Y[:, 0], [-1.0, 1.0, 0.0]) and np.array_equal(Y[:, 1], [-1.0, -1.0, -1.0])


def test_decimal_scaler_exponents():
    X = np.array([[999.0, -0.004, 0.0, 1000.0, 1.0, 0.1, -56.0],
                  [-12.0, 0.002, 0.0, 5.0, 0.5, 0.01, 3.0]])
    s = DecimalScaler().fit(X)
    # d is the smallest integer with max|x| / 10**d < 1
    assert s.exponent_.tolist() == [3, -2, 0, 4, 1, 0, 2]
    Y = s.transform(X)
    assert np.all(np.abs(Y) < 1)
    for j, d in enumerate(s.exponent_):
        m = np.abs(X[:, j]).max()
        if m > 0:
            assert m / 10.0 ** (d - 1) >= 1  # d - 1 would not be enough
    np.testing.assert_allclose(Y[0, :2], [0.999, -0.4])
    np.testing.assert_allclose(s.inverse_transform(Y), X, rtol=1e-15)


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler, DecimalScaler])
def test_scalers_before_fit_raise(cls):
    s = cls()
    with pytest.raises(RuntimeError, match=cls.__name__ + ".*fit"):
        s.transform(np.zeros((2, 2)))
    with pytest.raises(RuntimeError, match=cls.__name__):
        s.inverse_transform(np.zeros((2, 2)))


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler, DecimalScaler])
def test_scalers_bad_inputs(cls):
    s = cls().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 features.*fitted on 2"):
        s.transform(np.ones((4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        cls().fit(np.ones(3))
    with pytest.raises(ValueError, match="infinity"):
        cls().fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(ValueError, match="0 samples"):
        cls().fit(np.ones((0, 2)))


def test_scaler_dtypes_and_tensors():
    Xi = np.array([[1, 2], [3, 4]], dtype=np.int64)
    assert MinMaxScaler().fit_transform(Xi).dtype == np.float32
    X32 = Xi.astype(np.float32)
    assert StandardScaler().fit_transform(X32).dtype == np.float32
    assert StandardScaler().fit_transform(Xi.astype(np.float64)).dtype == np.float64
    t = StandardScaler().fit(X32).transform(fastdl.tensor(X32))
    assert isinstance(t, Tensor) and t.dtype == np.float32


def test_minmax_bad_range():
    with pytest.raises(ValueError, match="feature range"):
        MinMaxScaler(feature_range=(1, 0))
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler(feature_range=3)
