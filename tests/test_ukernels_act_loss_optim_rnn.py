"""Per-micro-kernel tests of the activation, softmax, dropout, optim, loss and rnn kernel tables.

Every entry of each family's per-ISA table is reached directly through fastdl._C.testing (no
threading, no dispatch) on every ISA level; a level the CPU lacks shows as a skip. Cases are
GENERATED from the small tables below (the model is XNNPACK's test/*.yaml -> tester): lengths
around the vector width of each ISA (8 floats for AVX2, 16 for AVX-512) so that the full-vector
loop, the masked tail and the pure-tail case are all hit, checked against the float64 numpy
references in tests/reference/.
"""
import numpy as np
import pytest

from reference import activation as ra
from reference import loss as rl
from reference import optim as ro
from ukernel_cases import ALL_ISAS, LENGTHS, T, close, rand, run

# (rows, columns) for the row/column kernels: the tail sits in the column dimension.
SHAPES_2D = ((1, 1), (3, 7), (2, 8), (2, 9), (1, 15), (3, 16), (2, 17), (4, 33))

# ---- activation: (act id, param, forward ref, backward ref, saved = "y" or "x")
ACTIVATIONS = {
    "relu": (0, 0.0, ra.relu, ra.relu_backward, "y"),
    "leaky_relu": (1, 0.1, lambda x: ra.leaky_relu(x, 0.1), lambda d, x: ra.leaky_relu_backward(d, x, 0.1), "x"),
    "elu": (2, 0.7, lambda x: ra.elu(x, 0.7), lambda d, x: ra.elu_backward(d, x, 0.7), "x"),
    "sigmoid": (3, 0.0, ra.sigmoid, ra.sigmoid_backward, "y"),
    "tanh": (4, 0.0, ra.tanh, ra.tanh_backward, "y"),
    "exp": (5, 0.0, np.exp, lambda d, y: d * y, "y"),
}


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_activation_forward_backward(isa, name, n):
    act, param, fwd, bwd, saved = ACTIVATIONS[name]
    rng = np.random.default_rng(n)
    x = rand(rng, n)
    y = run(T.activation_forward, isa, act, x, param)
    close(y, fwd(x.astype(np.float64)), rtol=4e-6 if name != "exp" else 1e-5)
    dy = rand(rng, n, scale=1.0)
    s = y if saved == "y" else x
    close(run(T.activation_backward, isa, act, dy, s, param), bwd(dy.astype(np.float64), s.astype(np.float64)),
          rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_softmax_rows_and_cols(isa, log, shape):
    rng = np.random.default_rng(shape[1])
    x = rand(rng, *shape)
    fwd = ra.log_softmax if log else ra.softmax
    bwd = ra.log_softmax_backward if log else ra.softmax_backward
    dy = rand(rng, *shape, scale=1.0)
    # rows: softmax along the contiguous dimension; cols: along the strided one (dim 0)
    for entry, bentry, dim in ((T.softmax_rows, T.softmax_backward_rows, 1), (T.softmax_cols, T.softmax_backward_cols, 0)):
        y = run(entry, isa, log, x)
        close(y, fwd(x.astype(np.float64), dim), rtol=1e-5, atol=1e-6)
        close(run(bentry, isa, log, dy, y), bwd(dy.astype(np.float64), y.astype(np.float64), dim), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_dropout_matches_generic_bit_for_bit(isa, n):
    """The mask depends only on (seed, i): every ISA reproduces the generic kernel exactly,
    also from a chunk start i0 that is not a multiple of the vector width."""
    rng = np.random.default_rng(n)
    x = rand(rng, n)
    for i0, thresh in ((0, 1 << 23), (5, 1 << 22), (2**32 - 3, 0), (11, 1 << 24)):
        scale = 0.0 if thresh == 1 << 24 else float(np.float32(1 / (1 - thresh / 2**24)))
        y, mask = run(T.dropout_forward, isa, x, i0, 0x1234567, 0x89ABCDEF, thresh, scale)
        y0, mask0 = T.dropout_forward("generic", x, i0, 0x1234567, 0x89ABCDEF, thresh, scale)
        np.testing.assert_array_equal(mask, mask0)
        np.testing.assert_array_equal(y, np.where(mask0 == 1, x * np.float32(scale), np.float32(0)))
        np.testing.assert_array_equal(y, y0)
        dy = rand(rng, n)
        np.testing.assert_array_equal(run(T.dropout_backward, isa, dy, mask, scale),
                                      np.where(mask == 1, dy * np.float32(scale), np.float32(0)))


SGD_CASES = [dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, init=False),
             dict(momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False, maximize=True, init=False),
             dict(momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True, maximize=False, init=True)]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("case", range(len(SGD_CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_optim_sgd_update(isa, case, n):
    c = SGD_CASES[case]
    rng = np.random.default_rng(n)
    p, g = rand(rng, n), rand(rng, n)
    buf = rand(rng, n) if c["momentum"] else None
    got_p, got_b = run(T.optim_sgd_update, isa, p, buf, g, 0.05, c["momentum"], c["dampening"], c["weight_decay"],
                       c["nesterov"], c["maximize"], c["init"])
    want_p, want_b = ro.sgd(p, buf, g, 0.05, c["momentum"], c["dampening"], c["weight_decay"], c["nesterov"],
                            c["maximize"], first=c["init"])
    close(got_p, want_p, rtol=1e-6, atol=1e-6)
    if buf is not None:
        close(got_b, want_b, rtol=1e-6, atol=1e-6)
    # generic and vector paths are bit-identical (same fused operations in the same order)
    np.testing.assert_array_equal(got_p, T.optim_sgd_update("generic", p, buf, g, 0.05, c["momentum"], c["dampening"],
                                                            c["weight_decay"], c["nesterov"], c["maximize"], c["init"])[0])


ADAM_CASES = [dict(wd=0.0, decoupled=False, maximize=False, amsgrad=False, step=1),
              dict(wd=0.01, decoupled=False, maximize=True, amsgrad=True, step=3),
              dict(wd=0.1, decoupled=True, maximize=False, amsgrad=False, step=10)]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("case", range(len(ADAM_CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_optim_adam_update(isa, case, n):
    c = ADAM_CASES[case]
    rng = np.random.default_rng(n)
    p, g, m = rand(rng, n), rand(rng, n), rand(rng, n, scale=0.1)
    v = np.abs(rand(rng, n, scale=0.1))
    vmax = v + np.float32(0.01) if c["amsgrad"] else None
    args = (p, m, v, vmax, g, c["step"], 1e-3, 0.9, 0.999, 1e-8, c["wd"], c["decoupled"], c["maximize"])
    got = run(T.optim_adam_update, isa, *args)
    want = ro.adam(*args[:5], c["step"], 1e-3, 0.9, 0.999, 1e-8, c["wd"], c["decoupled"], c["maximize"])
    for a, b in zip(got, want):
        if b is not None:
            close(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(got, T.optim_adam_update("generic", *args)):
        if b is not None:
            np.testing.assert_array_equal(a, b)


# ---- loss: (label_smoothing, weighted, ignored row)
CE_CASES = [(0.0, False, False), (0.1, True, True)]


@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("case", range(len(CE_CASES)))
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_loss_cross_entropy_rows(isa, case, shape):
    eps, weighted, ignored = CE_CASES[case]
    R, C = shape
    rng = np.random.default_rng(C)
    x = rand(rng, R, C)
    t = rng.integers(0, C, R).astype(np.int64)
    if ignored:
        t[0] = -100
    w = (rng.random(C) + 0.5).astype(np.float32) if weighted else None
    loss, prob, total, wtotal = run(T.loss_cross_entropy_rows, isa, x, t, w, -100, eps)
    close(loss, rl.cross_entropy(x, t, w, -100, "none", eps), rtol=1e-5, atol=1e-5)
    close(prob, ra.softmax(x.astype(np.float64), 1), rtol=1e-5, atol=1e-7)
    g = rand(rng, R, scale=1.0)
    d = run(T.loss_cross_entropy_backward_rows, isa, g, 1.0, prob, t, w, -100, eps)
    close(d, rl.cross_entropy_backward(g, x, t, w, -100, "none", eps), rtol=1e-4, atol=1e-5)
    # probability targets
    q = rng.random((R, C)).astype(np.float32)
    q /= q.sum(1, keepdims=True)
    loss, prob, total = run(T.loss_cross_entropy_prob_rows, isa, x, q, w, eps)
    close(loss, rl.cross_entropy_prob(x, q, w, "none", eps), rtol=1e-5, atol=1e-5)
    d = run(T.loss_cross_entropy_prob_backward_rows, isa, g, 1.0, prob, q, w, eps)
    close(d, rl.cross_entropy_prob_backward(g, x, q, w, "none", eps), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_loss_bce_with_logits_chunk(isa, weighted, n):
    rng = np.random.default_rng(n)
    x, y = rand(rng, n), rng.random(n).astype(np.float32)
    w = (rng.random(n) + 0.5).astype(np.float32) if weighted else None
    pw = (rng.random(n) * 2).astype(np.float32) if weighted else None
    loss, total = run(T.loss_bce_with_logits_chunk, isa, x, y, w, pw)
    want = rl.bce_with_logits(x, y, w, pw, "none")
    close(loss, want, rtol=1e-5, atol=1e-6)
    assert total == pytest.approx(want.sum(), rel=1e-5, abs=1e-5)
    g = rand(rng, n, scale=1.0)
    dx, _ = run(T.loss_bce_with_logits_backward_chunk, isa, g, 1.0, x, y, w, pw)
    close(dx, rl.bce_with_logits_backward(g, x, y, w, pw, "none"), rtol=1e-5, atol=1e-6)


# ---- rnn cells: float64 references of the cell equations (cpp/src/rnn/rnn_kernels.h)
def _sig(z):
    return 1 / (1 + np.exp(-z))


HIDDEN = (1, 7, 8, 9, 17)


@pytest.mark.parametrize("H", HIDDEN)
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_rnn_cells(isa, H):
    rng = np.random.default_rng(H)
    N = 3
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    dy, dhc = rand(rng, N, H, scale=1.0), rand(rng, N, H, scale=1.0)
    for relu in (False, True):
        pre = rand(rng, N, H)
        h = run(T.rnn_rnn_cell_forward, isa, relu, pre)
        close(h, np.maximum(f64(pre), 0) if relu else np.tanh(f64(pre)), rtol=1e-5, atol=1e-6)
        dh = f64(dy) + f64(dhc)
        want = dh * (f64(h) > 0) if relu else dh * (1 - f64(h) ** 2)
        close(run(T.rnn_rnn_cell_backward, isa, relu, dy, dhc, h), want, rtol=1e-5, atol=1e-6)
    # LSTM: gates i, f, g, o
    pre, c_prev = rand(rng, N, 4 * H), rand(rng, N, H, scale=1.0)
    h, c, gates = run(T.rnn_lstm_cell_forward, isa, pre, c_prev)
    z = f64(pre)
    i, f, g, o = _sig(z[:, :H]), _sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sig(z[:, 3 * H:])
    cw = f * f64(c_prev) + i * g
    close(gates, np.concatenate([i, f, g, o], 1), rtol=1e-5, atol=1e-6)
    close(c, cw, rtol=1e-5, atol=1e-5)
    close(h, o * np.tanh(cw), rtol=1e-5, atol=1e-5)
    dc_in = rand(rng, N, H, scale=1.0)
    dgates, dc_prev = run(T.rnn_lstm_cell_backward, isa, dy, dhc, dc_in, gates, c, c_prev)
    dh = f64(dy) + f64(dhc)
    tc = np.tanh(f64(c))
    dcw = f64(dc_in) + dh * f64(gates[:, 3 * H:]) * (1 - tc ** 2)
    G = f64(gates)
    gi, gf, gg, go = G[:, :H], G[:, H:2 * H], G[:, 2 * H:3 * H], G[:, 3 * H:]
    want = np.concatenate([dcw * gg * gi * (1 - gi), dcw * f64(c_prev) * gf * (1 - gf), dcw * gi * (1 - gg ** 2),
                           dh * tc * go * (1 - go)], 1)
    close(dgates, want, rtol=1e-4, atol=1e-5)
    close(dc_prev, dcw * gf, rtol=1e-4, atol=1e-5)
    # GRU: gates r, z, n
    gx, gh, b_hh, h_prev = rand(rng, N, 3 * H), rand(rng, N, 3 * H), rand(rng, 3 * H), rand(rng, N, H, scale=1.0)
    h, gates, hn = run(T.rnn_gru_cell_forward, isa, gx, gh, b_hh, h_prev)
    a, b = f64(gx), f64(gh) + f64(b_hh)
    r, zz = _sig(a[:, :H] + b[:, :H]), _sig(a[:, H:2 * H] + b[:, H:2 * H])
    n = np.tanh(a[:, 2 * H:] + r * b[:, 2 * H:])
    close(gates, np.concatenate([r, zz, n], 1), rtol=1e-5, atol=1e-5)
    close(hn, b[:, 2 * H:], rtol=1e-5, atol=1e-5)
    close(h, (1 - zz) * n + zz * f64(h_prev), rtol=1e-5, atol=1e-5)
    dgx, dgh, dh_prev = run(T.rnn_gru_cell_backward, isa, dy, dhc, gates, hn, h_prev)
    G = f64(gates)
    r, zz, n = G[:, :H], G[:, H:2 * H], G[:, 2 * H:]
    dn = dh * (1 - zz) * (1 - n ** 2)
    dz = dh * (f64(h_prev) - n) * zz * (1 - zz)
    dr = dn * f64(hn) * r * (1 - r)
    close(dgx, np.concatenate([dr, dz, dn], 1), rtol=1e-4, atol=1e-5)
    close(dgh, np.concatenate([dr, dz, dn * r], 1), rtol=1e-4, atol=1e-5)
    close(dh_prev, dh * zz, rtol=1e-4, atol=1e-5)


def test_bad_arguments_raise_not_crash():
    with pytest.raises(ValueError, match="act must be"):
        T.activation_forward("generic", 9, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="unknown|ISA|isa"):
        T.activation_forward("sse9", 0, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="same shape"):
        T.activation_backward("generic", 0, np.zeros(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="at most"):
        T.softmax_cols("generic", False, np.zeros((2, 300), np.float32))
    with pytest.raises(ValueError, match="out of range"):
        T.loss_cross_entropy_rows("generic", np.zeros((2, 3), np.float32), np.array([0, 5]), None, -100, 0.0)
    with pytest.raises(ValueError, match="momentum buffer"):
        T.optim_sgd_update("generic", np.zeros(3, np.float32), None, np.zeros(3, np.float32), 0.1, 0.9, 0, 0, False,
                           False, False)
    with pytest.raises(ValueError, match="multiple of 4"):
        T.rnn_lstm_cell_forward("generic", np.zeros((2, 6), np.float32), None)
    with pytest.raises(ValueError, match="c_prev"):
        T.rnn_lstm_cell_forward("generic", np.zeros((2, 8), np.float32), np.zeros((2, 3), np.float32))
