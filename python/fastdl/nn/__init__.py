"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from .module import Module, Parameter  # noqa: F401
