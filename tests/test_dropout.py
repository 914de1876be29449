"""Dropout: the counter-based mask (deterministic in the seed, identical on both ISA paths and
any thread count), its statistics and scaling, backward, train/eval, and bad p."""
import numpy as np
import pytest

import fastdl
import fastdl.functional as F
import fastdl.nn as nn
from fastdl import _C
from conftest import ISAS, torch_or_skip


@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 33, 1000])
def test_mask_identical_across_isas_and_scaled(n, rng):
    x = rng.standard_normal(n).astype(np.float32)
    prev = fastdl.get_isa()
    outs = []
    try:
        for isa in ISAS:
            fastdl.set_isa(isa)
            outs.append(_C.dropout_forward(x, 0.3, 12345))
    finally:
        fastdl.set_isa(prev)
    y0, m0 = outs[0]
    for y, m in outs[1:]:
        np.testing.assert_array_equal(m, m0)
        np.testing.assert_array_equal(y, y0)
    assert m0.dtype == np.uint8 and set(np.unique(m0)) <= {0, 1}
    np.testing.assert_array_equal(y0, np.where(m0 == 1, x * np.float32(1 / 0.7), 0))


def test_mask_independent_of_threads(isa, threads, rng):
    x = rng.standard_normal((4, 100_000)).astype(np.float32)
    y, m = _C.dropout_forward(x, 0.5, 7)
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(1)
    try:
        y1, m1 = _C.dropout_forward(x, 0.5, 7)
    finally:
        fastdl.set_num_threads(prev)
    np.testing.assert_array_equal(m, m1)
    np.testing.assert_array_equal(y, y1)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_fraction_and_independence(isa, p):
    n = 400_000
    _, m = _C.dropout_forward(np.ones(n, np.float32), p, 99)
    kept = m.mean()
    assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    # neighbouring elements are uncorrelated, and other seeds give other masks
    mf = m.astype(np.float64) - kept
    assert abs((mf[1:] * mf[:-1]).mean()) < 5 * p * (1 - p) / np.sqrt(n)
    _, m2 = _C.dropout_forward(np.ones(n, np.float32), p, 100)
    assert (m != m2).mean() > 0.5 * 2 * p * (1 - p)


def test_backward_uses_mask(isa, rng):
    x = fastdl.tensor(rng.standard_normal((5, 9)), requires_grad=True)
    fastdl.random.manual_seed(3)
    y = F.dropout(x, 0.4)
    g = rng.standard_normal((5, 9)).astype(np.float32)
    y.backward(g)
    kept = y.data != 0
    np.testing.assert_allclose(x.grad.data, np.where(kept, g / np.float32(0.6), 0), rtol=1e-6)
    np.testing.assert_allclose(y.data[kept], x.data[kept] / np.float32(0.6), rtol=1e-6)


def test_seeded_reproducible():
    x = np.ones((3, 50), np.float32)
    fastdl.random.manual_seed(0)
    a = F.dropout(x, 0.5).data
    b = F.dropout(x, 0.5).data
    fastdl.random.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, a)
    assert not np.array_equal(a, b)


def test_eval_p0_p1():
    x = fastdl.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.data, 0.0)
    y.backward(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(x.grad.data, 0.0)
    m = nn.Dropout(0.5)
    assert repr(m) == "Dropout(p=0.5, inplace=False)"
    m.eval()
    assert m(x) is x
    m.train()
    assert np.count_nonzero(m(np.ones(1000)).data == 0) > 300


def test_bad_p():
    for p in [-0.1, 1.5, float("nan"), "0.5", None]:
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(np.ones(3), p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        _C.dropout_forward(np.ones(3, np.float32), 2.0, 0)
    with pytest.raises(ValueError, match="same shape"):
        _C.dropout_backward(np.ones(3, np.float32), np.ones(4, np.uint8), 0.5)


def test_empty_and_shapes():
    y = F.dropout(np.zeros((0, 4)), 0.5)
    assert y.shape == (0, 4)
    y = F.dropout(np.ones((2, 3, 4)), 0.5)
    assert y.shape == (2, 3, 4)


def test_statistics_match_torch_semantics():
    torch = torch_or_skip()
    x = np.ones(200_000, np.float32)
    yf = F.dropout(x, 0.25).data
    yt = torch.nn.functional.dropout(torch.tensor(x), 0.25).numpy()
    assert set(np.unique(yf)) == set(np.unique(yt))  # {0, 1/(1-p)}
    assert abs(yf.mean() - 1) < 0.01 and abs(yt.mean() - 1) < 0.01
