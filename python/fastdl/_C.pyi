# Type stubs of fastdl._C (the C++ kernels). One section per kernel family.
from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

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
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]

# ---- activation (elementwise; any shape)
def relu_forward(x: F32, out: Optional[F32] = None) -> F32: ...
def relu_backward(grad_output: F32, output: F32) -> F32: ...
def leaky_relu_forward(x: F32, negative_slope: float = 0.01, out: Optional[F32] = None) -> F32: ...
def leaky_relu_backward(grad_output: F32, input: F32, negative_slope: float = 0.01) -> F32: ...
def elu_forward(x: F32, alpha: float = 1.0, out: Optional[F32] = None) -> F32: ...
def elu_backward(grad_output: F32, input: F32, alpha: float = 1.0) -> F32: ...
def sigmoid_forward(x: F32, out: Optional[F32] = None) -> F32: ...
def sigmoid_backward(grad_output: F32, output: F32) -> F32: ...
def tanh_forward(x: F32, out: Optional[F32] = None) -> F32: ...
def tanh_backward(grad_output: F32, output: F32) -> F32: ...
def exp(x: F32, out: Optional[F32] = None) -> F32:
    """exp(x); AVX2 path <= 4 ulp, 0 below ln FLT_MIN, inf above ln FLT_MAX, NaN propagates."""

# ---- softmax (over `dim` of any shape; IndexError when dim is out of range)
def softmax_forward(x: F32, dim: int, out: Optional[F32] = None) -> F32: ...
def log_softmax_forward(x: F32, dim: int, out: Optional[F32] = None) -> F32: ...
def softmax_backward(grad_output: F32, output: F32, dim: int) -> F32: ...
def log_softmax_backward(grad_output: F32, output: F32, dim: int) -> F32: ...

# ---- dropout
def dropout_forward(x: F32, p: float, seed: int) -> Tuple[F32, U8]:
    """(y, mask uint8 of x's shape); y = x * mask / (1 - p). ValueError unless 0 <= p <= 1."""
def dropout_backward(grad_output: F32, mask: U8, p: float) -> F32: ...

# ---- loss (reduction: 'mean' | 'sum' | 'none'; reduced losses are 0-d arrays)
def cross_entropy_forward(input: F32, target: I64, weight: Optional[F32] = None, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0) -> Tuple[F32, F32, float]:
    """input (N, C) logits, target (N,) int64 -> (loss, prob (N, C), denominator).
    IndexError "Target t is out of bounds." for a target outside [0, C) other than ignore_index."""
def cross_entropy_backward(grad_output: F32, prob: F32, target: I64, weight: Optional[F32] = None,
                           ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0,
                           denominator: float = 1.0) -> F32:
    """d loss / d input (N, C)."""
def cross_entropy_prob_forward(input: F32, target: F32, weight: Optional[F32] = None, reduction: str = "mean",
                               label_smoothing: float = 0.0) -> Tuple[F32, F32]:
    """input, target (N, C) (class probabilities) -> (loss, prob (N, C))."""
def cross_entropy_prob_backward(grad_output: F32, prob: F32, target: F32, weight: Optional[F32] = None,
                                reduction: str = "mean", label_smoothing: float = 0.0) -> F32: ...
def nll_loss_forward(input: F32, target: I64, weight: Optional[F32] = None, ignore_index: int = -100,
                     reduction: str = "mean") -> Tuple[F32, float]:
    """input (N, C) log-probabilities -> (loss, denominator)."""
def nll_loss_backward(grad_output: F32, target: I64, weight: Optional[F32] = None, ignore_index: int = -100,
                      reduction: str = "mean", denominator: float = 1.0, num_classes: int = 0) -> F32: ...
def mse_loss_forward(input: F32, target: F32, reduction: str = "mean") -> F32: ...
def mse_loss_backward(grad_output: F32, input: F32, target: F32, reduction: str = "mean", input_grad: bool = True,
                      target_grad: bool = False) -> Tuple[Optional[F32], Optional[F32]]: ...
def l1_loss_forward(input: F32, target: F32, reduction: str = "mean") -> F32: ...
def l1_loss_backward(grad_output: F32, input: F32, target: F32, reduction: str = "mean", input_grad: bool = True,
                     target_grad: bool = False) -> Tuple[Optional[F32], Optional[F32]]: ...
def bce_with_logits_forward(input: F32, target: F32, weight: Optional[F32] = None, pos_weight: Optional[F32] = None,
                            reduction: str = "mean") -> F32:
    """weight / pos_weight: None or already broadcast to input's shape."""
def bce_with_logits_backward(grad_output: F32, input: F32, target: F32, weight: Optional[F32] = None,
                             pos_weight: Optional[F32] = None, reduction: str = "mean", input_grad: bool = True,
                             target_grad: bool = False) -> Tuple[Optional[F32], Optional[F32]]: ...
