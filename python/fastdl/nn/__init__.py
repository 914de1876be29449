"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from .module import Module, Parameter  # noqa: F401
from .recurrent import *  # noqa: E402,F401,F403
from .embedding import *  # noqa: E402,F401,F403
