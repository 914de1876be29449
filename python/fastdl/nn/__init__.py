"""fastdl.nn: layers, losses and the Module contract (PyTorch's names and arguments)."""
from . import fusion, init, parallel, utils  # noqa: F401
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
from .normalization import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403

# The tree models load on first use (PEP 562): they import fastdl.data (the Tree type), which
# `import fastdl` does not load.
_RECURSIVE = ("Tree", "TreeBatch", "TreeRNN", "BinaryTreeLSTM", "ChildSumTreeLSTM", "TreeClassifier")


def __getattr__(name):
    if name in _RECURSIVE:
        from . import recursive

        value = getattr(recursive, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastdl.nn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_RECURSIVE))
