"""Activations and softmax (fastdl.functional): relu, leaky_relu, elu, sigmoid, tanh,
softmax, log_softmax. Each accepts a Tensor or an array-like, returns a new Tensor and
records its backward (C++ kernels in cpp/src/activation and cpp/src/softmax).

``inplace=True`` (and relu_, leaky_relu_, elu_, sigmoid_, tanh_) writes the result into the
input's memory and returns the input (see fastdl._inplace): backward then works from the
saved output, as PyTorch's (leaky_relu_ needs negative_slope >= 0 and elu_ alpha >= 0 for
that)."""
from __future__ import annotations

import warnings

import numpy as np

from .. import _C
from .._inplace import apply_inplace
from ..autograd import Function
from .._args import is_int
from ..tensor import Tensor, as_float_tensor

__all__ = ["relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "log_softmax",
           "relu_", "leaky_relu_", "elu_"]


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


def _inplace_function(name, forward, backward):
    """The in-place twin: forward writes into x (``out=x``) and saves the result; backward
    is ``backward(dy, y, *args)``, the derivative written in terms of the output."""

    def fwd(ctx, x, *args):
        forward(x, *args, out=x)
        ctx.save(x)
        ctx.args = args
        return x

    def bwd(ctx, dy):
        (y,) = ctx.saved
        return (backward(dy, y, *ctx.args),) + (None,) * len(ctx.args)

    return type(name, (Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd),
                                    "inplace": True})


def _leaky_from_output(dy, y, slope):
    return np.where(y > 0, dy, dy * np.float32(slope)).astype(dy.dtype, copy=False)


def _elu_from_output(dy, y, alpha):
    return np.where(y > 0, dy, dy * (y + np.float32(alpha))).astype(dy.dtype, copy=False)


_ReluInplace = _inplace_function("_ReluInplace", _C.relu_forward, _C.relu_backward)
_LeakyReluInplace = _inplace_function("_LeakyReluInplace", _C.leaky_relu_forward, _leaky_from_output)
_EluInplace = _inplace_function("_EluInplace", _C.elu_forward, _elu_from_output)
_SigmoidInplace = _inplace_function("_SigmoidInplace", _C.sigmoid_forward, _C.sigmoid_backward)
_TanhInplace = _inplace_function("_TanhInplace", _C.tanh_forward, _C.tanh_backward)


def _inplace_input(input, name):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: inplace=True needs a Tensor, got {type(input).__name__}")
    if input.dtype != np.float32 or not input.data.flags.c_contiguous:
        raise TypeError(f"{name}: inplace=True needs a C-contiguous float32 tensor, got dtype "
                        f"{input.dtype}, shape {tuple(input.shape)}")
    return input


def relu(input, inplace=False):
    """max(input, 0) elementwise (gradient 0 at 0); ``inplace=True``: into input, returns it."""
    if inplace:
        return apply_inplace(_ReluInplace, "relu_", _inplace_input(input, "relu_"))
    return _Relu.apply(as_float_tensor(input))


def _inplace_signed(fn, name, what, input, param):
    """The in-place form of an activation whose backward reads the output's sign: a negative
    ``param`` (slope / alpha) is refused when the input requires grad, as PyTorch does."""
    x = _inplace_input(input, name)
    if param < 0 and x.requires_grad:
        raise RuntimeError(f"In-place {what} backward calculation is triggered with a negative slope which is "
                           "not supported. This is caused by calling in-place forward function with a "
                           "negative slope, please call out-of-place version instead.")
    return apply_inplace(fn, name, x, float(param))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input if input > 0 else input * negative_slope. ``inplace=True`` needs
    negative_slope >= 0 when the input requires grad (backward reads the output's sign)."""
    if inplace:
        return _inplace_signed(_LeakyReluInplace, "leaky_relu_", "leakyReLu", input, negative_slope)
    return _LeakyRelu.apply(as_float_tensor(input), float(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    """input if input > 0 else alpha * (exp(input) - 1). ``inplace=True`` needs alpha >= 0
    when the input requires grad (backward dy * (y + alpha) for y <= 0)."""
    if inplace:
        return _inplace_signed(_EluInplace, "elu_", "elu", input, alpha)
    return _Elu.apply(as_float_tensor(input), float(alpha))


def sigmoid(input, inplace=False):
    """1 / (1 + exp(-input)), computed without overflow; backward dy * y * (1 - y)."""
    if inplace:
        return apply_inplace(_SigmoidInplace, "sigmoid_", _inplace_input(input, "sigmoid_"))
    return _Sigmoid.apply(as_float_tensor(input))


def tanh(input, inplace=False):
    """Hyperbolic tangent; backward dy * (1 - y^2)."""
    if inplace:
        return apply_inplace(_TanhInplace, "tanh_", _inplace_input(input, "tanh_"))
    return _Tanh.apply(as_float_tensor(input))


def relu_(input):
    """relu(input, inplace=True): max(input, 0) written into input (a Tensor); returns it."""
    return relu(input, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    """leaky_relu(input, negative_slope, inplace=True); returns input."""
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input, alpha=1.0):
    """elu(input, alpha, inplace=True); returns input."""
    return elu(input, alpha, inplace=True)


def _sigmoid_(self):
    """sigmoid(self, inplace=True): 1 / (1 + exp(-self)) written into self; returns self."""
    return sigmoid(self, inplace=True)


def _tanh_(self):
    """tanh(self, inplace=True): written into self; returns self."""
    return tanh(self, inplace=True)


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
Tensor.relu_, Tensor.sigmoid_, Tensor.tanh_ = relu_, _sigmoid_, _tanh_
Tensor.softmax, Tensor.log_softmax = softmax, log_softmax
