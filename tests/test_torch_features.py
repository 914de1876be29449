"""PyTorch features of issue 14 item 6, each checked against PyTorch (values and gradients with
the same weights): Conv2d padding strings, MaxPool2d indices + MaxUnpool2d."""
import numpy as np
import pytest

import fastdl
from fastdl import functional as F, nn
from conftest import torch_or_skip


def _close(a, b, tol=2e-4):
    a = a.data if isinstance(a, fastdl.Tensor) else a
    b = b.detach().numpy() if hasattr(b, "detach") else b
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("kernel,dilation,padding", [(3, 1, "same"), (4, 1, "same"), ((2, 5), (3, 1), "same"),
                                                     ((4, 3), (1, 2), "same"), (3, 2, "valid")])
def test_conv2d_padding_strings_match_torch(rng, kernel, dilation, padding):
    torch = torch_or_skip()
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    m = nn.Conv2d(4, 6, kernel, padding=padding, dilation=dilation)
    tm = torch.nn.Conv2d(4, 6, k, padding=padding, dilation=dilation)
    tm.load_state_dict({k_: torch.tensor(v) for k_, v in m.state_dict().items()})
    xt = fastdl.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = m(xt), tm(tx)
    _close(y, ty)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _close(xt.grad, tx.grad.numpy(), 1e-3)
    _close(m.weight.grad, tm.weight.grad.numpy(), 1e-3)
    assert repr(m) == repr(tm)
    # functional and unbatched input
    _close(F.conv2d(x[0], m.weight, m.bias, padding=padding, dilation=dilation),
           torch.nn.functional.conv2d(torch.tensor(x[0]), tm.weight, tm.bias, padding=padding, dilation=dilation))


def test_conv2d_padding_string_errors():
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(2, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv2d(2, 3, 3, padding="full")
    x, w = np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match="strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="Invalid padding string"):
        F.conv2d(x, w, padding="Same")
    nn.Conv2d(2, 3, 3, stride=2, padding="valid")  # valid works with any stride


def test_max_pool_indices_and_unpool_match_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    pool, unpool = nn.MaxPool2d(3, 2, padding=1, return_indices=True), nn.MaxUnpool2d(3, 2, padding=1)
    tpool = torch.nn.MaxPool2d(3, 2, padding=1, return_indices=True)
    tunpool = torch.nn.MaxUnpool2d(3, 2, padding=1)
    xt, tx = fastdl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, idx = pool(xt)
    ty, tidx = tpool(tx)
    assert idx.data.dtype == np.int64
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    for size in (None, (7, 9), (2, 3, 8, 10)):
        z, tz = unpool(y, idx, output_size=size), tunpool(ty, tidx, output_size=size)
        _close(z, tz, 0)
    g = rng.standard_normal(z.shape).astype(np.float32)
    z.backward(g)
    tz.backward(torch.tensor(g))
    _close(xt.grad, tx.grad.numpy(), 1e-6)
    # unbatched and functional
    y3, i3 = F.max_pool2d(x[0], 2, return_indices=True)
    ty3, ti3 = torch.nn.functional.max_pool2d(torch.tensor(x[0]), 2, return_indices=True)
    _close(F.max_unpool2d(y3, i3, 2, output_size=(7, 9)),
           torch.nn.functional.max_unpool2d(ty3, ti3, 2, output_size=(7, 9)), 0)


def test_max_unpool_errors():
    y, idx = F.max_pool2d(np.ones((1, 1, 4, 4), np.float32), 2, return_indices=True)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(y, idx, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match="invalid max index"):
        F.max_unpool2d(y, idx.data + 100, 2)
    with pytest.raises(ValueError, match="indices"):
        F.max_unpool2d(y, idx.data[..., :1], 2)
