# Type stubs of fastdl._C (the C++ kernels). One section per kernel family.
from typing import Optional

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
