"""Float64 numpy reference of conv2d (NCHW, zero padding, stride, dilation, groups):
the specification of fastdl's conv kernels (torch.nn.functional.conv2d semantics)."""
from __future__ import annotations

import numpy as np

__all__ = ["out_size", "conv2d_forward", "conv2d_backward", "im2col", "col2im"]


def out_size(size, kernel, padding, stride, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _taps(N, C, H, W, R, S, stride, padding, dilation):
    """For each kernel tap (r, s): index slices of the padded input read by that tap."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    P = out_size(H, R, ph, sh, dh)
    Q = out_size(W, S, pw, sw, dw)
    for r in range(R):
        for s in range(S):
            yield r, s, (slice(r * dh, r * dh + sh * (P - 1) + 1, sh), slice(s * dw, s * dw + sw * (Q - 1) + 1, sw)), P, Q


def conv2d_forward(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """y (N, K, P, Q) = b + sum over the group's channels and taps of w * x (float64)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    Kg = K // groups
    ph, pw = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = None
    for r, s, (hs, ws), P, Q in _taps(N, C, H, W, R, S, stride, padding, dilation):
        if y is None:
            y = np.zeros((N, K, P, Q))
        patch = xp[:, :, hs, ws]  # (N, C, P, Q)
        for g in range(groups):
            y[:, g * Kg:(g + 1) * Kg] += np.einsum("ncpq,kc->nkpq", patch[:, g * Cg:(g + 1) * Cg],
                                                   w[g * Kg:(g + 1) * Kg, :, r, s])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv2d_backward(dy, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """(dx, dw, db) of conv2d_forward for the upstream gradient dy (float64)."""
    dy = np.asarray(dy, np.float64)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    Kg = K // groups
    ph, pw = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for r, s, (hs, ws), P, Q in _taps(N, C, H, W, R, S, stride, padding, dilation):
        patch = xp[:, :, hs, ws]
        for g in range(groups):
            dyg = dy[:, g * Kg:(g + 1) * Kg]
            dxp[:, g * Cg:(g + 1) * Cg, hs, ws] += np.einsum("nkpq,kc->ncpq", dyg, w[g * Kg:(g + 1) * Kg, :, r, s])
            dw[g * Kg:(g + 1) * Kg, :, r, s] = np.einsum("nkpq,ncpq->kc", dyg, patch[:, g * Cg:(g + 1) * Cg])
    dx = dxp[:, :, ph:ph + H, pw:pw + W]
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db


def im2col(x, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """x (C, H, W) -> col (C*R*S, P*Q): row (c*R + r)*S + s holds the input seen by tap (r, s)."""
    x = np.asarray(x, np.float64)
    C, H, W = x.shape
    R, S = kernel
    ph, pw = padding
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    rows = {}
    for r, s, (hs, ws), P, Q in _taps(1, C, H, W, R, S, stride, padding, dilation):
        rows[(r, s)] = xp[:, hs, ws].reshape(C, P * Q)
    return np.stack([rows[(r, s)][c] for c in range(C) for r in range(R) for s in range(S)])


def col2im(col, input_shape, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Adjoint of im2col: scatter-add col (C*R*S, P*Q) into an image of input_shape (C, H, W)."""
    col = np.asarray(col, np.float64)
    C, H, W = input_shape
    R, S = kernel
    ph, pw = padding
    dxp = np.zeros((C, H + 2 * ph, W + 2 * pw))
    for r, s, (hs, ws), P, Q in _taps(1, C, H, W, R, S, stride, padding, dilation):
        for c in range(C):
            dxp[c, hs, ws] += col[(c * R + r) * S + s].reshape(P, Q)
    return dxp[:, ph:ph + H, pw:pw + W]
