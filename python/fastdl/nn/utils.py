"""Helpers for layers: output-size arithmetic, gradient clipping."""
from __future__ import annotations

__all__ = ["conv_output_size"]


def conv_output_size(size, kernel, padding=0, stride=1, dilation=1, ceil_mode=False):
    """Output length of a convolution / pooling window along one dimension:

        N = floor((W - d*(F-1) - 1 + 2P) / S) + 1        (ceil instead of floor with ceil_mode)

    Raises ValueError naming the arguments when the result is < 1 or an argument is out of
    range, e.g. "input 5 with kernel 7, padding 0, stride 1, dilation 1 gives output size -1".
    With ceil_mode (pooling), a last window that would start in the right padding is dropped,
    as in PyTorch.
    """
    for name, v in (("size", size), ("kernel", kernel), ("padding", padding), ("stride", stride),
                    ("dilation", dilation)):
        if isinstance(v, bool) or not isinstance(v, int):
            try:
                import numpy as np

                if isinstance(v, np.integer):
                    continue
            except ImportError:  # pragma: no cover
                pass
            raise TypeError(f"conv_output_size: {name} must be an int, got {type(v).__name__}")
    size, kernel, padding, stride, dilation = (int(size), int(kernel), int(padding), int(stride), int(dilation))
    if kernel < 1:
        raise ValueError(f"kernel size must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if size < 0:
        raise ValueError(f"input size must be >= 0, got {size}")
    span = dilation * (kernel - 1) + 1
    num = size + 2 * padding - span
    if ceil_mode:
        out = -(-num // stride) + 1 if num >= 0 else num // stride + 1
        if out >= 1 and (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = num // stride + 1
    if out < 1:
        raise ValueError(f"input {size} with kernel {kernel}, padding {padding}, stride {stride}, "
                         f"dilation {dilation} gives output size {out}")
    return out
