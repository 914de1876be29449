"""BatchNorm kernels, F.batch_norm / F.batch_norm_relu and nn.BatchNorm1d/2d.

Chain of trust: float64 reference backward vs finite differences; C++ kernels (both ISAs,
1 and 2 threads, sizes around the SIMD width and across the small-S column path) vs the
reference with error bounds scaled by the magnitudes involved; layers vs PyTorch.
"""
import numpy as np
import pytest

import fastdl
import fastdl.functional as F
from fastdl import _C, nn
from conftest import torch_or_skip
from reference import batchnorm as ref
from reference.fd import numeric_grad

U = 2.0 ** -24  # fp32 unit roundoff

SHAPES = [(2, 1), (3, 7), (5, 8), (4, 9), (2, 17), (9, 33),  # (N, C): column path
          (2, 3, 1), (3, 4, 7), (2, 5, 15), (2, 3, 16), (3, 2, 17), (2, 3, 33),  # (N, C, L)
          (1, 1, 1, 2), (2, 3, 5, 7), (4, 16, 8, 8), (3, 17, 1, 9), (2, 4, 2, 2), (1, 3, 9, 1)]


def _bc(v, x):
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _inputs(rng, shape, scale=2.0, shift=0.5):
    C = shape[1]
    x = (rng.standard_normal(shape) * scale + shift).astype(np.float32)
    w = (rng.random(C) + 0.5).astype(np.float32) * rng.choice([-1, 1], C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    return x, w, b


def _check_forward(y, x, w, b, mean_ref, rstd_ref, y_ref):
    wa = np.ones(x.shape[1]) if w is None else np.abs(w.astype(np.float64))
    ba = np.zeros(x.shape[1]) if b is None else np.abs(b.astype(np.float64))
    scale = _bc(wa * rstd_ref, x) * (np.abs(x) + _bc(np.abs(mean_ref), x)) + _bc(ba, x)
    err = np.abs(y.astype(np.float64) - y_ref)
    bound = 16 * U * scale + 1e-30
    assert np.all(err <= bound), f"forward max err {err.max()} vs bound {bound[err > bound].min()}"


def _check_backward(got, want, x, dy, w, mean, rstd):
    dx, dw, db = got
    rdx, rdw, rdb = want
    M = x.size // x.shape[1]
    xhat = (x - _bc(mean, x)) * _bc(rstd, x)
    wa = np.ones(x.shape[1]) if w is None else np.abs(w.astype(np.float64))
    ady = np.abs(dy.astype(np.float64))
    sum_dy = ady.sum(axis=_axes(x))
    sum_dyx = (ady * np.abs(xhat)).sum(axis=_axes(x))
    scale = _bc(wa * rstd, x) * (ady + _bc(sum_dy / M, x) + np.abs(xhat) * _bc(sum_dyx / M, x))
    # the fp32 rounding of mean/rstd moves xhat by ~u*(|x|+|mean|)*rstd
    scale = scale * (1 + _bc(np.abs(mean) * rstd, x))
    err = np.abs(dx.astype(np.float64) - rdx)
    assert np.all(err <= 64 * U * scale + 1e-30), f"dx max err {err.max()}"
    tol_sum = 32 * U * (sum_dyx + sum_dy * (1 + np.abs(mean) * rstd)) + 1e-30
    if rdw is not None:
        assert np.all(np.abs(dw - rdw) <= tol_sum), f"dweight err {np.abs(dw - rdw).max()}"
    if rdb is not None:
        assert np.all(np.abs(db - rdb) <= 32 * U * sum_dy + 1e-30), f"dbias err {np.abs(db - rdb).max()}"


# ---- (1) the reference backward is right -------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("relu", [False, True])
def test_reference_backward_matches_finite_differences(rng, shape, training, relu):
    x = rng.standard_normal(shape)
    C = shape[1]
    w = rng.random(C) + 0.5
    b = rng.standard_normal(C) * 0.3
    rm = rng.standard_normal(C)
    rv = rng.random(C) + 0.5
    dy = rng.standard_normal(shape)
    eps = 1e-5

    def fwd(x_, w_, b_):
        return ref.batch_norm_forward(x_, w_, b_, rm, rv, training, 0.1, eps, relu)[0]

    _, mean, rstd, _, _ = ref.batch_norm_forward(x, w, b, rm, rv, training, 0.1, eps, relu)
    if relu:  # keep finite differences away from the kink
        pre = ref.batch_norm_forward(x, w, b, rm, rv, training, 0.1, eps, False)[0]
        assert np.abs(pre).min() > 1e-4
    dx, dw, db = ref.batch_norm_backward(dy, x, w, b, mean, rstd, training, relu)
    np.testing.assert_allclose(dx, numeric_grad(lambda v: fwd(v, w, b), x, dy=dy), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_grad(lambda v: fwd(x, v, b), w, dy=dy), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(db, numeric_grad(lambda v: fwd(x, w, v), b, dy=dy), rtol=1e-5, atol=1e-7)


# ---- (2) kernels vs the reference ---------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bnrelu"])
def test_kernel_training_matches_reference(isa, threads, rng, shape, relu):
    x, w, b = _inputs(rng, shape)
    C = shape[1]
    rm = rng.standard_normal(C).astype(np.float32)
    rv = (rng.random(C) + 0.5).astype(np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, rstd = _C.batch_norm_forward(x, w, b, rm, rv, True, 0.1, 1e-5, relu)
    y_ref, mean_ref, rstd_ref, rm_ref, rv_ref = ref.batch_norm_forward(x, w, b, rm0, rv0, True, 0.1, 1e-5, relu)
    _check_forward(y, x, w, b, mean_ref, rstd_ref, y_ref)
    np.testing.assert_allclose(mean, mean_ref, rtol=4 * U, atol=1e-6)
    np.testing.assert_allclose(rstd, rstd_ref, rtol=1e-6)
    np.testing.assert_allclose(rm, rm_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv, rv_ref, rtol=1e-6, atol=1e-7)
    dy = rng.standard_normal(shape).astype(np.float32)
    got = _C.batch_norm_backward(dy, x, w, b, mean, rstd, True, relu)
    want = ref.batch_norm_backward(dy, x, w, b, mean_ref, rstd_ref, True, relu)
    _check_backward(got, want, x, dy, w, mean_ref, rstd_ref)


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5), (2, 4, 3, 3), (2, 5, 6, 7)], ids=str)
@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bnrelu"])
def test_kernel_eval_matches_reference(isa, rng, shape, relu):
    x, w, b = _inputs(rng, shape)
    C = shape[1]
    rm = rng.standard_normal(C).astype(np.float32)
    rv = (rng.random(C) + 0.5).astype(np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, rstd = _C.batch_norm_forward(x, w, b, rm, rv, False, 0.1, 1e-5, relu)
    np.testing.assert_array_equal(rm, rm0)  # eval never touches the running statistics
    np.testing.assert_array_equal(rv, rv0)
    y_ref, mean_ref, rstd_ref, _, _ = ref.batch_norm_forward(x, w, b, rm0, rv0, False, 0.1, 1e-5, relu)
    _check_forward(y, x, w, b, mean_ref, rstd_ref, y_ref)
    dy = rng.standard_normal(shape).astype(np.float32)
    got = _C.batch_norm_backward(dy, x, w, b, mean, rstd, False, relu)
    want = ref.batch_norm_backward(dy, x, w, b, mean_ref, rstd_ref, False, relu)
    _check_backward(got, want, x, dy, w, mean_ref, rstd_ref)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 20)], ids=str)
def test_kernel_affine_false_and_no_running_stats(isa, rng, shape):
    x, _, _ = _inputs(rng, shape)
    y, mean, rstd = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5, False)
    y_ref, mean_ref, rstd_ref, _, _ = ref.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5)
    _check_forward(y, x, None, None, mean_ref, rstd_ref, y_ref)
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = _C.batch_norm_backward(dy, x, None, None, mean, rstd, True, False)
    assert dw is None and db is None
    want = ref.batch_norm_backward(dy, x, None, None, mean_ref, rstd_ref, True)
    _check_backward((dx, None, None), (want[0], None, None), x, dy, None, mean_ref, rstd_ref)


@pytest.mark.parametrize("shape", [(64, 5), (16, 3, 40)], ids=str)
def test_kernel_large_mean_small_std(isa, rng, shape):
    """|mean|/std = 1e3: float64 one-pass statistics must not cancel."""
    x = (1000.0 + rng.standard_normal(shape)).astype(np.float32)
    y, mean, rstd = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5, False)
    y_ref, mean_ref, rstd_ref, _, _ = ref.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(rstd, rstd_ref, rtol=1e-6)
    _check_forward(y, x, None, None, mean_ref, rstd_ref, y_ref)
    assert np.abs(y - y_ref).max() < 1e-4


def test_kernel_thread_counts_agree(isa, rng):
    """Channel path: bitwise equal for 1 and 2 threads; column path: within rounding."""
    prev = fastdl.get_num_threads()
    try:
        for shape, exact in (((8, 16, 32, 32), True), ((4096, 64), False)):
            x, w, b = _inputs(rng, shape)
            dy = rng.standard_normal(shape).astype(np.float32)
            outs = []
            for t in (1, 2):
                fastdl.set_num_threads(t)
                y, m, r = _C.batch_norm_forward(x, w, b, None, None, True, 0.1, 1e-5, True)
                outs.append((y, m, r) + tuple(_C.batch_norm_backward(dy, x, w, b, m, r, True, True)))
            for a, c in zip(*outs):
                if exact:
                    np.testing.assert_array_equal(a, c)
                else:
                    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    finally:
        fastdl.set_num_threads(prev)


def test_constant_input_gives_finite_output(isa):
    x = np.full((4, 3, 2, 2), 5.0, dtype=np.float32)
    y, mean, rstd = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5, False)
    assert np.all(np.isfinite(y)) and np.all(y == 0)
    dx, _, _ = _C.batch_norm_backward(np.ones_like(x), x, None, None, mean, rstd, True, False)
    assert np.all(np.isfinite(dx))


def test_nan_propagates(isa):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x[1, 1, 2] = np.nan
    for relu in (False, True):
        y, _, _ = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5, relu)
        assert np.all(np.isnan(y[:, 1])) and np.all(np.isfinite(y[:, [0, 2]]))


# ---- bad inputs ---------------------------------------------------------------------------
def test_one_value_per_channel_raises_when_training():
    for shape in ((1, 3), (1, 3, 1, 1), (1, 2, 1)):
        with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size"):
            F.batch_norm(np.ones(shape, np.float32), None, None, training=True)
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            _C.batch_norm_forward(np.ones(shape, np.float32), None, None, None, None, True, 0.1, 1e-5, False)
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"got input size \(1, 3, 1, 1\)"):
        bn(np.ones((1, 3, 1, 1), np.float32))
    bn.eval()
    assert bn(np.ones((1, 3, 1, 1), np.float32)).shape == (1, 3, 1, 1)  # eval is fine


def test_empty_batch(threads):
    x = fastdl.tensor(np.zeros((0, 3, 4, 4), np.float32), requires_grad=True)
    bn = nn.BatchNorm2d(3)
    bn.running_mean.data[...] = 5
    y = bn(x)
    assert y.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(bn.running_mean.data, 5)  # untouched, as torch
    np.testing.assert_array_equal(bn.running_var.data, 1)
    y.backward(np.zeros((0, 3, 4, 4), np.float32))
    assert x.grad.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(bn.weight.grad.data, 0)
    np.testing.assert_array_equal(bn.bias.grad.data, 0)


def test_bad_arguments_name_the_shapes():
    x = np.ones((4, 3, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\).*\(4, 3, 2, 2\).*\(4,\)"):
        _C.batch_norm_forward(x, np.ones(4, np.float32), None, None, None, True, 0.1, 1e-5, False)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        _C.batch_norm_forward(x, None, None, np.zeros(4, np.float32), np.ones(4, np.float32), True, 0.1, 1e-5, False)
    with pytest.raises(TypeError):  # float64 running stats cannot be updated in place
        _C.batch_norm_forward(x, None, None, np.zeros(3), np.ones(3), True, 0.1, 1e-5, False)
    with pytest.raises(TypeError, match="float32"):
        F.batch_norm(x, np.zeros(3), np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"2-D or higher.*\(3,\)"):
        _C.batch_norm_forward(np.ones(3, np.float32), None, None, None, None, True, 0.1, 1e-5, False)
    with pytest.raises(ValueError, match="required when training=False"):
        _C.batch_norm_forward(x, None, None, None, None, False, 0.1, 1e-5, False)
    with pytest.raises(ValueError, match="grad_output and input must have the same shape"):
        _C.batch_norm_backward(x[:2], x, None, None, np.zeros(3, np.float32), np.ones(3, np.float32), True, False)
    with pytest.raises(TypeError):
        F.batch_norm(None, None, None, training=True)
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(x)
    with pytest.raises(ValueError, match=r"input has 3 channels.*expected 4"):
        nn.BatchNorm2d(4)(x)


def test_readonly_running_stats_rejected():
    x = np.ones((4, 3), np.float32)
    rm = np.zeros(3, np.float32)
    rm.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _C.batch_norm_forward(x, None, None, rm, np.ones(3, np.float32), True, 0.1, 1e-5, False)


# ---- layers vs PyTorch --------------------------------------------------------------------
def _torch_bn(torch, cls_name, C, **kw):
    return getattr(torch.nn, cls_name)(C, **kw)


@pytest.mark.parametrize("cls_name,shape", [("BatchNorm2d", (4, 3, 5, 6)), ("BatchNorm1d", (8, 5)),
                                            ("BatchNorm1d", (4, 6, 7)), ("BatchNorm2d", (3, 8, 1, 1))])
@pytest.mark.parametrize("kw", [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False},
                                {"momentum": 0.3, "eps": 1e-3}], ids=["default", "cma", "noaffine", "notrack", "mom"])
@pytest.mark.parametrize("fused", [False, True], ids=["bn", "bnrelu"])
def test_layer_matches_torch(rng, cls_name, shape, kw, fused):
    torch = torch_or_skip()
    C = shape[1]
    tb = _torch_bn(torch, cls_name, C, **kw)
    fb = getattr(nn, cls_name)(C, **kw)
    if tb.affine:
        with torch.no_grad():
            tb.weight.copy_(torch.tensor(rng.random(C) + 0.5))
            tb.bias.copy_(torch.tensor(rng.standard_normal(C)))
    fb.load_state_dict({k: v.numpy() for k, v in tb.state_dict().items()}, strict=True)
    assert list(fb.state_dict()) == list(tb.state_dict())
    for k, v in tb.state_dict().items():
        assert fb.state_dict()[k].dtype == v.numpy().dtype and fb.state_dict()[k].shape == tuple(v.shape), k
    for step, training in enumerate((True, True, True, False)):
        tb.train(training)
        fb.train(training)
        x = (rng.standard_normal(shape) * 2 + step).astype(np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        fx = fastdl.tensor(x, requires_grad=True)
        ty = tb(tx)
        if fused:
            ty = torch.relu(ty)
            fy = nn.fusion.batch_norm(fb, fx, relu=True)
        else:
            fy = fb(fx)
        ty.backward(torch.tensor(dy))
        fy.backward(dy)
        np.testing.assert_allclose(fy.data, ty.detach().numpy(), rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=2e-5)
        if tb.affine:
            np.testing.assert_allclose(fb.weight.grad.data, tb.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(fb.bias.grad.data, tb.bias.grad.numpy(), rtol=1e-4, atol=1e-4)
            tb.zero_grad()
            fb.zero_grad()
        for k, v in tb.state_dict().items():
            np.testing.assert_allclose(fb.state_dict()[k], v.numpy(), rtol=1e-6, atol=1e-6, err_msg=k)


def test_functional_matches_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((6, 4, 3)).astype(np.float32)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    trm, trv = torch.zeros(4), torch.ones(4)
    y = F.batch_norm(x, rm, rv, training=True, momentum=0.2)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.2)
    np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-6, atol=1e-7)
    y = F.batch_norm_relu(fastdl.tensor(x), fastdl.tensor(rm), fastdl.tensor(rv), training=False)
    ty = torch.relu(torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, training=False))
    np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-5, atol=1e-5)


def test_repr_and_reset():
    bn = nn.BatchNorm2d(4, momentum=None)
    assert repr(bn) == "BatchNorm2d(4, eps=1e-05, momentum=None, affine=True, track_running_stats=True)"
    bn(np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32))
    assert int(bn.num_batches_tracked.data) == 1 and bn.num_batches_tracked.data.shape == ()
    bn.reset_running_stats()
    assert int(bn.num_batches_tracked.data) == 0 and np.all(bn.running_var.data == 1)
    with pytest.raises(ValueError):
        nn.BatchNorm1d(0)


def test_noncontiguous_and_float64_inputs_match_contiguous(rng):
    x = rng.standard_normal((6, 4, 5)).astype(np.float32)
    base = F.batch_norm(x, None, None, training=True).data
    variants = [np.asfortranarray(x), x.astype(np.float64), np.ascontiguousarray(x.transpose(2, 1, 0)).transpose(2, 1, 0),
                np.concatenate([x, x], axis=2)[:, :, ::2] * 0 + x]
    strided = np.zeros((6, 4, 10), np.float32)
    strided[:, :, ::2] = x
    variants.append(strided[:, :, ::2])
    for v in variants:
        np.testing.assert_array_equal(F.batch_norm(v, None, None, training=True).data, base)
        np.testing.assert_array_equal(_C.batch_norm_forward(v, None, None, None, None, True, 0.1, 1e-5, False)[0], base)
