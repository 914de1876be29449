"""2-D convolution (torch.nn.functional.conv2d) over the C++ im2col + SGEMM kernels."""
from __future__ import annotations

from .. import _C
from ..autograd import Function
from .._args import int_arg, pair
from ..tensor import as_float_tensor

__all__ = ["conv2d", "conv2d_relu"]

def _forward(ctx, x, weight, bias, stride, padding, dilation, groups, relu):
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    y = _C.conv2d_forward(x, weight, bias, stride, padding, dilation, groups, relu=relu)
    if relu:  # the output's sign masks dy in backward (relu's backward from its output)
        ctx.save(x, weight, y)
    else:
        ctx.save(x, weight)
    ctx.args = (stride, padding, dilation, groups)
    ctx.unbatched = unbatched
    ctx.has_bias = bias is not None
    return y[0] if unbatched else y


def _backward(ctx, dy):
    x, weight, *y = ctx.saved
    if ctx.unbatched:
        dy = dy[None]
    need = ctx.needs_input_grad
    dx, dw, db = _C.conv2d_backward(dy, x, weight, *ctx.args, need_input=bool(need[0]),
                                    need_weight=bool(need[1]), need_bias=bool(ctx.has_bias and need[2]),
                                    relu_output=y[0] if y else None)
    if ctx.unbatched and dx is not None:
        dx = dx[0]
    return dx, dw, db, None, None, None, None


class _Conv2d(Function):
    fresh_grads = True  # dx, dw, db are new arrays from _C.conv2d_backward
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        return _forward(ctx, x, weight, bias, stride, padding, dilation, groups, False)

    backward = staticmethod(_backward)


class _Conv2dRelu(Function):
    """relu(conv2d) in one kernel call per pass (conv2d_relu)."""
    fresh_grads = True
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        return _forward(ctx, x, weight, bias, stride, padding, dilation, groups, True)

    backward = staticmethod(_backward)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    input: (N, C, H, W) or unbatched (C, H, W); weight: (K, C/groups, R, S); bias: (K,) or None.
    stride, padding (zeros), dilation: an int or an (h, w) pair; groups divides C and K.
    padding may also be ``"valid"`` (no padding) or ``"same"`` (output H, W = input H, W; stride
    must be 1; when dil*(R-1) is odd the extra row/column of zeros goes to the bottom/right, as
    PyTorch). Output (N, K, P, Q) with P = floor((H + 2*pad_h - dil_h*(R-1) - 1) / stride_h) + 1.
    Raises ValueError naming the shapes for a wrong rank, a channel mismatch, a kernel larger
    than the padded input, stride/dilation < 1, padding < 0 or groups not dividing the channels,
    and OverflowError when a size overflows int64.
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, False)


def conv2d_relu(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``relu(conv2d(input, weight, bias, ...))`` in one convolution call: the ReLU is applied
    as the convolution writes its output, and backward masks the output gradient by the saved
    output's sign inside the convolution's backward (together with the bias gradient). Same
    arguments, errors and results (bit for bit) as the two calls."""
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, True)


def _conv2d(input, weight, bias, stride, padding, dilation, groups, relu):
    op = "conv2d"
    x = as_float_tensor(input, "input")
    w = as_float_tensor(weight, "weight")
    b = None if bias is None else as_float_tensor(bias, "bias")
    if x.ndim not in (3, 4):
        raise ValueError(f"conv2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    stride = pair(stride, "stride", op)
    dilation = pair(dilation, "dilation", op)
    groups = int_arg(groups, "groups", op)
    fn = _Conv2dRelu if relu else _Conv2d
    if not isinstance(padding, str):
        return fn.apply(x, w, b, stride, pair(padding, "padding", op), dilation, groups)
    if w.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D weight (K, C/groups, R, S), got shape {w.shape}")
    padding, crop = same_padding(padding, w.shape[2:], stride, dilation, RuntimeError)
    y = fn.apply(x, w, b, stride, padding, dilation, groups)
    if crop != (0, 0):  # odd total padding: pad the larger side both ways, drop the first row/col
        y = y[..., crop[0]:, crop[1]:]
    return y


def same_padding(padding, kernel, stride, dilation, error=ValueError):
    """The symmetric (pad_h, pad_w) and leading (crop_h, crop_w) for a padding string.

    ``"valid"`` is (0, 0) padding; ``"same"`` pads dil*(k-1) in total per axis, the larger half
    on the bottom/right (PyTorch's rule) - done here by padding the larger half on both sides and
    cropping the first output row/column. ``error`` (torch's exception type) for an unknown
    string or ``"same"`` with a stride other than 1.
    """
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise error(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    if stride != (1, 1):
        raise error(f"padding='same' is not supported for strided convolutions (stride={stride})")
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return tuple((t + 1) // 2 for t in totals), tuple(t % 2 for t in totals)
