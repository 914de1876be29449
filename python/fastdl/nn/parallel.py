"""DistributedDataParallel: data-parallel training over the ranks of ``fastdl.distributed``.

Every rank holds a full replica of the model and runs it on its own part of each global
batch; gradients are averaged across ranks during backward, so after ``optimizer.step()``
the replicas stay identical, and (with equal local batches and a loss that is a mean over
the batch) the update equals one process's update on the global batch.

How gradients are averaged (as PyTorch's reducer does): the parameters are grouped, in
reverse registration order (roughly the order backward produces their gradients), into
buckets of at most ``bucket_cap_mb`` megabytes. A post-accumulate-grad hook on each
parameter copies its gradient, already divided by the world size, into its bucket; when a
bucket is full its non-blocking MPI allreduce (``Iallreduce``) starts while backward goes on
computing earlier layers' gradients. Buckets start in index order on every rank, so all
ranks post the same collectives in the same order. A callback at the end of backward starts
any bucket still waiting (a parameter that got no gradient on this rank contributes zeros),
starts the broadcast of rank 0's buffers (one packed message), waits for all of them
(polling with short sleeps, see ``fastdl.distributed.wait_all``) and writes the averaged
gradients back into ``.grad``.

Buffers (BatchNorm running statistics) are synchronised at the end of each synchronised
backward, where their broadcast rides along with the gradients' allreduce, rather than
before each forward as in PyTorch: measured on a shared 2-core machine, every extra
synchronisation point in a step costs a scheduler time slice whenever a rank is
descheduled (the per-forward broadcast made a LeNet-BN step 2-3x slower). Every forward
still starts from rank 0's buffers, and after training all ranks hold the same ones.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("buffer", "slots", "ready", "work")

    def __init__(self, params):
        self.slots = []  # (param, offset, numel)
        offset = 0
        for p in params:
            self.slots.append((p, offset, p.data.size))
            offset += p.data.size
        self.buffer = np.zeros(offset, dtype=np.float32)
        self.ready = 0
        self.work = None


class _Packed:
    """The bytes of several tensors in one buffer, to move them with one collective.
    ``tensors()`` is asked again at each ``pack`` (a module's buffer may be reassigned)."""

    def __init__(self, tensors):
        self.tensors = tensors
        self.views = []
        self.buffer = np.empty(0, dtype=np.uint8)

    def pack(self):
        self.views = [t.data.reshape(-1).view(np.uint8) for t in self.tensors()]  # write through
        size = sum(v.size for v in self.views)
        if self.buffer.size != size:
            self.buffer = np.empty(size, dtype=np.uint8)
        off = 0
        for v in self.views:
            self.buffer[off:off + v.size] = v
            off += v.size
        return self.buffer

    def unpack(self):
        off = 0
        for v in self.views:
            v[...] = self.buffer[off:off + v.size]
            off += v.size


def _describe(module):
    """One line per parameter and buffer: name, kind, dtype, shape (compared across ranks)."""
    lines = [f"param {n} {p.data.dtype} {tuple(p.data.shape)}" for n, p in module.named_parameters()]
    lines += [f"buffer {n} {b.data.dtype} {tuple(b.data.shape)}" for n, b in module.named_buffers()]
    return lines


def _check_same_model(module):
    from ..distributed.collectives import _all_gather_bytes

    mine = "\n".join(_describe(module)).encode()
    models = _all_gather_bytes(mine)
    ref = models[0].decode().split("\n")
    for rank, blob in enumerate(models):
        if blob == models[0]:
            continue
        other = blob.decode().split("\n")
        diff = next((i for i, (a, b) in enumerate(zip(ref, other)) if a != b), min(len(ref), len(other)))
        seen_0 = ref[diff] if diff < len(ref) else "nothing (rank 0 has fewer entries)"
        seen_r = other[diff] if diff < len(other) else f"nothing (rank {rank} has fewer entries)"
        raise ValueError(f"DistributedDataParallel: the model differs between ranks: entry {diff} is "
                         f"'{seen_0}' on rank 0 but '{seen_r}' on rank {rank} "
                         f"({len(ref)} vs {len(other)} parameters and buffers); every rank must build "
                         "the same model")


def _remove_hooks(handles):
    for h in handles:
        h.remove()


class _Reducer:
    """The gradient averaging of one DistributedDataParallel (a plain object: its state
    changes several times per backward)."""

    def __init__(self, module, params, dist, bucket_cap_mb, broadcast_buffers):
        self.module = module
        self.dist = dist
        self.world = dist.get_world_size()
        self.scale = np.float32(1.0 / self.world)
        self.rank = dist.get_rank()
        self.buffers = _Packed(lambda: list(module.buffers())) if broadcast_buffers else None
        self.buckets = _make_buckets(params, bucket_cap_mb)
        self.where = {id(p): (b, off, n) for b in self.buckets for p, off, n in b.slots}
        self.sync = True
        self.in_backward = False
        self.next_bucket = 0

    def grad_ready(self, p):
        if not self.sync:
            return
        if not self.in_backward:
            self.in_backward = True
            autograd.queue_callback(self.finish_backward)
        bucket, off, n = self.where[id(p)]
        np.multiply(p.grad.data.reshape(-1), self.scale, out=bucket.buffer[off:off + n])
        bucket.ready += 1
        if bucket.ready == len(bucket.slots):
            self.launch_ready()

    def launch_ready(self, force=False):
        """Start the allreduce of every bucket, in index order, whose gradients are all in
        (all remaining buckets with ``force``)."""
        i = self.next_bucket
        while i < len(self.buckets):
            b = self.buckets[i]
            if not force and b.ready < len(b.slots):
                break
            b.work = self.dist.all_reduce(b.buffer, async_op=True)
            i += 1
        self.next_bucket = i
        for b in self.buckets[:i]:  # MPI progresses non-blocking collectives inside MPI calls
            b.work.is_completed()

    def finish_backward(self):
        try:
            for b in self.buckets[self.next_bucket:]:
                for p, off, n in b.slots:  # no gradient on this rank in this pass: contribute zeros
                    if p.grad is None:
                        b.buffer[off:off + n] = 0.0
            self.launch_ready(force=True)
            works = [b.work for b in self.buckets]
            # rank 0's buffers (BatchNorm statistics), overlapped with the gradients
            sync_buffers = self.buffers is not None and self.module.training and self.buffers.pack().size > 0
            if sync_buffers:
                works.append(self.dist.broadcast(self.buffers.buffer, 0, async_op=True))
            self.dist.wait_all(works)
            for b in self.buckets:
                for p, off, n in b.slots:
                    avg = b.buffer[off:off + n].reshape(p.data.shape)
                    if p.grad is None or not p.grad.data.flags.writeable:
                        p.grad = Tensor._wrap(avg.copy())
                    else:
                        np.copyto(p.grad.data, avg)
            if sync_buffers and self.rank != 0:
                self.buffers.unpack()
        finally:
            for b in self.buckets:
                b.ready = 0
                b.work = None
            self.next_bucket = 0
            self.in_backward = False


def _make_buckets(params, bucket_cap_mb):
    """Parameters in reverse order, cut into buckets of at most ``bucket_cap_mb`` MB."""
    cap = max(1, int(bucket_cap_mb * 1024 * 1024))
    buckets, current, size = [], [], 0
    for p in reversed(params):
        nbytes = p.data.nbytes
        if current and size + nbytes > cap:
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training (PyTorch's ``DistributedDataParallel``).

    At construction: checks that every rank has the same parameter and buffer names, dtypes
    and shapes (ValueError naming the first difference otherwise, raised on every rank), then
    copies rank 0's parameters and buffers to all ranks. During backward: averages gradients
    across ranks in buckets of ``bucket_cap_mb`` MB with non-blocking allreduce (module
    docstring). In training mode, ``broadcast_buffers=True`` (the default) copies rank 0's
    buffers (BatchNorm running statistics) to every rank at the end of each backward.

    Otherwise it behaves like the wrapped module: ``forward`` passes through, ``.module`` is
    the model, ``train()``/``eval()`` reach it. ``state_dict()`` is the wrapped module's,
    **without** a ``module.`` prefix, so a checkpoint written under DDP loads into the plain
    model (and vice versa); ``load_state_dict`` also accepts keys that all carry the prefix
    (checkpoints of PyTorch's DDP). ``no_sync()`` skips the averaging (gradient accumulation).
    BatchNorm normalises with each rank's local batch statistics (no SyncBatchNorm).
    """

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25.0):
        super().__init__()
        from .. import distributed as dist

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a fastdl.nn.Module, got {type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call fastdl.distributed.init_process_group('mpi') first")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        _check_same_model(module)
        params = list(module.parameters())
        everything = _Packed(lambda: params + list(module.buffers()))
        dist.broadcast(everything.pack(), 0)
        everything.unpack()
        reducer = _Reducer(module, [p for p in params if p.requires_grad], dist, self.bucket_cap_mb,
                           self.broadcast_buffers)
        self._reducer = reducer
        ref = weakref.ref(reducer)  # the hooks must not keep the reducer alive

        def hook(p):
            r = ref()
            if r is not None:
                r.grad_ready(p)

        handles = [p.register_post_accumulate_grad_hook(hook) for b in reducer.buckets for p, _, _ in b.slots]
        weakref.finalize(self, _remove_hooks, handles)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this context backward leaves each rank's gradients local (accumulate several
        micro-batches, then run one synchronised backward outside it)."""
        prev = self._reducer.sync
        self._reducer.sync = False
        try:
            yield
        finally:
            self._reducer.sync = prev

    # ---- the wrapped module's behaviour ------------------------------------------------------
    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def state_dict(self, prefix=""):
        return self.module.state_dict(prefix)

    def load_state_dict(self, state_dict, strict=True):
        keys = list(state_dict)
        if keys and all(k.startswith("module.") for k in keys):
            state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        return self.module.load_state_dict(state_dict, strict)

    def extra_repr(self):
        return (f"world_size={self._reducer.world}, buckets={len(self._reducer.buckets)}, "
                f"broadcast_buffers={self.broadcast_buffers}")
