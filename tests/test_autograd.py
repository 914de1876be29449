"""The autograd engine: graph recording, fan-out, accumulation, retain_graph, no_grad, deep
graphs, the Function/ctx contract and bad inputs."""
import threading

import numpy as np
import pytest

import fastdl
from fastdl.autograd import Function

from conftest import torch_or_skip


def test_fan_out_sums_gradients():
    x = fastdl.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * x + x * 3 - x  # x used four times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 2)


def test_diamond_graph_each_node_once():
    x = fastdl.tensor([0.5, 1.5], requires_grad=True)
    a = x.exp()
    b = a * 2
    c = a.log()
    (b * c).sum().backward()  # d/dx (2 e^x * x) = 2 e^x (x + 1)
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(x.data) * (x.data + 1), rtol=1e-6)


def test_grad_accumulates_across_backward_calls_and_is_a_tensor():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    assert isinstance(x.grad, fastdl.Tensor) and not x.grad.requires_grad
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 + 2 * x.data)
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2, 2])


def test_grad_buffer_is_not_aliased_to_graph_arrays():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0], np.float32)
    x.backward(g)  # backward on a leaf
    g[0] = 100
    np.testing.assert_array_equal(x.grad.data, [1, 1])
    y = fastdl.tensor([1.0], requires_grad=True)
    z = y + 0
    z.backward(np.array([2.0], np.float32))
    z2 = y + 0
    z2.backward(np.array([3.0], np.float32))
    np.testing.assert_array_equal(y.grad.data, [5])


def test_second_backward_raises_unless_retain_graph():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    x.grad = None
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * np.exp(x.data), rtol=1e-6)


def test_backward_requires_gradient_for_non_scalar():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient shape \(3,\) does not match tensor shape \(2,\)"):
        y.backward(np.ones(3))
    with pytest.raises(TypeError):
        y.backward("a")
    y.backward(fastdl.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.data, [2, 20])
    z = fastdl.tensor([[2.0]], requires_grad=True) * 3  # one element: implicit gradient allowed
    z.backward()


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fastdl.ones(2).sum().backward()
    x = fastdl.ones(2, requires_grad=True)
    with fastdl.no_grad():
        y = (x * 2).sum()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_requires_grad_on_int_tensors_raises():
    with pytest.raises(RuntimeError, match="floating point"):
        fastdl.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        fastdl.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        fastdl.zeros(2, dtype=fastdl.int64, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        fastdl.tensor([True]).requires_grad_()


def test_requires_grad_flag_rules():
    x = fastdl.ones(2)
    assert not x.requires_grad and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert "Mul" in repr(y)
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="detach"):
        y.numpy()
    assert y.detach().numpy() is y.data


def test_detach_shares_data_and_stops_gradient():
    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert d.data is x.data and not d.requires_grad and d.is_leaf
    (x * d).sum().backward()  # d is a constant
    np.testing.assert_array_equal(x.grad.data, [1, 2])


def test_no_grad_context_decorator_and_nesting():
    x = fastdl.ones(3, requires_grad=True)
    with fastdl.no_grad():
        assert not fastdl.is_grad_enabled()
        assert not (x * 2).requires_grad
        assert not (x + x).requires_grad
        assert not x.exp().requires_grad
        with fastdl.enable_grad():
            assert (x * 2).requires_grad
        assert not (x[0]).requires_grad
    assert fastdl.is_grad_enabled()

    @fastdl.no_grad()
    def f(t):
        return t * 2

    @fastdl.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f"
    assert fastdl.is_grad_enabled()
    with fastdl.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_no_grad_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with fastdl.no_grad():
            1 / 0
    assert fastdl.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = {}
    x = fastdl.ones(2, requires_grad=True)

    def worker():
        seen["other"] = (x * 2).requires_grad

    with fastdl.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
    assert seen["other"] is True


def test_deep_chain_no_recursion():
    n = 100_000
    x = fastdl.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0])
    del y  # freeing a 100 000-node graph must not overflow the C stack either


def test_unused_output_gets_zero_gradient_and_non_tensor_args():
    calls = {}

    class Split(Function):
        @staticmethod
        def forward(ctx, x, k, scale):
            calls["needs"] = tuple(ctx.needs_input_grad)
            ctx.save(scale)
            return x[:k] * scale, x[k:] * scale

        @staticmethod
        def backward(ctx, ga, gb):
            calls["gb"] = gb.copy()
            (scale,) = ctx.saved
            return np.concatenate([ga, gb]) * scale, None, None

    x = fastdl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a, b = Split.apply(x, 1, 2.0)
    assert a.requires_grad and b.requires_grad and a.grad_fn is b.grad_fn
    a.sum().backward()
    assert calls["needs"] == (True, False, False)
    np.testing.assert_array_equal(calls["gb"], [0, 0])
    np.testing.assert_array_equal(x.grad.data, [2, 0, 0])


def test_both_outputs_of_a_function_reach_the_loss():
    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 + 2 * g2

    x = fastdl.tensor([1.0, 1.0], requires_grad=True)
    p, q = Two.apply(x)
    (p * 3 + q).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [5, 5])


def test_backward_with_wrong_gradient_shape_raises():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return np.ones(7, np.float32)

    x = fastdl.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(7,\)"):
        Bad.apply(x).backward()


def test_parameter_works_with_ops():
    from fastdl.nn import Parameter
    w = Parameter(np.ones((2, 2), np.float32))
    x = fastdl.tensor([[1.0, 2.0]])
    (x @ w + w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[3, 3], [5, 5]])  # x @ w is broadcast over 2 rows


def test_composite_graph_matches_torch(rng):
    torch = torch_or_skip()
    X = rng.standard_normal((8, 5)).astype(np.float32)
    W1 = rng.standard_normal((5, 6)).astype(np.float32)
    b1 = rng.standard_normal(6).astype(np.float32)
    W2 = rng.standard_normal((6, 3)).astype(np.float32)
    idx = np.array([0, 2, 1, 1, 0, 2, 2, 1])

    def model(m, X, W1, b1, W2):
        h = (X @ W1 + b1).clamp(min=0)
        z = h @ W2
        z = z - z.max(dim=1, keepdim=True)[0]
        logp = z - z.exp().sum(dim=1, keepdim=True).log()
        picked = logp[m.arange(8), m.tensor(idx)]
        return -picked.mean() + 0.01 * (W1 ** 2).sum() + (h.var(dim=0) / 4).sum()

    fs = [fastdl.tensor(a, requires_grad=True) for a in (W1, b1, W2)]
    ts = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2)]
    lf = model(fastdl, fastdl.tensor(X), *fs)
    lt = model(torch, torch.tensor(X), *ts)
    lf.backward()
    lt.backward()
    np.testing.assert_allclose(lf.item(), lt.item(), rtol=1e-5)
    for f, t in zip(fs, ts):
        np.testing.assert_allclose(f.grad.data, t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_float64_mode_for_gradcheck_is_scoped():
    from fastdl import gradcheck
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return (t * t).sum()

    gradcheck(fn, [np.ones(3)], eps=1e-6, atol=1e-6, rtol=1e-6)
    assert seen[0] == np.float64
    assert fastdl.get_default_dtype() == np.float32 and fastdl.ones(1).dtype == np.float32
    with pytest.raises(TypeError):
        fastdl.set_default_dtype(np.int64)


@pytest.mark.parametrize("make", [lambda: fastdl.nn.Conv2d(3, 4, 3, padding=1),
                                  lambda: fastdl.nn.BatchNorm2d(3)], ids=["conv2d", "batch_norm"])
def test_fresh_kernel_gradients_are_adopted_once_and_accumulate(make, rng):
    """Conv2d and BatchNorm hand their kernels' new gradient arrays to the leaves without a copy:
    each leaf owns a separate array, and a module applied twice (a shared weight) sums both."""
    m = make()
    x = fastdl.tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32), requires_grad=True)
    m(x).sum().backward()
    first = {n: p.grad.data.copy() for n, p in m.named_parameters()}
    first_x = x.grad.data.copy()
    grads = [p.grad.data for p in m.parameters()] + [x.grad.data]
    for a in grads:
        assert a.flags.writeable and a.flags.c_contiguous
        assert not any(np.shares_memory(a, o) for o in grads if o is not a)
    (m(x) + m(x)).sum().backward()  # the module twice in one graph, on top of the first pass
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.data, 3 * first[n], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.data, 3 * first_x, rtol=1e-5, atol=1e-5)
