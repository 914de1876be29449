"""fastdl.nn.fusion: the one layer-fusion mechanism (BatchNorm+ReLU and BatchNorm+Sigmoid in
Sequential, BatchNorm+add+ReLU in Residual) gives bitwise the results of the layers run one by one (fusion.disabled()), on every
kernel path, in training and eval, forward, every gradient and the running statistics."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import fastdl
import fastdl.functional as F
from fastdl import nn
from fastdl.nn import fusion


def _run(model, x, dy, fused):
    """Output, input gradient, parameter gradients and state of one forward+backward."""
    xt = fastdl.tensor(x, requires_grad=True)
    if fused:
        y = model(xt)
    else:
        with fusion.disabled():
            y = model(xt)
    y.backward(dy)
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    state = [np.array(v) for v in model.state_dict().values()]
    return [y.data.copy(), xt.grad.numpy()] + grads + state


def _assert_fusion_is_bitwise(make, shape, rng, modes=(True, False)):
    x = (rng.standard_normal(shape) * 2 + 0.3).astype(np.float32)
    for training in modes:
        fastdl.manual_seed(0)
        a = make().train(training)
        b = copy.deepcopy(a)
        y_shape = a(x).shape
        a.load_state_dict(b.state_dict())  # undo the statistics update of the shape probe
        dy = rng.standard_normal(y_shape).astype(np.float32)
        for got, want in zip(_run(a, x, dy, True), _run(b, x, dy, False)):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (3, 5, 2, 2), (2, 4, 1, 1)], ids=["S25", "S4", "S1"])
def test_sequential_bn_relu(isa, rng, shape):
    C = shape[1]
    _assert_fusion_is_bitwise(lambda: nn.Sequential(nn.BatchNorm2d(C), nn.ReLU(), nn.Conv2d(C, 2, 1),
                                                    nn.BatchNorm2d(2), nn.ReLU()), shape, rng)


def test_sequential_bn1d_relu(isa, rng):
    _assert_fusion_is_bitwise(lambda: nn.Sequential(nn.Linear(6, 7), nn.BatchNorm1d(7), nn.ReLU(inplace=True),
                                                    nn.Linear(7, 3)), (9, 6), rng)


@pytest.mark.parametrize("proj,hw", [(False, 5), (True, 6), (False, 2), (True, 3)])
def test_residual(isa, rng, proj, hw):
    cout = 4 if proj else 3
    _assert_fusion_is_bitwise(lambda: nn.Residual(3, cout, use_1x1conv=proj, strides=2 if proj else 1),
                              (2, 3, hw, hw), rng)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (3, 5, 2, 2), (2, 4, 1, 1), (5, 6, 24, 24)],
                         ids=["S25", "S4", "S1", "S576"])
def test_sequential_bn_sigmoid(isa, rng, shape):
    C = shape[1]
    _assert_fusion_is_bitwise(lambda: nn.Sequential(nn.BatchNorm2d(C), nn.Sigmoid(), nn.Conv2d(C, 2, 1),
                                                    nn.BatchNorm2d(2), nn.Sigmoid()), shape, rng)


def test_sequential_bn1d_sigmoid(isa, rng):
    _assert_fusion_is_bitwise(lambda: nn.Sequential(nn.Linear(6, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
                                                    nn.Linear(84, 3), nn.BatchNorm1d(3, affine=False),
                                                    nn.Sigmoid()), (9, 6), rng)


def test_lenet_bn_whole_model(isa, rng):
    _assert_fusion_is_bitwise(lambda: fastdl.models.lenet_bn(), (6, 1, 28, 28), rng)


def test_batch_norm_sigmoid_functional(rng):
    x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32)
    w, b = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    rm2, rv2 = rm.copy(), rv.copy()
    xt, xt2 = fastdl.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    y = F.batch_norm_sigmoid(xt, rm, rv, w, b, training=True)
    want = F.sigmoid(F.batch_norm(xt2, rm2, rv2, w, b, training=True))
    np.testing.assert_array_equal(y.data, want.data)
    np.testing.assert_array_equal(rm, rm2)
    np.testing.assert_array_equal(rv, rv2)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y.backward(dy)
    want.backward(dy)
    np.testing.assert_array_equal(xt.grad.numpy(), xt2.grad.numpy())
    ev = F.batch_norm_sigmoid(x, rm, rv, w, b, training=False)  # eval: the two ops
    np.testing.assert_array_equal(ev.data, F.sigmoid(F.batch_norm(x, rm, rv, w, b)).data)
    with pytest.raises(ValueError, match=r"batch_norm: input must be \(N, C, \*\)"):
        F.batch_norm_sigmoid(np.zeros(3, np.float32), None, None)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.batch_norm_sigmoid(x, rm, rv, np.ones(3, np.float32), b)
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        F.batch_norm_sigmoid(np.zeros((1, 4), np.float32), None, None)


def test_resnet18_whole_model(rng):
    _assert_fusion_is_bitwise(lambda: fastdl.models.resnet18(), (2, 1, 28, 28), rng, modes=(True,))


def test_rule_table_and_what_is_not_fused(rng):
    calls = []

    def spy(bn, relu, x):
        calls.append((type(bn).__name__, type(relu).__name__))
        return fusion.batch_norm(bn, x, relu=True)

    saved = dict(fusion.RULES)
    try:
        for k in list(fusion.RULES):
            fusion.RULES[k] = spy
        x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
        m = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU(), nn.ReLU(), nn.BatchNorm2d(2), nn.Tanh())
        m(x)
        assert calls == [("BatchNorm2d", "ReLU")]
        calls.clear()
        with fusion.disabled():
            m(x)
        assert calls == []

        class MyBN(nn.BatchNorm2d):  # a subclass may change forward: never fused
            def forward(self, input):
                return super().forward(input) * 2.0

        nn.Sequential(MyBN(2), nn.ReLU())(x)
        assert calls == []
        blk = nn.Residual(2, 2)
        blk.bn2 = MyBN(2)  # a replaced BatchNorm inside Residual runs its own forward
        with fusion.disabled():
            want = blk(x).data
        np.testing.assert_array_equal(blk(x).data, want)
        seen = []
        hooked = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU())
        hooked[0].register_forward_hook(lambda mod, args, out: seen.append(out.shape))
        hooked(x)  # a hook must see its module's own call: not fused
        assert calls == [] and seen == [(3, 2, 4, 4)]
    finally:
        fusion.RULES.clear()
        fusion.RULES.update(saved)


def test_batch_norm_add_relu_functional(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    r = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm_add_relu(x, r, rm.copy(), rv.copy(), training=True)
    want = F.relu(F.batch_norm(x, rm.copy(), rv.copy(), training=True) + r)
    np.testing.assert_array_equal(y.data, want.data)
    with pytest.raises(ValueError, match=r"residual has shape \(2, 3, 4\)"):
        F.batch_norm_add_relu(x, r[:, :, 0], rm, rv, training=True)
