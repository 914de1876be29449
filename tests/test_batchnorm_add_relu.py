"""The residual join relu(batch_norm(x) + residual) (F.batch_norm_add_relu, ResNet's Residual):
float64 reference vs finite differences; the one-pass kernel (every ISA level, 1 and 2 threads,
both the channel path and the small-S column path, training and eval) vs the reference; its ReLU
bitmask; bad input."""
import numpy as np
import pytest

from fastdl import _C
from reference import batchnorm as ref
from reference.fd import numeric_grad
from test_batchnorm import SHAPES, U, _bc, _check_backward, _inputs


@pytest.mark.parametrize("shape", [(4, 3), (2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_reference_backward_matches_finite_differences(rng, shape, training):
    x, r, dy = (rng.standard_normal(shape) for _ in range(3))
    C = shape[1]
    w, b = rng.random(C) + 0.5, rng.standard_normal(C) * 0.3
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5

    def fwd(x_, r_, w_, b_):
        return ref.batch_norm_add_relu_forward(x_, r_, w_, b_, rm, rv, training, 0.1, 1e-5)[0]

    _, mean, rstd, _, _ = ref.batch_norm_add_relu_forward(x, r, w, b, rm, rv, training, 0.1, 1e-5)
    pre = ref.batch_norm_forward(x, w, b, rm, rv, training, 0.1, 1e-5)[0] + r
    assert np.abs(pre).min() > 1e-4  # finite differences away from the kink
    dx, dw, db, dr = ref.batch_norm_add_relu_backward(dy, x, r, w, b, mean, rstd, training)
    for got, arg in ((dx, 0), (dr, 1), (dw, 2), (db, 3)):
        args = [x, r, w, b]

        def f(v, arg=arg):
            a = list(args)
            a[arg] = v
            return fwd(*a)

        np.testing.assert_allclose(got, numeric_grad(f, args[arg], dy=dy), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES[1:], ids=[str(s) for s in SHAPES[1:]])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_kernel_matches_reference(isa, threads, rng, shape, training):
    x, w, b = _inputs(rng, shape)
    res = rng.standard_normal(shape).astype(np.float32)
    C = shape[1]
    rm = rng.standard_normal(C).astype(np.float32)
    rv = (rng.random(C) + 0.5).astype(np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, rstd, mask = _C.batch_norm_add_relu_forward(x, res, w, b, rm, rv, training, 0.1, 1e-5)
    y_ref, mean_ref, rstd_ref, rm_ref, rv_ref = ref.batch_norm_add_relu_forward(x, res, w, b, rm0, rv0, training,
                                                                                 0.1, 1e-5)
    scale = _bc(np.abs(w.astype(np.float64)) * rstd_ref, x) * (np.abs(x) + _bc(np.abs(mean_ref), x)) + _bc(
        np.abs(b.astype(np.float64)), x) + np.abs(res)
    assert np.all(np.abs(y - y_ref) <= 16 * U * scale + 1e-30)
    if training:
        np.testing.assert_allclose(rm, rm_ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(rv, rv_ref, rtol=1e-6, atol=1e-7)
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db, dres = _C.batch_norm_add_relu_backward(dy, mask, x, w, b, mean, rstd, training)
    # the mask is the forward's ReLU exactly: dresidual = dy where y > 0
    np.testing.assert_array_equal(dres, np.where(y > 0, dy, np.float32(0)))
    want = ref.batch_norm_backward(dres, x, w, b, mean_ref, rstd_ref, training)
    _check_backward((dx, dw, db), want, x, dres, w, mean_ref, rstd_ref)
    # and bitwise the unfused chain: batch_norm_backward of dy * mask
    np.testing.assert_array_equal(dx, _C.batch_norm_backward(dres, x, w, b, mean, rstd, training, False)[0])


def test_mask_is_one_bit_per_element():
    for shape in [(2, 3, 4, 5), (3, 5, 2), (7, 3)]:
        x = np.ones(shape, np.float32)
        y, mean, rstd, mask = _C.batch_norm_add_relu_forward(x, x, None, None, None, None, True, 0.1, 1e-5)
        assert mask.dtype == np.uint8 and mask.nbytes <= x.size // 8 + np.prod(shape[:2])


def test_bad_arguments_name_the_shapes():
    x = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"residual.*\(2, 3, 4\)"):
        _C.batch_norm_add_relu_forward(x, x[..., 0], None, None, None, None, True, 0.1, 1e-5)
    y, mean, rstd, mask = _C.batch_norm_add_relu_forward(x + 1, x, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="mask"):
        _C.batch_norm_add_relu_backward(x, mask[:-1], x, None, None, mean, rstd, True)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        _C.batch_norm_add_relu_forward(x, x, None, None, None, None, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match="residual"):
        _C.batch_norm_add_relu_forward(x, None, None, None, None, None, True, 0.1, 1e-5)
