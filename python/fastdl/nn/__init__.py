"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from .module import Module, Parameter  # noqa: F401
from .activation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
