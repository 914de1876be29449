"""Pooling layers (torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d)."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["MaxPool2d", "MaxUnpool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class MaxPool2d(Module):
    """Max pooling, as ``torch.nn.MaxPool2d``; stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        """input (N, C, H, W) or (C, H, W) -> pooled maxima, plus int64 indices when
        ``return_indices``; see :func:`fastdl.functional.max_pool2d`.
        """
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        """kernel_size, stride, padding, dilation and ceil_mode."""
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxUnpool2d(Module):
    """Partial inverse of MaxPool2d, as ``torch.nn.MaxUnpool2d``: places each input value at the
    position its index names (from ``MaxPool2d(return_indices=True)``), zeros elsewhere.

    Input and indices (N, C, h, w) or (C, h, w); output (..., H, W) with
    H = (h-1)*stride - 2*padding + kernel_size unless ``output_size`` is passed to forward.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input, indices, output_size=None):
        """Unpool ``input`` at ``indices``; see :func:`fastdl.functional.max_unpool2d`."""
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        """The kernel size, stride and padding."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Average pooling, as ``torch.nn.AvgPool2d``; stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        """input (N, C, H, W) or (C, H, W) -> window averages; see
        :func:`fastdl.functional.avg_pool2d`.
        """
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        """kernel_size, stride and padding."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Adaptive average pooling to ``output_size`` (int or pair; None keeps that input size),
    as ``torch.nn.AdaptiveAvgPool2d``. ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        """input (N, C, H, W) or (C, H, W) -> (..., out_h, out_w) averages; see
        :func:`fastdl.functional.adaptive_avg_pool2d`.
        """
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        """``output_size=...``."""
        return f"output_size={self.output_size}"
