# Type stubs of fastdl._C (the C++ kernels). One section per kernel family.
from typing import Optional

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

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
