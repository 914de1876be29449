"""Float64 numpy references of the activation and softmax kernels (forward and backward),
the specification the C++ kernels are tested against."""
from __future__ import annotations

import numpy as np


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def relu(x):
    x = _f64(x)
    return np.where(x > 0, x, 0.0)


def relu_backward(dy, y):
    return np.where(_f64(y) > 0, _f64(dy), 0.0)


def leaky_relu(x, slope=0.01):
    x = _f64(x)
    return np.where(x > 0, x, x * slope)


def leaky_relu_backward(dy, x, slope=0.01):
    return np.where(_f64(x) > 0, _f64(dy), _f64(dy) * slope)


def elu(x, alpha=1.0):
    x = _f64(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward(dy, x, alpha=1.0):
    x = _f64(x)
    return np.where(x > 0, _f64(dy), _f64(dy) * alpha * np.exp(np.minimum(x, 0)))


def sigmoid(x):
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dy, y):
    y = _f64(y)
    return _f64(dy) * y * (1 - y)


def tanh(x):
    return np.tanh(_f64(x))


def tanh_backward(dy, y):
    y = _f64(y)
    return _f64(dy) * (1 - y * y)


def softmax(x, dim):
    x = _f64(x)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(x, dim):
    x = _f64(x)
    z = x - x.max(axis=dim, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=dim, keepdims=True))


def softmax_backward(dy, y, dim):
    dy, y = _f64(dy), _f64(y)
    return y * (dy - (dy * y).sum(axis=dim, keepdims=True))


def log_softmax_backward(dy, y, dim):
    dy, y = _f64(dy), _f64(y)
    return dy - np.exp(y) * dy.sum(axis=dim, keepdims=True)


# name -> (forward(x, **kw), backward(dy, x, y, **kw)) with the saved value chosen as PyTorch does
ELEMENTWISE = {
    "relu": (relu, lambda dy, x, y: relu_backward(dy, y)),
    "leaky_relu": (lambda x: leaky_relu(x, 0.1), lambda dy, x, y: leaky_relu_backward(dy, x, 0.1)),
    "elu": (lambda x: elu(x, 1.5), lambda dy, x, y: elu_backward(dy, x, 1.5)),
    "sigmoid": (sigmoid, lambda dy, x, y: sigmoid_backward(dy, y)),
    "tanh": (tanh, lambda dy, x, y: tanh_backward(dy, y)),
}
