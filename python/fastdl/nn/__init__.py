"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from . import init, parallel, utils  # noqa: F401
from .container import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .module import Module, Parameter  # noqa: F401
from .activation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .recursive import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
