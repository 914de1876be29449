"""Loss functions (fastdl.functional): cross_entropy (fused log-softmax + nll, class
indices or class probabilities, ignore_index, label_smoothing, weight), nll_loss, mse_loss,
l1_loss, binary_cross_entropy_with_logits. PyTorch's signatures and numerics; C++ kernels in
cpp/src/loss."""
from __future__ import annotations

import warnings

import numpy as np

from .. import _C
from .._args import reduction as reduction_arg, unbroadcast
from ..autograd import Function
from ..tensor import Tensor
from ..tensor import as_float_tensor
from .loss_nd import CrossEntropyND, NLLLossND

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy_with_logits"]

def _raw(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _float_opt(w, name):
    if w is None:
        return None
    a = _raw(w)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a float array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _classes_last(x):
    """(M, C) contiguous view/copy of x with the class dim (dim 1, or 0 when unbatched) last."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(-1, x.shape[1])


def _classes_back(d2, shape):
    """Inverse of _classes_last for a gradient of the (M, C) layout."""
    if len(shape) <= 2:
        return d2.reshape(shape)
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.ascontiguousarray(np.moveaxis(d2.reshape(moved), -1, 1))


#: (N, C, d1, ...) inputs with at least this many positions d1*d2*... per sample are computed
#: over the class axis in place (functional.loss_nd); smaller ones are transposed to (M, C) for
#: the fused kernel, which is faster there (numpy's reductions over a short strided axis are
#: slow). Measured fwd+bwd, 1 thread: S=16..64 strided 1.7-8x slower, S>=256 0.2-1.1x.
CLASS_AXIS_MIN_POSITIONS = 256


def _over_class_axis(x):
    return x.ndim > 2 and int(np.prod(x.shape[2:])) >= CLASS_AXIS_MIN_POSITIONS


def _class_target(x, target, fn):
    """Validates class-index targets against input x (C,), (N, C) or (N, C, d1, ...)."""
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: expected target dtype to be int64 (class indices) or a float target of the "
                        f"input's shape {x.shape} (class probabilities), got dtype {target.dtype} and shape "
                        f"{target.shape}")
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have at least 1 dimension (C,), got a 0-d input")
    if x.ndim == 1:
        expected = ()
    else:
        if target.ndim == 0 or target.shape[0] != x.shape[0]:
            raise ValueError(f"{fn}: Expected input batch_size ({x.shape[0]}) to match target batch_size "
                             f"({target.shape[0] if target.ndim else 'none'}); input shape {x.shape}, "
                             f"target shape {target.shape}")
        expected = (x.shape[0],) + tuple(x.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"{fn}: Expected target size {expected}, got {tuple(target.shape)} (input shape {x.shape})")
    return np.ascontiguousarray(target, dtype=np.int64).reshape(-1)


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        t = _class_target(x, target, "cross_entropy")
        loss, prob, denom = _C.cross_entropy_forward(_classes_last(x), t, weight, ignore_index, reduction,
                                                     label_smoothing)
        ctx.save(prob, t, weight)
        ctx.args = (ignore_index, reduction, label_smoothing, denom, x.shape)
        return loss.reshape(target.shape) if reduction == "none" else loss

    @staticmethod
    def backward(ctx, g):
        prob, t, weight = ctx.saved
        ignore_index, reduction, ls, denom, shape = ctx.args
        if reduction == "none":
            g = g.reshape(-1)
        d = _C.cross_entropy_backward(g, prob, t, weight, ignore_index, reduction, ls, denom)
        return _classes_back(d, shape), None, None, None, None, None


class _CrossEntropyProb(Function):
    @staticmethod
    def forward(ctx, x, target, weight, reduction, label_smoothing):
        t = _classes_last(np.ascontiguousarray(target, dtype=np.float32))
        loss, prob = _C.cross_entropy_prob_forward(_classes_last(x), t, weight, reduction, label_smoothing)
        ctx.save(prob, t, weight)
        ctx.args = (reduction, label_smoothing, x.shape)
        if reduction == "none":
            return loss.reshape((x.shape[0],) + tuple(x.shape[2:]) if x.ndim > 1 else ())
        return loss

    @staticmethod
    def backward(ctx, g):
        prob, t, weight = ctx.saved
        reduction, ls, shape = ctx.args
        if reduction == "none":
            g = g.reshape(-1)
        d = _C.cross_entropy_prob_backward(g, prob, t, weight, reduction, ls)
        return _classes_back(d, shape), None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` and ``target`` (torch.nn.functional.cross_entropy).

    input: (C,), (N, C) or (N, C, d1, ...) logits. target: int64 class indices of shape (),
    (N,) or (N, d1, ...) (numpy int array or int64 Tensor), or float class probabilities of the
    input's shape. Indices equal to ``ignore_index`` contribute nothing; 'mean' divides by the
    summed weights of the non-ignored targets (NaN when all are ignored, as PyTorch).
    ``label_smoothing`` mixes the target with the uniform distribution. Out-of-range indices
    raise IndexError ("Target 5 is out of bounds.").
    """
    reduction = reduction_arg(size_average, reduce, reduction)
    x = as_float_tensor(input)
    if target is None:
        raise TypeError("cross_entropy: target must be an array or Tensor, got None")
    t = _raw(target)
    w = _float_opt(weight, "cross_entropy: weight")
    ls = float(label_smoothing)
    if t.shape == x.shape and t.dtype.kind == "f":
        return _CrossEntropyProb.apply(x, t, w, reduction, ls)
    if t.shape == x.shape and t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: Expected floating point type for target with class probabilities, "
                        f"got {t.dtype}")
    if _over_class_axis(x):  # (N, C, d1, ...) with large d1*...: no transposed copies
        t = _class_target(x, t, "cross_entropy").reshape(t.shape)
        return CrossEntropyND.apply(x, t, w, int(ignore_index), reduction, ls)
    return _CrossEntropy.apply(x, t, w, int(ignore_index), reduction, ls)


class _NLLLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        t = _class_target(x, target, "nll_loss")
        loss, denom = _C.nll_loss_forward(_classes_last(x), t, weight, ignore_index, reduction)
        ctx.save(t, weight)
        ctx.args = (ignore_index, reduction, denom, x.shape)
        return loss.reshape(target.shape) if reduction == "none" else loss

    @staticmethod
    def backward(ctx, g):
        t, weight = ctx.saved
        ignore_index, reduction, denom, shape = ctx.args
        if reduction == "none":
            g = g.reshape(-1)
        C = shape[0] if len(shape) == 1 else shape[1]
        d = _C.nll_loss_backward(g, t, weight, ignore_index, reduction, denom, C)
        return _classes_back(d, shape), None, None, None, None


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (C,), (N, C) or (N, C, d1, ...)
    at int64 class indices ``target`` (torch.nn.functional.nll_loss)."""
    reduction = reduction_arg(size_average, reduce, reduction)
    x = as_float_tensor(input)
    if target is None:
        raise TypeError("nll_loss: target must be an array or Tensor, got None")
    t, w = _raw(target), _float_opt(weight, "nll_loss: weight")
    if _over_class_axis(x):  # (N, C, d1, ...) with large d1*...: no transposed copies
        return NLLLossND.apply(x, _class_target(x, t, "nll_loss").reshape(t.shape), w, int(ignore_index), reduction)
    return _NLLLoss.apply(x, t, w, int(ignore_index), reduction)


def _broadcast_pair(x, y, fn):
    if x.shape == y.shape:
        return x, y
    warnings.warn(f"Using a target size ({y.shape}) that is different to the input size ({x.shape}). This will "
                  "likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
                  UserWarning, stacklevel=4)
    try:
        return np.broadcast_arrays(x, y)
    except ValueError:
        raise ValueError(f"{fn}: the size of input {x.shape} and target {y.shape} cannot be broadcast") from None


# kind -> (forward, backward) kernels, named explicitly so every _C call can be found by grep.
_ELEMENTWISE_KERNELS = {
    "mse": (_C.mse_loss_forward, _C.mse_loss_backward),
    "l1": (_C.l1_loss_forward, _C.l1_loss_backward),
}


class _ElementwiseLoss(Function):
    @staticmethod
    def forward(ctx, x, y, kind, reduction):
        xb, yb = _broadcast_pair(x, y, f"{kind}_loss")
        ctx.save(xb, yb)
        ctx.args = (kind, reduction, x.shape, y.shape)
        return _ELEMENTWISE_KERNELS[kind][0](xb, yb, reduction)

    @staticmethod
    def backward(ctx, g):
        xb, yb = ctx.saved
        kind, reduction, xs, ys = ctx.args
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dx, dy = _ELEMENTWISE_KERNELS[kind][1](g, xb, yb, reduction, need_x, need_y)
        return (None if dx is None else unbroadcast(dx, xs)), (None if dy is None else unbroadcast(dy, ys)), None, None


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error (x - y)^2 (torch.nn.functional.mse_loss); gradients for both input
    and target. Different shapes broadcast with PyTorch's warning."""
    reduction = reduction_arg(size_average, reduce, reduction)
    return _ElementwiseLoss.apply(as_float_tensor(input), as_float_tensor(target, "target"), "mse", reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error |x - y| (torch.nn.functional.l1_loss); gradient sign(x - y), 0 at 0."""
    reduction = reduction_arg(size_average, reduce, reduction)
    return _ElementwiseLoss.apply(as_float_tensor(input), as_float_tensor(target, "target"), "l1", reduction)


class _BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, reduction):
        ctx.save(x, y, weight, pos_weight)
        ctx.reduction = reduction
        return _C.bce_with_logits_forward(x, y, weight, pos_weight, reduction)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, pos_weight = ctx.saved
        dx, dy = _C.bce_with_logits_backward(g, x, y, weight, pos_weight, ctx.reduction, ctx.needs_input_grad[0],
                                             ctx.needs_input_grad[1])
        return dx, dy, None, None, None


def _broadcast_to(w, shape, name):
    if w is None:
        return None
    try:
        return np.ascontiguousarray(np.broadcast_to(w, shape))
    except ValueError:
        raise ValueError(f"binary_cross_entropy_with_logits: {name} of shape {w.shape} cannot be broadcast to "
                         f"the input shape {tuple(shape)}") from None


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression
    ``(1 - y) x + (1 + (pos_weight - 1) y) (log1p(exp(-|x|)) + max(-x, 0))``, times ``weight``
    (torch.nn.functional.binary_cross_entropy_with_logits). ``weight`` and ``pos_weight``
    broadcast to the input (pos_weight along the last, class, dim)."""
    reduction = reduction_arg(size_average, reduce, reduction)
    x = as_float_tensor(input)
    y = as_float_tensor(target, "target")
    if x.shape != y.shape:
        raise ValueError(f"Target size ({y.shape}) must be the same as input size ({x.shape})")
    w = _broadcast_to(_float_opt(weight, "weight"), x.shape, "weight")
    pw = _broadcast_to(_float_opt(pos_weight, "pos_weight"), x.shape, "pos_weight")
    return _BCEWithLogits.apply(x, y, w, pw, reduction)
