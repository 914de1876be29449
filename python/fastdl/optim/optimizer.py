"""The Optimizer base class (PyTorch's contract): param_groups, lazy per-parameter state,
state_dict / load_state_dict, zero_grad, step(closure)."""
from __future__ import annotations

import copy
import warnings
from collections.abc import MutableMapping

import numpy as np

from .. import _inplace
from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer"]


class _ParamState(MutableMapping):
    """``state[p]``: a dict per parameter, created on first access, keyed by identity.

    Keys are the parameter objects themselves (iteration yields them), compared by ``is``,
    so this works whatever ``Tensor.__eq__``/``__hash__`` do.
    """

    def __init__(self):
        self._d = {}

    def __getitem__(self, p):
        entry = self._d.get(id(p))
        if entry is None:
            entry = self._d[id(p)] = (p, {})
        return entry[1]

    def __setitem__(self, p, value):
        self._d[id(p)] = (p, value)

    def __delitem__(self, p):
        del self._d[id(p)]

    def __contains__(self, p):
        return id(p) in self._d

    def __iter__(self):
        return (p for p, _ in list(self._d.values()))

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return f"{{{', '.join(f'<param {tuple(p.shape)}>: {v!r}' for p, v in self._d.values())}}}"


def _to_numpy(value):
    """A numpy view of an array-like state value (ndarray, fastdl Tensor, torch tensor)."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # e.g. a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _as_state_array(value, param, where):
    """A float32 C-contiguous copy of an array-valued state entry, checked against param."""
    a = np.array(_to_numpy(value), dtype=np.float32, copy=True, order="C")
    if a.shape != param.data.shape:
        raise ValueError(f"load_state_dict: {where} has shape {a.shape}, but the parameter has shape "
                         f"{param.data.shape}")
    return a


def _is_array(value):
    return isinstance(value, (np.ndarray, Tensor)) or (hasattr(value, "detach") and hasattr(value, "numpy"))


class Optimizer:
    """Base class of optimizers.

    ``params`` is an iterable of Parameters (Tensors), or of dicts each holding ``'params'``
    plus per-group options; missing options are filled from ``defaults``. Each group becomes
    a dict in ``param_groups``. ``state[p]`` is a dict per parameter, created lazily by
    ``step()``. Subclasses implement ``step()``.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = _ParamState()
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            "dicts, but got Tensor")
        if isinstance(params, dict):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            "dicts, but got a dict (wrap a single group in a list)")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups -----------------------------------------------------------------------
    def _validate_group(self, group):
        """Subclasses check a group's hyper-parameters (raise ValueError)."""

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``'params'`` and optional options).

        Options not given are taken from ``defaults``. A parameter may belong to one group only.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if p.data.dtype != np.float32:
                raise TypeError(f"optimizer can only optimize float32 Tensors, but param {i} of the group "
                                f"has dtype {p.data.dtype}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group["params"] = params
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        self._validate_group(param_group)
        ids = [id(p) for p in params]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "each is updated once per occurrence", stacklevel=3)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients and steps ----------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
                    g[...] = 0

    def step(self, closure=None):  # pragma: no cover - abstract
        """Update every parameter with a gradient from its ``.grad`` (the subclass's rule, in
        its docstring). ``closure``: optional callable that re-evaluates the model and returns the
        loss (run with grad enabled); its value is returned. Parameters without a gradient are
        skipped."""
        raise NotImplementedError

    def _run_closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _updates(self, group):
        """(param array, grad array, state dict) for each parameter of ``group`` that has a
        gradient: the loop every ``step`` runs."""
        for p in group["params"]:
            grad = self._grad_array(p)
            if grad is not None:
                yield self._param_array(p), grad, self.state[p]

    @staticmethod
    def _grad_array(p):
        """The gradient of p as a float32 C-contiguous array of p's shape (None if no grad)."""
        g = p.grad
        if g is None:
            return None
        g = g.data if isinstance(g, Tensor) else np.asarray(g)
        if g.shape != p.data.shape:
            raise ValueError(f"gradient shape {g.shape} does not match parameter shape {p.data.shape}")
        if g.dtype != np.float32 or not g.flags.c_contiguous:
            g = np.ascontiguousarray(g, dtype=np.float32)  # read only: a copy is correct
        return g

    @staticmethod
    def _param_array(p):
        """p's array, about to be updated in place (p's version is bumped, as a PyTorch step)."""
        a = p.data
        if a.dtype != np.float32 or not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(f"optimizer: parameter data must be a writeable float32 C-contiguous array, "
                             f"got dtype {a.dtype}, shape {a.shape}, C-contiguous={a.flags.c_contiguous}")
        _inplace.bump(p)
        return a

    # ---- state_dict -------------------------------------------------------------------
    def state_dict(self):
        """The optimizer state as a dict (like torch):

        ``'state'``: {parameter index: {slot: value}} (arrays are copies),
        ``'param_groups'``: the groups' options with ``'params'`` as lists of parameter
        indices (numbered across groups in order).
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state._d.values():
            if id(p) not in index or not s:
                continue
            state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v))
                                   for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a dict from ``state_dict()``: group options and per-parameter state.

        The number of groups and of parameters per group must match; array state must have
        the shape of its parameter and is copied (as float32). The current parameters are kept.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than the optimizer ({len(groups)})")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size "
                                 f"of optimizer's group: group {i} has {len(sg['params'])} parameters, "
                                 f"the optimizer's has {len(g['params'])}")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for old, p in zip(sg["params"], g["params"]):
                id_map[old] = p
        new_state = _ParamState()
        for k, s in state_dict["state"].items():
            if k not in id_map:
                continue  # like torch: state of unknown parameters is dropped
            p = id_map[k]
            entry = {}
            for slot, v in s.items():
                if slot == "step":
                    entry[slot] = int(float(_to_numpy(v)))
                elif v is None:
                    entry[slot] = None
                elif _is_array(v):
                    entry[slot] = _as_state_array(v, p, f"state[{k}][{slot!r}]")
                else:
                    entry[slot] = copy.deepcopy(v)
            new_state[p] = entry
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            ng = {k: copy.deepcopy(v) for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            new_groups.append(ng)
        for ng in new_groups:
            for name, default in self.defaults.items():
                ng.setdefault(name, default)
            self._validate_group(ng)
        self.state = new_state
        self.param_groups = new_groups

    # ---- repr -------------------------------------------------------------------------
    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    s += f"\n    {key}: {group[key]}"
        return s + "\n)"
