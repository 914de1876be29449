"""The optimizer update of a compiled step: one op per parameter group over all its
parameters (SGD, Adam, AdamW), on the optimizer's own state arrays.

Hyper-parameters are per-call scalars read from ``param_groups`` before every run, so a changed
learning rate (by hand or by any lr_scheduler), betas, weight decay ... apply to the next step;
Adam's ``state[p]['step']`` is advanced here exactly as ``Adam.step`` does. The state arrays
(momentum_buffer, exp_avg, ...) stay the optimizer's: the plan writes into them in place, so
``optimizer.state_dict()`` and a later eager step see the compiled steps' state.
"""
from __future__ import annotations

import numpy as np

from .. import _inplace
from ..optim.adam import Adam, AdamW
from ..optim.sgd import SGD
from .program import Unsupported

__all__ = ["OptimizerPlan", "Retrace"]

_SGD_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
_ADAM_KEYS = ("lr", "beta1", "beta2", "eps", "weight_decay", "decoupled_weight_decay", "maximize")


class Retrace(Exception):
    """The optimizer's structure changed (state arrays appeared or vanished): trace again."""


class OptimizerPlan:
    """Emits the update ops into a Program and, on each call, fills the scalar table."""

    def __init__(self, opt, prog):
        if type(opt) is SGD:
            self.kind = "sgd"
        elif type(opt) in (Adam, AdamW):
            self.kind = "adam"
        else:
            raise Unsupported(f"optimizer {type(opt).__name__} (compiled: SGD, Adam, AdamW)")
        self.opt = opt
        self.groups = []  # (group index, [params updated])
        self.slots = []   # the scalar-table indices fill() writes, in order
        self._group_slots = []  # the slots of each group in self.groups
        for gi, group in enumerate(opt.param_groups):
            params = [p for p in group["params"] if id(p) in prog.grads and any(p is t for t, _ in prog.leaves)]
            if not params:
                continue
            bufs, sizes = [], []
            for p in params:
                st = opt.state[p]
                data, grad = prog.values[id(p)], prog.grads[id(p)]
                if self.kind == "sgd":
                    mom = self._state_buf(prog, st, "momentum_buffer", p) if group["momentum"] != 0 else None
                    bufs += [data, mom, grad]
                else:
                    if "step" not in st:
                        raise Retrace()
                    vmax = self._state_buf(prog, st, "max_exp_avg_sq", p) if group["amsgrad"] else None
                    bufs += [data, self._state_buf(prog, st, "exp_avg", p), self._state_buf(prog, st, "exp_avg_sq", p),
                             vmax, grad]
                sizes.append(p.data.size)
            scalars = prog.scalars(6 if self.kind == "sgd" else 7 + len(params))
            self.slots += scalars
            self._group_slots.append(scalars)
            prog.emit(self.kind, bufs, sizes, (), scalars)
            self.groups.append((gi, params))
        # the version counters of the updated parameters (a leaf's counter, once made, stays its
        # own): each call counts one in-place write to each, as an eager step (_inplace.bump)
        self.versions = [_inplace.cell(p) for _, params in self.groups for p in params]
        self._shape = self._structure()
        first = self.slots[0] if self.slots else 0
        assert self.slots == list(range(first, first + len(self.slots)))  # one run of the table
        self._where = slice(first, first + len(self.slots))
        self._step_slots = [] if self.kind == "sgd" else \
            [i for gs in self._group_slots for i in gs[7:]]  # Adam's state[p]['step'] per parameter
        self._last, self._last_table, self._mv = None, None, None
        prog.fillers.append(self.fill)
        self._cache()

    def _cache(self):
        """Remember the objects the per-call checks compare by identity."""
        opt = self.opt
        self._state_obj, self._groups_obj = opt.state, opt.param_groups
        self._n_groups = len(opt.param_groups)
        self._gdicts = [opt.param_groups[gi] for gi, _ in self.groups]
        self._states = [[opt.state[p] for p in params] for _, params in self.groups]
        self._flags = [self._flag(g) for g in self._gdicts]

    def _flag(self, g):
        return g["momentum"] != 0 if self.kind == "sgd" else bool(g["amsgrad"])

    def _state_buf(self, prog, st, slot, p):
        a = st.get(slot)
        if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != p.data.shape:
            raise Retrace()
        opt = self.opt
        b = prog.external(a.nbytes, lambda p=p, slot=slot: opt.state[p][slot])
        b.watch = ("state", p, slot)
        return b

    def _structure(self):
        """What the ops depend on besides values: momentum on/off, amsgrad, the state slots."""
        opt = self.opt
        out = []
        for gi, params in self.groups:
            g = opt.param_groups[gi]
            out.append(g["momentum"] != 0 if self.kind == "sgd" else bool(g["amsgrad"]))
            for p in params:
                out.append(frozenset(opt.state[p]))
        return out

    def check(self):
        """Raise Retrace when the structure changed since the plan was built (cheap unless
        the optimizer's state or groups were replaced, e.g. by load_state_dict). Returns True
        when they were replaced (the caller then re-resolves every bound array)."""
        opt = self.opt
        if len(opt.param_groups) != self._n_groups:
            raise Retrace()  # add_param_group: new parameters to update
        if opt.state is not self._state_obj or opt.param_groups is not self._groups_obj:
            if len(opt.param_groups) <= max((gi for gi, _ in self.groups), default=-1) or \
                    self._structure() != self._shape:
                raise Retrace()
            self._cache()
            return True
        flags = self._flags
        for k, g in enumerate(self._gdicts):
            if self._flag(g) != flags[k]:
                raise Retrace()
        return False

    def fill(self, table):
        """Write this call's hyper-parameters (and Adam's advanced steps) into the table. The
        hyper-parameters are written only when they changed since the last call (a numpy write
        costs more than the whole update of a tiny model); Adam's steps change every call."""
        hyper, steps = [], []
        sgd = self.kind == "sgd"
        for g, states in zip(self._gdicts, self._states):
            if sgd:
                hyper += [g["lr"], g["momentum"], g["dampening"], g["weight_decay"], g["nesterov"], g["maximize"]]
            else:
                b1, b2 = g["betas"]
                hyper += [g["lr"], b1, b2, g["eps"], g["weight_decay"], g["decoupled_weight_decay"], g["maximize"]]
                for st in states:
                    s = st["step"] = int(st["step"]) + 1
                    steps.append(s)
        if hyper != self._last or table is not self._last_table:
            vals = hyper
            if not sgd:  # the table's order: per group, its 7 hyper-parameters then its steps
                vals, h, k = [], 0, 0
                for states in self._states:
                    vals += hyper[h:h + 7] + steps[k:k + len(states)]
                    h, k = h + 7, k + len(states)
            table[self._where] = vals
            self._last, self._last_table = hyper, table
        elif steps:
            mv = self._mv
            if mv is None or mv.obj is not table:
                mv = self._mv = memoryview(table)
            for slot, s in zip(self._step_slots, steps):
                mv[slot] = s
