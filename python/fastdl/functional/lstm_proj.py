"""LSTM with a projected hidden state (PyTorch's ``LSTM(proj_size=P)``), step by step.

The C++ sequence kernel (``functional.recurrent.rnn``) computes plain LSTM steps; the
projection h_t = W_hr (o_t * tanh(c_t)) sits inside the recurrence, so this path runs the
time loop in Python over differentiable Tensor operations (autograd gives backprop through
time). It serves ``proj_size > 0`` only.
"""
from __future__ import annotations

from .._ops_shape import cat, stack
from .dropout import dropout as _dropout

__all__ = ["lstm_proj"]


def _direction(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    """One layer and direction over x (T, N, I) from h (N, P), c (N, H): outputs (T, N, P),
    h_T, c_T."""
    T = x.shape[0]
    H = w_hh.shape[0] // 4
    xw = x @ w_ih.t()  # input projections of all steps at once: (T, N, 4H)
    if b_ih is not None:
        xw = xw + (b_ih + b_hh)
    w_hh_t, w_hr_t = w_hh.t(), w_hr.t()
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        g = xw[t] + h @ w_hh_t
        i, f = g[:, :H].sigmoid(), g[:, H:2 * H].sigmoid()
        gg, o = g[:, 2 * H:3 * H].tanh(), g[:, 3 * H:].sigmoid()
        c = f * c + i * gg
        h = (o * c.tanh()) @ w_hr_t
        outs[t] = h
    return stack(outs), h, c


def lstm_proj(x, h0, c0, weights, num_layers, bidirectional, has_bias, dropout, training):
    """Projected LSTM over x (T, N, I) (time-major, batched Tensors); h0 (L*D, N, P) and c0
    (L*D, N, H) Tensors. ``weights`` per layer and direction in PyTorch's order
    (w_ih, w_hh[, b_ih, b_hh], w_hr). Returns (output (T, N, D*P), h_n (L*D, N, P),
    c_n (L*D, N, H)); dropout p between layers when training."""
    D = 2 if bidirectional else 1
    per = 5 if has_bias else 3
    inp, hs, cs = x, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w = weights[k * per:(k + 1) * per]
            b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
            y, h, c = _direction(inp, h0[k], c0[k], w[0], w[1], b_ih, b_hh, w[-1], d == 1)
            outs.append(y)
            hs.append(h)
            cs.append(c)
        inp = outs[0] if D == 1 else cat(outs, 2)
        if dropout and training and layer < num_layers - 1:
            inp = _dropout(inp, dropout, True)
    return inp, stack(hs), stack(cs)
