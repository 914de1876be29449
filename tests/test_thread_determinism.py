"""Training the CNN zoo models gives bitwise-equal parameters, gradients and running statistics on
1, 2 and 3 threads (issue 9: every reduction on the CNN path - conv backward-weights, bias and
BatchNorm sums, linear layers, the loss - runs in an order that does not depend on the thread
count). Small batches and two SGD steps keep it to seconds; nin's dropout stays on, and
fastdl.manual_seed(0) before each run gives it the same masks."""
import numpy as np
import pytest

import fastdl
import fastdl.models
from fastdl import nn, optim

# model, batch, image size: large enough that every conv layer splits across threads
CASES = [("lenet", 16, 28), ("lenet_bn", 16, 28), ("nin", 4, 28), ("resnet18", 4, 28)]


def _train(name, batch, size, threads, steps=2):
    old = fastdl.get_num_threads()
    fastdl.set_num_threads(threads)
    try:
        fastdl.manual_seed(0)
        model = getattr(fastdl.models, name)()
        rng = np.random.default_rng(0)
        x = fastdl.tensor(rng.standard_normal((batch, 1, size, size)).astype(np.float32))
        t = fastdl.tensor(rng.integers(0, 10, batch).astype(np.int64))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(model(x), t).backward()
            opt.step()
        out = {k: np.array(v.data if hasattr(v, "data") else v).copy() for k, v in model.state_dict().items()}
        for i, p in enumerate(model.parameters()):
            out[f"grad{i}"] = np.array(p.grad.data).copy()
        return out
    finally:
        fastdl.set_num_threads(old)


@pytest.mark.parametrize("name,batch,size", CASES)
def test_training_bitwise_equal_across_thread_counts(name, batch, size):
    ref = _train(name, batch, size, 1)
    for threads in (2, 3):
        got = _train(name, batch, size, threads)
        assert got.keys() == ref.keys()
        bad = [k for k in ref if not np.array_equal(ref[k], got[k])]
        assert not bad, f"{name}: {threads} threads differ from 1 thread in {bad[:6]}"
