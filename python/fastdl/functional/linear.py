"""linear: y = x W^T + b through the SGEMM (torch.nn.functional.linear)."""
from __future__ import annotations

from .. import _C
from ..autograd import Function
from ..tensor import as_float_tensor

__all__ = ["linear"]


class _Linear(Function):
    fresh_grads = True  # dx, dW, db are new arrays from _C.linear_backward

    @staticmethod
    def forward(ctx, x, weight, bias):
        if x.ndim < 1:
            raise ValueError(f"linear: input must have at least 1 dimension, got shape {x.shape}")
        if weight.ndim != 2:
            raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input shape {x.shape} does not match weight shape {weight.shape}: "
                             f"expected last input dimension {weight.shape[1]}, got {x.shape[-1]}")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        lead = x.shape[:-1]
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        y = _C.linear_forward(x2, weight, bias)  # (M, out) = x2 @ W^T + b, bias fused in C++
        ctx.save(x2, weight, lead)
        return y if x.ndim == 2 else y.reshape(*lead, weight.shape[0])

    @staticmethod
    def backward(ctx, dy):
        x2, weight, lead = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        dy2 = dy if dy.ndim == 2 else dy.reshape(-1, weight.shape[0])
        # dx = dy W, dW = dy^T x, db = dy.sum(0): one call, one GIL release.
        dx, dw, db = _C.linear_backward(dy2, x2, weight, need_x, need_w, need_b)
        if dx is not None and len(lead) != 1:
            dx = dx.reshape(*lead, weight.shape[1])
        return dx, dw, db


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; input (*, in_features), weight (out_features, in_features)."""
    input = as_float_tensor(input, "linear: input")
    weight = as_float_tensor(weight, "linear: weight")
    if bias is not None:
        bias = as_float_tensor(bias, "linear: bias")
    return _Linear.apply(input, weight, bias)
