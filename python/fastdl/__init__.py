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
from .tensor import float32, float64, int64, long, bool, get_default_dtype, set_default_dtype  # noqa: E402,F401,A004
from ._ops_arith import matmul  # noqa: E402,F401
from ._ops_shape import cat, concat, concatenate, stack  # noqa: E402,F401
from .creation import (arange, empty, eye, from_numpy, full, full_like, ones, ones_like, rand,  # noqa: E402,F401
                       rand_like, randint, randn, randn_like, zeros, zeros_like)
from ._gradcheck import GradcheckError, gradcheck  # noqa: E402,F401
from ._summary import summary  # noqa: E402,F401

# fastdl.gradcheck and fastdl.summary are the functions; their modules are _gradcheck and
# _summary. The old import paths (`from fastdl.gradcheck import gradcheck`) keep working through
# these aliases, and `import fastdl.gradcheck` finds the alias and leaves the function in place.
import sys as _sys  # noqa: E402

_sys.modules.setdefault(__name__ + ".gradcheck", _gradcheck)  # noqa: F821 - bound by the import above
_sys.modules.setdefault(__name__ + ".summary", _summary)  # noqa: F821
del _sys

# Loaded on first use (PEP 562), to keep `import fastdl` fast: name -> (module, attribute).
_LAZY = {
    "data": ("data", None), "optim": ("optim", None), "train": ("train", None),
    "io": ("io", None), "models": ("models", None), "onnx": ("onnx", None),
    "experiments": ("experiments", None), "distributed": ("distributed", None),
    "save": ("io", "save"), "load": ("io", "load"),
    "fit": ("train", "fit"), "evaluate": ("train", "evaluate"), "predict": ("train", "predict"),
    "compiler": ("compiler", None), "compile_step": ("compiler", "compile_step"), "compile": ("compiler", "compile"),
}


def __getattr__(name):
    entry = _LAZY.get(name)
    if entry is None:
        raise AttributeError(f"module 'fastdl' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f".{entry[0]}", __name__)
    value = module if entry[1] is None else getattr(module, entry[1])
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
