"""fastdl.functional (imported as F): one differentiable function per C++ kernel pair,
with PyTorch's names and arguments. Each accepts Tensors or numpy arrays, returns a Tensor."""
from .conv import *  # noqa: E402,F401,F403
from .pooling import *  # noqa: E402,F401,F403
