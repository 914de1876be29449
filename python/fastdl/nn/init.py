"""Parameter initialisation (torch.nn.init): every function fills a Tensor in place from
fastdl's global generator (``fastdl.manual_seed``) and returns it."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import no_grad
from ..random import default_generator

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (same table as torch.nn.init.calculate_gain)."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid"]
    if nonlinearity in linear_fns:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fans(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(tensor, values):
    with no_grad():
        tensor.data[...] = values
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill ``tensor`` in place from U(a, b) with fastdl's default generator; returns it."""
    return _fill(tensor, default_generator().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill ``tensor`` in place from N(mean, std**2); returns it."""
    return _fill(tensor, default_generator().normal(mean, std, size=tensor.shape))


def constant_(tensor, val):
    """Fill ``tensor`` in place with ``val``; returns it."""
    return _fill(tensor, val)


def zeros_(tensor):
    """Fill ``tensor`` with zeros in place; returns it."""
    return _fill(tensor, 0.0)


def ones_(tensor):
    """Fill ``tensor`` with ones in place; returns it."""
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)), in place; ValueError for
    a tensor of fewer than 2 dimensions.
    """
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)), in place; ValueError
    for fewer than 2 dimensions.
    """
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b), b = sqrt(3) * gain / sqrt(fan), fan per ``mode`` ('fan_in' or
    'fan_out'), gain from ``nonlinearity`` and ``a``; in place. ValueError for fewer than 2
    dimensions or an unknown mode.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std**2), std = gain / sqrt(fan), fan per ``mode``, gain from
    ``nonlinearity`` and ``a``; in place. ValueError for fewer than 2 dimensions or an unknown
    mode.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std)
