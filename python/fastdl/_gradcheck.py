"""Check a function's autograd gradients against central finite differences.

``gradcheck(fn, inputs)`` runs ``fn`` on Tensors built from ``inputs``, back-propagates a
random output gradient ``dy`` (fixed seed) and compares each input's ``.grad`` with the
central difference of ``sum(fn(x) * dy)``::

    import fastdl, numpy as np
    from fastdl import gradcheck
    x = np.random.randn(3, 4)
    gradcheck(lambda t: (t * t).sum(dim=1).sqrt(), [x], eps=1e-6, atol=1e-5, rtol=1e-3)

Precision. With ``double=True`` (default) the check runs with fastdl's default dtype set to
float64, so operations written with numpy (everything in ``Tensor``) are exact to float64 and
PyTorch's gradcheck bars apply (eps 1e-6, atol 1e-5, rtol 1e-3). C++ kernels compute in
float32 even then (their inputs are cast down, outputs cast back up): for them keep the
defaults eps=1e-3, atol=1e-3, rtol=1e-2 (the test suite's float32-kernel tolerances).

Which inputs are checked: Tensors with ``requires_grad=True`` and floating numpy arrays
(integer arrays/tensors, e.g. class targets, are passed through unchanged). For inputs with
more than ``max_elements`` elements, ``n_directions`` random directions ``v`` are checked
instead of every element (``<grad, v>`` against the directional difference), as in JAX.
"""
from __future__ import annotations

import numpy as np

from . import autograd
from .tensor import Tensor, get_default_dtype, set_default_dtype

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree."""


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.data.dtype.kind == "f"]


def gradcheck(fn, inputs, eps=1e-3, atol=1e-3, rtol=1e-2, *, double=True, seed=0,
              max_elements=400, n_directions=8, raise_exception=True):
    """Return True when the autograd gradients of ``fn`` at ``inputs`` match central
    differences within ``|analytic - numeric| <= atol + rtol * |numeric|``; otherwise raise
    GradcheckError naming the input, the element and both values (or return False when
    ``raise_exception=False``).

    ``fn`` takes one Tensor per entry of ``inputs`` (a sequence, or a single array/Tensor)
    and returns a Tensor or a tuple of Tensors.
    """
    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"gradcheck: inputs must be a Tensor, an array or a sequence of them, "
                        f"got {type(inputs).__name__}")
    prev = get_default_dtype()
    ftype = np.float64 if double else np.float32
    rng = np.random.default_rng(seed)
    base, diff = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            a = x.data
            wants = x.requires_grad
        else:
            a = np.asarray(x)
            wants = a.dtype.kind == "f"
        if a.dtype.kind == "f":
            a = np.array(a, dtype=ftype)
        base.append(a)
        diff.append(wants)
    if not any(diff):
        raise ValueError("gradcheck: no input requires grad (pass floating arrays or Tensors "
                         "with requires_grad=True)")
    set_default_dtype(ftype)
    try:
        def run(arrays, grad):
            ts = [Tensor(a, requires_grad=(grad and d)) for a, d in zip(arrays, diff)]
            return ts, _outputs(fn(*ts))

        ts, outs = run(base, True)
        if not outs:
            raise TypeError("gradcheck: fn returned no floating Tensor")
        dys = [rng.standard_normal(o.shape) for o in outs]

        def value(arrays):
            with autograd.no_grad():
                _, os_ = run(arrays, False)
            return sum(float(np.sum(o.data.astype(np.float64) * dy)) for o, dy in zip(os_, dys))

        for o, dy in zip(outs, dys):
            if o.requires_grad:
                o.backward(dy.astype(o.data.dtype), retain_graph=True)
        for i, (t, d) in enumerate(zip(ts, diff)):
            if not d:
                continue
            analytic = np.zeros(base[i].shape) if t.grad is None else t.grad.data.astype(np.float64)
            x = base[i]
            if x.size <= max_elements:
                numeric = np.zeros(x.shape)
                flat = x.reshape(-1)
                for j in range(flat.size):
                    old = flat[j]
                    flat[j] = old + eps
                    fp = value(base)
                    flat[j] = old - eps
                    fm = value(base)
                    flat[j] = old
                    numeric.reshape(-1)[j] = (fp - fm) / (2 * eps)
                bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
                if bad.any():
                    j = tuple(int(k) for k in np.argwhere(bad)[0])
                    msg = (f"gradcheck: input {i} (shape {x.shape}): analytic and numeric gradients "
                           f"disagree at {bad.sum()} of {x.size} elements; first at {j}: analytic "
                           f"{analytic[j]:.8g}, numeric {numeric[j]:.8g}; max abs error "
                           f"{np.abs(analytic - numeric).max():.3g} (atol {atol}, rtol {rtol}, eps {eps})")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
            else:
                for k in range(n_directions):
                    v = rng.standard_normal(x.shape)
                    v /= np.linalg.norm(v)
                    orig = x.copy()
                    base[i] = orig + eps * v
                    fp = value(base)
                    base[i] = orig - eps * v
                    fm = value(base)
                    base[i] = orig
                    numeric = (fp - fm) / (2 * eps)
                    an = float(np.sum(analytic * v))
                    if abs(an - numeric) > atol + rtol * abs(numeric):
                        msg = (f"gradcheck: input {i} (shape {x.shape}): directional derivative {k} "
                               f"disagrees: analytic {an:.8g}, numeric {numeric:.8g} "
                               f"(atol {atol}, rtol {rtol}, eps {eps})")
                        if raise_exception:
                            raise GradcheckError(msg)
                        return False
        return True
    finally:
        set_default_dtype(prev)
