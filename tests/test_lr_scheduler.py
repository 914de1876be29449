"""fastdl.optim.lr_scheduler: each scheduler's lr sequence equals PyTorch's over 30 steps
(two param groups), state_dict round trips, bad arguments."""
import math

import numpy as np
import pytest

import fastdl
from fastdl.nn import Parameter
from fastdl.optim import SGD, Adam, lr_scheduler

from conftest import torch_or_skip

STEPS = 30


def _pair(torch, opt_name="SGD"):
    ours = [Parameter(np.zeros(3, np.float32)), Parameter(np.zeros(2, np.float32))]
    theirs = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    opt = getattr(fastdl.optim, opt_name)([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.03}], lr=0.1)
    topt = getattr(torch.optim, opt_name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.03}], lr=0.1)
    return opt, topt


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


SCHEDULERS = {
    "StepLR": dict(step_size=4, gamma=0.5),
    "MultiStepLR": dict(milestones=[3, 8, 8, 20], gamma=0.3),
    "ExponentialLR": dict(gamma=0.9),
    "CosineAnnealingLR": dict(T_max=10, eta_min=0.001),
    "CosineAnnealingLR-noeta": dict(T_max=7),
    "LinearLR": dict(start_factor=0.1, total_iters=8),
    "LinearLR-decay": dict(start_factor=1.0, end_factor=0.25, total_iters=5),
    "LinearLR-defaults": dict(),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_sequence_matches_torch(name):
    torch = torch_or_skip()
    cls = name.split("-")[0]
    opt, topt = _pair(torch)
    sched = getattr(lr_scheduler, cls)(opt, **SCHEDULERS[name])
    tsched = getattr(torch.optim.lr_scheduler, cls)(topt, **SCHEDULERS[name])
    ours, theirs = [_lrs(opt)], [_lrs(topt)]
    assert sched.get_last_lr() == tsched.get_last_lr()
    for _ in range(STEPS):
        topt.step()  # torch warns when the scheduler steps before the optimizer
        sched.step()
        tsched.step()
        ours.append(_lrs(opt))
        theirs.append(_lrs(topt))
        assert sched.get_last_lr() == ours[-1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)
    assert sched.last_epoch == tsched.last_epoch == STEPS
    assert sched.base_lrs == tsched.base_lrs == [0.1, 0.03]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.03]
    assert len(set(map(tuple, ours))) > 1  # the schedule actually changes the lr


def test_cosine_follows_closed_form():
    opt = SGD([Parameter(np.zeros(1, np.float32))], lr=0.2)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=12, eta_min=0.01)
    for t in range(1, 13):
        sched.step()
        want = 0.01 + (0.2 - 0.01) * (1 + math.cos(math.pi * t / 12)) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_linear_warmup_reaches_base_lr():
    opt = SGD([Parameter(np.zeros(1, np.float32))], lr=0.5)
    sched = lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=4)
    seen = [opt.param_groups[0]["lr"]]
    for _ in range(6):
        sched.step()
        seen.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(seen, [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5], rtol=1e-12)


PLATEAU = {
    "min-rel": dict(mode="min", factor=0.5, patience=2),
    "min-abs-cooldown": dict(mode="min", factor=0.3, patience=1, threshold=0.05, threshold_mode="abs", cooldown=2),
    "max-rel-minlr": dict(mode="max", factor=0.1, patience=0, threshold=0.01, min_lr=[0.002, 0.0005]),
    "min-minlr-scalar-eps": dict(mode="min", factor=0.5, patience=0, min_lr=0.01, eps=1e-3),
}


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_on_plateau_matches_torch(name):
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    # a metric that improves, stalls, improves a little, stalls...
    metrics = np.concatenate([np.linspace(1.0, 0.5, 6), np.full(5, 0.5), 0.5 - 0.001 * np.arange(5),
                              np.full(6, 0.49), 0.4 + 0.01 * rng.standard_normal(8)])
    if PLATEAU[name]["mode"] == "max":
        metrics = -metrics
    opt, topt = _pair(torch)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **PLATEAU[name])
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **PLATEAU[name])
    ours, theirs = [], []
    for m in metrics:
        sched.step(float(m))
        tsched.step(float(m))
        ours.append(_lrs(opt))
        theirs.append(_lrs(topt))
        assert sched.get_last_lr() == ours[-1]
        assert sched.num_bad_epochs == tsched.num_bad_epochs and sched.best == tsched.best
    assert ours == theirs
    assert len(set(map(tuple, ours))) > 2  # several reductions happened


def test_reduce_on_plateau_accepts_tensor_metric():
    opt = SGD([Parameter(np.zeros(1, np.float32))], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    sched.step(fastdl.tensor(1.0))
    sched.step(np.float32(2.0))
    assert opt.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9]),
    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01),
    lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=6),
], ids=["step", "multistep", "exp", "cosine", "linear"])
def test_scheduler_state_dict_round_trip(make):
    """Save optimizer + scheduler mid-run, restore into fresh ones, continue: same lrs."""
    p = Parameter(np.zeros(2, np.float32))
    opt = Adam([p], lr=0.1)
    sched = make(opt)
    for _ in range(4):
        sched.step()
    osd, ssd = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in ssd
    expected = []
    for _ in range(10):
        sched.step()
        expected.append(sched.get_last_lr())

    q = Parameter(np.zeros(2, np.float32))
    opt2 = Adam([q], lr=0.1)
    sched2 = make(opt2)  # like torch: create the scheduler, then load both states
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    got = []
    for _ in range(10):
        sched2.step()
        got.append(sched2.get_last_lr())
    assert got == expected


def test_reduce_on_plateau_state_dict_round_trip():
    opt = SGD([Parameter(np.zeros(1, np.float32))], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for m in (3.0, 2.0, 2.0, 2.0):
        sched.step(m)
    sd = sched.state_dict()
    opt2 = SGD([Parameter(np.zeros(1, np.float32))], lr=1.0)
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(sd)
    for m in (2.0, 2.0, 2.0, 1.0, 1.0, 1.0):
        sched.step(m)
        sched2.step(m)
        assert sched2.get_last_lr() == sched.get_last_lr()
    assert sched2.patience == 1 and sched2.best == sched.best


def test_resume_with_last_epoch_needs_initial_lr():
    opt = SGD([Parameter(np.zeros(1, np.float32))], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=5)
    opt.param_groups[0]["initial_lr"] = 0.4
    sched = lr_scheduler.StepLR(opt, step_size=2, last_epoch=5)
    assert sched.base_lrs == [0.4] and sched.last_epoch == 6


@pytest.mark.parametrize("make,exc,msg", [
    (lambda o: lr_scheduler.StepLR(object(), step_size=2), TypeError, "object is not an Optimizer"),
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size must be a positive integer"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be a positive integer"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError, "Starting multiplicative factor"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError, "Ending multiplicative factor"),
    (lambda o: lr_scheduler.LinearLR(o, total_iters=0), ValueError, "total_iters must be a positive integer"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "mode up is unknown"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold mode x is unknown"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, "expected 1 min_lrs, got 2"),
])
def test_bad_scheduler_arguments(make, exc, msg):
    opt = SGD([Parameter(np.zeros(1, np.float32))], lr=0.1)
    with pytest.raises(exc, match=msg):
        make(opt)
