"""Activations and softmax (fastdl.functional): relu, leaky_relu, elu, sigmoid, tanh,
softmax, log_softmax. Each accepts a Tensor or an array-like, returns a new Tensor and
records its backward (C++ kernels in cpp/src/activation and cpp/src/softmax)."""
from __future__ import annotations

import warnings

import numpy as np

from .. import _C
from ..autograd import Function
from .._args import is_int
from ..tensor import Tensor, as_float_tensor

__all__ = ["relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "log_softmax"]


def _kernel_function(name, forward, backward, save="output"):
    """A Function over a C++ kernel pair: y = forward(x, *args), and in backward
    dx = backward(dy, saved, *args) where ``saved`` is y (``save="output"``) or x (``"input"``).
    ``args`` (slope, alpha, dim) get no gradient."""

    def fwd(ctx, x, *args):
        y = forward(x, *args)
        ctx.save(y if save == "output" else x)
        ctx.args = args
        return y

    def bwd(ctx, dy):
        (saved,) = ctx.saved
        return (backward(dy, saved, *ctx.args),) + (None,) * len(ctx.args)

    return type(name, (Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})


_Relu = _kernel_function("_Relu", _C.relu_forward, _C.relu_backward)
_LeakyRelu = _kernel_function("_LeakyRelu", _C.leaky_relu_forward, _C.leaky_relu_backward, save="input")
_Elu = _kernel_function("_Elu", _C.elu_forward, _C.elu_backward, save="input")
_Sigmoid = _kernel_function("_Sigmoid", _C.sigmoid_forward, _C.sigmoid_backward)
_Tanh = _kernel_function("_Tanh", _C.tanh_forward, _C.tanh_backward)
_Softmax = _kernel_function("_Softmax", _C.softmax_forward, _C.softmax_backward)
_LogSoftmax = _kernel_function("_LogSoftmax", _C.log_softmax_forward, _C.log_softmax_backward)


def relu(input, inplace=False):
    """max(input, 0) elementwise (gradient 0 at 0). ``inplace`` is accepted for PyTorch
    compatibility; fastdl always returns a new Tensor."""
    return _Relu.apply(as_float_tensor(input))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input if input > 0 else input * negative_slope (always a new Tensor)."""
    return _LeakyRelu.apply(as_float_tensor(input), float(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    """input if input > 0 else alpha * (exp(input) - 1) (always a new Tensor)."""
    return _Elu.apply(as_float_tensor(input), float(alpha))


def sigmoid(input):
    """1 / (1 + exp(-input)), computed without overflow; backward dy * y * (1 - y)."""
    return _Sigmoid.apply(as_float_tensor(input))


def tanh(input):
    """Hyperbolic tangent; backward dy * (1 - y^2)."""
    return _Tanh.apply(as_float_tensor(input))


def _softmax_dim(ndim, dim, name):
    if dim is None:
        # PyTorch's legacy implicit choice (deprecated there too).
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", UserWarning, stacklevel=3)
        return 0 if ndim in (0, 1, 3) else 1
    if not is_int(dim):
        try:
            return int(dim.__index__())
        except AttributeError:
            raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__}") from None
    return int(dim)


def _check_dtype(dtype, name):
    if dtype is not None and np.dtype(dtype) != np.float32:
        raise TypeError(f"{name}: fastdl computes in float32 only, got dtype={dtype}")


def softmax(input, dim=None, dtype=None):
    """exp(x - max) / sum(exp(x - max)) along ``dim`` (any dim; the last one is fastest).
    ``dtype`` may only be None or float32."""
    _check_dtype(dtype, "softmax")
    x = as_float_tensor(input)
    return _Softmax.apply(x, _softmax_dim(x.ndim, dim, "softmax"))


def log_softmax(input, dim=None, dtype=None):
    """x - max - log(sum(exp(x - max))) along ``dim``; never forms log(softmax).
    ``dtype`` may only be None or float32."""
    _check_dtype(dtype, "log_softmax")
    x = as_float_tensor(input)
    return _LogSoftmax.apply(x, _softmax_dim(x.ndim, dim, "log_softmax"))


# Tensor's activation methods (as torch.Tensor has them). They are attached here because
# functional sits above tensor (see fastdl/tensor.py's docstring for the dependency direction).
Tensor.relu, Tensor.sigmoid, Tensor.tanh = relu, sigmoid, tanh
Tensor.softmax, Tensor.log_softmax = softmax, log_softmax
