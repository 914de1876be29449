"""fastdl: a fast CPU deep-learning library with a PyTorch-shaped API."""
__version__ = "0.1.0"

from . import _C  # noqa: E402
from ._runtime import _apply_environment, get_isa, get_num_threads, set_isa, set_num_threads  # noqa: E402

_apply_environment()

from . import ops, random  # noqa: E402,F401
from .random import manual_seed  # noqa: E402,F401
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from .tensor import Tensor, tensor  # noqa: E402,F401
from . import functional, nn  # noqa: E402,F401
from .summary import summary  # noqa: E402,F401
