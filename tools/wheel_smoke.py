"""Smoke test of an installed fastdl wheel (run by tools/build_wheel.sh in a fresh venv).

    python wheel_smoke.py step           import, where from, the bundled libgomp, one training step
    python wheel_smoke.py torch-first    import torch then fastdl; threaded ops in both, checked
    python wheel_smoke.py fastdl-first   import fastdl then torch; the same

Exits non-zero (with a message) on any failure; the caller adds a timeout against hangs.
"""
import os
import sys
import sysconfig

import numpy as np


def loaded_libgomps():
    """Paths of every libgomp mapped into this process."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libgomp" in line}
    return sorted(paths)


def check_install(fastdl):
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    where = os.path.realpath(fastdl.__file__)
    assert where.startswith(site), f"fastdl imported from {where}, not from the venv's {site}"
    assert os.path.realpath(np.__file__).startswith(site), f"numpy imported from {np.__file__}"
    ours = [p for p in loaded_libgomps() if "fastdl.libs" in p]
    assert len(ours) == 1 and os.path.basename(ours[0]).startswith("libgomp-"), \
        f"expected fastdl's own mangled libgomp, loaded: {loaded_libgomps()}"
    assert fastdl._C.has_openmp()
    return ours[0]


def training_step(fastdl):
    from fastdl import nn, optim

    fastdl.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 12, 12)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 10, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0], f"training did not reduce the loss: {losses}"
    hist = fastdl.train.fit(model, (x, y), loss_fn, opt, epochs=1, verbose=0)
    assert len(hist) == 1
    return losses


def gemm_exact(fastdl, rng):
    a = rng.integers(-4, 5, size=(300, 257)).astype(np.float32)
    b = rng.integers(-4, 5, size=(257, 190)).astype(np.float32)
    ref = (a.astype(np.float64) @ b).astype(np.float32)
    assert np.array_equal(fastdl.ops.gemm(a, b), ref), "fastdl gemm differs from the exact reference"


def coexist(order):
    if order == "torch-first":
        import torch
        import fastdl
    else:
        import fastdl
        import torch
    mine = check_install(fastdl)
    torch.set_num_threads(2)
    fastdl.set_num_threads(2)
    gomps = loaded_libgomps()
    assert any("fastdl.libs" not in p for p in gomps), f"torch's libgomp is not loaded: {gomps}"
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1
    for _ in range(5):  # interleave: each library's pool wakes up while the other's exists
        ours = fastdl.functional.conv2d(x, w, padding=1).numpy()
        theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
        gemm_exact(fastdl, rng)
        a = torch.from_numpy(rng.integers(-4, 5, size=(256, 256)).astype(np.float32))
        assert torch.equal(a @ a, torch.from_numpy((a.double() @ a.double()).float().numpy()))
    assert fastdl.get_num_threads() == 2 and torch.get_num_threads() == 2
    print(f"{order}: fastdl and torch {torch.__version__} agree; libgomps loaded: {gomps} (fastdl's: "
          f"{os.path.basename(mine)})")


def main(mode):
    if mode == "step":
        import fastdl

        lib = check_install(fastdl)
        gemm_exact(fastdl, np.random.default_rng(0))
        losses = training_step(fastdl)
        print(f"fastdl {fastdl.__version__} from the wheel, libgomp {os.path.basename(lib)}; "
              f"training step loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    elif mode in ("torch-first", "fastdl-first"):
        coexist(mode)
    else:
        sys.exit(f"unknown mode {mode!r}: step, torch-first or fastdl-first")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "step")
