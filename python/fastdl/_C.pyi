# Type stubs of fastdl._C (the C++ kernels). One section per kernel family.
from typing import Optional, Tuple

import numpy as np

_F = np.ndarray  # float32
_I = np.ndarray  # int64
_Pair = Tuple[int, int]

# ---- conv (NCHW float32; stride / padding / dilation are (h, w) pairs)
def conv2d_output_shape(input_shape: Tuple[int, int, int, int], weight_shape: Tuple[int, int, int, int],
                        stride: _Pair, padding: _Pair, dilation: _Pair, groups: int) -> Tuple[int, int, int, int]:
    """(N, K, P, Q); raises ValueError / OverflowError as conv2d_forward would, allocating nothing."""
def conv2d_forward(input: _F, weight: _F, bias: Optional[_F], stride: _Pair, padding: _Pair, dilation: _Pair,
                   groups: int) -> _F:
    """input (N, C, H, W), weight (K, C/groups, R, S), bias (K,) -> (N, K, P, Q)."""
def conv2d_backward(grad_output: _F, input: _F, weight: _F, stride: _Pair, padding: _Pair, dilation: _Pair,
                    groups: int, need_input: bool = True, need_weight: bool = True,
                    need_bias: bool = True) -> Tuple[Optional[_F], Optional[_F], Optional[_F]]:
    """grad_output (N, K, P, Q) -> (grad_input (N, C, H, W), grad_weight (K, C/groups, R, S), grad_bias (K,))."""
def im2col(input: _F, kernel: _Pair, stride: _Pair, padding: _Pair, dilation: _Pair) -> _F:
    """One image (C, H, W) -> columns (C*R*S, P*Q)."""
def col2im(col: _F, input_shape: Tuple[int, int, int], kernel: _Pair, stride: _Pair, padding: _Pair,
           dilation: _Pair) -> _F:
    """Scatter-add columns (C*R*S, P*Q) into an image (C, H, W)."""

# ---- pool (NCHW float32; kernel_size / stride / padding / dilation / output_size are (h, w) pairs)
def max_pool2d_forward(input: _F, kernel_size: _Pair, stride: _Pair, padding: _Pair, dilation: _Pair,
                       ceil_mode: bool) -> Tuple[_F, _I]:
    """input (N, C, H, W) -> (output (N, C, P, Q), indices int64 (N, C, P, Q) inside each H*W plane)."""
def max_pool2d_backward(grad_output: _F, indices: _I, input_shape: Tuple[int, int, int, int], kernel_size: _Pair,
                        stride: _Pair, padding: _Pair, dilation: _Pair, ceil_mode: bool) -> _F: ...
def avg_pool2d_forward(input: _F, kernel_size: _Pair, stride: _Pair, padding: _Pair, ceil_mode: bool,
                       count_include_pad: bool, divisor_override: Optional[int]) -> _F: ...
def avg_pool2d_backward(grad_output: _F, input_shape: Tuple[int, int, int, int], kernel_size: _Pair, stride: _Pair,
                        padding: _Pair, ceil_mode: bool, count_include_pad: bool,
                        divisor_override: Optional[int]) -> _F: ...
def adaptive_avg_pool2d_forward(input: _F, output_size: _Pair) -> _F: ...
def adaptive_avg_pool2d_backward(grad_output: _F, input_shape: Tuple[int, int, int, int]) -> _F: ...
