# Type stubs of fastdl._C (the C++ kernels). One section per kernel family.
from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# ---- core (ISA dispatch and threads; see cpp/include/fastdl/cpu.h, parallel.h)
def get_isa() -> str:
    """The kernel path in use: 'generic', 'avx2' or 'avx512'."""
def set_isa(name: str) -> None:
    """Select a kernel path; ValueError when unknown or unsupported by this CPU/build."""
def cpu_supports(name: str) -> bool: ...
def get_num_threads() -> int: ...
def _scratch_bytes() -> int: ...
def set_num_threads(n: int) -> None:
    """n in [1, 4096], else ValueError."""
def fma_peak(isa: str, seconds: float = 0.5) -> float:
    """Measured float32 FMA peak (GFLOP/s) of `isa` on the current thread count."""
def has_openmp() -> bool: ...

# ---- gemm (row-major float32 SGEMM; see cpp/include/fastdl/gemm.h)
def gemm(a: npt.ArrayLike, b: npt.ArrayLike, trans_a: bool = False, trans_b: bool = False,
         alpha: float = 1.0, beta: float = 0.0, out: Optional[F32] = None) -> F32:
    """alpha * op(a) @ op(b) + beta * out. a: (M, K) or (K, M) when trans_a; b: (K, N) or (N, K)
    when trans_b (converted to float32 C-contiguous). out: None (new array, beta ignored) or a
    writeable float32 C-contiguous (M, N) array not overlapping a/b, written in place and
    returned; read only when beta != 0. TypeError: non-array/non-numeric; ValueError: ndim,
    inner dims, bad out; OverflowError: M*N*K overflows int64 (checked before allocating)."""
class PackedB:
    shape: tuple[int, int]
    isa: str
    kc: int
    nr: int
def pack_b(b: npt.ArrayLike, trans_b: bool, isa: str) -> PackedB: ...
def gemm_packed(a: npt.ArrayLike, b: PackedB, trans_a: bool, alpha: float, beta: float,
                out: npt.NDArray[np.float32] | None) -> npt.NDArray[np.float32]: ...
def _gemm_config() -> dict: ...
def _gemm_default_config() -> dict: ...
def _set_gemm_config(mc: int, kc: int, nc: int, path: int, thread_flops: int) -> None:
    """Tuning/tests only: mc multiple of 6, nc multiple of 16, kc >= 1, path 0 auto / 1 direct /
    2 packed / 3 dot (few-column kernel where op(a) is unit-stride in k), thread_flops = minimum 2*M*N*K for sgemm to use several threads."""

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

# ---- conv (NCHW float32; stride / padding / dilation are (h, w) pairs)
def conv2d_output_shape(input_shape: Tuple[int, int, int, int], weight_shape: Tuple[int, int, int, int],
                        stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int], groups: int) -> Tuple[int, int, int, int]:
    """(N, K, P, Q); raises ValueError / OverflowError as conv2d_forward would, allocating nothing."""
def conv2d_forward(input: F32, weight: F32, bias: Optional[F32], stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                   groups: int, relu: bool = False) -> F32:
    """input (N, C, H, W), weight (K, C/groups, R, S), bias (K,) -> (N, K, P, Q); relu: max(., 0) fused."""
def conv2d_backward(grad_output: F32, input: F32, weight: F32, stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                    groups: int, need_input: bool = True, need_weight: bool = True,
                    need_bias: bool = True, relu_output: Optional[F32] = None) -> Tuple[Optional[F32], Optional[F32], Optional[F32]]:
    """grad_output (N, K, P, Q) -> (grad_input (N, C, H, W), grad_weight (K, C/groups, R, S), grad_bias (K,)).
    relu_output (N, K, P, Q): the forward's output with relu=True (gradients of the fused layer)."""
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

# ---- linear (x (M, K), weight (N, K), bias (N,); float32)
def linear_forward(x: F32, weight: F32, bias: Optional[F32] = None) -> F32: ...
def linear_backward(dy: F32, x: F32, weight: F32, need_x: bool = True, need_weight: bool = True,
                    need_bias: bool = True) -> Tuple[Optional[F32], Optional[F32], Optional[F32]]: ...
def sum_rows(x: F32) -> F32: ...

# ---- rnn (mode: RNN_TANH, RNN_RELU, LSTM or GRU; one layer and direction per call)
RNN_TANH: int
RNN_RELU: int
LSTM: int
GRU: int
def rnn_forward(mode: int, input: npt.ArrayLike, h0: Optional[npt.ArrayLike], c0: Optional[npt.ArrayLike],
                weight_ih: npt.ArrayLike, weight_hh: npt.ArrayLike, bias_ih: Optional[npt.ArrayLike],
                bias_hh: Optional[npt.ArrayLike], reverse: bool = False
                ) -> tuple[F32, F32, Optional[F32], Optional[F32], Optional[F32]]:
    """input (T, N, I) -> (output (T, N, H), h_n (N, H), c_n (LSTM), gates, states) (last two saved for
    rnn_backward)."""
def rnn_backward(mode: int, gates: Optional[npt.ArrayLike], states: Optional[npt.ArrayLike], output: npt.ArrayLike,
                 input: npt.ArrayLike, h0: Optional[npt.ArrayLike], c0: Optional[npt.ArrayLike],
                 weight_ih: npt.ArrayLike, weight_hh: npt.ArrayLike, has_bias: bool, grad_output: npt.ArrayLike,
                 grad_h_n: Optional[npt.ArrayLike], grad_c_n: Optional[npt.ArrayLike], reverse: bool = False,
                 need_input_grad: bool = True
                 ) -> tuple[Optional[F32], F32, Optional[F32], F32, F32, Optional[F32], Optional[F32]]:
    """-> (grad_input, grad_h0, grad_c0, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh)."""
def embedding_forward(weight: npt.ArrayLike, indices: npt.ArrayLike) -> F32:
    """weight (V, D)[indices] -> indices.shape + (D,); ValueError for an index outside [0, V)."""
def embedding_backward(grad_output: npt.ArrayLike, indices: npt.ArrayLike, num_embeddings: int,
                       padding_idx: int = -1) -> F32:
    """Scatter-add into (num_embeddings, D); duplicates summed; row padding_idx (< 0: none) gets zero."""
# ---- batchnorm
def batch_norm_forward(input: F32, weight: Optional[F32], bias: Optional[F32], running_mean: Optional[F32],
                       running_var: Optional[F32], training: bool, momentum: float, eps: float,
                       relu: bool = False) -> tuple[F32, F32, F32]:
    """BatchNorm forward over dimension 1, optionally followed by ReLU (fused).

    input: (N, C, *) float32; weight, bias: (C,) or None (affine=False). running_mean /
    running_var: (C,) float32 C-contiguous (not converted) updated in place when training
    (momentum = the averaging factor; unbiased variance), read when not training; or None.
    Returns (output (N, C, *), save_mean (C,), save_rstd (C,)): the batch statistics when
    training, the running ones otherwise. ValueError for one value per channel when training.
    """

def batch_norm_backward(grad_output: F32, input: F32, weight: Optional[F32], bias: Optional[F32],
                        save_mean: F32, save_rstd: F32, training: bool,
                        relu: bool = False) -> tuple[F32, Optional[F32], Optional[F32]]:
    """Backward of batch_norm_forward with the same training/relu flags: (grad_input (N, C, *),
    grad_weight (C,) or None when weight is None, grad_bias (C,) or None when bias is None)."""
def batch_norm_add_relu_forward(input: F32, residual: F32, weight: Optional[F32], bias: Optional[F32],
                                running_mean: Optional[F32], running_var: Optional[F32], training: bool,
                                momentum: float, eps: float) -> tuple[F32, F32, F32, np.ndarray]:
    """relu(batch_norm(input) + residual) in one pass (ResNet's join); residual: the input's
    shape. Returns (output, save_mean (C,), save_rstd (C,), mask): mask is the ReLU's bitmask
    (uint8, one bit per element) for batch_norm_add_relu_backward."""
def batch_norm_add_relu_backward(grad_output: F32, mask: np.ndarray, input: F32, weight: Optional[F32],
                                 bias: Optional[F32], save_mean: F32, save_rstd: F32,
                                 training: bool) -> tuple[F32, Optional[F32], Optional[F32], F32]:
    """Backward of batch_norm_add_relu_forward: (grad_input, grad_weight or None, grad_bias or
    None, grad_residual (N, C, *))."""
def batch_norm_sigmoid_forward(input: F32, weight: Optional[F32], bias: Optional[F32],
                               running_mean: Optional[F32], running_var: Optional[F32], training: bool,
                               momentum: float, eps: float) -> tuple[F32, F32, F32]:
    """sigmoid(batch_norm(input)) in one pass: the arguments and returns of batch_norm_forward."""
def batch_norm_sigmoid_backward(grad_output: F32, output: F32, input: F32, weight: Optional[F32],
                                bias: Optional[F32], save_mean: F32, save_rstd: F32,
                                training: bool) -> tuple[F32, Optional[F32], Optional[F32]]:
    """Backward of batch_norm_sigmoid_forward from its output (N, C, *): the returns of
    batch_norm_backward."""

# ---- plan (the replay engine of fastdl.compile_step / fastdl.compile; docs/compile.md)
class Plan:
    """A static list of kernel calls on buffers: arena buffers (one 64-byte aligned allocation,
    offsets from the liveness planner) and external buffers bound by pointer."""
    def __init__(self, n_buffers: int) -> None: ...
    def allocate_arena(self, bytes: int) -> None: ...
    def release_arena(self) -> None: ...
    def share_arena(self, other: Plan) -> None:
        """Use ``other``'s arena (plans that never run together share it); place every buffer again."""
    def place(self, buf: int, offset: int, bytes: int) -> None:
        """Buffer ``buf`` is ``bytes`` bytes at byte ``offset`` (a multiple of 64) of the arena."""
    def bind(self, buf: int, array: np.ndarray, nbytes: int) -> None:
        """Buffer ``buf`` is the memory of ``array`` (C-contiguous, aligned, writeable, exactly nbytes)."""
    def add_step(self, op: str, buf: list[int], ints: list[int], floats: list[float], scalars: list[int]) -> None:
        """Append a call of ``op`` (Plan.op_names()) on buffer ids (-1 = none), integer arguments,
        constant floats and indices into the per-call scalar table; counts are checked."""
    def set_scalars(self, scalars: npt.NDArray[np.float64]) -> None:
        """The 1-D float64 table per-call scalars are read from at each run (kept alive)."""
    def set_inputs(self, bufs: list[int], nbytes: list[int], kinds: str) -> None:
        """The buffers run(*arrays) binds; kinds: one 'f' (float32) or 'i' (int64) per input."""
    def run(self, *inputs: np.ndarray) -> None:
        """Bind the inputs (dtype and byte size checked) and run every step with the GIL released."""
    def run_timed(self, *inputs: np.ndarray) -> list[float]:
        """run(*inputs) timing each step: the seconds of step k (a profiler)."""
    def steps(self) -> list[tuple[str, list[int], list[int]]]: ...
    @property
    def arena_bytes(self) -> int: ...
    @staticmethod
    def op_names() -> list[str]: ...
    @staticmethod
    def batch_norm_mask_bytes(N: int, C: int, S: int) -> int:
        """Bytes of the ReLU mask of batch_norm_add_relu_forward on (N, C, S)."""
