"""fastdl.distributed: data-parallel training over MPI (mpi4py + Open MPI), with PyTorch's names.

    # mpiexec -n 2 python train.py
    import fastdl.distributed as dist
    dist.init_process_group("mpi")
    model = fastdl.nn.parallel.DistributedDataParallel(model)

Install with ``pip install 'fastdl[distributed]'``; mpi4py is imported (and MPI initialised)
only by ``init_process_group``.
"""
from .collectives import ReduceOp, Work, all_reduce, barrier, broadcast, wait_all  # noqa: F401
from .process_group import (destroy_process_group, get_backend, get_rank, get_world_size,  # noqa: F401
                            init_process_group, is_available, is_initialized)

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available", "get_rank",
           "get_world_size", "get_backend", "all_reduce", "broadcast", "barrier", "wait_all", "ReduceOp", "Work"]
