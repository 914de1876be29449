"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from .module import Module, Parameter  # noqa: F401
from .normalization import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
