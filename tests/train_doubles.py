"""Minimal stand-ins for layers, losses and an optimizer, written with numpy and
fastdl.autograd.Function only, so the training-loop and checkpoint tests do not depend on the
real nn/optim families. Same contract as PyTorch's (model(x) -> Tensor, loss(out, y) -> scalar
Tensor, optimizer.zero_grad()/step()/state_dict()/load_state_dict(), param_groups)."""
import numpy as np

from fastdl.autograd import Function
from fastdl.nn import Module, Parameter


class _LinearFn(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save(x, w)
        return (x @ w.T + b).astype(np.float32)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved
        return dy @ w, dy.T @ x, dy.sum(0)


class _ReluFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x > 0)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, dy):
        (mask,) = ctx.saved
        return dy * mask


class _MseFn(Function):
    @staticmethod
    def forward(ctx, out, y):
        d = out.astype(np.float64) - y
        ctx.save(d)
        return np.array(np.mean(d * d), dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved
        return (g * 2.0 * d / d.size).astype(np.float32), None


class _CrossEntropyFn(Function):
    @staticmethod
    def forward(ctx, logits, y):
        z = logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        ctx.save(np.exp(logp), y)
        return np.array(-logp[np.arange(len(y)), y].mean(), dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved
        d = p.copy()
        d[np.arange(len(y)), y] -= 1.0
        return (g * d / len(y)).astype(np.float32), None


class Linear(Module):
    def __init__(self, n_in, n_out, rng):
        super().__init__()
        bound = 1.0 / np.sqrt(n_in)
        self.weight = Parameter(rng.uniform(-bound, bound, (n_out, n_in)))
        self.bias = Parameter(rng.uniform(-bound, bound, n_out))

    def forward(self, x):
        return _LinearFn.apply(x, self.weight, self.bias)


class ReLU(Module):
    def forward(self, x):
        return _ReluFn.apply(x)


class Dropoutish(Module):
    """Records the mode it ran in (to check train/eval switching)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


class MLP(Module):
    def __init__(self, sizes, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.fc1 = Linear(sizes[0], sizes[1], rng)
        self.act = ReLU()
        self.probe = Dropoutish()
        self.fc2 = Linear(sizes[1], sizes[2], rng)

    def forward(self, x):
        return self.fc2(self.probe(self.act(self.fc1(x))))


class MSELoss:
    def __call__(self, out, y):
        return _MseFn.apply(out, y)


class CrossEntropyLoss:
    def __call__(self, out, y):
        return _CrossEntropyFn.apply(out, y)


class SGD:
    """SGD with momentum (PyTorch's rule, dampening 0): buf = m*buf + g; p -= lr*buf."""

    def __init__(self, params, lr, momentum=0.0):
        self.params = list(params)
        self.param_groups = [{"lr": lr, "momentum": momentum, "params": list(range(len(self.params)))}]
        self.state = {}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        g0 = self.param_groups[0]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            if g0["momentum"]:
                buf = self.state.setdefault(i, {}).get("momentum_buffer")
                buf = g.copy() if buf is None else g0["momentum"] * buf + g
                self.state[i]["momentum_buffer"] = buf
                g = buf
            p.data -= np.float32(g0["lr"]) * g

    def state_dict(self):
        return {"state": {i: {k: v.copy() for k, v in s.items()} for i, s in self.state.items()},
                "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, sd):
        self.state = {int(i): {k: np.array(v) for k, v in s.items()} for i, s in sd["state"].items()}
        self.param_groups = [dict(g) for g in sd["param_groups"]]


class StepDecay:
    """Multiplies the lr by gamma every epoch (StepLR(step_size=1))."""

    def __init__(self, opt, gamma):
        self.opt, self.gamma = opt, gamma

    def step(self):
        self.opt.param_groups[0]["lr"] *= self.gamma


class Plateau:
    """Records the metrics it is stepped with (the ReduceLROnPlateau calling convention)."""

    def __init__(self, opt):
        self.opt, self.seen = opt, []

    def step(self, metrics, epoch=None):
        self.seen.append(metrics)
