"""Collectives over the default process group, in place on a Tensor's (or ndarray's) buffer,
with PyTorch's names: ``all_reduce``, ``broadcast``, ``barrier``. ``async_op=True`` starts a
non-blocking MPI collective and returns a :class:`Work` to ``wait()`` on."""
from __future__ import annotations

import time

import numpy as np

from ..tensor import Tensor
from .process_group import _mpi, _require

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "barrier", "wait_all"]

_DTYPES = (np.float32, np.float64, np.int32, np.int64, np.uint8)


class ReduceOp:
    """Reduction operations for ``all_reduce`` (plain strings work too: ``op="sum"``)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


def _mpi_op(fn, op):
    MPI = _mpi()
    table = {"sum": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX, "avg": MPI.SUM}
    key = op.lower() if isinstance(op, str) else op
    if key not in table:
        raise ValueError(f"{fn}: op must be one of {', '.join(repr(k) for k in table)}, got {op!r}")
    return table[key], key == "avg"


def _buffer(fn, tensor):
    """The writable, C-contiguous numpy array under ``tensor`` that MPI reads and writes."""
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{fn}: tensor must be a fastdl Tensor or a numpy array, got {type(tensor).__name__}")
    if arr.dtype not in _DTYPES:
        raise TypeError(f"{fn}: tensor dtype must be float32, float64, int32, int64 or uint8, got {arr.dtype}")
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise ValueError(f"{fn}: the tensor's buffer of shape {arr.shape} must be C-contiguous and writable "
                         "(the collective works in place)")
    return arr


class Work:
    """A started non-blocking collective. ``wait()`` blocks until it is done (and, for
    ``ReduceOp.AVG``, divides by the world size); ``is_completed()`` polls."""

    __slots__ = ("_request", "_arr", "_scale", "_done")

    def __init__(self, request, arr=None, scale=None):
        self._request = request
        self._arr = arr
        self._scale = scale
        self._done = False

    def _finish(self):
        if not self._done:
            self._done = True
            if self._scale is not None:
                self._arr *= self._scale

    def wait(self):
        """Block until the collective has finished (its result is then in the tensor); returns True."""
        self._request.Wait()
        self._finish()
        return True

    def is_completed(self):
        """True when the collective has finished (tests without blocking; finishes it if so)."""
        if self._done:
            return True
        if self._request.Test():
            self._finish()
            return True
        return False


def wait_all(works, spin=200e-6, poll=(50e-6, 1e-3)):
    """Wait for several :class:`Work`: test them in a busy loop for ``spin`` seconds (MPI
    progresses a collective only inside MPI calls; when both ranks run, an allreduce of a few
    hundred KB on shared memory ends well within that), then sleep between tests, from
    ``poll[0]`` seconds doubling up to ``poll[1]``. Spinning without end, as MPI_Wait does,
    takes the CPU from a descheduled peer when the machine has more runnable processes than
    cores (bench/ddp.py; bench/RESULTS.md)."""
    pending = [w for w in works if not w.is_completed()]
    deadline = time.perf_counter() + spin
    while pending and time.perf_counter() < deadline:
        pending = [w for w in pending if not w.is_completed()]
    pause = poll[0]
    while pending:
        time.sleep(pause)
        pause = min(2 * pause, poll[1])
        pending = [w for w in pending if not w.is_completed()]


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Reduce ``tensor`` over all ranks, in place: every rank ends with the result (MPI
    Allreduce, or Iallreduce with ``async_op=True``, which returns a :class:`Work`)."""
    group = _require("all_reduce")
    arr = _buffer("all_reduce", tensor)
    mop, avg = _mpi_op("all_reduce", op)
    if avg and arr.dtype.kind != "f":
        raise TypeError(f"all_reduce: op='avg' needs a floating tensor, got {arr.dtype}")
    scale = arr.dtype.type(1.0 / group.size) if avg else None
    MPI = _mpi()
    if async_op:
        return Work(group.comm.Iallreduce(MPI.IN_PLACE, arr, op=mop), arr, scale)
    group.comm.Allreduce(MPI.IN_PLACE, arr, op=mop)
    if scale is not None:
        arr *= scale
    return None


def _check_src(fn, src, size):
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < size:
        raise ValueError(f"{fn}: src must be a rank in [0, {size - 1}], got {src!r}")
    return int(src)


def broadcast(tensor, src, async_op=False):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank, in place (MPI Bcast)."""
    group = _require("broadcast")
    arr = _buffer("broadcast", tensor)
    root = _check_src("broadcast", src, group.size)
    if async_op:
        return Work(group.comm.Ibcast(arr, root=root))
    group.comm.Bcast(arr, root=root)
    return None


def barrier(async_op=False):
    """Block until every rank has reached the barrier."""
    group = _require("barrier")
    if async_op:
        return Work(group.comm.Ibarrier())
    group.comm.Barrier()
    return None


def _all_gather_bytes(data: bytes):
    """Every rank's ``data`` (a list indexed by rank): the lengths, then the bytes (no pickle)."""
    group = _require("all_gather")
    lengths = np.zeros(group.size, dtype=np.int64)
    group.comm.Allgather(np.array([len(data)], dtype=np.int64), lengths)
    out = np.empty(int(lengths.sum()), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    MPI = _mpi()
    group.comm.Allgatherv(np.frombuffer(data, dtype=np.uint8),
                          [out, lengths.tolist(), offsets.tolist(), MPI.BYTE])
    return [out[o:o + n].tobytes() for o, n in zip(offsets.tolist(), lengths.tolist())]
