"""Recurrent sequence functions and the embedding lookup (differentiable, C++ kernels).

``rnn`` runs a stack of RNN / LSTM / GRU layers (optionally bidirectional) over a sequence as
ONE autograd Function: forward calls ``_C.rnn_forward`` per layer and direction (one input
projection SGEMM for all steps, one recurrent SGEMM + fused cell per step), backward calls
``_C.rnn_backward`` (backprop through time) in reverse layer order. ``rnn_cell`` is the
single-step variant behind ``nn.RNNCell`` / ``GRUCell`` / ``LSTMCell``.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..autograd import Function
from ..random import next_seed
from ..tensor import Tensor, as_float_tensor

__all__ = ["rnn", "rnn_cell", "embedding", "RNN_MODES"]

#: mode name -> kernel mode id (``_C.rnn_forward``'s ``mode``; the numbers are defined by _C)
RNN_MODES = {"RNN_TANH": _C.RNN_TANH, "RNN_RELU": _C.RNN_RELU, "LSTM": _C.LSTM, "GRU": _C.GRU}
_GATES = {_C.RNN_TANH: 1, _C.RNN_RELU: 1, _C.LSTM: 4, _C.GRU: 3}


def _arr(x):
    return None if x is None else (x.data if isinstance(x, Tensor) else x)


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


class _RNN(Function):
    """Multi-layer, optionally bidirectional recurrent network over a whole sequence.

    Arguments: x, h0, c0 (arrays or None), cfg (a tuple, see ``rnn``), drop (None, or
    (p, seeds): inter-layer dropout with fastdl's dropout kernel, one seed per layer but the
    last), then the weights of every layer and direction in PyTorch's order
    (w_ih, w_hh[, b_ih, b_hh]).
    """

    @staticmethod
    def forward(ctx, x, h0, c0, cfg, drop, *weights):
        mode, L, D, has_bias, batch_first, unbatched, cell = cfg
        per = 4 if has_bias else 2
        # canonical layout: x (T, N, I), h0/c0 (L*D, N, H)
        if cell:
            x = x[None] if not unbatched else x[None, None]
            if h0 is not None:
                h0 = h0[None] if not unbatched else h0[None, None]
            if c0 is not None:
                c0 = c0[None] if not unbatched else c0[None, None]
        elif unbatched:
            x = x[:, None]
            h0 = None if h0 is None else h0[:, None]
            c0 = None if c0 is None else c0[:, None]
        elif batch_first:
            x = x.transpose(1, 0, 2)
        x = _f32(x)
        inp = x
        inputs, saved, hn_all, cn_all, masks = [], [], [], [], []
        for layer in range(L):
            outs = []
            for d in range(D):
                k = layer * D + d
                w = weights[k * per:(k + 1) * per]
                b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
                hk = None if h0 is None else _f32(h0[k])
                ck = None if c0 is None else _f32(c0[k])
                y, hn, cn, gates, states = _C.rnn_forward(mode, inp, hk, ck, w[0], w[1], b_ih, b_hh, d == 1)
                saved.append((y, gates, states, hk, ck))
                outs.append(y)
                hn_all.append(hn)
                cn_all.append(cn)
            inputs.append(inp)
            out = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            if drop is not None and layer < L - 1:
                out, mask = _C.dropout_forward(out, drop[0], drop[1][layer])
                masks.append(mask)
            inp = out
        ctx.save(inputs, saved, weights)
        ctx.cfg = cfg
        h_n = np.stack(hn_all)
        c_n = np.stack(cn_all) if mode == 2 else None
        ctx.masks = masks
        ctx.p = None if drop is None else drop[0]
        if cell:
            h = h_n[0, 0] if unbatched else h_n[0]
            if mode == 2:
                return h, (c_n[0, 0] if unbatched else c_n[0])
            return h
        if unbatched:
            out, h_n = out[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return (out, h_n, c_n) if mode == 2 else (out, h_n)

    @staticmethod
    def backward(ctx, *grads):
        mode, L, D, has_bias, batch_first, unbatched, cell = ctx.cfg
        inputs, saved, weights = ctx.saved
        masks = ctx.masks
        per = 4 if has_bias else 2
        H = weights[1].shape[1]
        lstm = mode == 2
        # gradients in the canonical layout
        if cell:
            dh = grads[0]
            dc = grads[1] if lstm else None
            dh_n = dh[None] if not unbatched else dh[None, None]
            dc_n = None if dc is None else (dc[None] if not unbatched else dc[None, None])
            T, N = inputs[0].shape[:2]
            dout = np.zeros((T, N, D * H), np.float32)
        else:
            dout, dh_n = grads[0], grads[1]
            dc_n = grads[2] if lstm else None
            if unbatched:
                dout, dh_n = dout[:, None], dh_n[:, None]
                dc_n = None if dc_n is None else dc_n[:, None]
            elif batch_first:
                dout = dout.transpose(1, 0, 2)
        need_x, need_h0, need_c0 = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        dweights = [None] * len(weights)
        dh0 = [None] * (L * D)
        dc0 = [None] * (L * D)
        dinp = None
        for layer in range(L - 1, -1, -1):
            if layer < L - 1:
                dout = _C.dropout_backward(dinp, masks[layer], ctx.p) if masks else dinp
            want_dx = layer > 0 or need_x
            dinp = None
            for d in range(D):
                k = layer * D + d
                y, gates, states, hk, ck = saved[k]
                w = weights[k * per:(k + 1) * per]
                dy = _f32(dout if D == 1 else dout[:, :, d * H:(d + 1) * H])
                r = _C.rnn_backward(mode, gates, states, y, inputs[layer], hk, ck, w[0], w[1], has_bias, dy,
                                    _f32(dh_n[k]), None if dc_n is None else _f32(dc_n[k]), d == 1, want_dx)
                dx, dh0[k], dc0[k], dw_ih, dw_hh, db_ih, db_hh = r
                dweights[k * per:(k + 1) * per] = [dw_ih, dw_hh, db_ih, db_hh][:per]
                if want_dx:
                    dinp = dx if dinp is None else dinp + dx
        gx = gh0 = gc0 = None
        if need_x:
            gx = dinp
            if cell:
                gx = gx[0, 0] if unbatched else gx[0]
            elif unbatched:
                gx = gx[:, 0]
            elif batch_first:
                gx = np.ascontiguousarray(gx.transpose(1, 0, 2))
        if need_h0:
            gh0 = np.stack(dh0)
            gh0 = (gh0[0, 0] if unbatched else gh0[0]) if cell else (gh0[:, 0] if unbatched else gh0)
        if need_c0 and lstm:
            gc0 = np.stack(dc0)
            gc0 = (gc0[0, 0] if unbatched else gc0[0]) if cell else (gc0[:, 0] if unbatched else gc0)
        return (gx, gh0, gc0, None, None, *dweights)


def _mode_id(mode):
    if isinstance(mode, str):
        if mode not in RNN_MODES:
            raise ValueError(f"rnn: unknown mode {mode!r}; expected one of {sorted(RNN_MODES)}")
        return RNN_MODES[mode]
    return int(mode)


def _states(hx):
    """(h0, c0) from None, h0 or (h0, c0), each converted with the one float-tensor checker."""
    if hx is None:
        return None, None
    h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
    return as_float_tensor(h0, "h0"), (None if c0 is None else as_float_tensor(c0, "c0"))


def rnn(input, hx, weights, mode, num_layers=1, bidirectional=False, batch_first=False, has_bias=True,
        dropout=0.0, training=False, unbatched=False):
    """Run a stack of recurrent layers (no argument checking beyond the kernels'; the nn
    layers check shapes and give PyTorch-like errors).

    input: (T, N, I) ((N, T, I) with batch_first, (T, I) when unbatched). hx: None, h0, or
    (h0, c0) for LSTM, each (num_layers * D, N, H). weights: flat list of Tensors, PyTorch's
    order. mode: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'. dropout: probability of fastdl's
    dropout on the outputs of each layer but the last, applied when ``training``.
    Returns (output, h_n) or, for LSTM, (output, h_n, c_n).
    """
    m = _mode_id(mode)
    input = as_float_tensor(input, "input")
    h0, c0 = _states(hx)
    cfg = (m, int(num_layers), 2 if bidirectional else 1, bool(has_bias), bool(batch_first), bool(unbatched), False)
    drop = None
    if training and dropout > 0 and num_layers > 1:
        drop = (float(dropout), tuple(next_seed() for _ in range(int(num_layers) - 1)))
    return _RNN.apply(input, h0, c0, cfg, drop, *weights)


def rnn_cell(input, hx, weights, mode, has_bias=True):
    """One time step: input (N, I) or (I,), hx None / h / (h, c). Returns h' or (h', c')."""
    m = _mode_id(mode)
    input = as_float_tensor(input, "input")
    h0, c0 = _states(hx)
    unbatched = input.ndim == 1
    cfg = (m, 1, 1, bool(has_bias), False, unbatched, True)
    return _RNN.apply(input, h0, c0, cfg, None, *weights)


class _Embedding(Function):
    @staticmethod
    def forward(ctx, weight, ids, padding_idx):
        ctx.save(ids)
        ctx.shape = weight.shape
        ctx.padding_idx = padding_idx
        return _C.embedding_forward(weight, ids)

    @staticmethod
    def backward(ctx, dout):
        (ids,) = ctx.saved
        V = ctx.shape[0]
        pad = -1 if ctx.padding_idx is None else ctx.padding_idx
        return _C.embedding_backward(_f32(dout), ids, V, pad), None, None


def embedding(input, weight, padding_idx=None):
    """``weight[input]`` (torch.nn.functional.embedding). input: integer ids of any shape, each
    in [0, num_embeddings) (else IndexError); the result has shape input.shape + (D,). The
    gradient scatter-adds into weight (duplicates summed); row ``padding_idx`` gets none."""
    ids = _arr(input)
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer array, got dtype {ids.dtype}")
    w = as_float_tensor(weight, "weight")
    if w.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {w.shape}")
    V = w.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise IndexError(f"embedding: index {int(bad)} is out of range for a table of {V} rows")
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
            raise TypeError(f"embedding: padding_idx must be an int or None, got {type(padding_idx).__name__} "
                            f"{padding_idx!r}")
        padding_idx = int(padding_idx)
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings {V}")
        if padding_idx < 0:
            padding_idx += V
    return _Embedding.apply(w, np.ascontiguousarray(ids, dtype=np.int64), padding_idx)
