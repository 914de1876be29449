"""Numeric edge cases of issue 15 item 6, each against PyTorch when it is installed."""
import warnings

import numpy as np
import pytest

import fastdl
import fastdl.functional as F
from fastdl import nn
from fastdl.nn.utils import clip_grad_norm_
from conftest import torch_or_skip


def test_batchnorm_eval_backward_nan_in_unused_element():
    torch = torch_or_skip()
    xn = np.array([[1.0, np.nan, 2.0], [2.0, 3.0, np.nan]], np.float32)
    bn = nn.BatchNorm1d(3)
    bn.eval()
    tbn = torch.nn.BatchNorm1d(3).eval()
    x = fastdl.tensor(xn, requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    bn(x)[:, 0].sum().backward()
    tbn(tx)[:, 0].sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-6)
    assert not np.isnan(x.grad.data).any()


def test_max_backward_with_nan():
    torch = torch_or_skip()
    xn = np.array([1.0, np.nan, 3.0, 3.0], np.float32)
    x = fastdl.tensor(xn, requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    x.max().backward()
    tx.max().backward()
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.data, [0, 1, 0, 0])


@pytest.mark.parametrize("norm_type", [float("-inf"), 0, 1, 2, 3.5, float("inf")])
@pytest.mark.parametrize("grads", [[[3.0, -4.0, 0.0], [5.0, 0.5]], [[3.0, np.nan, 0.0], [5.0, 0.5]],
                                   [[0.01, 0.0, 0.0], [0.0, 0.02]]], ids=["finite", "nan", "small"])
def test_clip_grad_norm_matches_torch(norm_type, grads):
    torch = torch_or_skip()
    ps, tps = [], []
    for g in grads:
        p = fastdl.tensor(np.zeros(len(g), np.float32), requires_grad=True)
        p.grad = fastdl.tensor(np.array(g, np.float32))
        tp = torch.zeros(len(g), requires_grad=True)
        tp.grad = torch.tensor(np.array(g, np.float32))
        ps.append(p)
        tps.append(tp)
    n = clip_grad_norm_(ps, 1.0, norm_type=norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type=norm_type)
    np.testing.assert_allclose(float(n), float(tn), rtol=1e-5)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_integer_matmul_is_exact_int64():
    a = np.array([[2**40 + 1, 3], [-7, 2**31]], np.int64)
    b = np.array([[3, 1], [2**20, -1]], np.int64)
    y = fastdl.tensor(a) @ fastdl.tensor(b)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.data, a @ b)
    v = fastdl.tensor(np.array([1, 2], np.int64)) @ fastdl.tensor(a)
    np.testing.assert_array_equal(v.data, np.array([1, 2]) @ a)


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss"])
def test_loss_with_0d_target_requiring_grad(loss):
    torch = torch_or_skip()
    xn = np.array([1.0, -2.0, 4.0], np.float32)
    x = fastdl.tensor(xn, requires_grad=True)
    t = fastdl.tensor(np.float32(0.5), requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    tt = torch.tensor(0.5, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(F, loss)(x, t).backward()
        getattr(torch.nn.functional, loss)(tx, tt).backward()
    np.testing.assert_allclose(t.grad.data, tt.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-6)


def test_empty_inner_dimension_matmul_gives_zeros():
    torch = torch_or_skip()
    a = fastdl.tensor(np.zeros((2, 3, 0), np.float32), requires_grad=True)
    b = fastdl.tensor(np.zeros((0, 5), np.float32), requires_grad=True)
    y = a @ b
    ty = torch.zeros((2, 3, 0)) @ torch.zeros((0, 5))
    assert y.shape == tuple(ty.shape) == (2, 3, 5)
    np.testing.assert_array_equal(y.data, 0)
    y.sum().backward()
    assert a.grad.shape == (2, 3, 0) and b.grad.shape == (0, 5)


def test_embedding_float_padding_idx_is_type_error():
    w = fastdl.tensor(np.ones((4, 3), np.float32))
    with pytest.raises(TypeError, match="padding_idx"):
        F.embedding(fastdl.tensor(np.array([1, 2])), w, padding_idx=2.7)
    F.embedding(fastdl.tensor(np.array([1, 2])), w, padding_idx=np.int64(2))  # numpy ints are fine


@pytest.mark.parametrize("training", [True, False])
def test_summary_restores_train_mode(training, capsys):
    m = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    m.train(training)
    fastdl.summary(m, (1, 3))
    assert all(mod.training == training for mod in m.modules())


def test_demo_lr_zero_is_usage_error():
    from fastdl.cli import main
    with pytest.raises(SystemExit) as e:
        main(["demo", "--lr", "0"])
    assert e.value.code == 2
