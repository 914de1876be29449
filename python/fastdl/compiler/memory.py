"""From a Program to a _C.Plan: dead-op elimination, liveness and the arena layout.

Every arena buffer lives from the first op that touches it to the last. Buffers are placed
greedily, largest first, each at the lowest 64-byte aligned offset that does not overlap a
buffer already placed whose lifetime overlaps its own (the greedy-by-size planner of TFLite /
tinygrad's memory planner, written for this IR). The whole step then needs one allocation.
"""
from __future__ import annotations

from .. import _C

__all__ = ["eliminate_dead_ops", "arena_layout", "to_plan"]

_ALIGN = 64


def eliminate_dead_ops(prog):
    """Drop ops whose every output is an arena buffer no later op reads (e.g. a forward
    value that neither the loss nor a backward op needs)."""
    live = set()
    kept = []
    for op in reversed(prog.ops):
        writes = op.writes()
        if writes and all(b.kind == "arena" and b.id not in live for b in writes):
            continue
        kept.append(op)
        live.update(b.id for b in op.reads())
    prog.ops = kept[::-1]


def arena_layout(prog):
    """{buffer id: byte offset} for the arena buffers the ops use, and the arena's size."""
    first, last, size = {}, {}, {}
    for k, op in enumerate(prog.ops):
        for b in op.bufs:
            if b is not None and b.kind == "arena":
                first.setdefault(b.id, k)
                last[b.id] = k
                size[b.id] = -(-max(b.nbytes, 1) // _ALIGN) * _ALIGN
    placed = []  # (offset, end, first op, last op)
    offsets = {}
    for bid in sorted(size, key=lambda i: (-size[i], first[i])):
        f, l, n = first[bid], last[bid], size[bid]
        busy = sorted((o, e) for o, e, pf, pl in placed if pf <= l and f <= pl)
        off = 0
        for o, e in busy:
            if off + n <= o:
                break
            off = max(off, e)
        placed.append((off, off + n, f, l))
        offsets[bid] = off
    total = max((e for _, e, _, _ in placed), default=0)
    return offsets, total


def to_plan(prog):
    """The _C.Plan of ``prog`` (no arena yet; external buffers unbound), the arena placements
    [(buffer id, offset, bytes)] and the arena size the plan needs."""
    eliminate_dead_ops(prog)
    offsets, total = arena_layout(prog)
    plan = _C.Plan(len(prog.bufs))
    for op in prog.ops:
        plan.add_step(op.name, [-1 if b is None else b.id for b in op.bufs], op.ints, op.floats, op.scalars)
    plan.set_inputs([b.id for b in prog.inputs], [b.nbytes for b in prog.inputs],
                    "".join(b.source for b in prog.inputs))
    return plan, [(bid, off, prog.bufs[bid].nbytes) for bid, off in offsets.items()], total
