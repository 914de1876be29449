"""fastdl.summary(): a per-layer table of output shapes, parameter counts and FLOPs."""
from __future__ import annotations

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["summary"]


def _layer_flops(module, inputs, output):
    """Multiply-adds counted as 2 FLOPs, for one forward pass of the whole batch."""
    name = type(module).__name__
    out_shape = output.shape if isinstance(output, Tensor) else None
    if name == "Linear":
        rows = int(np.prod(out_shape[:-1])) if out_shape else 0
        return 2 * rows * module.in_features * module.out_features
    if name.startswith("Conv") and out_shape is not None:
        w = module.weight.shape  # (C_out, C_in/groups, kh, kw)
        per_out = int(np.prod(w[1:]))
        return 2 * per_out * int(np.prod(out_shape))
    if out_shape is not None:  # elementwise / pooling / normalisation: ~1 op per output value
        return int(np.prod(out_shape))
    return 0


def summary(model, input_shape, batch_size=1, print_fn=print):
    """Run ``model`` once on zeros of shape ``(batch_size, *input_shape)`` and report, for each
    leaf module in call order: name, type, output shape, own parameter count and FLOPs.

    Returns a dict ``{"layers": [ {name, type, output_shape, params, flops}, ... ],
    "total_params", "trainable_params", "total_flops"}`` and prints a table (``print_fn=None``
    prints nothing). The model is run in eval mode under no_grad; its mode is restored.
    """
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    input_shape = tuple(int(s) for s in input_shape)
    rows = []
    patched = []
    for name, m in model.named_modules():
        if next(m.children(), None) is not None:
            continue  # containers: their leaves are reported

        def make(orig, name=name, m=m):
            def wrapped(*args, **kwargs):
                out = orig(*args, **kwargs)
                first = out[0] if isinstance(out, tuple) else out
                rows.append({
                    "name": name or type(m).__name__,
                    "type": type(m).__name__,
                    "output_shape": tuple(first.shape) if isinstance(first, Tensor) else None,
                    "params": sum(p.numel() for p in m.parameters(recurse=False)),
                    "flops": _layer_flops(m, args, first),
                })
                return out
            return wrapped

        patched.append(m)
        object.__setattr__(m, "forward", make(m.forward))
    was_training = model.training
    try:
        model.eval()
        from .nn import fusion  # every layer's own forward must run (fused pairs bypass it)
        with no_grad(), fusion.disabled():
            model(Tensor(np.zeros((batch_size, *input_shape), dtype=np.float32)))
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    flops = sum(r["flops"] for r in rows)
    result = {"layers": rows, "total_params": total, "trainable_params": trainable, "total_flops": flops}
    if print_fn is not None:
        w = max([len(r["name"]) + len(r["type"]) + 3 for r in rows] + [20])
        line = "-" * (w + 44)
        out = [line, f"{'Layer (type)':<{w}} {'Output shape':>20} {'Params':>10} {'FLOPs':>11}", line]
        for r in rows:
            out.append(f"{r['name'] + ' (' + r['type'] + ')':<{w}} {str(r['output_shape']):>20} "
                       f"{r['params']:>10,} {r['flops']:>11,}")
        out += [line, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                f"FLOPs per forward (batch {batch_size}): {flops:,}", line]
        print_fn("\n".join(out))
    return result
