"""Threads and processes (docs/testing.md §2 rows 19-21).

Row 19: OpenMP after fork() - a parallel op in the parent, then the same op in a forked child
        (fastdl's pthread_atfork handler makes the child serial; raising the thread count
        there raises instead of deadlocking).
Row 20: several OpenMP runtimes in one process - fastdl imported before/after torch and
        scikit-learn (each ships its own libgomp), results checked each time; threadpoolctl
        sees fastdl's runtime; OMP_NUM_THREADS / FASTDL_NUM_THREADS are honoured.
Row 21: the bindings release the GIL - the same kernels called from 8 Python threads must
        give bitwise the serial results (no shared scratch between threads).
Process-level cases run in a subprocess with a timeout so a hang or crash fails the test.
"""
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import fastdl
import fastdl.functional as F

PYTHON_DIR = str(Path(fastdl.__file__).resolve().parent.parent)


def run_script(code, env_extra=None, timeout=60):
    """Runs ``code`` in a fresh interpreter (fastdl importable); returns the last stdout line
    parsed as JSON. A timeout (hang), a signal (crash) or an exception fails the test."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "FASTDL_NUM_THREADS")}
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"subprocess hung (> {timeout} s); stdout so far: {e.stdout!r}")
    assert r.returncode == 0, f"subprocess exit code {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- row 19: fork --------------------------------------------------------------------------
FORK_SCRIPT = """
import json, multiprocessing as mp, os, sys
import numpy as np
import fastdl

rng = np.random.default_rng(0)
a = rng.integers(-4, 5, size=(384, 256)).astype(np.float32)   # small integers: exact sums
b = rng.integers(-4, 5, size=(256, 320)).astype(np.float32)
expected = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
fastdl.set_num_threads(2)
parent_ok = bool(np.array_equal(fastdl.ops.gemm(a, b), expected))
parent_tasks = len(os.listdir("/proc/self/task"))   # > 1: the OpenMP pool was started

def child(conn, mode):
    out = {"threads_at_start": fastdl.get_num_threads()}
    try:
        if mode == "set1":
            fastdl.set_num_threads(1)
        elif mode == "set2":
            try:
                fastdl.set_num_threads(2)
                out["set2"] = "accepted"
            except (RuntimeError, ValueError) as e:
                out["set2"] = type(e).__name__ + ": " + str(e)
        out["ok"] = bool(np.array_equal(fastdl.ops.gemm(a, b), expected))
        out["relu_ok"] = bool(np.array_equal(fastdl.functional.relu(a).numpy(), np.maximum(a, 0)))
        out["threads"] = fastdl.get_num_threads()
    except BaseException as e:
        out["error"] = repr(e)
    conn.send(out)
    conn.close()

ctx = mp.get_context("fork")
results = {}
for mode in ("plain", "set1", "set2"):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(w, mode))
    p.start()
    got = r.recv() if r.poll(60) else None
    p.join(10)
    if p.is_alive():
        p.kill()
        p.join()
    results[mode] = {"result": got, "exitcode": p.exitcode}
print(json.dumps({"parent_ok": parent_ok, "parent_tasks": parent_tasks,
                  "parent_threads": fastdl.get_num_threads(), "children": results}))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc/self/task"), reason="needs fork and /proc")
def test_fork_child_after_parallel_parent_finishes_and_is_correct():
    if not fastdl._C.has_openmp():
        pytest.skip("built without OpenMP")
    r = run_script(FORK_SCRIPT, timeout=150)
    assert r["parent_ok"]
    assert r["parent_tasks"] >= 2, "the parent never started OpenMP threads: the test would prove nothing"
    assert r["parent_threads"] == 2  # the child's atfork handler must not touch the parent
    for mode, c in r["children"].items():
        res = c["result"]
        assert res is not None, f"fork child ({mode}) hung: no result within 60 s"
        assert c["exitcode"] == 0, (mode, c)
        assert "error" not in res, (mode, res)
        assert res["threads_at_start"] == 1, "the child must start serial"
        assert res["ok"] and res["relu_ok"], (mode, res)
        assert res["threads"] == 1, (mode, res)
    # Raising the thread count in the child must not deadlock: it raises and stays serial.
    assert r["children"]["set2"]["result"]["set2"].startswith("RuntimeError: set_num_threads(2)")
    assert "spawn" in r["children"]["set2"]["result"]["set2"]


def test_spawn_child_keeps_threads():
    """Only fork() children are forced serial: a fresh (spawned) interpreter honours FASTDL_NUM_THREADS."""
    r = run_script("""
        import json, fastdl
        fastdl.set_num_threads(2)
        print(json.dumps({"n": fastdl.get_num_threads()}))
    """, {"FASTDL_NUM_THREADS": "1"})
    assert r["n"] == 2


def test_thread_count_bounds_the_threads_a_shape_fixed_plan_uses():
    """A plan whose chunk count follows the shape (conv backward-weights: 6 chunks) runs on at
    most get_num_threads() threads: 1 thread starts no worker, 2 threads start one."""
    r = run_script("""
        import json, os, numpy as np, fastdl
        from fastdl import _C
        x = np.ones((64, 1, 12, 12), np.float32); w = np.ones((6, 1, 5, 5), np.float32)
        dy = np.ones((64, 6, 8, 8), np.float32)
        base = len(os.listdir("/proc/self/task"))   # numpy's BLAS may have started threads
        out = {}
        for n in (1, 2):
            fastdl.set_num_threads(n)
            _, dw, _ = _C.conv2d_backward(dy, x, w, (1, 1), (0, 0), (1, 1), 1, need_input=False)
            out[n] = [len(os.listdir("/proc/self/task")) - base, float(dw[0, 0, 0, 0])]
        print(json.dumps(out))
    """)
    assert r["1"] == [0, 64 * 64.0]
    assert r["2"] == [1, 64 * 64.0]


# ---- row 20: several OpenMP runtimes -------------------------------------------------------
RUNTIMES_SCRIPT = """
import ctypes, json, os, sys
import numpy as np

ORDER = sys.argv[1].split(",") if len(sys.argv) > 1 else %r
rng = np.random.default_rng(1)
a = rng.integers(-4, 5, size=(200, 96)).astype(np.float32)
b = rng.integers(-4, 5, size=(96, 130)).astype(np.float32)
exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
x = rng.standard_normal((64, 257)).astype(np.float32)
img = rng.integers(-3, 4, size=(2, 3, 16, 15)).astype(np.float32)
ker = rng.integers(-3, 4, size=(5, 3, 3, 3)).astype(np.float32)
win = np.lib.stride_tricks.sliding_window_view(np.pad(img.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1))),
                                               (3, 3), axis=(2, 3))
conv_exact = np.einsum("nchwij,ocij->nohw", win, ker.astype(np.float64)).astype(np.float32)
checks = []

def check_fastdl(after):
    import fastdl
    import fastdl.functional as F
    ok = bool(np.array_equal(fastdl.ops.gemm(a, b), exact))
    ok &= bool(np.array_equal(F.relu(x).numpy(), np.maximum(x, 0)))
    t = np.tanh(x.astype(np.float64))
    ok &= bool(np.allclose(F.tanh(x).numpy(), t, rtol=1.3e-6, atol=1e-5))
    if hasattr(F, "conv2d"):  # small integers: the float32 result is exact
        ok &= bool(np.array_equal(F.conv2d(img, ker, padding=1).numpy(), conv_exact))
    checks.append([after, ok])

def use_other(name):
    if name == "torch":
        import torch
        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(2)
        ok = bool(torch.equal(torch.from_numpy(a) @ torch.from_numpy(b), torch.from_numpy(exact)))
        checks.append(["torch op", ok])
    elif name == "sklearn":
        from sklearn.cluster import KMeans   # Lloyd iterations run in OpenMP (prange)
        pts = np.concatenate([rng.standard_normal((300, 2)) + c for c in ((0, 0), (8, 8))])
        km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(pts)
        checks.append(["sklearn op", sorted(np.bincount(km.labels_).tolist()) == [300, 300]])

for name in ORDER:
    if name == "fastdl":
        import fastdl
    else:
        __import__(name)
        use_other(name)
    if "fastdl" in sys.modules:
        check_fastdl(name)
for name in ORDER:            # interleave once more, everything loaded
    if name != "fastdl":
        use_other(name)
    check_fastdl("again " + name)

import fastdl
# The OpenMP library fastdl's module binds to: dlopen of its soname returns the loaded copy.
class DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
gomp = ctypes.CDLL("libgomp.so.1")
info = DlInfo()
ctypes.CDLL(None).dladdr(ctypes.cast(gomp.omp_get_max_threads, ctypes.c_void_p), ctypes.byref(info))
fastdl_omp = os.path.realpath(info.dli_fname.decode())
maps = open("/proc/self/maps").read()
pools = []
try:
    import threadpoolctl
    pools = [{"api": p["internal_api"], "n": p["num_threads"], "path": os.path.realpath(p["filepath"])}
             for p in threadpoolctl.threadpool_info()]
except ImportError:
    pools = None
print(json.dumps({"checks": checks, "fastdl_threads": fastdl.get_num_threads(), "fastdl_omp": fastdl_omp,
                  "fastdl_omp_mapped": fastdl_omp in maps, "pools": pools}))
"""

def _needs(*mods):
    import importlib.util
    for m in mods:
        if importlib.util.find_spec(m) is None:
            pytest.skip(f"{m} is not installed")
    if os.environ.get("FASTDL_SANITIZED"):
        pytest.skip("foreign OpenMP runtimes are not instrumented under the sanitizer build")


# fastdl before both foreign runtimes, and after both (then with OMP_NUM_THREADS=1, which all
# three runtimes must honour).
ORDERS = [(("fastdl", "torch", "sklearn"), {}), (("torch", "sklearn", "fastdl"), {"OMP_NUM_THREADS": "1"})]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libgomp/dladdr are Linux-specific")
@pytest.mark.parametrize("order, env", ORDERS, ids=["fastdl-torch-sklearn", "torch-sklearn-fastdl-omp1"])
def test_import_order_with_other_openmp_runtimes(order, env):
    _needs("torch", "sklearn")
    if not fastdl._C.has_openmp():
        pytest.skip("built without OpenMP")
    r = run_script(RUNTIMES_SCRIPT % (list(order),), env, timeout=120)
    assert len(r["checks"]) >= 7
    bad = [c for c in r["checks"] if not c[1]]
    assert bad == [], r["checks"]
    assert r["fastdl_omp_mapped"]
    if env.get("OMP_NUM_THREADS") == "1":
        assert r["fastdl_threads"] == 1
    if r["pools"] is not None:  # threadpoolctl installed: it sees fastdl's runtime and its thread count
        mine = [p for p in r["pools"] if p["path"] == r["fastdl_omp"]]
        assert len(mine) == 1 and mine[0]["api"] == "openmp", (r["fastdl_omp"], r["pools"])
        assert mine[0]["n"] == r["fastdl_threads"]
        if env.get("OMP_NUM_THREADS") == "1":
            assert all(p["n"] == 1 for p in r["pools"]), r["pools"]


# (OMP_NUM_THREADS alone and FASTDL_NUM_THREADS below OMP_NUM_THREADS: tests/test_runtime.py)
@pytest.mark.parametrize("env, expected", [
    ({"OMP_NUM_THREADS": "1", "FASTDL_NUM_THREADS": "2"}, 2),   # fastdl's own variable wins, also upwards
], ids=["omp1-fastdl2"])
def test_thread_count_environment(env, expected):
    if not fastdl._C.has_openmp() and expected > 1:
        pytest.skip("built without OpenMP")
    r = run_script("""
        import json, numpy as np, fastdl
        a = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) % 7
        ok = bool(np.array_equal(fastdl.ops.gemm(a, a), (a.astype(np.float64) @ a).astype(np.float32)))
        print(json.dumps({"n": fastdl.get_num_threads(), "ok": ok}))
    """, env)
    assert r == {"n": expected, "ok": True}


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_bad_fastdl_num_threads_fails_import_cleanly(value):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env["FASTDL_NUM_THREADS"] = value
    r = subprocess.run([sys.executable, "-c", "import fastdl"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)  # a Python exception, not a signal
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: FASTDL_NUM_THREADS={value!r}"), last


# ---- row 21: Python threads ----------------------------------------------------------------
def _case_gemm(rng):
    a = rng.standard_normal((97, 80)).astype(np.float32)
    b = rng.standard_normal((80, 75)).astype(np.float32)
    c = rng.standard_normal((75, 97)).astype(np.float32)
    return lambda: (fastdl.ops.gemm(a, b), fastdl.ops.gemm(c, b, trans_a=True, trans_b=True),
                    fastdl.ops.gemm(a, b, alpha=0.5, beta=2.0, out=np.ones((97, 75), np.float32)))


def _case_linear(rng):
    x0 = rng.standard_normal((40, 64)).astype(np.float32)
    w0 = rng.standard_normal((48, 64)).astype(np.float32) * 0.1
    b0 = rng.standard_normal(48).astype(np.float32)
    g = rng.standard_normal((40, 48)).astype(np.float32)

    def run():
        x = fastdl.tensor(x0, requires_grad=True)
        w = fastdl.tensor(w0, requires_grad=True)
        b = fastdl.tensor(b0, requires_grad=True)
        y = F.linear(x, w, b)
        (y * fastdl.tensor(g)).sum().backward()
        return y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()
    return run


def _case_softmax_ce(rng):
    z0 = (rng.standard_normal((64, 33)) * 3).astype(np.float32)
    t = rng.integers(0, 33, size=64)

    def run():
        z = fastdl.tensor(z0, requires_grad=True)
        loss = F.cross_entropy(z, t, label_smoothing=0.1)
        loss.backward()
        return (F.softmax(z0, dim=1).numpy(), F.log_softmax(z0, dim=0).numpy(), F.sigmoid(z0).numpy(),
                loss.detach().numpy(), z.grad.numpy())
    return run


def _case_mse_dropout_free(rng):
    a0 = rng.standard_normal((50, 31)).astype(np.float32)
    b0 = rng.standard_normal((50, 31)).astype(np.float32)

    def run():
        a = fastdl.tensor(a0, requires_grad=True)
        loss = F.mse_loss(F.tanh(a), b0) + F.l1_loss(F.relu(a), b0)
        loss.backward()
        return loss.detach().numpy(), a.grad.numpy()
    return run


def _case_conv(rng):
    x = rng.standard_normal((4, 8, 16, 15)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)

    def run():
        xt = fastdl.tensor(x, requires_grad=True)
        y = F.conv2d(xt, w, padding=1)
        (y * y).sum().backward()
        return y.detach().numpy(), xt.grad.numpy()
    return run


def _case_pool(rng):
    x = rng.standard_normal((2, 3, 12, 11)).astype(np.float32)

    def run():
        xt = fastdl.tensor(x, requires_grad=True)
        y = F.max_pool2d(xt, 2) + 0  # noqa: make a fresh graph node
        y.sum().backward()
        return y.detach().numpy(), xt.grad.numpy()
    return run


def _case_batch_norm(rng):
    x = rng.standard_normal((8, 5, 6, 6)).astype(np.float32)

    def run():
        xt = fastdl.tensor(x, requires_grad=True)
        rm, rv = np.zeros(5, np.float32), np.ones(5, np.float32)
        y = F.batch_norm(xt, rm, rv, training=True)
        (y * y).sum().backward()
        return y.detach().numpy(), xt.grad.numpy(), rm, rv
    return run


def _case_rnn(rng):
    x = rng.standard_normal((12, 4, 10)).astype(np.float32)
    ws = [(rng.standard_normal(sh) * 0.3).astype(np.float32) for sh in [(64, 10), (64, 16), (64,), (64,)]]

    def run():
        xt = fastdl.tensor(x, requires_grad=True)
        out, h, c = F.rnn(xt, None, ws, "LSTM")
        (out * out).sum().backward()
        return out.detach().numpy(), h.detach().numpy(), c.detach().numpy(), xt.grad.numpy()
    return run


CASES = {"gemm": (_case_gemm, None), "linear": (_case_linear, None), "softmax_ce": (_case_softmax_ce, None),
         "losses": (_case_mse_dropout_free, None), "conv2d": (_case_conv, "conv2d"),
         "max_pool2d": (_case_pool, "max_pool2d"), "batch_norm": (_case_batch_norm, "batch_norm"), "lstm": (_case_rnn, "rnn")}


def _same(r1, r2):
    return len(r1) == len(r2) and all(np.asarray(a).tobytes() == np.asarray(b).tobytes() and
                                      np.shape(a) == np.shape(b) for a, b in zip(r1, r2))


@pytest.mark.parametrize("n_threads", [1, 2], ids=["fastdl_t1", "fastdl_t2"])
@pytest.mark.parametrize("name", list(CASES))
def test_same_kernel_from_8_python_threads_matches_serial(name, n_threads, isa):
    make, needs = CASES[name]
    if needs is not None and not hasattr(F, needs):
        pytest.skip(f"F.{needs} is not in this tree yet")
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(n_threads)
    try:
        n_py, iters = 8, 50
        runs = [make(np.random.default_rng(100 + i)) for i in range(n_py)]  # different data per thread
        serial = [run() for run in runs]
        barrier = threading.Barrier(n_py)
        failures, errors = [], []

        def worker(i):
            try:
                barrier.wait()
                for it in range(iters):
                    if not _same(runs[i](), serial[i]):
                        failures.append((i, it))
            except BaseException as e:  # reported below, not swallowed
                errors.append((i, repr(e)))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(n_py)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert not any(t.is_alive() for t in ts), "a worker thread hung"
        assert errors == []
        assert failures == [], f"{len(failures)} results differ from the serial run (thread, iteration): {failures[:8]}"
    finally:
        fastdl.set_num_threads(prev)


def test_grad_mode_is_per_thread():
    """no_grad in one thread must not switch off recording in another (PyTorch: thread-local)."""
    inside, go = threading.Event(), threading.Event()
    seen = {}

    def quiet():
        with fastdl.no_grad():
            inside.set()
            go.wait(10)
            seen["quiet"] = F.relu(fastdl.tensor([1.0], requires_grad=True)).requires_grad

    t = threading.Thread(target=quiet)
    t.start()
    assert inside.wait(10)
    seen["main"] = F.relu(fastdl.tensor([1.0], requires_grad=True)).requires_grad
    go.set()
    t.join(10)
    assert seen == {"main": True, "quiet": False}
