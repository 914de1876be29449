"""fastdl.Tensor operations: forward and backward against float64 numpy references, central
finite differences (tests/reference/fd.py and fastdl.gradcheck in float64) and PyTorch."""
import numpy as np
import pytest

import fastdl
from fastdl import GradcheckError, gradcheck
from reference.fd import numeric_grad

from conftest import torch_or_skip

RTOL, ATOL = 1.3e-6, 1e-5  # docs/testing.md §1 elementwise float32


def _inputs(rng, shapes, kind="normal"):
    out = []
    for s in shapes:
        x = rng.standard_normal(s)
        if kind == "positive":
            x = np.abs(x) + 0.5
        elif kind == "away0":  # away from kinks at 0 (abs) and +-0.5 (clamp)
            x = np.sign(x) * (np.abs(x) + 0.1)
            x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, x + 0.2, x)
        out.append(x.astype(np.float32))
    return out


def check_op(fd_fn, np_fn, inputs, rng, torch_fn=None, fwd_tol=(RTOL, ATOL), grad_tol=(1e-4, 1e-5),
             double_check=True, gc_tol=(1e-3, 1e-5), gc_eps=1e-6):
    """fd_fn on Tensors vs np_fn on float64 arrays (forward), the float32 autograd gradient
    vs float64 central differences of np_fn, fastdl.gradcheck in float64, and torch."""
    x64 = [x.astype(np.float64) for x in inputs]
    ts = [fastdl.tensor(x, requires_grad=True) for x in inputs]
    y = fd_fn(*ts)
    ref = np.asarray(np_fn(*x64))
    assert y.shape == ref.shape
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, ref, rtol=fwd_tol[0], atol=fwd_tol[1])
    dy = rng.standard_normal(ref.shape).astype(np.float32)
    y.backward(dy)
    for i, t in enumerate(ts):
        def f(v, i=i):
            args = list(x64)
            args[i] = v
            return np_fn(*args)
        num = numeric_grad(f, x64[i], eps=1e-6, dy=dy.astype(np.float64))
        assert t.grad is not None and t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.data, num, rtol=grad_tol[0], atol=grad_tol[1])
    if double_check:
        assert gradcheck(fd_fn, x64, eps=gc_eps, atol=gc_tol[1], rtol=gc_tol[0])
    if torch_fn is not None:
        try:
            import torch
        except ImportError:
            return
        tt = [torch.tensor(x, requires_grad=True) for x in inputs]
        yt = torch_fn(*tt)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=fwd_tol[0], atol=fwd_tol[1])
        for t, u in zip(ts, tt):
            np.testing.assert_allclose(t.grad.data, u.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---- elementwise binary with broadcasting --------------------------------------------------
BCAST = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((2, 3), ()), ((5,), (5,)), ((4, 1, 3), (2, 1))]
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
}


@pytest.mark.parametrize("shapes", BCAST, ids=str)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_broadcast(op, shapes, rng):
    fd_fn, np_fn = BINARY[op]
    a, b = _inputs(rng, shapes, "positive" if op in ("div", "pow") else "normal")
    check_op(fd_fn, np_fn, [a, b], rng, torch_fn=fd_fn)


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_scalar_and_reflected(op, rng):
    fd_fn, np_fn = BINARY[op]
    (a,) = _inputs(rng, [(3, 4)], "positive")
    for c in (2.5, 3):
        check_op(lambda x: fd_fn(x, c), lambda x: np_fn(x, c), [a], rng, torch_fn=lambda x: fd_fn(x, c))
        check_op(lambda x: fd_fn(c, x), lambda x: np_fn(c, x), [a], rng, torch_fn=lambda x: fd_fn(c, x))


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_ndarray_operand(op, rng):
    fd_fn, np_fn = BINARY[op]
    a, b = _inputs(rng, [(2, 3), (3,)], "positive")
    t = fastdl.tensor(a, requires_grad=True)
    for y, ref in ((fd_fn(t, b), np_fn(a.astype(np.float64), b)), (fd_fn(b, t), np_fn(b.astype(np.float64), a))):
        assert isinstance(y, fastdl.Tensor) and y.requires_grad and y.dtype == np.float32
        np.testing.assert_allclose(y.data, ref, rtol=RTOL, atol=ATOL)
    # a float64 ndarray operand still gives float32
    assert (t + np.ones(3)).dtype == np.float32


def test_mixed_int_float_tensors():
    i = fastdl.tensor([1, 2, 3])
    f = fastdl.tensor([0.5, 0.5, 0.5], requires_grad=True)
    y = (i * f).sum()
    assert y.dtype == np.float32
    y.backward()
    np.testing.assert_array_equal(f.grad.data, [1, 2, 3])
    assert (i / 2).dtype == np.float32
    assert (i + 1).dtype == np.int64


# ---- unary ---------------------------------------------------------------------------------
UNARY = {
    "neg": (lambda x: -x, np.negative, "normal"),
    "exp": (lambda x: x.exp(), np.exp, "normal"),
    "log": (lambda x: x.log(), np.log, "positive"),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, "positive"),
    "abs": (lambda x: x.abs(), np.abs, "away0"),
    "abs_builtin": (lambda x: abs(x), np.abs, "away0"),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), "away0"),
    "clamp_min": (lambda x: x.clamp(min=-0.5), lambda x: np.maximum(x, -0.5), "away0"),
    "clip_max": (lambda x: x.clip(max=0.5), lambda x: np.minimum(x, 0.5), "away0"),
    "pow3": (lambda x: x ** 3, lambda x: x ** 3, "normal"),
    "pow2": (lambda x: x ** 2, lambda x: x ** 2, "normal"),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, "positive"),
    "pow_neg": (lambda x: x ** -1.5, lambda x: x ** -1.5, "positive"),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, "normal"),
}


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("op", list(UNARY))
def test_unary(op, shape, rng):
    fd_fn, np_fn, kind = UNARY[op]
    (x,) = _inputs(rng, [shape], kind)
    check_op(fd_fn, np_fn, [x], rng, torch_fn=fd_fn, fwd_tol=(2e-6, 1e-5))


def test_clamp_gradient_at_boundary_matches_torch():
    torch = torch_or_skip()
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)
    t = fastdl.tensor(x, requires_grad=True)
    t.clamp(-0.5, 0.5).sum().backward()
    u = torch.tensor(x, requires_grad=True)
    u.clamp(-0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(t.grad.data, u.grad.numpy())


def test_pow_tensor_exponent_zero_base_matches_torch():
    torch = torch_or_skip()
    a = np.array([0.0, 0.0, 2.0], np.float32)
    b = np.array([2.0, 0.0, 3.0], np.float32)
    ta, tb = fastdl.tensor(a, requires_grad=True), fastdl.tensor(b, requires_grad=True)
    (ta ** tb).sum().backward()
    ua, ub = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ua ** ub).sum().backward()
    np.testing.assert_allclose(ta.grad.data, ua.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tb.grad.data, ub.grad.numpy(), rtol=1e-6)


# ---- reductions ----------------------------------------------------------------------------
REDUCE_DIMS = [None, 0, 1, -1, (0, 2), (1, 2)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", REDUCE_DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, dim, keepdim, rng):
    (x,) = _inputs(rng, [(3, 4, 5)])
    npf = getattr(np, op)
    ax = tuple(dim) if isinstance(dim, tuple) else dim
    if dim is None and not keepdim:
        fd_fn = lambda t: getattr(t, op)()  # noqa: E731
    else:
        fd_fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)  # noqa: E731
    check_op(fd_fn, lambda v: npf(v, axis=ax, keepdims=keepdim), [x], rng,
             torch_fn=(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)) if dim is not None else
             (lambda t: getattr(t, op)()) if not keepdim else None,
             fwd_tol=(1e-5, 1e-5))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_dim(op, dim, keepdim, rng):
    (x,) = _inputs(rng, [(4, 5, 3)])
    npf = np.max if op == "max" else np.min
    check_op(lambda t: getattr(t, op)(dim, keepdim)[0], lambda v: npf(v, axis=dim, keepdims=keepdim), [x], rng,
             torch_fn=lambda t: getattr(t, op)(dim, keepdim)[0])
    t = fastdl.tensor(x)
    r = getattr(t, op)(dim=dim, keepdim=keepdim)
    idx = (np.argmax if op == "max" else np.argmin)(x, axis=dim, keepdims=keepdim)
    assert r.indices.dtype == np.int64
    np.testing.assert_array_equal(r.indices.data, idx)
    np.testing.assert_array_equal(r.values.data, r[0].data)


def test_sum_of_int_and_bool_tensors():
    m = fastdl.tensor([[True, False, True], [True, True, True]])
    assert m.sum().item() == 5 and m.sum().dtype == np.int64
    np.testing.assert_array_equal(m.sum(dim=1).data, [2, 3])
    assert fastdl.tensor([1, 2, 3]).sum().item() == 6
    with pytest.raises(TypeError):
        fastdl.tensor([1, 2]).mean()


def test_max_ties_gradient():
    torch = torch_or_skip()
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    t = fastdl.tensor(x, requires_grad=True)
    t.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(t.grad.data, [[0, 1, 0], [1, 0, 0]])  # first maximum
    t2 = fastdl.tensor(x, requires_grad=True)
    t2.max().backward()  # full reduction: split between ties, as torch
    u = torch.tensor(x, requires_grad=True)
    u.max().backward()
    np.testing.assert_allclose(t2.grad.data, u.grad.numpy())
    np.testing.assert_allclose(t2.grad.data, [[0, 0.5, 0.5], [0, 0, 0]])


def test_max_all_and_argmax(rng):
    (x,) = _inputs(rng, [(3, 4)])
    check_op(lambda t: t.max(), np.max, [x], rng, torch_fn=lambda t: t.max())
    check_op(lambda t: t.min(), np.min, [x], rng, torch_fn=lambda t: t.min())
    t = fastdl.tensor(x)
    assert t.argmax().item() == np.argmax(x)
    np.testing.assert_array_equal(t.argmax(dim=1).data, np.argmax(x, axis=1))
    np.testing.assert_array_equal(t.argmin(dim=0, keepdim=True).data, np.argmin(x, axis=0, keepdims=True))
    assert t.argmax(dim=1).dtype == np.int64


@pytest.mark.parametrize("dim,keepdim,unbiased", [(None, False, True), (1, False, True), (0, True, False),
                                                  ((0, 1), False, True)], ids=str)
def test_var_std(dim, keepdim, unbiased, rng):
    torch = torch_or_skip()  # noqa: F841 - compared inside check_op
    (x,) = _inputs(rng, [(4, 5)])
    ax = dim
    dd = 1 if unbiased else 0
    check_op(lambda t: t.var(dim, unbiased=unbiased, keepdim=keepdim),
             lambda v: np.var(v, axis=ax, ddof=dd, keepdims=keepdim), [x], rng,
             torch_fn=lambda t: t.var(dim, unbiased=unbiased, keepdim=keepdim), fwd_tol=(1e-5, 1e-5))
    check_op(lambda t: t.std(dim, unbiased=unbiased, keepdim=keepdim),
             lambda v: np.std(v, axis=ax, ddof=dd, keepdims=keepdim), [x], rng,
             torch_fn=lambda t: t.std(dim, unbiased=unbiased, keepdim=keepdim), fwd_tol=(1e-5, 1e-5))


# ---- shape ops -----------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(4, 6), lambda v: v.reshape(4, 6)),
    "reshape_tuple_-1": (lambda t: t.reshape((-1, 3)), lambda v: v.reshape(-1, 3)),
    "view": (lambda t: t.view(2, 12), lambda v: v.reshape(2, 12)),
    "flatten": (lambda t: t.flatten(), lambda v: v.reshape(-1)),
    "flatten_1": (lambda t: t.flatten(1), lambda v: v.reshape(2, 12)),
    "flatten_0_1": (lambda t: t.flatten(0, 1), lambda v: v.reshape(6, 4)),
    "transpose": (lambda t: t.transpose(0, 2), lambda v: v.swapaxes(0, 2)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda v: v.transpose(2, 0, 1)),
    "permute_tuple": (lambda t: t.permute((1, 2, 0)), lambda v: v.transpose(1, 2, 0)),
    "T": (lambda t: t.T, lambda v: v.transpose(2, 1, 0)),
    "mT": (lambda t: t.mT, lambda v: v.swapaxes(-1, -2)),
    "unsqueeze": (lambda t: t.unsqueeze(1), lambda v: v[:, None]),
    "unsqueeze_-1": (lambda t: t.unsqueeze(-1), lambda v: v[..., None]),
    "squeeze": (lambda t: t.unsqueeze(0).unsqueeze(2).squeeze(), lambda v: v),
    "squeeze_dim": (lambda t: t.unsqueeze(0).squeeze(0), lambda v: v),
    "expand": (lambda t: t[:, :1].expand(2, 3, 4), lambda v: np.broadcast_to(v[:, :1], (2, 3, 4))),
    "expand_new": (lambda t: t.expand(5, -1, -1, -1), lambda v: np.broadcast_to(v, (5, 2, 3, 4))),
    "clone": (lambda t: t.clone(), lambda v: v.copy()),
    "contiguous_T": (lambda t: t.permute(2, 1, 0).contiguous(), lambda v: v.transpose(2, 1, 0)),
}


@pytest.mark.parametrize("op", list(SHAPE_OPS))
def test_shape_ops(op, rng):
    fd_fn, np_fn = SHAPE_OPS[op]
    (x,) = _inputs(rng, [(2, 3, 4)])
    check_op(fd_fn, np_fn, [x], rng, torch_fn=fd_fn if op not in ("T",) else lambda t: t.permute(2, 1, 0))


def test_2d_T_and_t(rng):
    (x,) = _inputs(rng, [(3, 5)])
    check_op(lambda t: t.T * 2, lambda v: v.T * 2, [x], rng, torch_fn=lambda t: t.T * 2)
    check_op(lambda t: t.t(), lambda v: v.T, [x], rng, torch_fn=lambda t: t.t())


# ---- indexing ------------------------------------------------------------------------------
INDEX_KEYS = {
    "int": 1,
    "neg_int": -1,
    "slice": slice(1, 3),
    "step_slice": (slice(None), slice(None, None, 2)),
    "neg_step": (slice(None, None, -1), 0),
    "int_slice": (0, slice(1, None)),
    "none": (None, 1),
    "ellipsis": (Ellipsis, 2),
    "int_array_repeats": np.array([0, 2, 2, 0, 0]),
    "list_repeats": [3, 3, 1],
    "two_arrays": (np.array([0, 1, 1]), np.array([2, 2, 0])),
    "array_and_slice": (slice(None), np.array([1, 1, 4])),
    "bool_mask_rows": np.array([True, False, True, True]),
    "bool_mask_full": "mask",
    "scalar_element": (2, 3),
}


@pytest.mark.parametrize("name", list(INDEX_KEYS))
def test_getitem(name, rng):
    (x,) = _inputs(rng, [(4, 5)])
    key = INDEX_KEYS[name]
    if isinstance(key, str):
        key = x > 0.1
    # torch has no negative slice steps (numpy's rule applies here)
    check_op(lambda t: t[key], lambda v: v[key], [x], rng, torch_fn=None if name == "neg_step" else lambda t: t[key])


def test_getitem_tensor_index_and_mask(rng):
    (x,) = _inputs(rng, [(6, 3)])
    idx = fastdl.tensor([5, 0, 5, 5])
    t = fastdl.tensor(x, requires_grad=True)
    y = t[idx]
    np.testing.assert_array_equal(y.data, x[[5, 0, 5, 5]])
    y.sum().backward()
    expected = np.zeros_like(x)
    expected[5] = 3
    expected[0] = 1
    np.testing.assert_array_equal(t.grad.data, expected)
    m = fastdl.tensor(x) > 0
    assert m.dtype == np.bool_
    np.testing.assert_array_equal(fastdl.tensor(x)[m].data, x[x > 0])


def test_getitem_errors():
    t = fastdl.tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(IndexError):
        t[5]
    with pytest.raises(IndexError):
        t["a"]
    with pytest.raises(IndexError):
        t[np.array([0.5])]
    with pytest.raises(IndexError):
        t[[0.5, 1.5]]


def test_iteration_and_len():
    t = fastdl.tensor(np.arange(6, dtype=np.float32).reshape(3, 2), requires_grad=True)
    rows = list(t)
    assert len(rows) == len(t) == 3
    sum(r.sum() for r in rows).backward()
    np.testing.assert_array_equal(t.grad.data, np.ones((3, 2)))


# ---- matmul --------------------------------------------------------------------------------
MATMUL_SHAPES = [((3, 4), (4, 5)), ((1, 1), (1, 1)), ((7, 9), (9, 8)), ((4,), (4,)), ((4,), (4, 3)),
                 ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4,)),
                 ((4,), (2, 4, 3)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, rng, isa, threads):
    a, b = _inputs(rng, shapes)
    k = shapes[0][-1]
    tol = max(1e-6 * np.sqrt(k), 1e-5)  # docs/testing.md §1: reductions of length K
    check_op(lambda x, y: x @ y, np.matmul, [a, b], rng, torch_fn=lambda x, y: x @ y,
             fwd_tol=(tol, tol), grad_tol=(1e-4, 3e-5), gc_tol=(1e-2, 1e-3), gc_eps=1e-3)
    y = fastdl.matmul(a, b)  # arrays accepted, float32 result
    np.testing.assert_allclose(y.data, np.matmul(a.astype(np.float64), b), rtol=tol, atol=tol)


def test_matmul_transposed_views_use_gemm_flags(rng, monkeypatch):
    a, b = _inputs(rng, [(5, 3), (4, 5)])
    calls = []
    real = fastdl._C.gemm

    def spy(x, y, ta, tb, alpha, beta, out):
        calls.append((x.flags.c_contiguous, y.flags.c_contiguous, ta, tb))
        return real(x, y, ta, tb, alpha, beta, out)

    monkeypatch.setattr(fastdl._ops_arith._C, "gemm", spy)
    ta = fastdl.tensor(a, requires_grad=True)
    tb = fastdl.tensor(b, requires_grad=True)
    y = ta.T @ tb.T  # (3, 5) @ (5, 4)
    np.testing.assert_allclose(y.data, a.T.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert calls[0] == (True, True, True, True)
    assert all(c[0] and c[1] for c in calls)  # no copies of transposes: every operand contiguous
    np.testing.assert_allclose(ta.grad.data, (np.ones((3, 4)) @ b).T, rtol=1e-5)
    calls.clear()
    x = fastdl.tensor(a.T.copy(), requires_grad=True)  # contiguous (3, 5)
    w = fastdl.tensor(b.T.copy(), requires_grad=True)  # contiguous (5, 4)
    (x @ w).sum().backward()
    assert [c[2:] for c in calls] == [(False, False), (False, True), (True, False)]
    assert all(c[0] and c[1] for c in calls)


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        fastdl.ones(2, 3) @ fastdl.ones(4, 5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        fastdl.tensor(1.0) @ fastdl.ones(3)
    with pytest.raises(ValueError, match="batch"):
        fastdl.ones(2, 3, 4) @ fastdl.ones(3, 4, 5)
    with pytest.raises(TypeError):
        fastdl.ones(2, 2) @ None


# ---- cat / stack ---------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim, rng):
    shapes = [(2, 3), (2, 3), (2, 3)]
    if dim == 0:
        shapes = [(1, 3), (4, 3), (2, 3)]
    elif dim in (1, -1):
        shapes = [(2, 1), (2, 3), (2, 2)]
    xs = _inputs(rng, shapes)
    check_op(lambda *t: fastdl.cat(list(t), dim=dim), lambda *v: np.concatenate(v, axis=dim), xs, rng,
             torch_fn=None)
    torch = torch_or_skip()
    np.testing.assert_array_equal(fastdl.concatenate(xs, dim).data, torch.cat([torch.tensor(x) for x in xs], dim).numpy())


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim, rng):
    xs = _inputs(rng, [(2, 3)] * 3)
    check_op(lambda *t: fastdl.stack(t, dim=dim), lambda *v: np.stack(v, axis=dim), xs, rng)


def test_cat_stack_errors():
    with pytest.raises(ValueError, match=r"cat: shapes \(2, 3\) and \(2, 4\)"):
        fastdl.cat([fastdl.ones(2, 3), fastdl.ones(2, 4)])
    with pytest.raises(ValueError, match="stack"):
        fastdl.stack([fastdl.ones(2, 3), fastdl.ones(3, 2)])
    with pytest.raises(ValueError):
        fastdl.cat([])
    with pytest.raises(TypeError):
        fastdl.cat(fastdl.ones(3))
    with pytest.raises(TypeError):
        fastdl.cat([fastdl.ones(3), None])
    with pytest.raises(IndexError):
        fastdl.cat([fastdl.ones(3)], dim=2)


# ---- comparisons, conversions, factories ---------------------------------------------------
def test_comparisons(rng):
    a, b = _inputs(rng, [(3, 4), (4,)])
    ta, tb = fastdl.tensor(a, requires_grad=True), fastdl.tensor(b)
    for fd_r, np_r in ((ta < tb, a < b), (ta <= 0, a <= 0), (ta > tb, a > b), (ta >= b, a >= b),
                       (ta == ta, a == a), (ta != tb, a != b), (ta.eq(0), a == 0), (0 < ta, 0 < a)):
        assert fd_r.dtype == np.bool_ and not fd_r.requires_grad
        np.testing.assert_array_equal(fd_r.data, np_r)
    assert (ta > 0).float().dtype == np.float32
    assert len({ta, tb}) == 2  # hashable by identity despite elementwise ==
    with pytest.raises(ValueError, match=r"lt: shapes \(3, 4\) and \(5,\)"):
        ta < fastdl.ones(5)


def test_conversions():
    t = fastdl.tensor([1.7, -1.7, 2.0])
    assert t.float() is t
    np.testing.assert_array_equal(t.long().data, [1, -1, 2])
    assert t.long().dtype == np.int64
    i = fastdl.tensor([1, 2])
    assert i.dtype == np.int64 and i.float().dtype == np.float32
    assert fastdl.tensor([True, False]).dtype == np.bool_
    assert fastdl.tensor(np.ones(3, np.float64)).dtype == np.float32
    assert fastdl.tensor(np.ones(3, np.int32)).dtype == np.int64
    assert t.to(fastdl.int64).dtype == np.int64
    assert t.to("cpu") is t and t.cpu() is t and t.device == "cpu"
    assert float(fastdl.tensor(2.5)) == 2.5 and int(fastdl.tensor([3])) == 3
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(fastdl.ones(2))


def test_clone_copy_fill_zero():
    a = fastdl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = a.clone()
    assert c.requires_grad and c.data is not a.data
    (c * 2).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [2, 2, 2])
    b = fastdl.zeros(2, 3)
    b.copy_(np.arange(3))
    np.testing.assert_array_equal(b.data, [[0, 1, 2], [0, 1, 2]])
    assert b.fill_(7).data.sum() == 42
    assert b.zero_().data.sum() == 0
    b.add_(fastdl.ones(3)).mul_(3).sub_(1)
    np.testing.assert_array_equal(b.data, np.full((2, 3), 2.0))
    b.add_(1, alpha=2)
    np.testing.assert_array_equal(b.data, np.full((2, 3), 4.0))
    with pytest.raises(ValueError, match="copy_"):
        b.copy_(np.ones(4))


def test_setitem():
    t = fastdl.zeros(3, 4)
    t[0] = 1
    t[1, 1:3] = fastdl.tensor([5.0, 6.0])
    t[t > 5] = -1
    t[[2, 2], [0, 3]] = 9
    np.testing.assert_array_equal(t.data, [[1, 1, 1, 1], [0, 5, -1, 0], [9, 0, 0, 9]])
    p = fastdl.zeros(3, requires_grad=True)
    for op in (lambda: p.__setitem__(0, 1.0), lambda: p.add_(1), lambda: p.mul_(2), lambda: p.sub_(1),
               lambda: p.fill_(1), lambda: p.zero_(), lambda: p.copy_(np.ones(3))):
        with pytest.raises(RuntimeError, match="requires grad"):
            op()
    with fastdl.no_grad():  # PyTorch allows in-place updates of leaves under no_grad (optimizers, init)
        p[0] = 1.0
        p.add_(1)
    np.testing.assert_array_equal(p.data, [2, 1, 1])
    with pytest.raises(TypeError):
        t[0] = None


def test_inplace_operator_on_plain_tensor_keeps_identity():
    t = fastdl.ones(3)
    data = t.data
    t += 1
    t *= 3
    assert t.data is data
    np.testing.assert_array_equal(t.data, [6, 6, 6])
    p = fastdl.ones(3, requires_grad=True)
    q = p * 1
    q0 = q
    q += 1  # out of place for non-leaf tensors in the graph
    assert q is not q0 and q.requires_grad
    with pytest.raises(RuntimeError, match="no_grad"):
        p -= 1
    w = p
    with fastdl.no_grad():  # the classic hand-written update
        p -= 0.5 * fastdl.ones(3)
    assert p is w and p.requires_grad
    np.testing.assert_array_equal(p.data, [0.5, 0.5, 0.5])


def test_factories():
    fastdl.manual_seed(3)
    a = fastdl.randn(2, 3)
    fastdl.manual_seed(3)
    b = fastdl.randn((2, 3))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    r = fastdl.rand(1000)
    assert r.dtype == np.float32 and 0 <= r.data.min() and r.data.max() < 1
    assert fastdl.zeros(2, 3).data.sum() == 0 and fastdl.ones([2, 3]).data.sum() == 6
    assert fastdl.zeros(2, dtype=fastdl.int64).dtype == np.int64
    z = fastdl.zeros_like(a)
    assert z.shape == a.shape and z.dtype == np.float32
    assert fastdl.ones_like(a, requires_grad=True).requires_grad
    np.testing.assert_array_equal(fastdl.full((2, 2), 1.5).data, np.full((2, 2), 1.5))
    assert fastdl.full((2,), 3).dtype == np.int64
    np.testing.assert_array_equal(fastdl.eye(3).data, np.eye(3))
    assert fastdl.eye(2, 3).shape == (2, 3)
    np.testing.assert_array_equal(fastdl.arange(5).data, np.arange(5))
    assert fastdl.arange(5).dtype == np.int64
    np.testing.assert_allclose(fastdl.arange(0, 1, 0.25).data, [0, 0.25, 0.5, 0.75])
    assert fastdl.arange(0, 1, 0.25).dtype == np.float32
    x = np.ones(3, np.float32)
    f = fastdl.from_numpy(x)
    x[0] = 5
    assert f.data[0] == 5  # shares memory
    assert fastdl.from_numpy(np.ones(2)).dtype == np.float32
    assert fastdl.randn(3, requires_grad=True).requires_grad
    with pytest.raises(ValueError):
        fastdl.zeros(-1)
    with pytest.raises(TypeError):
        fastdl.zeros("a")
    with pytest.raises(TypeError):
        fastdl.from_numpy([1, 2])
    with pytest.raises(ValueError):
        fastdl.arange(0, 5, 0)


def test_factories_match_torch_shapes_and_dtypes():
    torch = torch_or_skip()
    for f, tf in ((fastdl.arange(7), torch.arange(7)), (fastdl.arange(1.0, 2.0, 0.1), torch.arange(1.0, 2.0, 0.1)),
                  (fastdl.eye(3, 2), torch.eye(3, 2)), (fastdl.full((2,), 2), torch.full((2,), 2))):
        assert f.shape == tuple(tf.shape)
        np.testing.assert_allclose(f.data, tf.numpy(), rtol=1e-6)


# ---- bad inputs ----------------------------------------------------------------------------
@pytest.mark.parametrize("op,sym", [("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/"), ("pow", "**")])
def test_shape_errors_name_both_shapes(op, sym):
    a, b = fastdl.ones(2, 3, requires_grad=True), fastdl.ones(4)
    f = BINARY[op][0]
    with pytest.raises(ValueError, match=rf"{op}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        f(a, b)
    with pytest.raises(RuntimeError):  # also a RuntimeError, as PyTorch raises
        f(a.detach(), b)


@pytest.mark.parametrize("bad", [None, "x", b"y", object(), {"a": 1}])
def test_bad_operands(bad):
    t = fastdl.ones(3)
    for f in (lambda: t + bad, lambda: t * bad, lambda: t - bad, lambda: t / bad, lambda: bad - t,
              lambda: t ** bad):
        with pytest.raises(TypeError):
            f()
    with pytest.raises(TypeError):
        fastdl.tensor(bad)


def test_tensor_constructor_rejects_bad_dtypes():
    with pytest.raises(TypeError):
        fastdl.tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        fastdl.tensor(np.array([1 + 2j]))


def test_reduction_and_shape_errors():
    t = fastdl.ones(2, 3)
    with pytest.raises(IndexError, match="dim 2 out of range"):
        t.sum(dim=2)
    with pytest.raises(ValueError, match="repeats"):
        t.sum(dim=(0, 0))
    with pytest.raises(ValueError, match=r"reshape: shape \[4, 2\] is invalid for input of size 6"):
        t.reshape(4, 2)
    with pytest.raises(ValueError):
        t.reshape(-1, -1)
    with pytest.raises(ValueError, match="permutation"):
        t.permute(0, 0)
    with pytest.raises(ValueError, match="expand"):
        t.expand(3, 3)
    with pytest.raises(TypeError):
        t.reshape("a", 2)
    with pytest.raises(IndexError):
        fastdl.zeros(0, 3).max(dim=0)
    with pytest.raises(RuntimeError):
        fastdl.zeros(0).max()


def test_gradcheck_catches_a_wrong_backward():
    class Bad(fastdl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # wrong: should be 2 x g

    x = np.array([1.0, 2.0])
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda t: Bad.apply(t), [x])
    assert not gradcheck(lambda t: Bad.apply(t), [x], raise_exception=False)
    assert gradcheck(lambda t: t * t, [x], eps=1e-6, atol=1e-7, rtol=1e-6)
    big = np.linspace(-1, 1, 500)  # random-direction mode
    assert gradcheck(lambda t: (t * t).sum(), [big], max_elements=100)
    with pytest.raises(GradcheckError, match="directional"):
        gradcheck(lambda t: Bad.apply(t), [big], max_elements=100)
    assert fastdl.get_default_dtype() == np.float32  # restored


def test_noncontiguous_views_give_the_same_results(rng):
    a = _inputs(rng, [(6, 8)])[0]
    step_mask = np.zeros((6, 8))
    step_mask[::2] = 1
    views = {"transposed": (lambda t: t.T, np.ones((6, 8))), "step": (lambda t: t[::2].T, step_mask)}
    w = fastdl.tensor(_inputs(rng, [(6, 5)])[0])
    for name, (view, mask) in views.items():
        ta = fastdl.tensor(a, requires_grad=True)
        va = view(ta)
        ca = fastdl.tensor(va.data.copy())
        assert not va.data.flags.c_contiguous
        np.testing.assert_allclose((va * 2 + 1).exp().sum(dim=0).data, (ca * 2 + 1).exp().sum(dim=0).data, rtol=1e-6)
        np.testing.assert_allclose((va @ w[:va.shape[1]]).data, (ca @ w[:va.shape[1]]).data, rtol=1e-5, atol=1e-5)
        (view(ta) * view(ta)).sum().backward()
        np.testing.assert_allclose(ta.grad.data, 2 * a * mask, rtol=1e-6)


def test_broadcast_gradients_property():
    """Random mutually broadcastable shapes: every binary op's gradients equal torch's."""
    torch = torch_or_skip()
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis.extra.numpy import mutually_broadcastable_shapes

    @settings(max_examples=40, deadline=None)
    @given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
           op=hyp.strategies.sampled_from(list(BINARY)), seed=hyp.strategies.integers(0, 2**31))
    def run(shapes, op, seed):
        r = np.random.default_rng(seed)
        f = BINARY[op][0]
        a = (np.abs(r.standard_normal(shapes.input_shapes[0])) + 0.5).astype(np.float32)
        b = (np.abs(r.standard_normal(shapes.input_shapes[1])) + 0.5).astype(np.float32)
        ta, tb = fastdl.tensor(a, requires_grad=True), fastdl.tensor(b, requires_grad=True)
        ua, ub = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        y, z = f(ta, tb), f(ua, ub)
        assert y.shape == tuple(z.shape) == shapes.result_shape
        dy = r.standard_normal(y.shape).astype(np.float32)
        y.backward(dy)
        z.backward(torch.tensor(dy))
        np.testing.assert_allclose(y.data, z.detach().numpy(), rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(ta.grad.data, ua.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(tb.grad.data, ub.grad.numpy(), rtol=1e-5, atol=1e-5)

    run()


def test_activation_methods_match_functional(rng):
    import fastdl.functional as F
    (x,) = _inputs(rng, [(3, 4)])
    t = fastdl.tensor(x)
    for m, f in (("relu", F.relu), ("sigmoid", F.sigmoid), ("tanh", F.tanh)):
        np.testing.assert_array_equal(getattr(t, m)().data, f(t).data)
    np.testing.assert_array_equal(t.softmax(1).data, F.softmax(t, 1).data)
    np.testing.assert_array_equal(t.log_softmax(dim=0).data, F.log_softmax(t, 0).data)
    u = fastdl.tensor(x, requires_grad=True)
    u.relu().sum().backward()
    np.testing.assert_array_equal(u.grad.data, (x > 0).astype(np.float32))
