# Type stubs of fastdl._C (the C++ kernels). One section per kernel family.
from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# ---- optim
def sgd_update(param: F32, momentum_buffer: Optional[F32], grad: F32, lr: float, momentum: float = 0.0,
               dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
               maximize: bool = False, init_buffer: bool = False) -> None:
    """One torch.optim.SGD step on one tensor, in place (param and momentum_buffer).

    param, grad, momentum_buffer: float32 C-contiguous, one shape (not converted: a wrong dtype
    or layout raises TypeError). momentum_buffer is None iff momentum == 0; with init_buffer
    (the first step) it is only written: buf = g.
    """

def adam_update(param: F32, exp_avg: F32, exp_avg_sq: F32, max_exp_avg_sq: Optional[F32], grad: F32,
                step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float = 0.0,
                decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
    """One torch.optim.Adam step (AdamW when decoupled_weight_decay) on one tensor, in place.

    All arrays float32 C-contiguous of param's shape, distinct; max_exp_avg_sq is None unless
    amsgrad. step: the step count after this update (>= 1); beta1, beta2 in [0, 1).
    """
import numpy as np

_F = np.ndarray  # float32
_I = np.ndarray  # int64

# ---- activation (elementwise; any shape)
def relu_forward(x: _F, out: Optional[_F] = None) -> _F: ...
def relu_backward(grad_output: _F, output: _F) -> _F: ...
def leaky_relu_forward(x: _F, negative_slope: float = 0.01, out: Optional[_F] = None) -> _F: ...
def leaky_relu_backward(grad_output: _F, input: _F, negative_slope: float = 0.01) -> _F: ...
def elu_forward(x: _F, alpha: float = 1.0, out: Optional[_F] = None) -> _F: ...
def elu_backward(grad_output: _F, input: _F, alpha: float = 1.0) -> _F: ...
def sigmoid_forward(x: _F, out: Optional[_F] = None) -> _F: ...
def sigmoid_backward(grad_output: _F, output: _F) -> _F: ...
def tanh_forward(x: _F, out: Optional[_F] = None) -> _F: ...
def tanh_backward(grad_output: _F, output: _F) -> _F: ...
def exp(x: _F, out: Optional[_F] = None) -> _F:
    """exp(x); AVX2 path <= 4 ulp, 0 below ln FLT_MIN, inf above ln FLT_MAX, NaN propagates."""

# ---- softmax (over `dim` of any shape; IndexError when dim is out of range)
def softmax_forward(x: _F, dim: int, out: Optional[_F] = None) -> _F: ...
def log_softmax_forward(x: _F, dim: int, out: Optional[_F] = None) -> _F: ...
def softmax_backward(grad_output: _F, output: _F, dim: int) -> _F: ...
def log_softmax_backward(grad_output: _F, output: _F, dim: int) -> _F: ...

# ---- dropout
def dropout_forward(x: _F, p: float, seed: int) -> Tuple[_F, np.ndarray]:
    """(y, mask uint8 of x's shape); y = x * mask / (1 - p). ValueError unless 0 <= p <= 1."""
def dropout_backward(grad_output: _F, mask: np.ndarray, p: float) -> _F: ...

# ---- loss (reduction: 'mean' | 'sum' | 'none'; reduced losses are 0-d arrays)
def cross_entropy_forward(input: _F, target: _I, weight: Optional[_F] = None, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0) -> Tuple[_F, _F, float]:
    """input (N, C) logits, target (N,) int64 -> (loss, prob (N, C), denominator).
    IndexError "Target t is out of bounds." for a target outside [0, C) other than ignore_index."""
def cross_entropy_backward(grad_output: _F, prob: _F, target: _I, weight: Optional[_F] = None,
                           ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0,
                           denominator: float = 1.0) -> _F:
    """d loss / d input (N, C)."""
def cross_entropy_prob_forward(input: _F, target: _F, weight: Optional[_F] = None, reduction: str = "mean",
                               label_smoothing: float = 0.0) -> Tuple[_F, _F]:
    """input, target (N, C) (class probabilities) -> (loss, prob (N, C))."""
def cross_entropy_prob_backward(grad_output: _F, prob: _F, target: _F, weight: Optional[_F] = None,
                                reduction: str = "mean", label_smoothing: float = 0.0) -> _F: ...
def nll_loss_forward(input: _F, target: _I, weight: Optional[_F] = None, ignore_index: int = -100,
                     reduction: str = "mean") -> Tuple[_F, float]:
    """input (N, C) log-probabilities -> (loss, denominator)."""
def nll_loss_backward(grad_output: _F, target: _I, weight: Optional[_F] = None, ignore_index: int = -100,
                      reduction: str = "mean", denominator: float = 1.0, num_classes: int = 0) -> _F: ...
def mse_loss_forward(input: _F, target: _F, reduction: str = "mean") -> _F: ...
def mse_loss_backward(grad_output: _F, input: _F, target: _F, reduction: str = "mean", input_grad: bool = True,
                      target_grad: bool = False) -> Tuple[Optional[_F], Optional[_F]]: ...
def l1_loss_forward(input: _F, target: _F, reduction: str = "mean") -> _F: ...
def l1_loss_backward(grad_output: _F, input: _F, target: _F, reduction: str = "mean", input_grad: bool = True,
                     target_grad: bool = False) -> Tuple[Optional[_F], Optional[_F]]: ...
def bce_with_logits_forward(input: _F, target: _F, weight: Optional[_F] = None, pos_weight: Optional[_F] = None,
                            reduction: str = "mean") -> _F:
    """weight / pos_weight: None or already broadcast to input's shape."""
def bce_with_logits_backward(grad_output: _F, input: _F, target: _F, weight: Optional[_F] = None,
                             pos_weight: Optional[_F] = None, reduction: str = "mean", input_grad: bool = True,
                             target_grad: bool = False) -> Tuple[Optional[_F], Optional[_F]]: ...

# ---- conv (NCHW float32; stride / padding / dilation are (h, w) pairs)
def conv2d_output_shape(input_shape: Tuple[int, int, int, int], weight_shape: Tuple[int, int, int, int],
                        stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int], groups: int) -> Tuple[int, int, int, int]:
    """(N, K, P, Q); raises ValueError / OverflowError as conv2d_forward would, allocating nothing."""
def conv2d_forward(input: F32, weight: F32, bias: Optional[F32], stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                   groups: int) -> F32:
    """input (N, C, H, W), weight (K, C/groups, R, S), bias (K,) -> (N, K, P, Q)."""
def conv2d_backward(grad_output: F32, input: F32, weight: F32, stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                    groups: int, need_input: bool = True, need_weight: bool = True,
                    need_bias: bool = True) -> Tuple[Optional[F32], Optional[F32], Optional[F32]]:
    """grad_output (N, K, P, Q) -> (grad_input (N, C, H, W), grad_weight (K, C/groups, R, S), grad_bias (K,))."""
def im2col(input: F32, kernel: Tuple[int, int], stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int]) -> F32:
    """One image (C, H, W) -> columns (C*R*S, P*Q)."""
def col2im(col: F32, input_shape: Tuple[int, int, int], kernel: Tuple[int, int], stride: Tuple[int, int], padding: Tuple[int, int],
           dilation: Tuple[int, int]) -> F32:
    """Scatter-add columns (C*R*S, P*Q) into an image (C, H, W)."""

# ---- pool (NCHW float32; kernel_size / stride / padding / dilation / output_size are (h, w) pairs)
def max_pool2d_forward(input: F32, kernel_size: Tuple[int, int], stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                       ceil_mode: bool) -> Tuple[F32, I64]:
    """input (N, C, H, W) -> (output (N, C, P, Q), indices int64 (N, C, P, Q) inside each H*W plane)."""
def max_pool2d_backward(grad_output: F32, indices: I64, input_shape: Tuple[int, int, int, int], kernel_size: Tuple[int, int],
                        stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int], ceil_mode: bool) -> F32: ...
def avg_pool2d_forward(input: F32, kernel_size: Tuple[int, int], stride: Tuple[int, int], padding: Tuple[int, int], ceil_mode: bool,
                       count_include_pad: bool, divisor_override: Optional[int]) -> F32: ...
def avg_pool2d_backward(grad_output: F32, input_shape: Tuple[int, int, int, int], kernel_size: Tuple[int, int], stride: Tuple[int, int],
                        padding: Tuple[int, int], ceil_mode: bool, count_include_pad: bool,
                        divisor_override: Optional[int]) -> F32: ...
def adaptive_avg_pool2d_forward(input: F32, output_size: Tuple[int, int]) -> F32: ...
def adaptive_avg_pool2d_backward(grad_output: F32, input_shape: Tuple[int, int, int, int]) -> F32: ...
