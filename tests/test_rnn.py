"""Recurrent kernels, layers and embeddings: float64 references (+ finite differences),
PyTorch with identical weights, bad inputs, truncated BPTT, and a convergence check."""
import numpy as np
import pytest

import fastdl
from fastdl import _C, nn
from fastdl.functional import embedding
from reference import rnn as ref
from reference.fd import numeric_grad
from conftest import torch_or_skip

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
MODE_ID = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}


def _layer_arrays(rng, mode, T, N, I, H, bias=True, states=True, dtype=np.float32):
    G = ref.GATES[mode]
    k = 1 / np.sqrt(H)
    a = dict(
        x=rng.standard_normal((T, N, I)),
        h0=rng.standard_normal((N, H)) * 0.5 if states else None,
        c0=rng.standard_normal((N, H)) * 0.5 if states and mode == "LSTM" else None,
        w_ih=rng.uniform(-k, k, (G * H, I)) * 2,
        w_hh=rng.uniform(-k, k, (G * H, H)) * 2,
        b_ih=rng.uniform(-k, k, G * H) if bias else None,
        b_hh=rng.uniform(-k, k, G * H) if bias else None,
    )
    return {n: (None if v is None else v.astype(dtype)) for n, v in a.items()}


# ---------------------------------------------------------------- reference vs finite differences
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
def test_reference_backward_matches_finite_differences(mode, reverse, rng):
    T, N, I, H = 3, 2, 3, 4
    a = _layer_arrays(rng, mode, T, N, I, H, dtype=np.float64)
    if mode == "RNN_RELU":  # keep pre-activations away from the kink
        a["b_ih"] = a["b_ih"] + 0.3
    dy = rng.standard_normal((T, N, H))
    dh_n = rng.standard_normal((N, H))
    dc_n = rng.standard_normal((N, H)) if mode == "LSTM" else None
    names = ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"]

    def loss(**kw):
        args = dict(a)
        args.update(kw)
        y, hn, cn, _ = ref.forward(mode, *[args[n] for n in names], reverse=reverse)
        s = (y * dy).sum() + (hn * dh_n).sum()
        if cn is not None:
            s += (cn * dc_n).sum()
        return s

    _, _, _, cache = ref.forward(mode, *[a[n] for n in names], reverse=reverse)
    grads = dict(zip(names, ref.backward(cache, dy, dh_n, dc_n)))
    for n in names:
        if a[n] is None:
            continue
        num = numeric_grad(lambda v, n=n: loss(**{n: v}), a[n])
        np.testing.assert_allclose(grads[n], num, rtol=1e-5, atol=1e-7, err_msg=f"{mode} d{n}")


# ---------------------------------------------------------------- kernels vs float64 reference
def _check_kernel(mode, T, N, I, H, reverse, bias, states, rng):
    a = _layer_arrays(rng, mode, T, N, I, H, bias, states)
    m = MODE_ID[mode]
    y, hn, cn, gates, st = _C.rnn_forward(m, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"],
                                          reverse)
    ry, rhn, rcn, cache = ref.forward(mode, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"],
                                      reverse)
    K = I + H  # reduction length of the pre-activations
    tol = dict(rtol=1e-5, atol=1e-5 * np.sqrt(K) * max(T, 1))
    np.testing.assert_allclose(y, ry, **tol)
    np.testing.assert_allclose(hn, rhn, **tol)
    if mode == "LSTM":
        np.testing.assert_allclose(cn, rcn, **tol)
    else:
        assert cn is None
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    dhn = rng.standard_normal((N, H)).astype(np.float32)
    dcn = rng.standard_normal((N, H)).astype(np.float32) if mode == "LSTM" else None
    got = _C.rnn_backward(m, gates, st, y, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], bias, dy, dhn, dcn,
                          reverse, True)
    want = ref.backward(cache, dy, dhn, dcn)
    names = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"]
    gtol = dict(rtol=1e-4, atol=2e-5 * np.sqrt(K * N * T))
    for n, g, w in zip(names, got, want):
        if n == "dc0" and mode != "LSTM":
            assert g is None
            continue
        if n.startswith("db") and not bias:
            assert g is None
            continue
        np.testing.assert_allclose(g, w, err_msg=f"{mode} {n}", **gtol)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("H", [1, 7, 8, 9, 17, 33])
def test_kernel_vs_reference_sizes(mode, H, isa, rng):
    _check_kernel(mode, 4, 3, 5, H, reverse=False, bias=True, states=True, rng=rng)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse,bias,states", [(True, True, True), (False, False, False), (True, True, False)])
def test_kernel_vs_reference_variants(mode, reverse, bias, states, isa, threads, rng):
    _check_kernel(mode, 5, 19, 6, 16, reverse, bias, states, rng)


@pytest.mark.parametrize("mode", MODES)
def test_kernel_single_step_and_large_batch(mode, isa, threads, rng):
    _check_kernel(mode, 1, 1, 2, 3, False, True, True, rng)
    _check_kernel(mode, 2, 70, 9, 40, False, True, True, rng)  # rows split between threads


def test_kernel_threads_give_identical_results(rng):
    a = _layer_arrays(rng, "LSTM", 6, 64, 12, 40)
    outs = []
    for t in (1, 2):
        prev = fastdl.get_num_threads()
        fastdl.set_num_threads(t)
        try:
            outs.append(_C.rnn_forward(_C.LSTM, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], False))
        finally:
            fastdl.set_num_threads(prev)
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-6, atol=1e-6)


def test_kernel_saturated_gates_stay_finite(isa):
    # huge pre-activations: exp overflow must not produce NaN / inf
    x = np.full((2, 1, 1), 1e4, np.float32)
    for mode in MODES:
        G = ref.GATES[mode]
        w = np.ones((G * 8, 1), np.float32)
        wh = np.ones((G * 8, 8), np.float32)
        for sign in (1, -1):
            y = _C.rnn_forward(MODE_ID[mode], sign * x, None, None, w, wh, None, None, False)[0]
            assert np.isfinite(y).all(), mode


# ---------------------------------------------------------------- layers vs PyTorch
def _load_from_torch(m, tm):
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_vs_torch(mode, num_layers, bidirectional, batch_first, with_state, rng):
    torch = torch_or_skip()
    I, H, T, N = 5, 6, 4, 3
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    if mode.startswith("RNN"):
        nl = "tanh" if mode == "RNN_TANH" else "relu"
        tm, m = torch.nn.RNN(I, H, nonlinearity=nl, **kw), nn.RNN(I, H, nonlinearity=nl, **kw)
    elif mode == "LSTM":
        tm, m = torch.nn.LSTM(I, H, **kw), nn.LSTM(I, H, **kw)
    else:
        tm, m = torch.nn.GRU(I, H, **kw), nn.GRU(I, H, **kw)
    _load_from_torch(m, tm)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    D = 2 if bidirectional else 1
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)).astype(np.float32)
    tx, fx = torch.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    lstm = mode == "LSTM"
    states = None
    if with_state:
        states = [rng.standard_normal((num_layers * D, N, H)).astype(np.float32) for _ in range(2 if lstm else 1)]
        ts = [torch.tensor(s, requires_grad=True) for s in states]
        fs = [fastdl.tensor(s, requires_grad=True) for s in states]
        tout = tm(tx, tuple(ts) if lstm else ts[0])
        fout = m(fx, tuple(fs) if lstm else fs[0])
    else:
        tout, fout = tm(tx), m(fx)
    t_flat = [tout[0]] + (list(tout[1]) if lstm else [tout[1]])
    f_flat = [fout[0]] + (list(fout[1]) if lstm else [fout[1]])
    tol = dict(rtol=1e-5, atol=1e-5)
    for t, f in zip(t_flat, f_flat):
        assert f.shape == tuple(t.shape)
        np.testing.assert_allclose(f.data, t.detach().numpy(), **tol)
    # a loss touching every output
    ws = [rng.standard_normal(t.shape).astype(np.float32) for t in t_flat]
    sum(((t * torch.tensor(w)).sum() for t, w in zip(t_flat, ws))).backward()
    for f, w in zip(f_flat, ws):
        f.backward(w, retain_graph=True)
    gtol = dict(rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), **gtol)
    if with_state:
        for t, f in zip(ts, fs):
            np.testing.assert_allclose(f.grad.data, t.grad.numpy(), **gtol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.data, p.grad.numpy(), err_msg=name, **gtol)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_layer_no_bias_unbatched_vs_torch(mode, rng):
    torch = torch_or_skip()
    I, H, T = 4, 5, 6
    cls = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN"}[mode]
    tm, m = getattr(torch.nn, cls)(I, H, bias=False), getattr(nn, cls)(I, H, bias=False)
    assert len(list(m.parameters())) == 2
    _load_from_torch(m, tm)
    x = rng.standard_normal((T, I)).astype(np.float32)
    tx, fx = torch.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    to, fo = tm(tx), m(fx)
    np.testing.assert_allclose(fo[0].data, to[0].detach().numpy(), rtol=1e-5, atol=1e-5)
    th = to[1][0] if mode == "LSTM" else to[1]
    fh = fo[1][0] if mode == "LSTM" else fo[1]
    assert fh.shape == tuple(th.shape) == (1, H)
    (to[0].sum() + th.sum()).backward()
    fo[0].backward(np.ones(fo[0].shape, np.float32), retain_graph=True)
    fh.backward(np.ones(fh.shape, np.float32))
    np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=2e-5)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.data, p.grad.numpy(), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cells_vs_torch(cls, batched, with_state, rng):
    torch = torch_or_skip()
    I, H, N = 7, 9, 4
    tm, m = getattr(torch.nn, cls)(I, H), getattr(nn, cls)(I, H)
    _load_from_torch(m, tm)
    lstm = cls == "LSTMCell"
    x = rng.standard_normal((N, I) if batched else (I,)).astype(np.float32)
    tx, fx = torch.tensor(x, requires_grad=True), fastdl.tensor(x, requires_grad=True)
    sshape = (N, H) if batched else (H,)
    if with_state:
        st = [rng.standard_normal(sshape).astype(np.float32) for _ in range(2 if lstm else 1)]
        ts = [torch.tensor(s, requires_grad=True) for s in st]
        fs = [fastdl.tensor(s, requires_grad=True) for s in st]
        to = tm(tx, tuple(ts) if lstm else ts[0])
        fo = m(fx, tuple(fs) if lstm else fs[0])
    else:
        to, fo = tm(tx), m(fx)
    to = list(to) if lstm else [to]
    fo = list(fo) if lstm else [fo]
    for t, f in zip(to, fo):
        assert f.shape == tuple(t.shape)
        np.testing.assert_allclose(f.data, t.detach().numpy(), rtol=1e-5, atol=1e-5)
    ws = [rng.standard_normal(sshape).astype(np.float32) for _ in to]
    sum((t * torch.tensor(w)).sum() for t, w in zip(to, ws)).backward()
    for f, w in zip(fo, ws):
        f.backward(w, retain_graph=True)
    np.testing.assert_allclose(fx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=2e-5)
    if with_state:
        for t, f in zip(ts, fs):
            np.testing.assert_allclose(f.grad.data, t.grad.numpy(), rtol=1e-4, atol=2e-5)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.data, p.grad.numpy(), rtol=1e-4, atol=2e-5)


def test_parameter_init_matches_pytorch_scheme():
    fastdl.manual_seed(0)
    m = nn.LSTM(10, 64, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and m.weight_ih_l1.shape == (256, 128)
    k = 1 / 8
    for _, p in m.named_parameters():
        assert np.abs(p.data).max() <= k and np.abs(p.data).max() > 0.9 * k
    fastdl.manual_seed(0)
    m2 = nn.LSTM(10, 64, num_layers=2, bidirectional=True)
    np.testing.assert_array_equal(m2.weight_hh_l1_reverse.data, m.weight_hh_l1_reverse.data)


def test_inter_layer_dropout():
    fastdl.manual_seed(3)
    m = nn.GRU(4, 8, num_layers=3, dropout=0.5)
    x = fastdl.tensor(np.random.default_rng(0).standard_normal((5, 2, 4)), requires_grad=True)
    m.eval()
    e1, e2 = m(x)[0].data, m(x)[0].data
    np.testing.assert_array_equal(e1, e2)
    m.train()
    t1 = m(x)[0]
    assert not np.allclose(t1.data, e1)
    t1.backward(np.ones(t1.shape, np.float32))
    assert np.isfinite(x.grad.data).all() and np.abs(x.grad.data).sum() > 0
    # dropout=1 zeroes the input of the upper layers: the output no longer depends on x
    m1 = nn.GRU(4, 8, num_layers=2, dropout=1.0)
    y1 = m1(x)[0].data
    y2 = m1(fastdl.tensor(np.ones((5, 2, 4))))[0].data
    np.testing.assert_allclose(y1, y2)


def test_inter_layer_dropout_gradient_matches_finite_differences(rng):
    """Same seed -> same masks; the analytic input gradient through the dropped layers agrees
    with central differences of the (re-seeded) forward."""
    m = nn.LSTM(3, 5, num_layers=3, dropout=0.4)
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    w = rng.standard_normal((4, 2, 5)).astype(np.float32)

    def f(xv):
        fastdl.manual_seed(11)
        return float((m(xv.astype(np.float32))[0].data.astype(np.float64) * w).sum())

    fastdl.manual_seed(11)
    xt = fastdl.tensor(x, requires_grad=True)
    m(xt)[0].backward(w)
    eps = 1e-2
    for idx in [(0, 0, 0), (1, 1, 2), (3, 0, 1), (2, 1, 0)]:
        xp, xm = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = (f(xp) - f(xm)) / (2 * eps)
        assert abs(xt.grad.data[idx] - num) < 2e-3 + 1e-2 * abs(num), (idx, xt.grad.data[idx], num)


def test_detach_state_truncated_bptt(rng):
    m = nn.LSTM(3, 4)
    x = fastdl.tensor(rng.standard_normal((6, 2, 3)))
    state = None
    for chunk in (x.data[:3], x.data[3:]):
        out, state = m(fastdl.tensor(chunk), state)
        assert state[0].requires_grad
        state = nn.detach_state(state)
        assert not state[0].requires_grad and not state[1].requires_grad and state[0].is_leaf
    assert nn.detach_state(None) is None
    h = fastdl.tensor(np.ones(3), requires_grad=True)
    assert not nn.detach_state(h).requires_grad
    with pytest.raises(TypeError):
        nn.detach_state("state")


# ---------------------------------------------------------------- embedding
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_vs_torch(padding_idx, threads, rng):
    torch = torch_or_skip()
    V, D = 11, 17
    te = torch.nn.Embedding(V, D, padding_idx=padding_idx)
    fe = nn.Embedding(V, D, padding_idx=padding_idx)
    fe.load_state_dict({"weight": te.weight.detach().numpy()})
    ids = np.array([[1, 2, 2, 10], [2, 0, 1, 1], [10, 10, 3, 2]])  # duplicates and the padding row
    to, fo = te(torch.tensor(ids)), fe(ids)
    np.testing.assert_array_equal(fo.data, to.detach().numpy())
    w = rng.standard_normal(fo.shape).astype(np.float32)
    (to * torch.tensor(w)).sum().backward()
    fo.backward(w)
    np.testing.assert_allclose(fe.weight.grad.data, te.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fe.weight.grad.data, ref.embedding_backward(w, ids, V, fe.padding_idx), rtol=1e-6,
                               atol=1e-6)


def test_embedding_init_and_padding_row():
    fastdl.manual_seed(1)
    e = nn.Embedding(1000, 8, padding_idx=5)
    assert np.all(e.weight.data[5] == 0)
    assert abs(e.weight.data.std() - 1) < 0.05
    assert "padding_idx=5" in repr(e)


def test_embedding_from_pretrained():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad and e.padding_idx is None
    np.testing.assert_array_equal(e(np.array([3, 0])).data, w[[3, 0]])
    e2 = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=1)
    assert e2.weight.requires_grad
    np.testing.assert_array_equal(e2.weight.data, w)  # the given row 1 is kept, as in PyTorch
    with pytest.raises(ValueError):
        nn.Embedding.from_pretrained(np.zeros(3))


def test_embedding_large_table_threads(threads, rng):
    V, D = 5000, 40  # > 2 grains of rows: both threads take part
    w = rng.standard_normal((V, D)).astype(np.float32)
    ids = rng.integers(0, V, 5000)
    np.testing.assert_array_equal(_C.embedding_forward(w, ids), w[ids])
    dout = rng.standard_normal((5000, D)).astype(np.float32)
    np.testing.assert_allclose(_C.embedding_backward(dout, ids, V, -1), ref.embedding_backward(dout, ids, V),
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- bad inputs
def test_bad_inputs_recurrent():
    lstm = nn.LSTM(4, 5, num_layers=2)
    with pytest.raises(ValueError, match="input_size"):
        lstm(np.zeros((3, 2, 6)))
    with pytest.raises(ValueError, match="empty sequence"):
        lstm(np.zeros((0, 2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        lstm(np.zeros((3, 2, 4, 1)))
    with pytest.raises(ValueError, match="h_0"):
        lstm(np.zeros((3, 2, 4)), (np.zeros((1, 2, 5)), np.zeros((2, 2, 5))))
    with pytest.raises(ValueError, match="c_0"):
        lstm(np.zeros((3, 2, 4)), (np.zeros((2, 2, 5)), np.zeros((2, 3, 5))))
    with pytest.raises(TypeError):
        lstm(np.zeros((3, 2, 4)), np.zeros((2, 2, 5)))
    gru = nn.GRU(4, 5, batch_first=True)
    with pytest.raises(ValueError, match="hx"):
        gru(np.zeros((2, 3, 4)), np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match="input_size"):
        nn.GRUCell(4, 5)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="h_0"):
        nn.LSTMCell(4, 5)(np.zeros((2, 4)), (np.zeros((2, 4)), np.zeros((2, 5))))
    with pytest.raises(ValueError):
        nn.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        nn.LSTM(0, 5)
    with pytest.raises(ValueError):
        nn.GRU(4, 5, dropout=1.5)


def test_bad_inputs_kernels():
    w = np.zeros((12, 3), np.float32)
    wh = np.zeros((12, 3), np.float32)
    with pytest.raises(ValueError, match="features"):
        _C.rnn_forward(_C.GRU, np.zeros((2, 1, 4), np.float32), None, None, np.zeros((9, 3), np.float32),
                       np.zeros((9, 3), np.float32), None, None, False)
    with pytest.raises(ValueError, match="weight_hh"):
        _C.rnn_forward(_C.GRU, np.zeros((2, 1, 3), np.float32), None, None, w, wh, None, None, False)
    with pytest.raises(ValueError, match="h0"):
        _C.rnn_forward(_C.LSTM, np.zeros((2, 1, 3), np.float32), np.zeros((2, 3), np.float32), None, w, wh, None, None,
                       False)
    with pytest.raises(ValueError, match="mode"):
        _C.rnn_forward(7, np.zeros((2, 1, 3), np.float32), None, None, w, wh, None, None, False)


def test_bad_inputs_embedding():
    e = nn.Embedding(5, 3, padding_idx=0)
    with pytest.raises(IndexError, match="out of range"):
        e(np.array([1, 5]))
    with pytest.raises(IndexError, match="out of range"):
        e(np.array([-1, 2]))
    with pytest.raises(TypeError):
        e(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        nn.Embedding(5, 3, padding_idx=5)
    with pytest.raises(ValueError, match="out of range"):
        _C.embedding_forward(np.zeros((5, 3), np.float32), np.array([7]))
    with pytest.raises(ValueError, match="grad_output"):
        _C.embedding_backward(np.zeros((2, 4), np.float32), np.array([1, 2, 3]), 5, -1)
    assert embedding(np.zeros((0,), np.int64), e.weight).shape == (0, 3)


# ---------------------------------------------------------------- convergence
def _sine_data(rng, n_series, T):
    t0 = rng.uniform(0, 2 * np.pi, (n_series, 1))
    t = t0 + 0.25 * np.arange(T + 1)[None]
    s = np.sin(t) + 0.05 * rng.standard_normal(t.shape)
    return s[:, :-1, None].astype(np.float32), s[:, 1:, None].astype(np.float32)


@pytest.mark.parametrize("cls", ["GRU", "LSTM"])
def test_sine_forecasting_converges(cls):
    """Next-step forecast of a noisy sine (noise std 0.05): MSE must drop below 0.01."""
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(1)  # tiny GEMMs: one thread is fastest and deterministic
    try:
        _sine_training(cls)
    finally:
        fastdl.set_num_threads(prev)


def _sine_training(cls):
    fastdl.manual_seed(0)
    rng = np.random.default_rng(0)
    rnn = getattr(nn, cls)(1, 16, batch_first=True)
    head = nn.Linear(16, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    m = [np.zeros_like(p.data) for p in params]
    v = [np.zeros_like(p.data) for p in params]
    for step in range(1, 201):
        x, y = _sine_data(rng, 32, 20)
        out, _ = rnn(x)
        pred = head(out)
        diff = pred.data - y
        loss = float((diff ** 2).mean())
        pred.backward(2 * diff / diff.size)  # d mean((pred - y)^2) / d pred
        for i, p in enumerate(params):  # Adam, lr 0.01
            g = p.grad.data
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            p.data -= 0.01 * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
            p.grad = None
    assert loss < 0.01, loss


def test_kernel_activations_accuracy(isa):
    """The saved LSTM gates are sigmoid / tanh of the pre-activations: with W_ih = stacked
    identities they are exactly the activation functions, checked against float64 at the
    elementwise tolerance over [-30, 30] (both branches of tanh, saturation)."""
    H = 1003
    x = np.linspace(-30, 30, H).astype(np.float32)[None, None]  # (T=1, N=1, I=H)
    x[0, 0, :20] = np.float32([0, 1e-8, -1e-8, 1e-4, -1e-4, 0.6249, 0.6251, -0.6251, 88, -88, 100, -100,
                               1e-30, 5e-3, 0.3, -0.3, 9.0, -9.0, 0.62, 0.63])
    w = np.tile(np.eye(H, dtype=np.float32), (4, 1))
    _, _, _, gates, _ = _C.rnn_forward(_C.LSTM, x, None, None, w, np.zeros((4 * H, H), np.float32), None, None, False)
    g = gates.reshape(4, H)
    xd = x.reshape(H).astype(np.float64)
    sig = 1 / (1 + np.exp(-xd))
    tol = dict(rtol=1.3e-6, atol=1e-6)
    for k in (0, 1, 3):
        np.testing.assert_allclose(g[k], sig, **tol)
    np.testing.assert_allclose(g[2], np.tanh(xd), **tol)
    # relative accuracy of tanh near 0 (the polynomial branch)
    small = np.abs(xd) < 0.6
    np.testing.assert_allclose(g[2][small], np.tanh(xd[small]), rtol=2e-7, atol=1e-37)


def test_examples_run(tmp_path):
    """The recurrent examples run end to end and print what they promise (short settings)."""
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    # the examples import the fastdl this test runs against (installed wheel or dev tree)
    pkg_parent = str(pathlib.Path(fastdl.__file__).resolve().parent.parent)
    env = dict(os.environ, FASTDL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([pkg_parent, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(root / "examples" / "sine_forecast.py"), "--steps", "50"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "GRU test MSE" in out.stdout
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog — ünïcode\n" * 40, encoding="utf-8")
    out = subprocess.run([sys.executable, str(root / "examples" / "char_lm.py"), str(text), "--epochs", "2"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("perplexity") == 2 and "sample:" in out.stdout
