"""The Module contract of fastdl.nn (PyTorch's): parameters, buffers, children, state_dict,
train/eval, zero_grad, repr."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..tensor import Tensor
from . import hooks

__all__ = ["Parameter", "Module"]


class Parameter(Tensor):
    """A Tensor that is a module's learnable parameter (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, dtype=np.float32)
        self.requires_grad = bool(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models.

    Assigning a Parameter, a Module or (through ``register_buffer``) an array as an attribute
    registers it; ``parameters()``, ``state_dict()`` and friends walk them in assignment order.
    Subclasses implement ``forward``; call the module itself to run it.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -----------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() is called")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in buffers:
            buffers[name] = None if value is None else (value if isinstance(value, Tensor) else Tensor(value))
            return
        elif name in params or name in modules:
            registry, kind, expected = ((params, "parameter", "Parameter") if name in params
                                        else (modules, "child module", "Module"))
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as {kind} {name!r} "
                                f"(fastdl.nn.{expected} or None expected)")
            registry[name] = None
            return
        object.__setattr__(self, name, value)
        if isinstance(value, (Parameter, Module)):
            # keep the instance attribute out of __dict__ so __getattr__ finds the registry
            del self.__dict__[name]

    def __getattr__(self, name):
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for reg in (self._parameters, self._buffers, self._modules):
            if name in reg:
                del reg[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one) under ``name``; TypeError
        for anything else.
        """
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A non-learnable state tensor (e.g. BatchNorm running mean) saved in state_dict."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)
        else:
            self._non_persistent.discard(name)

    def add_module(self, name, module):
        """Register the child ``module`` (a Module or None) under ``name``; TypeError for anything
        else. ``register_module`` is an alias.
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._modules[name] = module

    register_module = add_module

    # ---- traversal --------------------------------------------------------------------
    def named_modules(self, prefix=""):
        """Yield (dotted name, module) for this module (name ``prefix``) and every descendant,
        depth-first in registration order, each module once.
        """
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{n}" if name else n, c) for n, c in m._modules.items() if c is not None]
            stack.extend(reversed(children))

    def modules(self):
        """Yield this module and every descendant (see named_modules)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """Yield (name, module) for the direct children (None entries skipped)."""
        for n, m in self._modules.items():
            if m is not None:
                yield n, m

    def children(self):
        """Yield the direct child modules."""
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        """Yield (dotted name, Parameter) for the parameters of this module and (with ``recurse``)
        its descendants, each shared parameter once.
        """
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for n, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{n}" if mname else n), p

    def parameters(self, recurse=True):
        """Yield the parameters (see named_parameters), e.g. for an optimizer."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        """Yield (dotted name, Tensor) for the registered buffers (BatchNorm running statistics,
        ...).
        """
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for n, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{n}" if mname else n), b

    def buffers(self, recurse=True):
        """Yield the registered buffers (see named_buffers)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively) and then on self; returns self. Used
        e.g. for custom initialisation.
        """
        for m in list(self.children()):
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ----------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and every descendant
        (Dropout and BatchNorm behave differently); returns self. ValueError for a non-bool
        mode.
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Set evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` of every parameter (False freezes the module); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter: to None (``set_to_none=True``, the default) or
        to zeros in place.
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ---- state --------------------------------------------------------------------------
    def state_dict(self, prefix=""):
        """An ordered dict name -> numpy array (copies) of parameters and persistent buffers."""
        out = OrderedDict()
        for mname, m in self.named_modules(prefix.rstrip(".")):
            for n, p in m._parameters.items():
                if p is not None:
                    out[f"{mname}.{n}" if mname else n] = p.data.copy()
            for n, b in m._buffers.items():
                if b is not None and n not in m._non_persistent:
                    out[f"{mname}.{n}" if mname else n] = b.data.copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (numpy, Tensors, or anything with ``.numpy()``) into parameters and buffers.

        Shapes must match. With strict=True missing or unexpected keys raise KeyError; returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict()
        for mname, m in self.named_modules():
            for n, p in m._parameters.items():
                if p is not None:
                    own[f"{mname}.{n}" if mname else n] = p
            for n, b in m._buffers.items():
                if b is not None and n not in m._non_persistent:
                    own[f"{mname}.{n}" if mname else n] = b
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            if isinstance(v, Tensor):
                v = v.data
            elif hasattr(v, "detach") and hasattr(v, "numpy"):  # e.g. a torch tensor
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.shape != t.data.shape:
                raise ValueError(f"load_state_dict: size mismatch for {k}: checkpoint shape {v.shape}, "
                                 f"model shape {t.data.shape}")
            t.data[...] = v.astype(t.data.dtype, copy=False)
        return missing, unexpected

    # ---- call and repr ----------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        """The computation of the module, defined by every subclass; call the module itself
        (``module(x)``), which also runs its hooks. The base class raises NotImplementedError.
        """
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        """Run ``forward`` with the registered forward pre-hooks, forward hooks and backward hooks."""
        d = self.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks"):
            return hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ---- hooks (PyTorch's semantics; see fastdl.nn.hooks) -------------------------------
    def register_forward_pre_hook(self, hook, prepend=False):
        """Call ``hook(module, args)`` before each forward; a non-None result replaces the
        positional arguments (a non-tuple is wrapped in a 1-tuple). Returns a RemovableHandle."""
        return hooks.register(self, "_forward_pre_hooks", hook, prepend)

    def register_forward_hook(self, hook, prepend=False):
        """Call ``hook(module, args, output)`` after each forward; a non-None result replaces
        the output. Returns a RemovableHandle (``handle.remove()`` unregisters it)."""
        return hooks.register(self, "_forward_hooks", hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_input, grad_output)`` when the gradients of the module's
        inputs are computed. Both are tuples with one entry per positional input / output
        (None for non-Tensors and inputs that need no gradient); a non-None result (a tuple of
        the same length) replaces grad_input. Only the top-level Tensors of a tuple output are
        tracked. Returns a RemovableHandle."""
        return hooks.register(self, "_backward_hooks", hook, prepend)

    def extra_repr(self):
        """The module-specific part of ``repr(module)`` (its constructor arguments); '' by default.
        Subclasses override it, as in PyTorch.
        """
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for n, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({n}): {sub}")
        name = type(self).__name__
        if not lines:
            return f"{name}()"
        if len(lines) == 1 and not self._modules:
            return f"{name}({lines[0]})"
        return f"{name}(\n  " + "\n  ".join(lines) + "\n)"
