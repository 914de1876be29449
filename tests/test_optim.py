"""fastdl.optim: the optimizers vs torch.optim (foreach=False) over 10 steps, param groups,
the Optimizer contract, state_dict round trips and bad inputs. The fused kernels themselves
are tested in test_optim_kernels.py."""
import numpy as np
import pytest

import fastdl
from fastdl.nn import Parameter
from fastdl.optim import SGD, Adam, AdamW, Optimizer

from conftest import torch_or_skip

SHAPES = [(5, 3), (17,), (1,)]


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


# ---- optimizers vs torch.optim ------------------------------------------------------------


def _make_pair(torch, seed=0):
    rng = np.random.default_rng(seed)
    init = [_f32(rng.standard_normal(s)) for s in SHAPES]
    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    grads = [[_f32(rng.standard_normal(s)) for s in SHAPES] for _ in range(10)]
    return ours, theirs, grads


def _run_both(torch, ours, theirs, grads, opt, topt, skip_none=False, sched=None, tsched=None):
    for step, gs in enumerate(grads):
        for i, (p, tp, g) in enumerate(zip(ours, theirs, gs)):
            if skip_none and i == 1 and step % 3 == 0:
                p.grad, tp.grad = None, None  # skipped this step by both
            else:
                p.grad = fastdl.Tensor(g)
                tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        if sched is not None:
            sched.step()
            tsched.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-6)


def _sgd_combos():
    out = []
    for momentum in (0.0, 0.9):
        for dampening in (0.0, 0.5):
            for weight_decay in (0.0, 0.01):
                for nesterov in (False, True):
                    if nesterov and (momentum == 0 or dampening != 0):
                        continue
                    for maximize in (False, True):
                        out.append((momentum, dampening, weight_decay, nesterov, maximize))
    return out


@pytest.mark.parametrize("momentum,dampening,weight_decay,nesterov,maximize", _sgd_combos())
def test_sgd_matches_torch(momentum, dampening, weight_decay, nesterov, maximize):
    torch = torch_or_skip()
    ours, theirs, grads = _make_pair(torch)
    kw = dict(lr=0.05, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
              maximize=maximize)
    _run_both(torch, ours, theirs, grads, SGD(ours, **kw), torch.optim.SGD(theirs, foreach=False, **kw),
              skip_none=True)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("maximize", [False, True])
def test_adam_matches_torch(cls, amsgrad, weight_decay, maximize):
    torch = torch_or_skip()
    ours, theirs, grads = _make_pair(torch, seed=1)
    kw = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-7, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
    opt = getattr(fastdl.optim, cls)(ours, **kw)
    topt = getattr(torch.optim, cls)(theirs, foreach=False, **kw)
    _run_both(torch, ours, theirs, grads, opt, topt, skip_none=True)
    p1 = ours[0]
    assert opt.state[p1]["step"] == 10
    np.testing.assert_allclose(opt.state[p1]["exp_avg"], topt.state[theirs[0]]["exp_avg"].numpy(), rtol=0, atol=1e-6)


def test_adam_defaults_match_torch():
    torch = torch_or_skip()
    ours, theirs, grads = _make_pair(torch, seed=2)
    _run_both(torch, ours, theirs, grads, Adam(ours), torch.optim.Adam(theirs, foreach=False))
    ours, theirs, grads = _make_pair(torch, seed=3)
    _run_both(torch, ours, theirs, grads, AdamW(ours), torch.optim.AdamW(theirs, foreach=False))
    assert AdamW(ours).defaults["weight_decay"] == torch.optim.AdamW(theirs).defaults["weight_decay"]


@pytest.mark.parametrize("cls", ["SGD", "Adam"])
def test_param_groups_with_different_lrs_match_torch(cls):
    torch = torch_or_skip()
    ours, theirs, grads = _make_pair(torch, seed=4)
    kw = dict(momentum=0.9) if cls == "SGD" else dict(betas=(0.9, 0.99))
    opt = getattr(fastdl.optim, cls)([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.2}], lr=0.01, **kw)
    topt = getattr(torch.optim, cls)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.2}], lr=0.01,
                                     foreach=False, **kw)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.2]
    _run_both(torch, ours, theirs, grads, opt, topt)


def test_optimizer_with_scheduler_matches_torch():
    torch = torch_or_skip()
    ours, theirs, grads = _make_pair(torch, seed=5)
    opt = SGD(ours, lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs, lr=0.1, momentum=0.9, foreach=False)
    sched = fastdl.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    _run_both(torch, ours, theirs, grads, opt, topt, sched=sched, tsched=tsched)


def test_load_torch_state_dict_continues_like_torch():
    """A torch optimizer state_dict (tensors converted to numpy) loads and continues identically."""
    torch = torch_or_skip()
    ours, theirs, grads = _make_pair(torch, seed=6)
    topt = torch.optim.Adam(theirs, lr=0.01, amsgrad=True, foreach=False)
    for gs in grads[:5]:
        for tp, g in zip(theirs, gs):
            tp.grad = torch.tensor(g)
        topt.step()
    tsd = topt.state_dict()
    sd = {"state": {k: {s: v.numpy().copy() for s, v in st.items()} for k, st in tsd["state"].items()},
          "param_groups": [dict(g) for g in tsd["param_groups"]]}
    for p, tp in zip(ours, theirs):
        p.data[...] = tp.detach().numpy()
    opt = Adam(ours, lr=0.01, amsgrad=True)
    opt.load_state_dict(sd)
    assert opt.state[ours[0]]["step"] == 5
    _run_both(torch, ours, theirs, grads[5:], opt, topt)


# ---- Optimizer contract -------------------------------------------------------------------
def _params(rng, shapes=SHAPES):
    return [Parameter(_f32(rng.standard_normal(s))) for s in shapes]


def _set_grads(params, rng):
    for p in params:
        p.grad = fastdl.Tensor(_f32(rng.standard_normal(p.shape)))


def test_param_groups_defaults_filled_and_state_lazy(rng):
    ps = _params(rng)
    opt = SGD([{"params": ps[:2], "momentum": 0.5}, {"params": ps[2]}], lr=0.3)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.3 and g0["momentum"] == 0.5 and g0["nesterov"] is False
    assert g1["params"] == [ps[2]] and g1["momentum"] == 0
    assert len(opt.state) == 0
    _set_grads(ps, rng)
    opt.step()
    assert "momentum_buffer" in opt.state[ps[0]] and "momentum_buffer" not in opt.state[ps[2]]
    np.testing.assert_array_equal(opt.state[ps[0]]["momentum_buffer"], ps[0].grad.data)  # first step: buf = g


def test_add_param_group(rng):
    ps = _params(rng)
    opt = Adam(ps[:2], lr=0.1)
    opt.add_param_group({"params": [ps[2]], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [ps[0]]})
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([ps[0]])


def test_step_skips_params_without_grad_and_returns_closure_loss(rng):
    ps = _params(rng)
    before = [p.data.copy() for p in ps]
    opt = Adam(ps, lr=0.1)
    ps[0].grad = fastdl.Tensor(np.ones(ps[0].shape, np.float32))
    calls = []

    def closure():
        calls.append(fastdl.is_grad_enabled())
        return 1.5

    assert opt.step(closure) == 1.5 and calls == [True]
    assert not np.array_equal(ps[0].data, before[0])
    for p, b in zip(ps[1:], before[1:]):
        np.testing.assert_array_equal(p.data, b)
        assert p not in opt.state


def test_zero_grad(rng):
    ps = _params(rng)
    opt = SGD(ps, lr=0.1)
    _set_grads(ps, rng)
    grad_arrays = [p.grad.data for p in ps]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(ps, grad_arrays):
        assert p.grad.data is g and not g.any()
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def _train(opt_factory, params, grads):
    opt = opt_factory(params)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = fastdl.Tensor(g)
        opt.step()
    return opt


@pytest.mark.parametrize("factory", [
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], lr=0.01, amsgrad=True),
    lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
], ids=["sgd", "adam_groups", "adamw"])
def test_state_dict_round_trip_continues_identically(rng, factory):
    init = [_f32(rng.standard_normal(s)) for s in SHAPES]
    grads = [[_f32(rng.standard_normal(s)) for s in SHAPES] for _ in range(10)]
    full = [Parameter(a.copy()) for a in init]
    _train(factory, full, grads)

    first = [Parameter(a.copy()) for a in init]
    opt = _train(factory, first, grads[:5])
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2]
    assert [i for g in sd["param_groups"] for i in g["params"]] == [0, 1, 2]
    snapshot = {k: {s: (v.copy() if isinstance(v, np.ndarray) else v) for s, v in st.items()}
                for k, st in sd["state"].items()}
    _set_grads(first, rng)
    opt.step()  # the saved state_dict holds copies: training on does not change it
    for k, st in snapshot.items():
        for s, v in st.items():
            np.testing.assert_array_equal(sd["state"][k][s], v)

    # the parameters as they were when the state_dict was taken, a fresh optimizer, load, continue
    again = [Parameter(a.copy()) for a in init]
    _train(factory, again, grads[:5])
    fresh = factory(again)
    fresh.load_state_dict(sd)
    for gs in grads[5:]:
        for p, g in zip(again, gs):
            p.grad = fastdl.Tensor(g)
        fresh.step()
    for p, q in zip(again, full):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_validation(rng):
    ps = _params(rng)
    opt = Adam(ps, lr=0.1)
    _set_grads(ps, rng)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        Adam([{"params": ps[:1]}, {"params": ps[1:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        Adam(ps[:2]).load_state_dict(sd)
    other = [Parameter(np.zeros((2, 2), np.float32))] + ps[1:]
    with pytest.raises(ValueError, match=r"shape \(5, 3\).*\(2, 2\)"):
        Adam(other).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        Adam(ps).load_state_dict({"state": {}})
    # a valid load keeps the optimizer's own parameters and takes the saved options
    sd["param_groups"][0]["lr"] = 0.25
    fresh = Adam(ps, lr=0.1)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["params"][0] is ps[0] and fresh.param_groups[0]["lr"] == 0.25
    assert fresh.state[ps[0]]["exp_avg"] is not sd["state"][0]["exp_avg"]


def test_repr_lists_groups(rng):
    r = repr(SGD(_params(rng), lr=0.1, momentum=0.9))
    assert r.startswith("SGD (") and "Parameter Group 0" in r and "momentum: 0.9" in r


# ---- bad inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("make,msg", [
    (lambda ps: SGD(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda ps: SGD(ps, lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value"),
    (lambda ps: SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda ps: SGD([{"params": ps, "lr": -0.5}], lr=0.1), "Invalid learning rate: -0.5"),
    (lambda ps: Adam(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda ps: AdamW(ps, betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    (lambda ps: Adam(ps, eps=-1e-8), "Invalid epsilon value"),
    (lambda ps: AdamW(ps, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda ps: Adam(ps, betas=(0.9,)), "betas must be a pair"),
    (lambda ps: SGD([], lr=0.1), "empty parameter list"),
])
def test_bad_hyperparameters_raise(rng, make, msg):
    with pytest.raises(ValueError, match=msg):
        make(_params(rng))


def test_bad_params_raise(rng):
    ps = _params(rng)
    with pytest.raises(TypeError, match="float32"):
        SGD([fastdl.Tensor(np.arange(3))], lr=0.1)  # int64 tensor
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([np.zeros(3, np.float32)], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        SGD(ps[0], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        SGD({ps[0], ps[1]}, lr=0.1)
    class _Twice(fastdl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, dy):
            return dy * 2

    y = _Twice.apply(ps[0])  # a non-leaf tensor
    assert not y.is_leaf
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([y], lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_grad_shape_mismatch_raises(rng, cls):
    p = Parameter(np.zeros((3, 4), np.float32))
    opt = cls([p], lr=0.1)
    p.grad = fastdl.Tensor(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        opt.step()
    np.testing.assert_array_equal(p.data, 0)


def test_non_float32_or_strided_grad_is_converted(rng):
    p = Parameter(np.zeros((3, 4), np.float32))
    opt = SGD([p], lr=1.0)
    g = np.arange(12, dtype=np.float64).reshape(4, 3).T  # float64, not C-contiguous
    p.grad = g
    opt.step()
    np.testing.assert_array_equal(p.data, -g.astype(np.float32))


def test_bad_param_data_raises():
    p = Parameter(np.zeros((4, 3), np.float32))
    opt = SGD([p], lr=0.1)
    p.data = p.data.T  # a strided view cannot be updated in place by the kernel
    p.grad = fastdl.Tensor(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step()


def test_empty_parameter_tensor_is_fine():
    p = Parameter(np.zeros((0, 3), np.float32))
    opt = Adam([p], lr=0.1)
    p.grad = fastdl.Tensor(np.zeros((0, 3), np.float32))
    opt.step()
    assert opt.state[p]["step"] == 1


def test_optimizer_base_is_exported():
    assert issubclass(SGD, Optimizer) and issubclass(AdamW, Adam)
