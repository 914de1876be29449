"""Non-contiguous and aliasing inputs (docs/testing.md §1 item 5, §2 row 16).

Every sample of every op is re-run with each argument in turn replaced by the same values in
another memory layout: transposed, sliced with step 2 (the skipped elements hold NaN, so
reading them as if contiguous shows up), negative strides, Fortran order, stride-0 broadcast,
read-only, offset by one element inside a bytes buffer (not SIMD-aligned), offset by one byte
(misaligned for float), float64 and (for targets) int32. Outputs and gradients must equal, bit
for bit, the run on a C-contiguous float32 copy, and no input may be modified. The ops see the
layouts both as numpy arrays and as Tensors wrapping the view (fastdl.from_numpy), so the
arrays reach the Functions and the bindings as they are.
Aliasing: the same array passed as several arguments, and gemm's ``out`` overlapping an input.
"""
import numpy as np
import pytest

import fastdl
import fastdl.functional as F


# ---- layouts -------------------------------------------------------------------------------
def layouts(a):
    """[(name, array)] holding a's values (or, for 'broadcast', a stride-0 view) in other layouts."""
    out = []
    if a.ndim >= 2:
        out.append(("transposed", np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)))
        out.append(("fortran", np.asfortranarray(a)))
        big = np.full((2 * a.shape[0],) + a.shape[1:], np.nan if a.dtype.kind == "f" else 7, a.dtype)
        big[::2] = a
        out.append(("sliced_dim0", big[::2]))
        out.append(("negative_dim0", np.ascontiguousarray(a[::-1])[::-1]))
        out.append(("broadcast", np.broadcast_to(a[:1], a.shape)))
    if a.ndim >= 1:
        big = np.full(a.shape[:-1] + (2 * a.shape[-1],), np.nan if a.dtype.kind == "f" else 7, a.dtype)
        big[..., ::2] = a
        out.append(("sliced_last", big[..., ::2]))
        out.append(("negative_last", np.ascontiguousarray(a[..., ::-1])[..., ::-1]))
    ro = a.copy()
    ro.setflags(write=False)
    out.append(("readonly", ro))
    off = np.frombuffer(bytes(a.itemsize) + a.tobytes(), a.dtype, offset=a.itemsize).reshape(a.shape)
    out.append(("offset_one_element", off))
    buf = bytearray(a.nbytes + 1)
    mis = np.frombuffer(buf, a.dtype, offset=1, count=a.size).reshape(a.shape)
    mis[...] = a
    out.append(("offset_one_byte", mis))
    if a.dtype == np.float32:
        out.append(("float64", a.astype(np.float64)))
    elif a.dtype == np.int64:
        out.append(("int32", a.astype(np.int32)))
    return out


def test_layouts_are_what_they_claim():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = dict(layouts(a))
    assert not got["transposed"].flags.c_contiguous and got["fortran"].flags.f_contiguous
    assert got["sliced_last"].strides[-1] == 8 and got["negative_last"].strides[-1] == -4
    assert got["negative_dim0"].strides[0] < 0 and got["broadcast"].strides[0] == 0
    assert not got["readonly"].flags.writeable
    assert got["offset_one_element"].ctypes.data % 32 != 0 and got["offset_one_element"].flags.aligned
    assert not got["offset_one_byte"].flags.aligned
    for name, v in got.items():
        if name != "broadcast":
            assert np.array_equal(v, a), name


def _c_copy(v):
    """The reference operand: v's values as a C-contiguous array of the op's dtype."""
    dt = np.float32 if v.dtype.kind == "f" else np.int64
    return np.array(v, dtype=dt, order="C", copy=True)


def _leaf(a, grad=True):
    """A Tensor wrapping ``a`` itself (float64 / int32 are converted, i.e. copied)."""
    t = fastdl.from_numpy(a)
    if grad and t.dtype.kind == "f":
        t.requires_grad_(True)
    return t


def _grads(loss_terms, leaves):
    total = None
    for t in loss_terms:
        s = t.sum()
        total = s if total is None else total + s
    total.backward()
    return [lf.grad.numpy() for lf in leaves if lf.requires_grad]


# ---- op samples ---------------------------------------------------------------------------
# Each: make(rng) -> list of operand arrays; run(*operands, as_tensor) -> list of output arrays
# (results and gradients). `vary` lists the operand indices re-run in every layout.
def _upstream(shape, seed=7):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _unary(fn):
    def run(x, as_tensor):
        if not as_tensor:
            return [fn(x).numpy()]
        xt = _leaf(x)
        y = fn(xt)
        return [y.detach().numpy()] + _grads([y * _upstream(y.shape)], [xt])
    return run


def _gemm_run(trans_a, trans_b):
    def run(a, b, as_tensor):
        return [fastdl.ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b),
                fastdl.ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=-0.5, beta=1.5,
                                out=np.ones((a.shape[1] if trans_a else a.shape[0],
                                             b.shape[0] if trans_b else b.shape[1]), np.float32))]
    return run


def _linear_run(x, w, b, as_tensor):
    if not as_tensor:
        return [F.linear(x, w, b).numpy()]
    xt, wt, bt = _leaf(x), _leaf(w), _leaf(b)
    y = F.linear(xt, wt, bt)
    return [y.detach().numpy()] + _grads([y * _upstream(y.shape)], [xt, wt, bt])


def _ce_run(x, t, as_tensor, **kw):
    if not as_tensor:
        return [F.cross_entropy(x, t, **kw).numpy()]
    xt = _leaf(x)
    loss = F.cross_entropy(xt, _leaf(t, grad=False), **kw)
    return [loss.detach().numpy()] + _grads([loss * _upstream(loss.shape)], [xt])


def _nll_run(x, t, as_tensor):
    xt = _leaf(x) if as_tensor else x
    loss = F.nll_loss(xt, t, reduction="sum")
    return [loss.detach().numpy()] + (_grads([loss], [xt]) if as_tensor else [])


def _pair_loss(fn):
    def run(x, y, as_tensor):
        if not as_tensor:
            return [fn(x, y).numpy()]
        xt, yt = _leaf(x), _leaf(y)
        loss = fn(xt, yt)
        return [loss.detach().numpy()] + _grads([loss], [xt, yt])
    return run


def _bce_run(x, y, w, as_tensor):
    if not as_tensor:
        return [F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=w[0] + 1).numpy()]
    xt, yt = _leaf(x), _leaf(y)
    loss = F.binary_cross_entropy_with_logits(xt, yt, weight=w, pos_weight=w[0] + 1, reduction="sum")
    return [loss.detach().numpy()] + _grads([loss], [xt, yt])


def _dropout_run(x, as_tensor):
    fastdl.manual_seed(3)
    xt = _leaf(x) if as_tensor else x
    y = F.dropout(xt, 0.3)
    return [y.detach().numpy()] + (_grads([y * _upstream(y.shape)], [xt]) if as_tensor else [])


def _tensor_arith_run(a, b, as_tensor):
    ta, tb = _leaf(a, as_tensor), _leaf(b, as_tensor)
    ys = [ta + tb, ta * tb, ta - 2.0 * tb, ta / (tb * tb + 1.0), ta @ tb.T, fastdl.matmul(ta.T, tb),
          ta.exp().sum(dim=0), ta.mean(), (-ta).abs()]
    outs = [y.detach().numpy() for y in ys]
    outs[7] = Loose(outs[7])  # a full reduction: numpy's pairwise sum follows the memory order
    if as_tensor:
        outs += _grads([y * _upstream(y.shape, i) for i, y in enumerate(ys)], [ta, tb])
    return outs


def _matmul_batched_run(a, b, as_tensor):
    ta, tb = _leaf(a, as_tensor), _leaf(b, as_tensor)
    y = ta @ tb
    return [y.detach().numpy()] + (_grads([y * _upstream(y.shape)], [ta, tb]) if as_tensor else [])


def _conv_run(x, w, b, as_tensor):
    xt, wt, bt = (_leaf(x), _leaf(w), _leaf(b)) if as_tensor else (x, w, b)
    y = F.conv2d(xt, wt, bt, stride=1, padding=1)
    return [y.detach().numpy()] + (_grads([y * _upstream(y.shape)], [xt, wt, bt]) if as_tensor else [])


def _pool_run(name, **kw):
    def run(x, as_tensor):
        xt = _leaf(x) if as_tensor else x
        y = getattr(F, name)(xt, **kw)
        return [y.detach().numpy()] + (_grads([y * _upstream(y.shape)], [xt]) if as_tensor else [])
    return run


def _bn_run(x, w, b, as_tensor):
    rm, rv = np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
    xt, wt, bt = (_leaf(x), _leaf(w), _leaf(b)) if as_tensor else (x, w, b)
    y = F.batch_norm(xt, rm, rv, wt, bt, training=True)
    y_eval = F.batch_norm(x, rm, rv, w, b, training=False)
    outs = [y.detach().numpy(), rm.copy(), rv.copy(), y_eval.numpy()]
    return outs + (_grads([y * _upstream(y.shape)], [xt, wt, bt]) if as_tensor else [])


def _embedding_run(ids, w, as_tensor):
    wt = _leaf(w, as_tensor)
    y = F.embedding(_leaf(ids, False) if as_tensor else ids, wt, padding_idx=1)
    return [y.detach().numpy()] + (_grads([y * _upstream(y.shape)], [wt]) if as_tensor else [])


_RNN_W = [np.random.default_rng(i).standard_normal(s).astype(np.float32) * 0.3
          for i, s in enumerate([(18, 7), (18, 6), (18,), (18,)])]


def _gru_cell_run(x, h, as_tensor):
    xt, ht = _leaf(x, as_tensor), _leaf(h, as_tensor)
    y = F.rnn_cell(xt, ht, _RNN_W, "GRU")
    return [y.detach().numpy()] + (_grads([y * _upstream(y.shape)], [xt, ht]) if as_tensor else [])


def _normal(*shape, scale=1.0):
    return lambda rng: (rng.standard_normal(shape) * scale).astype(np.float32)


def _ints(high, *shape):
    return lambda rng: rng.integers(0, high, size=shape).astype(np.int64)


SAMPLES = {
    # name: (operand makers, run, vary, requires)
    "gemm_nn": ([_normal(9, 17), _normal(17, 11)], _gemm_run(False, False), (0, 1), None),
    "gemm_tt": ([_normal(17, 9), _normal(11, 17)], _gemm_run(True, True), (0, 1), None),
    "linear": ([_normal(2, 5, 17), _normal(10, 17), _normal(10)], _linear_run, (0, 1, 2), None),
    "relu": ([_normal(6, 19)], _unary(F.relu), (0,), None),
    "leaky_relu": ([_normal(6, 19)], _unary(lambda x: F.leaky_relu(x, 0.2)), (0,), None),
    "elu": ([_normal(6, 19)], _unary(F.elu), (0,), None),
    "sigmoid": ([_normal(6, 19, scale=4)], _unary(F.sigmoid), (0,), None),
    "tanh": ([_normal(6, 19, scale=2)], _unary(F.tanh), (0,), None),
    "softmax_last": ([_normal(6, 19, scale=3)], _unary(lambda x: F.softmax(x, dim=-1)), (0,), None),
    "softmax_dim0": ([_normal(6, 19, scale=3)], _unary(lambda x: F.softmax(x, dim=0)), (0,), None),
    "log_softmax_last": ([_normal(6, 19, scale=3)], _unary(lambda x: F.log_softmax(x, dim=-1)), (0,), None),
    "log_softmax_dim1_3d": ([_normal(3, 5, 7)], _unary(lambda x: F.log_softmax(x, dim=1)), (0,), None),
    "cross_entropy": ([_normal(12, 9, scale=2), _ints(9, 12)], _ce_run, (0, 1), None),
    "cross_entropy_smooth_none": ([_normal(12, 9), _ints(9, 12)],
                                  lambda x, t, a: _ce_run(x, t, a, label_smoothing=0.2, reduction="none"), (0, 1), None),
    "cross_entropy_3d": ([_normal(4, 6, 5), _ints(6, 4, 5)], _ce_run, (0, 1), None),
    "cross_entropy_prob": ([_normal(8, 5), lambda rng: rng.dirichlet(np.ones(5), 8).astype(np.float32)],
                           _ce_run, (0, 1), None),
    "nll_loss": ([_normal(12, 9), _ints(9, 12)], _nll_run, (0, 1), None),
    "mse_loss": ([_normal(7, 13), _normal(7, 13)], _pair_loss(F.mse_loss), (0, 1), None),
    "l1_loss": ([_normal(7, 13), _normal(7, 13)], _pair_loss(lambda x, y: F.l1_loss(x, y, reduction="sum")), (0, 1),
                None),
    "bce_with_logits": ([_normal(7, 13, scale=3), lambda rng: rng.random((7, 13)).astype(np.float32),
                         lambda rng: rng.random(13).astype(np.float32)], _bce_run, (0, 1), None),
    "dropout": ([_normal(8, 33)], _dropout_run, (0,), None),
    "tensor_arith_matmul": ([_normal(6, 10), _normal(6, 10)], _tensor_arith_run, (0, 1), None),
    "tensor_matmul_batched": ([_normal(3, 4, 9), _normal(9, 5)], _matmul_batched_run, (0, 1), None),
    "conv2d": ([_normal(2, 3, 9, 8), _normal(4, 3, 3, 3), _normal(4)], _conv_run, (0, 1, 2), "conv2d"),
    "max_pool2d": ([_normal(2, 3, 9, 8)], _pool_run("max_pool2d", kernel_size=3, stride=2, padding=1), (0,),
                   "max_pool2d"),
    "avg_pool2d": ([_normal(2, 3, 9, 8)], _pool_run("avg_pool2d", kernel_size=2), (0,), "avg_pool2d"),
    "adaptive_avg_pool2d": ([_normal(2, 3, 9, 8)], _pool_run("adaptive_avg_pool2d", output_size=(2, 3)), (0,),
                            "adaptive_avg_pool2d"),
    "batch_norm": ([_normal(5, 3, 4, 6), _normal(3), _normal(3)], _bn_run, (0, 1, 2), "batch_norm"),
    "embedding": ([_ints(9, 4, 5), _normal(9, 6)], _embedding_run, (0, 1), "embedding"),
    "gru_cell": ([_normal(5, 7), _normal(5, 6)], _gru_cell_run, (0, 1), "rnn_cell"),
}


class Loose:
    """An output compared at the reduction tolerance (1e-6 * sqrt(K)) instead of bitwise:
    whole-array reductions (numpy pairwise summation, as PyTorch's) sum in memory order."""

    def __init__(self, a):
        self.a = np.asarray(a)


def _equal(a, b):
    if isinstance(a, Loose):
        tol = 1e-6 * np.sqrt(a.a.size + 1)
        return np.allclose(a.a, b.a, rtol=tol, atol=tol)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _bits_equal(r1, r2):
    return len(r1) == len(r2) and all(_equal(a, b) for a, b in zip(r1, r2))


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "tensor"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_layouts_give_the_contiguous_result(name, as_tensor, rng, isa):
    makers, run, vary, requires = SAMPLES[name]
    if requires is not None and not hasattr(F, requires):
        pytest.skip(f"F.{requires} is not in this tree yet")
    base = [m(rng) for m in makers]
    failures = []
    checked = 0
    for i in vary:
        for lname, v in layouts(base[i]):
            before = np.array(v, copy=True)
            ops = list(base)
            ops[i] = v
            ref_ops = list(base)
            ref_ops[i] = _c_copy(v)
            try:
                got = run(*ops, as_tensor)
            except Exception as e:  # noqa: BLE001 - any error on a valid layout is a failure
                failures.append(f"arg {i} {lname}: raised {type(e).__name__}: {e}")
                continue
            want = run(*ref_ops, as_tensor)
            checked += 1
            if not _bits_equal(got, want):
                got = [g.a if isinstance(g, Loose) else g for g in got]
                want = [w.a if isinstance(w, Loose) else w for w in want]
                diff = [float(np.nanmax(np.abs(np.asarray(g, np.float64) - w), initial=0))
                        if np.shape(g) == np.shape(w) else "shape" for g, w in zip(got, want)]
                failures.append(f"arg {i} {lname}: outputs differ (max abs diff per output {diff})")
            if not np.array_equal(before, v, equal_nan=True):
                failures.append(f"arg {i} {lname}: the input array was modified")
    assert failures == [], "\n".join(failures)
    assert checked >= 6 * len(vary)


# ---- aliasing ------------------------------------------------------------------------------
def test_gemm_same_array_as_both_operands(rng):
    a = rng.integers(-4, 5, size=(13, 13)).astype(np.float32)
    exact = a.astype(np.float64)
    for ta, tb, want in ((False, False, exact @ exact), (False, True, exact @ exact.T), (True, False, exact.T @ exact),
                         (True, True, exact.T @ exact.T)):
        assert np.array_equal(fastdl.ops.gemm(a, a, trans_a=ta, trans_b=tb), want.astype(np.float32)), (ta, tb)


@pytest.mark.parametrize("which", ["a", "b", "a_view"])
def test_gemm_out_overlapping_an_input_raises_or_is_correct(rng, which):
    """PyTorch computes mm(a, b, out=a) correctly; fastdl may instead refuse - never a silent
    wrong answer."""
    a = rng.integers(-4, 5, size=(8, 8)).astype(np.float32)
    b = rng.integers(-4, 5, size=(8, 8)).astype(np.float32)
    if which == "a_view":  # out is a window of a bigger buffer that also holds a
        buf = np.zeros((16, 8), np.float32)
        buf[4:12] = a
        a_in, out = buf[4:12], buf[:8]
    else:
        a_in, out = a.copy(), None
    b_in = b.copy()
    if out is None:
        out = a_in if which == "a" else b_in
    want = (a.astype(np.float64) @ b).astype(np.float32)
    try:
        got = fastdl.ops.gemm(a_in, b_in, out=out)
    except ValueError as e:
        assert "overlap" in str(e) or "alias" in str(e), e
        return
    assert np.array_equal(got, want), "gemm with out aliasing an input returned a wrong result"


def test_same_tensor_as_several_arguments(rng):
    torch = pytest.importorskip("torch")
    x0 = rng.standard_normal((6, 6)).astype(np.float32)
    g0 = rng.standard_normal((6, 6)).astype(np.float32)

    def both(lib, f):
        x = (fastdl.tensor if lib is fastdl else torch.tensor)(x0, requires_grad=True)
        y = f(lib, x)
        (y * (fastdl.tensor(g0) if lib is fastdl else torch.tensor(g0))).sum().backward() if y.ndim else y.backward()
        out = y.detach().numpy()
        return out, x.grad.numpy()

    cases = {
        "linear(x, x, x[0])": lambda lib, x: (F if lib is fastdl else torch.nn.functional).linear(x, x, x[0]),
        "mse_loss(x, x)": lambda lib, x: (F if lib is fastdl else torch.nn.functional).mse_loss(x, x),
        "l1_loss(x, x.T)": lambda lib, x: (F if lib is fastdl else torch.nn.functional).l1_loss(x, x.T),
        "x @ x + x * x": lambda lib, x: x @ x + x * x,
        "x @ x.T - x.T": lambda lib, x: x @ x.T - x.T,
        "bce(x, sigmoid(x))": lambda lib, x: (F if lib is fastdl else torch.nn.functional)
        .binary_cross_entropy_with_logits(x, (F if lib is fastdl else torch).sigmoid(x)),
    }
    for name, f in cases.items():
        (y1, g1), (y2, g2) = both(fastdl, f), both(torch, f)
        np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-5, err_msg=name)


def test_outputs_do_not_alias_inputs(rng):
    """Functional ops return fresh buffers: writing to the result leaves the input alone."""
    x = rng.standard_normal((4, 5)).astype(np.float32)
    keep = x.copy()
    t = fastdl.from_numpy(x)
    for f in (F.relu, F.sigmoid, F.tanh, lambda v: F.softmax(v, dim=1), lambda v: F.log_softmax(v, dim=0),
              lambda v: F.linear(v, np.eye(5, dtype=np.float32)), lambda v: F.leaky_relu(v), F.elu):
        y = f(t)
        assert not np.shares_memory(y.numpy(), x)
        y.numpy()[...] = 123.0
    assert np.array_equal(x, keep)
