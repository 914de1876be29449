"""Convolution layers (torch.nn.Conv2d)."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._args import count_arg, pair
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution over (N, C, H, W) or (C, H, W) input, as ``torch.nn.Conv2d``.

    Parameters: ``weight`` (out_channels, in_channels/groups, kH, kW) and ``bias``
    (out_channels,) when ``bias=True``, both initialised from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = in_channels/groups * kH * kW (PyTorch's kaiming_uniform_(a=sqrt(5)) default, through
    ``fastdl.nn.init``, i.e. ``fastdl.random.default_generator()``). Zero padding only; ``padding`` is an int, a pair,
    ``"valid"`` or ``"same"`` (stride 1 only; ValueError otherwise, as PyTorch).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros"):
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: only padding_mode='zeros' is supported, got {padding_mode!r}")
        for name, v in (("groups", groups), ("in_channels", in_channels), ("out_channels", out_channels)):
            count_arg(v, name, "Conv2d")
        if in_channels % groups:
            raise ValueError(f"Conv2d: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups:
            raise ValueError(f"Conv2d: out_channels={out_channels} must be divisible by groups={groups}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        if isinstance(padding, str):  # "same" / "valid": checked now, resolved in F.conv2d
            F.conv.same_padding(padding, self.kernel_size, self.stride, self.dilation)
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", "Conv2d")
        self.groups = int(groups)
        self.padding_mode = padding_mode
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be >= 1, got {self.kernel_size}")
        if min(self.stride) < 1:
            raise ValueError(f"Conv2d: stride must be >= 1, got {self.stride}")
        if min(self.dilation) < 1:
            raise ValueError(f"Conv2d: dilation must be >= 1, got {self.dilation}")
        if not isinstance(self.padding, str) and min(self.padding) < 0:
            raise ValueError(f"Conv2d: padding must be >= 0, got {self.padding}")
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=np.float32))
        self.bias = Parameter(np.empty(self.out_channels, dtype=np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
        in_channels/groups * kH * kW.
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        if self.bias is not None:
            fan_in = (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        """input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out); see
        :func:`fastdl.functional.conv2d` for the sizes and errors.
        """
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        """The constructor arguments that differ from the defaults, as PyTorch prints them."""
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
