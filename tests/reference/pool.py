"""Float64 numpy references of 2-D pooling with PyTorch's window rules (NCHW):
max_pool2d (NaN propagates, argmax index inside the plane), avg_pool2d (count_include_pad,
divisor_override), adaptive_avg_pool2d, and their backwards."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["pool_out_size", "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
           "avg_pool2d_backward", "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward"]


def pool_out_size(size, kernel, padding, stride, dilation=1, ceil_mode=False):
    num = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def max_pool2d_forward(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False):
    """(y, idx): y in x's dtype (max is exact), idx int64 = ih*W + iw of the winner."""
    x = np.asarray(x)
    N, C, H, W = x.shape
    P = pool_out_size(H, kernel[0], padding[0], stride[0], dilation[0], ceil_mode)
    Q = pool_out_size(W, kernel[1], padding[1], stride[1], dilation[1], ceil_mode)
    y = np.empty((N, C, P, Q), x.dtype)
    idx = np.empty((N, C, P, Q), np.int64)
    for n in range(N):
        for c in range(C):
            for p in range(P):
                for q in range(Q):
                    best, bi = -np.inf, None
                    for i in range(kernel[0]):
                        ih = p * stride[0] - padding[0] + i * dilation[0]
                        if not 0 <= ih < H:
                            continue
                        for j in range(kernel[1]):
                            iw = q * stride[1] - padding[1] + j * dilation[1]
                            if not 0 <= iw < W:
                                continue
                            v = x[n, c, ih, iw]
                            if bi is None:
                                bi = ih * W + iw  # first tap in the input
                            if v > best or math.isnan(v):
                                best, bi = v, ih * W + iw
                    y[n, c, p, q] = best
                    idx[n, c, p, q] = bi
    return y, idx


def max_pool2d_backward(dy, idx, input_shape):
    dy = np.asarray(dy, np.float64)
    N, C, H, W = input_shape
    dx = np.zeros((N, C, H * W))
    for n in range(N):
        for c in range(C):
            np.add.at(dx[n, c], idx[n, c].ravel(), dy[n, c].ravel())
    return dx.reshape(input_shape)


def _avg_windows(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    P = pool_out_size(H, kernel[0], padding[0], stride[0], 1, ceil_mode)
    Q = pool_out_size(W, kernel[1], padding[1], stride[1], 1, ceil_mode)
    for p in range(P):
        for q in range(Q):
            h0, w0 = p * stride[0] - padding[0], q * stride[1] - padding[1]
            h1, w1 = min(h0 + kernel[0], H + padding[0]), min(w0 + kernel[1], W + padding[1])
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            if divisor_override:
                div = divisor_override
            else:
                div = size if count_include_pad else (h1 - h0) * (w1 - w0)
            yield p, q, P, Q, slice(h0, h1), slice(w0, w1), div


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True, divisor_override=None):
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    y = None
    for p, q, P, Q, hs, ws, div in _avg_windows(H, W, kernel, stride, padding, ceil_mode, count_include_pad,
                                                  divisor_override):
        if y is None:
            y = np.zeros((N, C, P, Q))
        y[:, :, p, q] = x[:, :, hs, ws].sum(axis=(2, 3)) / div
    return y


def avg_pool2d_backward(dy, input_shape, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
                        divisor_override=None):
    dy = np.asarray(dy, np.float64)
    N, C, H, W = input_shape
    dx = np.zeros(input_shape)
    for p, q, P, Q, hs, ws, div in _avg_windows(H, W, kernel, stride, padding, ceil_mode, count_include_pad,
                                                  divisor_override):
        dx[:, :, hs, ws] += (dy[:, :, p, q] / div)[:, :, None, None]
    return dx


def _adaptive(o, size, out):
    return (o * size) // out, -(-((o + 1) * size) // out)


def adaptive_avg_pool2d_forward(x, output_size):
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    P, Q = output_size
    y = np.zeros((N, C, P, Q))
    for p in range(P):
        h0, h1 = _adaptive(p, H, P)
        for q in range(Q):
            w0, w1 = _adaptive(q, W, Q)
            y[:, :, p, q] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(dy, input_shape):
    dy = np.asarray(dy, np.float64)
    N, C, H, W = input_shape
    P, Q = dy.shape[2:]
    dx = np.zeros(input_shape)
    for p in range(P):
        h0, h1 = _adaptive(p, H, P)
        for q in range(Q):
            w0, w1 = _adaptive(q, W, Q)
            dx[:, :, h0:h1, w0:w1] += (dy[:, :, p, q] / ((h1 - h0) * (w1 - w0)))[:, :, None, None]
    return dx
