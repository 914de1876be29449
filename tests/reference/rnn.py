"""Float64 references of one recurrent layer / direction (PyTorch's equations) with a
hand-written backward through time, and of the embedding lookup.

Layouts as in cpp/include/fastdl/rnn.h: x (T, N, I), h0/c0 (N, H) or None, w_ih (G*H, I),
w_hh (G*H, H), b_ih/b_hh (G*H,) or None. Modes: 'RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU'.
"""
from __future__ import annotations

import numpy as np

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _d(a):
    return None if a is None else np.asarray(a, np.float64)


def forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """Returns (y (T, N, H), h_n, c_n or None, cache for backward)."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = map(_d, (x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    T, N, _ = x.shape
    H = w_hh.shape[1]
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_ih.shape[0]) if b_hh is None else b_hh
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    y = np.zeros((T, N, H))
    steps = []
    order = range(T - 1, -1, -1) if reverse else range(T)
    for t in order:
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        rec = {"t": t, "h_prev": h, "c_prev": c}
        if mode in ("RNN_TANH", "RNN_RELU"):
            pre = gi + gh
            h = np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)
            rec["pre"] = pre
        elif mode == "LSTM":
            g = gi + gh
            i, f, gg, o = _sig(g[:, :H]), _sig(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), _sig(g[:, 3 * H:])
            c = f * c + i * gg
            h = o * np.tanh(c)
            rec.update(i=i, f=f, g=gg, o=o, c=c)
        else:
            r = _sig(gi[:, :H] + gh[:, :H])
            z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            hn = gh[:, 2 * H:]
            n = np.tanh(gi[:, 2 * H:] + r * hn)
            h = (1 - z) * n + z * h
            rec.update(r=r, z=z, n=n, hn=hn)
        y[t] = h
        steps.append(rec)
    cache = (mode, x, w_ih, w_hh, steps, h0 is not None, H)
    return y, h, (c if mode == "LSTM" else None), cache


def backward(cache, dy, dh_n=None, dc_n=None):
    """Gradients (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh) of <y, dy> + <h_n, dh_n> + <c_n, dc_n>."""
    mode, x, w_ih, w_hh, steps, _, H = cache
    dy = np.asarray(dy, np.float64)
    N = x.shape[1]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros(w_ih.shape[0]), np.zeros(w_ih.shape[0])
    dh = np.zeros((N, H)) if dh_n is None else np.asarray(dh_n, np.float64).copy()
    dc = np.zeros((N, H)) if dc_n is None else np.asarray(dc_n, np.float64).copy()
    for rec in reversed(steps):
        t, hp = rec["t"], rec["h_prev"]
        dh = dh + dy[t]
        if mode in ("RNN_TANH", "RNN_RELU"):
            if mode == "RNN_TANH":
                dpre = dh * (1 - np.tanh(rec["pre"]) ** 2)
            else:
                dpre = dh * (rec["pre"] > 0)
            dgi = dgh = dpre
            dh_direct = 0.0
        elif mode == "LSTM":
            i, f, g, o, c = rec["i"], rec["f"], rec["g"], rec["o"], rec["c"]
            tc = np.tanh(c)
            dct = dc + dh * o * (1 - tc ** 2)
            dgi = np.concatenate([dct * g * i * (1 - i), dct * rec["c_prev"] * f * (1 - f), dct * i * (1 - g ** 2),
                                  dh * tc * o * (1 - o)], axis=1)
            dgh = dgi
            dc = dct * f
            dh_direct = 0.0
        else:
            r, z, n, hn = rec["r"], rec["z"], rec["n"], rec["hn"]
            dnp = dh * (1 - z) * (1 - n ** 2)
            drp = dnp * hn * r * (1 - r)
            dzp = dh * (hp - n) * z * (1 - z)
            dgi = np.concatenate([drp, dzp, dnp], axis=1)
            dgh = np.concatenate([drp, dzp, dnp * r], axis=1)
            dh_direct = dh * z
        dx[t] = dgi @ w_ih
        dw_ih += dgi.T @ x[t]
        dw_hh += dgh.T @ hp
        db_ih += dgi.sum(0)
        db_hh += dgh.sum(0)
        dh = dgh @ w_hh + dh_direct
    return dx, dh, (dc if mode == "LSTM" else None), dw_ih, dw_hh, db_ih, db_hh


def embedding_forward(weight, ids):
    return np.asarray(weight, np.float64)[np.asarray(ids)]


def embedding_backward(dout, ids, num_embeddings, padding_idx=None):
    ids = np.asarray(ids).reshape(-1)
    dout = np.asarray(dout, np.float64).reshape(ids.size, -1)
    dw = np.zeros((num_embeddings, dout.shape[1]))
    np.add.at(dw, ids, dout)
    if padding_idx is not None:
        dw[padding_idx] = 0
    return dw
