"""Kernel scratch memory (cpp/include/fastdl/scratch.h, ScratchScope): inside an op a thread's
scratch buffers are slices of one per-thread arena that is handed back when the op returns, so a
thread holds the largest single op's scratch, not the sum of every key's largest buffer over all
ops (~16 MB resident at ResNet-18's training peak before; issue 9)."""
import threading

import numpy as np

import fastdl
from fastdl import _C, nn


def _conv_step():
    fastdl.manual_seed(0)
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(32, 64, 3, padding=1)
    x = fastdl.tensor(rng.standard_normal((8, 32, 28, 28), dtype=np.float32), requires_grad=True)
    out = conv(x)
    out.sum().backward()
    return [out.detach().numpy(), x.grad.numpy(), conv.weight.grad.numpy()]


def _linear_step():
    fastdl.manual_seed(1)
    rng = np.random.default_rng(1)
    lin = nn.Linear(1024, 1024)
    x = fastdl.tensor(rng.standard_normal((256, 1024), dtype=np.float32), requires_grad=True)
    out = lin(x)
    (out * out).sum().backward()
    return [out.detach().numpy(), x.grad.numpy(), lin.weight.grad.numpy()]


def _in_fresh_thread(steps):
    """Runs the steps on a new thread (its scratch starts empty); returns their results and the
    scratch bytes the thread holds afterwards."""
    box = {}

    def run():
        box["results"] = [step() for step in steps]
        box["bytes"] = _C._scratch_bytes()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return box["results"], box["bytes"]


def test_thread_holds_the_largest_op_scratch_not_the_sum():
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(1)
    try:
        (conv,), conv_bytes = _in_fresh_thread([_conv_step])
        (lin,), lin_bytes = _in_fresh_thread([_linear_step])
        both, both_bytes = _in_fresh_thread([_conv_step, _linear_step, _conv_step])
    finally:
        fastdl.set_num_threads(prev)
    assert conv_bytes > 0 and lin_bytes > 0
    assert both_bytes <= max(conv_bytes, lin_bytes), (conv_bytes, lin_bytes, both_bytes)
    # the reused arena gives bitwise the results of a fresh thread
    for got, want in zip(both, [conv, lin, conv]):
        for u, v in zip(got, want):
            np.testing.assert_array_equal(u, v)
