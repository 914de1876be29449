"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from .module import Module, Parameter  # noqa: F401
from .conv import *  # noqa: E402,F401,F403
from .pooling import *  # noqa: E402,F401,F403
