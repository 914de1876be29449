"""Activation -> average pooling in one pass: F.activation_avg_pool2d (LeNet's Sigmoid ->
AvgPool2d) and F.batch_norm_sigmoid_avg_pool2d (LeNet-BN's BatchNorm2d -> Sigmoid -> AvgPool2d),
against the float64 references on every ISA level (planes around the vector width, odd sizes,
the BatchNorm channel and column paths), bitwise against the unfused chains, through the
nn.fusion rules (whole LeNet), and their bad-input errors."""
from __future__ import annotations

import numpy as np
import pytest

import fastdl
import fastdl.functional as F
from fastdl import _C, nn
from fastdl.nn import fusion

from reference import activation as ref_act
from test_fusion import _assert_fusion_is_bitwise
from reference import batchnorm as ref_bn
from reference import pool as ref_pool

# (N, C, H, W), kernel, stride, padding, ceil_mode, count_include_pad
CASES = [
    ((2, 3, 28, 28), 2, 2, 0, False, True),   # LeNet conv1's output
    ((3, 2, 10, 10), 2, 2, 0, False, True),   # LeNet conv2's output (rows of 10: a vector tail)
    ((2, 3, 7, 9), 2, 2, 0, False, True),     # odd sizes: the last row / column is dropped
    ((1, 4, 17, 15), 3, 2, 1, True, False),   # padding, ceil_mode, count_include_pad=False
    ((2, 1, 1, 1), 1, 1, 0, False, True),     # a 1x1 map
    ((1, 2, 16, 33), 2, 2, 0, True, True),    # widths around the 8 / 16 lanes
]
ACTS = {"sigmoid": (ref_act.sigmoid, ref_act.sigmoid_backward, F.sigmoid),
        "relu": (lambda x: np.maximum(np.asarray(x, np.float64), 0.0),
                 lambda dy, y: np.asarray(dy, np.float64) * (np.asarray(y) > 0), F.relu),
        "tanh": (ref_act.tanh, ref_act.tanh_backward, F.tanh)}


def _pool(case):
    _, k, s, p, ceil, cip = case
    return (k, k), (s, s), (p, p), ceil, cip


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}k{c[1]}" for c in CASES])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_activation_avg_pool2d_matches_reference_and_unfused(isa, threads, rng, case, act):
    shape = case[0]
    k, s, p, ceil, cip = _pool(case)
    fwd_ref, bwd_ref, unfused = ACTS[act]
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    xt, xu = fastdl.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    y = F.activation_avg_pool2d(xt, act, k, s, p, ceil, cip)
    want = F.avg_pool2d(unfused(xu), k, s, p, ceil, cip)
    np.testing.assert_array_equal(y.data, want.data)
    a = fwd_ref(x)
    np.testing.assert_allclose(y.data, ref_pool.avg_pool2d_forward(a, k, s, p, ceil, cip), rtol=2e-6, atol=2e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    want.backward(dy)
    np.testing.assert_array_equal(xt.grad.data, xu.grad.data)
    dx_ref = bwd_ref(ref_pool.avg_pool2d_backward(dy, shape, k, s, p, ceil, cip), a)
    np.testing.assert_allclose(xt.grad.data, dx_ref, rtol=2e-6, atol=2e-6)


def _bn_inputs(rng, shape):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    w = rng.standard_normal(C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[3], ((4, 3, 3, 3), 2, 2, 0, True, True)],
                         ids=["S784", "S100", "S255pad", "S9col"])
def test_batch_norm_sigmoid_avg_pool2d_matches_reference_and_unfused(isa, threads, rng, case):
    shape = case[0]
    k, s, p, ceil, cip = _pool(case)
    x, w, b = _bn_inputs(rng, shape)
    C = shape[1]
    stats = [np.zeros(C, np.float32), np.ones(C, np.float32)]
    stats_u = [v.copy() for v in stats]
    xt, xu = fastdl.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    wt, wu = fastdl.tensor(w, requires_grad=True), fastdl.tensor(w, requires_grad=True)
    bt, bu = fastdl.tensor(b, requires_grad=True), fastdl.tensor(b, requires_grad=True)
    y = F.batch_norm_sigmoid_avg_pool2d(xt, *stats, wt, bt, 0.1, 1e-5, k, s, p, ceil, cip)
    want = F.avg_pool2d(F.sigmoid(F.batch_norm(xu, *stats_u, wu, bu, True, 0.1, 1e-5)), k, s, p, ceil, cip)
    np.testing.assert_array_equal(y.data, want.data)
    for got, exp in zip(stats, stats_u):
        np.testing.assert_array_equal(got, exp)
    z, mean, rstd, rm, rv = ref_bn.batch_norm_forward(x, w, b, np.zeros(C), np.ones(C), True, 0.1, 1e-5)
    sig = ref_act.sigmoid(z)
    np.testing.assert_allclose(y.data, ref_pool.avg_pool2d_forward(sig, k, s, p, ceil, cip), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats[0], rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats[1], rv, rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    want.backward(dy)
    for got, exp in ((xt, xu), (wt, wu), (bt, bu)):
        np.testing.assert_array_equal(got.grad.data, exp.grad.data)
    dz = ref_act.sigmoid_backward(ref_pool.avg_pool2d_backward(dy, shape, k, s, p, ceil, cip), sig)
    dx, dw, db = ref_bn.batch_norm_backward(dz, x, w, b, mean, rstd, True)
    M = x.size // C
    tol = 1e-5 * np.sqrt(M)
    np.testing.assert_allclose(xt.grad.data, dx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(wt.grad.data, dw, rtol=1e-4, atol=tol)
    np.testing.assert_allclose(bt.grad.data, db, rtol=1e-4, atol=tol)


@pytest.mark.parametrize("make", [fastdl.models.lenet, fastdl.models.lenet_bn], ids=["lenet", "lenet_bn"])
def test_lenet_models_fused_bitwise(isa, rng, make):
    _assert_fusion_is_bitwise(make, (5, 1, 28, 28), rng)


def test_rules_pick_runs_of_three_then_two(rng):
    calls = []
    saved = dict(fusion.RULES)
    try:
        fusion.RULES[(nn.Sigmoid, nn.AvgPool2d)] = lambda a, p, x: calls.append("pair") or saved[
            (nn.Sigmoid, nn.AvgPool2d)](a, p, x)
        fusion.RULES[(nn.BatchNorm2d, nn.Sigmoid, nn.AvgPool2d)] = lambda *a: calls.append("triple") or saved[
            (nn.BatchNorm2d, nn.Sigmoid, nn.AvgPool2d)](*a)
        m = nn.Sequential(nn.BatchNorm2d(2), nn.Sigmoid(), nn.AvgPool2d(2), nn.Sigmoid(), nn.AvgPool2d(2))
        x = rng.standard_normal((2, 2, 8, 8)).astype(np.float32)
        m(x)
        assert calls == ["triple", "pair"]
        calls.clear()
        m.eval()(x)  # eval: the triple declines (NotImplemented), BatchNorm+Sigmoid runs, then the pair
        assert calls == ["triple", "pair"]
        calls.clear()
        nn.Sequential(nn.Sigmoid(inplace=True), nn.AvgPool2d(2))(fastdl.tensor(x))  # in place: declined, layers run
        assert calls == ["pair"]
    finally:
        fusion.RULES.clear()
        fusion.RULES.update(saved)


def test_bad_inputs_raise():
    x = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="activation must be one of"):
        F.activation_avg_pool2d(x, "elu", 2)
    with pytest.raises(ValueError, match="activation must be relu"):
        _C.avg_pool2d_act_forward(x, 1, (2, 2), (2, 2), (0, 0), False, True, None)
    with pytest.raises(ValueError, match="grad_output"):
        _C.avg_pool2d_act_backward(np.zeros((2, 3, 3, 3), np.float32), x, 3, (2, 2), (2, 2), (0, 0), False, True,
                                   None)
    with pytest.raises(ValueError, match="kernel_size"):
        F.activation_avg_pool2d(x, "sigmoid", 0)
    with pytest.raises(ValueError, match=r"input must be \(N, C, H, W\)"):
        F.batch_norm_sigmoid_avg_pool2d(np.zeros((2, 3, 4), np.float32), None, None)
    with pytest.raises(ValueError, match="grad_output"):
        _C.batch_norm_sigmoid_avg_pool2d_backward(x, x, x, None, None, np.zeros(3, np.float32),
                                                  np.ones(3, np.float32), True, (2, 2), (2, 2), (0, 0), False, True,
                                                  None)
    with pytest.raises(ValueError, match="too small"):
        F.batch_norm_sigmoid_avg_pool2d(np.zeros((2, 3, 1, 1), np.float32), None, None, kernel_size=2)
    unbatched = F.activation_avg_pool2d(np.ones((3, 4, 4), np.float32), "relu", 2)
    np.testing.assert_array_equal(unbatched.data, np.ones((3, 2, 2), np.float32))


def test_compiled_lenet_runs_the_fused_op(rng):
    """fastdl.compile_step lowers the Sigmoid -> AvgPool2d rule to its own plan op (the zoo
    tests in test_compile.py check the compiled step against eager)."""
    model = fastdl.models.lenet()
    opt = fastdl.optim.SGD(model.parameters(), lr=0.1)
    step = fastdl.compile_step(model, nn.CrossEntropyLoss(), opt)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    step(x, rng.integers(0, 10, 4))
    (entry,) = step._plans.values()
    names = [name for name, _, _ in entry.plan.steps()]
    assert names.count("avg_pool2d_act_forward") == 2 and names.count("avg_pool2d_act_backward") == 2
    assert "avg_pool2d_forward" not in names
