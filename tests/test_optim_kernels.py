"""Fused optimizer kernels (fastdl._C.sgd_update / adam_update) vs the float64 references of
the update rules, on both ISA paths and 1/2 threads, sizes around the 8-float SIMD width and a
large one that takes the threaded path; bit-identity across paths; bad buffers."""
import numpy as np
import pytest

import fastdl
from fastdl import _C

from reference import optim as ref

SIZES = [1, 7, 8, 9, 17, 1000, 100_000]
RTOL, ATOL = 1.3e-6, 1e-6

SGD_CASES = {
    "plain": dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, first=False),
    "momentum_damp_wd": dict(momentum=0.9, dampening=0.3, weight_decay=0.01, nesterov=False, maximize=False, first=False),
    "first_step": dict(momentum=0.8, dampening=0.5, weight_decay=0.0, nesterov=False, maximize=False, first=True),
    "nesterov_wd": dict(momentum=0.9, dampening=0.0, weight_decay=0.05, nesterov=True, maximize=False, first=False),
    "nesterov_first_max": dict(momentum=0.7, dampening=0.0, weight_decay=0.0, nesterov=True, maximize=True, first=True),
}

ADAM_CASES = {
    "adam": dict(weight_decay=0.0, decoupled=False, maximize=False, amsgrad=False, step=1),
    "adam_l2_amsgrad_max": dict(weight_decay=0.1, decoupled=False, maximize=True, amsgrad=True, step=3),
    "adamw": dict(weight_decay=0.05, decoupled=True, maximize=False, amsgrad=False, step=7),
    "adamw_amsgrad": dict(weight_decay=0.05, decoupled=True, maximize=False, amsgrad=True, step=2),
}


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def _sgd_inputs(rng, n):
    return _f32(rng.standard_normal(n)), _f32(rng.standard_normal(n)), _f32(rng.standard_normal(n))


def _adam_inputs(rng, n):
    p = _f32(rng.standard_normal(n))
    m = _f32(0.5 * rng.standard_normal(n))
    v = _f32(rng.uniform(0.1, 2.0, n))
    vmax = _f32(v * rng.uniform(0.5, 1.5, n))  # some entries above v, some below
    g = _f32(rng.standard_normal(n))
    return p, m, v, vmax, g


# ---- kernels vs float64 references ------------------------------------------------------
@pytest.mark.parametrize("case", sorted(SGD_CASES))
@pytest.mark.parametrize("n", SIZES)
def test_sgd_kernel_matches_reference(isa, threads, rng, n, case):
    c = dict(SGD_CASES[case])
    first = c.pop("first")
    p, buf, g = _sgd_inputs(rng, n)
    if first:
        buf[:] = np.nan  # the first step must not read the buffer
    want_p, want_buf = ref.sgd(p, buf, g, 0.1, first=first, **c)
    b = buf if c["momentum"] != 0 else None
    g0 = g.copy()
    _C.sgd_update(p, b, g, 0.1, c["momentum"], c["dampening"], c["weight_decay"], c["nesterov"],
                  c["maximize"], first)
    np.testing.assert_allclose(p, want_p, rtol=RTOL, atol=ATOL)
    if b is not None:
        np.testing.assert_allclose(b, want_buf, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(g, g0)  # grad is read only


@pytest.mark.parametrize("case", sorted(ADAM_CASES))
@pytest.mark.parametrize("n", SIZES)
def test_adam_kernel_matches_reference(isa, threads, rng, n, case):
    c = ADAM_CASES[case]
    p, m, v, vmax, g = _adam_inputs(rng, n)
    vm = vmax if c["amsgrad"] else None
    lr, b1, b2, eps = 0.1, 0.9, 0.99, 1e-8
    want = ref.adam(p, m, v, vm, g, c["step"], lr, b1, b2, eps, c["weight_decay"], c["decoupled"], c["maximize"])
    _C.adam_update(p, m, v, vm, g, c["step"], lr, b1, b2, eps, c["weight_decay"], c["decoupled"], c["maximize"])
    for got, exp in zip((p, m, v, vm), want):
        if exp is not None:
            np.testing.assert_allclose(got, exp, rtol=RTOL, atol=ATOL)


def test_adam_kernel_beta1_above_half_and_zero_eps(isa, rng):
    # beta1 < 0.5 takes lerp's other branch (weight 1 - beta1 >= 0.5); eps = 0 is allowed
    p, m, v, vmax, g = _adam_inputs(rng, 37)
    want = ref.adam(p, m, v, None, g, 4, 0.05, 0.3, 0.5, 0.0)
    _C.adam_update(p, m, v, None, g, 4, 0.05, 0.3, 0.5, 0.0)
    for got, exp in zip((p, m, v), want):
        np.testing.assert_allclose(got, exp, rtol=RTOL, atol=ATOL)


def test_amsgrad_max_propagates_nan(isa):
    p, m, v = np.zeros(9, np.float32), np.zeros(9, np.float32), np.ones(9, np.float32)
    vmax = np.ones(9, np.float32)
    vmax[8] = np.nan
    _C.adam_update(p, m, v, vmax, np.ones(9, np.float32), 1, 0.1, 0.9, 0.999, 1e-8)
    assert np.isnan(vmax[8]) and np.isnan(p[8])
    assert np.isfinite(vmax[:8]).all() and np.isfinite(p[:8]).all()


@pytest.mark.parametrize("n", [9, 100_000])
def test_kernels_identical_across_isas_and_threads(rng, n):
    """Both paths use the same operations (FMA where PyTorch fuses), so results are bit-identical."""
    isas = [i for i in ("generic", "avx2", "avx512") if _C.cpu_supports(i)]
    prev_isa, prev_threads = fastdl.get_isa(), fastdl.get_num_threads()
    sgd_in, adam_in = _sgd_inputs(rng, n), _adam_inputs(rng, n)
    results = []
    try:
        for isa in isas:
            for t in (1, 2):
                fastdl.set_isa(isa)
                fastdl.set_num_threads(t)
                p, b, g = (a.copy() for a in sgd_in)
                _C.sgd_update(p, b, g, 0.1, 0.9, 0.0, 0.01, True, False, False)
                p2, m, v, vmax, g2 = (a.copy() for a in adam_in)
                _C.adam_update(p2, m, v, vmax, g2, 3, 0.01, 0.9, 0.999, 1e-8, 0.01, True, False)
                results.append((p, b, p2, m, v, vmax))
    finally:
        fastdl.set_isa(prev_isa)
        fastdl.set_num_threads(prev_threads)
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)


def test_kernel_bindings_reject_bad_buffers():
    p, g = np.zeros(5, np.float32), np.ones(5, np.float32)
    with pytest.raises(TypeError):
        _C.sgd_update(p, np.zeros(5, np.float64), g, 0.1, 0.9)  # wrong dtype: no silent copy
    with pytest.raises(TypeError):
        _C.sgd_update(p.astype(np.float64), None, g, 0.1)
    with pytest.raises(TypeError):
        _C.adam_update(np.zeros((5, 2), np.float32)[:, 0], p, p, None, g, 1, 0.1, 0.9, 0.99, 1e-8)  # strided
    with pytest.raises(ValueError, match="momentum_buffer"):
        _C.sgd_update(p, None, g, 0.1, 0.9)
    with pytest.raises(ValueError, match="momentum_buffer must be None"):
        _C.sgd_update(p, np.zeros(5, np.float32), g, 0.1, 0.0)
    with pytest.raises(ValueError, match=r"param and momentum_buffer.*\(5,\) and \(4,\)"):
        _C.sgd_update(p, np.zeros(4, np.float32), g, 0.1, 0.9)
    with pytest.raises(ValueError, match=r"param and grad"):
        _C.sgd_update(p, None, np.ones(6, np.float32), 0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        _C.sgd_update(p, np.zeros(5, np.float32), g, 0.1, 0.9, 0.5, 0.0, True)
    m, v = np.zeros(5, np.float32), np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="step must be >= 1"):
        _C.adam_update(p, m, v, None, g, 0, 0.1, 0.9, 0.99, 1e-8)
    with pytest.raises(ValueError, match="beta1"):
        _C.adam_update(p, m, v, None, g, 1, 0.1, 1.0, 0.99, 1e-8)
    with pytest.raises(ValueError, match="different arrays"):
        _C.adam_update(p, m, m, None, g, 1, 0.1, 0.9, 0.99, 1e-8)
    with pytest.raises(ValueError, match="share memory with param"):
        _C.adam_update(p, p, v, None, g, 1, 0.1, 0.9, 0.99, 1e-8)
    ro = np.zeros(5, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.sgd_update(ro, None, g, 0.1)
