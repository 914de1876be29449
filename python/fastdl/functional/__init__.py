"""fastdl.functional (imported as F): one differentiable function per C++ kernel pair,
with PyTorch's names and arguments. Each accepts Tensors or numpy arrays, returns a Tensor."""
from .linear import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
