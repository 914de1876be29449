"""Recurrent layers <-> ONNX RNN / GRU / LSTM, and the gate-order conversions.

PyTorch (and fastdl) stack the gates of LSTM as i, f, g, o and of GRU as r, z, n; ONNX
stacks them i, o, f, c and z, r, h. PyTorch's GRU applies the reset gate after the hidden
matmul, which is ONNX's ``linear_before_reset=1``. ONNX's ops are single-layer: a stack is a
chain of ops, each layer's Y (T, D, N, H) transposed and reshaped to (T, N, D*H).
"""
from __future__ import annotations

import numpy as np

from ._graph import ExportError

# ONNX op, gate blocks in ONNX order as indices into PyTorch's order
GATES = {"LSTM": ("LSTM", [0, 3, 1, 2]), "GRU": ("GRU", [1, 0, 2]),
         "RNN_TANH": ("RNN", [0]), "RNN_RELU": ("RNN", [0])}


def reorder(w, perm):
    """Reorders the gate blocks along axis 0 of ``w`` (G*H, ...) by ``perm``; the inverse
    permutation (argsort) converts back."""
    blocks = np.split(np.asarray(w, dtype=np.float32), len(perm), axis=0)
    return np.concatenate([blocks[i] for i in perm], axis=0)


def onnx_weights(weights, mode, has_bias, D):
    """W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H) or None, from one layer's PyTorch tensors
    (per direction: weight_ih, weight_hh[, bias_ih, bias_hh])."""
    perm = GATES[mode][1]
    per = 4 if has_bias else 2
    Ws, Rs, Bs = [], [], []
    for d in range(D):
        p = [np.asarray(t.data) for t in weights[d * per:(d + 1) * per]]
        Ws.append(reorder(p[0], perm))
        Rs.append(reorder(p[1], perm))
        if has_bias:
            Bs.append(np.concatenate([reorder(p[2], perm), reorder(p[3], perm)]))
    return np.stack(Ws), np.stack(Rs), (np.stack(Bs) if has_bias else None)


def torch_weights(W, R, B, mode, hidden_size):
    """The inverse of onnx_weights for one direction's arrays W (G*H, I), R (G*H, H),
    B (2*G*H) or None: (weight_ih, weight_hh, bias_ih, bias_hh) in PyTorch's gate order."""
    inv = list(np.argsort(GATES[mode][1]))
    out = [reorder(W, inv), reorder(R, inv)]
    if B is None:
        G = len(inv)
        B = np.zeros(2 * G * hidden_size, np.float32)
    out += [reorder(B[:B.shape[0] // 2], inv), reorder(B[B.shape[0] // 2:], inv)]
    return out


def _attrs(mode, D, H):
    op = GATES[mode][0]
    attrs = {"hidden_size": int(H), "direction": "bidirectional" if D == 2 else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if mode == "RNN_RELU":
        attrs["activations"] = ["Relu"] * D
    return op, attrs


def _layer(g, x, h0, c0, W, R, B, mode, D, H, hint):
    """One ONNX recurrent op on x (T, N, I); returns (y (T, N, D*H), h_n (D, N, H), c_n)."""
    op, attrs = _attrs(mode, D, H)
    ins = [x, g.init(W, f"{hint}.W"), g.init(R, f"{hint}.R"), g.init(B, f"{hint}.B") if B is not None else "",
           "", h0 or ""]
    if op == "LSTM":
        ins.append(c0 or "")
    while ins and ins[-1] == "":
        ins.pop()
    outs = g.node(op, ins, n_out=3 if op == "LSTM" else 2, hint=hint, **attrs)
    y = g.node("Transpose", [outs[0]], hint=f"{hint}_y", perm=[0, 2, 1, 3])   # (T, N, D, H)
    y = g.reshape(y, [0, 0, -1], hint=f"{hint}_out")                            # (T, N, D*H)
    return y, outs[1], (outs[2] if op == "LSTM" else None)


def _stack(tr, m, x_name, h0, c0, hint):
    """All layers of module ``m`` on x (T, N, I) with states (L*D, N, H) names (or None)."""
    g = tr.g
    D = 2 if getattr(m, "bidirectional", False) else 1
    L = getattr(m, "num_layers", 1)
    weights = list(m.all_weights) if hasattr(m, "all_weights") else [
        m.weight_ih, m.weight_hh] + ([m.bias_ih, m.bias_hh] if m.bias else [])
    per = (4 if m.bias else 2) * D
    y, hs, cs = x_name, [], []
    for layer in range(L):
        W, R, B = onnx_weights(weights[layer * per:(layer + 1) * per], m.mode, m.bias, D)
        lh = g.slice(h0, [layer * D], [(layer + 1) * D], [0]) if h0 and L > 1 else h0
        lc = g.slice(c0, [layer * D], [(layer + 1) * D], [0]) if c0 and L > 1 else c0
        y, h, c = _layer(g, y, lh, lc, W, R, B, m.mode, D, m.hidden_size, f"{hint}.l{layer}")
        hs.append(h)
        cs.append(c)
    cat = (lambda parts: parts[0] if len(parts) == 1 else g.node("Concat", parts, hint=f"{hint}_state", axis=0))
    return y, cat(hs), (cat(cs) if m.mode == "LSTM" else None)


def _state_names(tr, m, hx, axes):
    """ONNX names of the initial states in hx (h0 or (h0, c0)), unsqueezed on ``axes``."""
    if hx is None:
        return None, None
    parts = hx if m.mode == "LSTM" else (hx, None)
    names = []
    for s in parts:
        if s is None:
            names.append(None)
            continue
        n = tr.name(s)
        names.append(tr.g.unsqueeze(n, axes) if axes else n)
    return names[0], names[1]


def emit_rnn(tr, m, out, hint, x, hx=None):
    """nn.RNN / nn.LSTM / nn.GRU: returns (output, h_n) or (output, (h_n, c_n)) names."""
    if getattr(m, "proj_size", 0):
        raise ExportError("fastdl.onnx.export: LSTM with proj_size > 0 is not supported (no ONNX projection)")
    g = tr.g
    unbatched = x.ndim == 2
    xn = tr.name(x)
    if unbatched:
        xn = g.unsqueeze(xn, [1])                       # (T, 1, I)
    elif m.batch_first:
        xn = g.node("Transpose", [xn], hint=f"{hint}_in", perm=[1, 0, 2])
    h0, c0 = _state_names(tr, m, hx, [1] if unbatched else None)
    y, h, c = _stack(tr, m, xn, h0, c0, hint)
    if unbatched:
        y, h = g.squeeze(y, [1], hint=f"{hint}_y"), g.squeeze(h, [1], hint=f"{hint}_h")
        c = g.squeeze(c, [1], hint=f"{hint}_c") if c else None
    elif m.batch_first:
        y = g.node("Transpose", [y], hint=f"{hint}_y", perm=[1, 0, 2])
    return (y, (h, c)) if m.mode == "LSTM" else (y, h)


def emit_rnn_cell(tr, m, out, hint, x, hx=None):
    """nn.RNNCell / LSTMCell / GRUCell as a one-step, one-layer ONNX op."""
    g = tr.g
    axes = [0, 1] if x.ndim == 1 else [0]
    xn = g.unsqueeze(tr.name(x), axes)                  # (1, N, I)
    h0, c0 = _state_names(tr, m, hx, axes)
    _, h, c = _stack(tr, m, xn, h0, c0, hint)           # (1, N, H)
    h = g.squeeze(h, axes, hint=f"{hint}_h")
    if m.mode == "LSTM":
        return (h, g.squeeze(c, axes, hint=f"{hint}_c"))
    return h
