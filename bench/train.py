"""Per-step training and inference time of fastdl beside PyTorch, with peak RSS.

Every (model, framework, threads, mode) runs in its own subprocess, so each peak RSS is that
run's alone and the fastdl process never imports torch. The PyTorch run writes its initial
weights (safetensors); the fastdl run loads them, so both start from the same weights and see
the same fixed batch. Before timing, results are verified: the eval-mode outputs of both
frameworks on the batch, and (models without dropout) the losses of the first three SGD steps,
must agree. The %limit column puts each step beside the machine's limit: the step's real
convolution and linear FLOPs (taps in the zero padding excluded; see ``step_flops``) over the
time, as a fraction of the measured FMA peak on the same thread count (``--peak`` overrides it).

    python bench/train.py                      # all models, 1 and 2 threads
    python bench/train.py --models lenet,lenet_bn --threads 1 --quick
    python bench/train.py --profile lenet_bn   # per-layer forward/backward profile of fastdl
    python bench/train.py --threads 1 --cpu-time   # process CPU time: robust on a shared machine
    python bench/train.py --compile --threads 1    # adds fastdl.compile_step / fastdl.compile and
                                                   # torch.compile (--no-torch-compile to skip it)

With ``--compile`` each row also gives the compiled fastdl step, torch.compile's step (or the
reason it failed), the first compiled call's extra time over an eager step (trace + plan) and
the peak RSS of the compiled run against the eager one.

Adding a model (extension point): add a ``Spec`` to ``MODELS`` with a fastdl builder, a torch
builder producing the same parameter names, a batch maker returning numpy (x, target) and the
loss ("ce" for class targets, "mse"). For token models (the LSTM language model), ``make_batch``
returns int64 token ids and the model's forward returns (B*T, vocab) logits for the "ce" loss
(targets (B*T,)); the harness itself is agnostic to the input dtype.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ---- model registry ---------------------------------------------------------------------
@dataclass
class Spec:
    batch: int
    make_batch: Callable  # (rng, batch) -> (x, target) numpy arrays
    build_fastdl: Callable  # () -> fastdl.nn.Module
    build_torch: Callable  # (torch) -> torch.nn.Module with the same state_dict keys
    loss: str = "ce"  # "ce" (class targets) or "mse"
    lr: float = 0.01
    has_dropout: bool = False
    # Relative tolerance of the 3-step loss check. ResNet-18 gets 5e-3: on 2x2 and 1x1 maps its
    # BatchNorm+ReLU outputs sit near 0, so float32 rounding flips ReLU masks - a 3e-6 relative
    # change of the input moves some gradients by 34 % and the 3-step loss by ~1e-3 with either
    # convolution engine (measured; bench/RESULTS.md). Eval outputs keep 1e-3.
    loss_tol: float = 1e-3
    optimizer: str = "sgd"  # "sgd" or "adam"


def _images(rng, batch, classes=10):
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, classes, batch).astype(np.int64)


def _flat(rng, batch, features=784, classes=10):
    return rng.random((batch, features), dtype=np.float32), rng.integers(0, classes, batch).astype(np.int64)


def _regression(rng, batch):
    return rng.standard_normal((batch, 13), dtype=np.float32), rng.standard_normal((batch, 1), dtype=np.float32)


def _fd_linreg():
    from fastdl import nn

    return nn.Sequential(nn.Linear(13, 1))


def _fd_softmax():
    from fastdl import nn

    return nn.Sequential(nn.Linear(784, 10))


def _fd_mlp():
    from fastdl import nn

    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def _digits(rng, batch, features=64, classes=10):
    return _flat(rng, batch, features, classes)


def _fd_digits_mlp():
    from fastdl import nn

    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _t_digits_mlp(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Linear(64, 32), tnn.ReLU(), tnn.Linear(32, 10))


def _fd_zoo(name):
    def build():
        import fastdl.models

        return getattr(fastdl.models, name)()

    return build


def _t_linreg(torch):
    return torch.nn.Sequential(torch.nn.Linear(13, 1))


def _t_softmax(torch):
    return torch.nn.Sequential(torch.nn.Linear(784, 10))


def _t_mlp(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 10))


def _t_zoo(name):
    def build(torch):
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from reference.torch_models import torch_models  # the D2L models written with torch.nn

        return torch_models(torch)[name]()

    return build


MODELS: dict[str, Spec] = {
    "linreg": Spec(256, _regression, _fd_linreg, _t_linreg, loss="mse"),
    "softmax": Spec(256, _flat, _fd_softmax, _t_softmax),
    "mlp": Spec(256, _flat, _fd_mlp, _t_mlp),
    "digits_mlp": Spec(32, _digits, _fd_digits_mlp, _t_digits_mlp, lr=1e-3, optimizer="adam"),
    "lenet": Spec(256, _images, _fd_zoo("lenet"), _t_zoo("lenet"), lr=0.1),
    "lenet_bn": Spec(256, _images, _fd_zoo("lenet_bn"), _t_zoo("lenet_bn"), lr=0.1),
    "nin": Spec(64, _images, _fd_zoo("nin"), _t_zoo("nin"), has_dropout=True),
    "resnet18": Spec(64, _images, _fd_zoo("resnet18"), _t_zoo("resnet18"), loss_tol=5e-3),
}


# ---- real FLOPs of a step (the limit) ---------------------------------------------------------
def _live_taps(size, k, s, p, d):
    """Sum over output positions of the kernel offsets that land inside the input (one dim)."""
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    return sum(1 for o in range(out) for r in range(k) if 0 <= o * s - p + r * d < size)


def step_flops(model, x, mode):
    """Real FLOPs of one step of ``model`` on ``x`` (fastdl): 2 x MACs of every Conv2d (taps in
    the zero padding are no work) and Linear; a training step adds backward-data and
    backward-weights (2 x forward), minus the first layer's backward-data (the input needs no
    gradient). Elementwise layers, pooling, BatchNorm and the update are not counted (memory-bound:
    the limit for them is bandwidth, not FLOPs)."""
    import fastdl
    from fastdl import nn

    macs = []

    def hook(m, inp, out):
        xin = inp[0].data
        if isinstance(m, nn.Conv2d):
            (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
            ph, pw = m.padding if not isinstance(m.padding, str) else \
                ((dh * (kh - 1) // 2, dw * (kw - 1) // 2) if m.padding == "same" else (0, 0))
            n, c, h, w = xin.shape
            macs.append(n * m.out_channels * (c // m.groups) * _live_taps(h, kh, sh, ph, dh) * _live_taps(w, kw, sw, pw, dw))
        else:
            macs.append(int(np.prod(xin.shape[:-1])) * m.in_features * m.out_features)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with fastdl.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    fwd = 2.0 * sum(macs)
    return fwd if mode != "train" else 3 * fwd - (2.0 * macs[0] if macs else 0.0)


# ---- worker (one framework, one model, one thread count, one mode) ----------------------
def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time_steps(step, warmup, steps, cpu_time=False):
    """Seconds per call of step(): wall time, or the process CPU time with cpu_time (robust on a
    shared machine; with several threads it sums their CPU time, so compare 1-thread runs)."""
    clock = time.process_time if cpu_time else time.perf_counter
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return times


def worker_torch(args, spec):
    import torch
    from safetensors.numpy import save_file

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = spec.build_torch(torch)
    # numpy views of the parameters (no copy, so no extra peak memory)
    save_file({k: v.detach().numpy() for k, v in model.state_dict().items()}, args.weights)
    x, t = spec.make_batch(np.random.default_rng(0), spec.batch)
    x, t = torch.from_numpy(x), torch.from_numpy(t)
    loss_fn = torch.nn.CrossEntropyLoss() if spec.loss == "ce" else torch.nn.MSELoss()
    model.eval()
    with torch.no_grad():
        eval_out = model(x).numpy().copy()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=spec.lr) if spec.optimizer == "sgd" else torch.optim.Adam(params, lr=spec.lr)
    run = model
    if args.compile:
        try:
            run = torch.compile(model)
        except Exception as e:  # noqa: BLE001 - report why torch.compile is not available
            return {"error": f"torch.compile: {type(e).__name__}: {e}"[:200]}
    model.train(args.mode == "train")
    losses = []

    def train_step():
        opt.zero_grad()
        loss = loss_fn(run(x), t)
        loss.backward()
        opt.step()
        return loss

    def infer_step():
        with torch.no_grad():
            run(x)

    step = train_step if args.mode == "train" else infer_step
    t0 = time.perf_counter()
    try:
        first = step()  # torch.compile compiles here
    except Exception as e:  # noqa: BLE001
        return {"error": f"torch.compile: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]}
    compile_s = time.perf_counter() - t0
    if args.mode == "train":
        losses.append(float(first))
        for _ in range(2):
            losses.append(float(train_step()))
    times = _time_steps(step, args.warmup, args.steps, args.cpu_time)
    return {"times": times, "eval_out": eval_out.ravel()[:64].tolist(), "losses": losses,
            "first_call_s": compile_s}


class _LazyTensors:
    """A read-only mapping over a safetensors file that reads one tensor at a time, so loading
    weights never holds a second copy of the whole model (it would inflate the peak RSS)."""

    def __init__(self, path):
        from safetensors import safe_open

        self._f = safe_open(path, framework="numpy")
        self._keys = list(self._f.keys())

    def __iter__(self):
        return iter(self._keys)

    def __contains__(self, k):
        return k in self._keys

    def __getitem__(self, k):
        return self._f.get_tensor(k)

    def __len__(self):
        return len(self._keys)


def worker_fastdl(args, spec):
    import fastdl
    from fastdl import nn, optim

    assert "torch" not in sys.modules
    fastdl.set_num_threads(args.threads)
    fastdl.manual_seed(0)
    model = spec.build_fastdl()
    model.load_state_dict(_LazyTensors(args.weights), strict=True)
    xn, tn = spec.make_batch(np.random.default_rng(0), spec.batch)
    x, t = fastdl.tensor(xn), fastdl.tensor(tn)
    loss_fn = nn.CrossEntropyLoss() if spec.loss == "ce" else nn.MSELoss()
    model.eval()
    with fastdl.no_grad():
        eval_out = np.array(model(x).data)
    flops = step_flops(model, x, args.mode)
    params = list(model.parameters())
    opt = optim.SGD(params, lr=spec.lr) if spec.optimizer == "sgd" else optim.Adam(params, lr=spec.lr)
    model.train(args.mode == "train")
    losses = []

    def eager_train():
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss

    def eager_infer():
        with fastdl.no_grad():
            model(x)

    if args.compile:
        compiled = fastdl.compile_step(model, loss_fn, opt) if args.mode == "train" else fastdl.compile(model)
        step = (lambda: compiled(xn, tn)) if args.mode == "train" else (lambda: compiled(xn))
    else:
        step = eager_train if args.mode == "train" else eager_infer
    t0 = time.perf_counter()
    first = step()  # compiled: the traced eager step (+ building the plan)
    first_s = time.perf_counter() - t0
    if args.mode == "train":
        losses.append(float(first.item()))
        for _ in range(2):
            losses.append(float(step().item()))
    times = _time_steps(step, args.warmup, args.steps, args.cpu_time)
    assert "torch" not in sys.modules, "the fastdl run imported torch"
    return {"times": times, "eval_out": eval_out.ravel()[:64].tolist(), "losses": losses, "first_call_s": first_s,
            "flops": flops}


def run_worker(args):
    spec = MODELS[args.model]
    res = worker_torch(args, spec) if args.framework == "torch" else worker_fastdl(args, spec)
    res["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(res))


# ---- per-layer profile (fastdl only) ------------------------------------------------------
def _units(model):
    """The model's leaf layers in execution order (nested Sequentials flattened; a Residual
    block counts as one unit)."""
    units = []
    for name, m in model.named_modules():
        if any(name.startswith(u + ".") for u, _ in units):
            continue
        if name and (type(m).__name__ == "Residual" or not list(m.children())):
            units.append((name, m))
    return units


def profile(name, threads, steps=5):
    """Forward and backward time per layer of the model (training mode, one batch). Each
    layer runs on a detached copy of its input, so its backward is timed on its own. With one
    thread the clock is the process CPU time (robust against other jobs on the machine),
    else wall time."""
    import fastdl
    from fastdl import nn, optim

    clock = time.process_time if threads == 1 else time.perf_counter

    fastdl.set_num_threads(threads)
    spec = MODELS[name]
    fastdl.manual_seed(0)
    model = spec.build_fastdl()
    units = _units(model)
    xn, tn = spec.make_batch(np.random.default_rng(0), spec.batch)
    x, t = fastdl.tensor(xn), fastdl.tensor(tn)
    loss_fn = nn.CrossEntropyLoss() if spec.loss == "ce" else nn.MSELoss()
    opt = optim.SGD(model.parameters(), lr=0.0)
    fwd = {n: [] for n, _ in units}
    bwd = {n: [] for n, _ in units}
    opt_t = []
    for _ in range(steps + 1):  # the first iteration warms up and is dropped below
        h = x
        trace = []
        for n, m in units:
            inp = fastdl.tensor(h.data, requires_grad=h is not x)  # the model's input needs none, as in training
            t0 = clock()
            h = m(inp)
            fwd[n].append(clock() - t0)
            trace.append((n, inp, h))
        t0 = clock()
        loss = loss_fn(h, t)
        loss.backward()
        loss_t = clock() - t0
        g = None
        for n, inp, out in reversed(trace):
            t0 = clock()
            if out is trace[-1][2]:
                pass  # already done by loss.backward()
            else:
                out.backward(g)
            bwd[n].append(clock() - t0 + (loss_t if out is trace[-1][2] else 0.0))
            g = inp.grad.data if inp.grad is not None else None
        t0 = clock()
        opt.step()
        opt_t.append(clock() - t0)
    med = lambda v: float(np.median(v[1:])) * 1e3  # noqa: E731
    print(f"profile {name} (batch {spec.batch}, threads {threads}, isa {fastdl.get_isa()}), median ms per step "
          f"({'CPU' if threads == 1 else 'wall'} time):")
    print(f"  {'layer':<14} {'type':<18} {'forward':>9} {'backward':>9}")
    for n, m in units:
        print(f"  {n:<14} {type(m).__name__:<18} {med(fwd[n]):9.3f} {med(bwd[n]):9.3f}")
    print(f"  {'total':<33} {sum(med(v) for v in fwd.values()):9.3f} {sum(med(v) for v in bwd.values()):9.3f}"
          f"   optimizer {med(opt_t):.3f}  (last layer's backward includes the loss)")


# ---- driver -------------------------------------------------------------------------------
def _spawn(framework, model, threads, mode, weights, steps, warmup, cpu_time, compile=False):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "FASTDL_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--framework", framework, "--model", model,
           "--threads", str(threads), "--mode", mode, "--weights", weights, "--steps", str(steps),
           "--warmup", str(warmup)] + (["--cpu-time"] if cpu_time else []) + (["--compile"] if compile else [])
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{framework} {model} worker failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")


def _verify(name, spec, rt, rf, mode):
    a, b = np.array(rf["eval_out"]), np.array(rt["eval_out"])
    err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-6)
    ok = err < 1e-3
    msg = f"eval-output rel err {err:.1e}"
    if not spec.has_dropout and mode == "train":
        la, lb = np.array(rf["losses"]), np.array(rt["losses"])
        lerr = np.abs(la - lb).max() / max(np.abs(lb).max(), 1e-6)
        ok = ok and lerr < spec.loss_tol
        msg += f", 3-step losses rel err {lerr:.1e}"
    return ok, msg


def _compiled_row(args, name, spec, mode, th, weights, steps, warmup, rf, rt):
    """The --compile line of one row: the compiled fastdl step beside eager fastdl and PyTorch
    (and torch.compile). Returns 1 when the compiled run does not verify against PyTorch."""
    rc = _spawn("fastdl", name, th, mode, weights, steps, warmup, args.cpu_time, compile=True)
    ok, msg = _verify(name, spec, rt, rc, mode)
    tc = np.median(rc["times"]) * 1e3
    tf, tt = np.median(rf["times"]) * 1e3, np.median(rt["times"]) * 1e3
    extra = rc["first_call_s"] - rf["first_call_s"]
    line = (f"  compiled: {tc:.3f} ms  torch/compiled {tt / tc:.2f}x  eager/compiled {tf / tc:.2f}x  "
            f"first call +{extra:.3f} s over eager's (trace + plan)  RSS {rc['peak_rss_mb']:.1f} MB "
            f"(compiled/eager {rc['peak_rss_mb'] / rf['peak_rss_mb']:.2f})  {'ok' if ok else 'MISMATCH'} ({msg})")
    if not args.no_torch_compile:
        rtc = _spawn("torch", name, th, mode, weights, steps, warmup, args.cpu_time, compile=True)
        if "error" in rtc:
            line += f"\n  torch.compile: FAILED ({rtc['error']})"
        else:
            ttc = np.median(rtc["times"]) * 1e3
            line += (f"\n  torch.compile: {ttc:.3f} ms  (compiled fastdl {ttc / tc:.2f}x faster; torch eager/compiled "
                     f"{tt / ttc:.2f}x; first call {rtc['first_call_s']:.1f} s)")
    print(line, flush=True)
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--quick", action="store_true", help="few steps (smoke run)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time steps in process CPU time (shared machines; meaningful for 1 thread)")
    ap.add_argument("--profile", default=None, help="print a per-layer fastdl profile of this model and exit")
    ap.add_argument("--compile", action="store_true",
                    help="also time fastdl.compile_step / fastdl.compile and torch.compile")
    ap.add_argument("--no-torch-compile", action="store_true", help="with --compile: skip torch.compile")
    ap.add_argument("--peak", type=float, default=None,
                    help="1-core FMA peak in GFLOP/s for the %%limit column (default: best of 3 "
                         "fastdl.ops.fma_peak runs per thread count; pass the quiet-machine value on a loaded one)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--framework", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.threads = int(args.threads)
        return run_worker(args)
    if args.profile:
        for th in [int(t) for t in args.threads.split(",")]:
            profile(args.profile, th, steps=args.steps or (3 if args.quick else 10))
        return
    names = [m for m in args.models.split(",") if m]
    bad = [m for m in names if m not in MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {list(MODELS)}")
    threads = [int(t) for t in args.threads.split(",")]
    modes = args.modes.split(",")
    import fastdl  # only for the header line (ISA); the timed runs are subprocesses

    print(f"bench/train.py  isa={fastdl.get_isa()}  (median {'CPU' if args.cpu_time else 'wall'} ms per step; "
          f"ratio = torch / fastdl; RSS = peak resident MB of each run's process)")
    print(f"{'model':<10} {'mode':<6} {'thr':>3} {'batch':>5} {'fastdl ms':>10} {'torch ms':>10} {'ratio':>6} "
          f"{'fastdl MB':>10} {'torch MB':>9} {'RSS ratio':>9} {'%limit':>7}  verified")
    print("(%limit: the step's real conv + linear FLOPs / (fastdl's time x the measured FMA peak on those threads); "
          "fastdl | torch)")
    peaks = {}
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec = MODELS[name]
            heavy = name in ("nin", "resnet18")
            steps = args.steps or ((2 if heavy else 5) if args.quick else (5 if heavy else 20))
            warmup = 1 if args.quick else 2
            for mode in modes:
                for th in threads:
                    weights = os.path.join(tmp, f"{name}.safetensors")
                    rt = _spawn("torch", name, th, mode, weights, steps, warmup, args.cpu_time)
                    rf = _spawn("fastdl", name, th, mode, weights, steps, warmup, args.cpu_time)
                    ok, msg = _verify(name, spec, rt, rf, mode)
                    failures += not ok
                    tf, tt = np.median(rf["times"]) * 1e3, np.median(rt["times"]) * 1e3
                    if th not in peaks:
                        fastdl.set_num_threads(th)
                        peaks[th] = (args.peak * th if args.peak else
                                     max(fastdl.ops.fma_peak(seconds=0.3) for _ in range(3))) * 1e9
                    lim = rf["flops"] / peaks[th] * 1e3  # ms at the peak
                    print(f"{name:<10} {mode:<6} {th:>3} {spec.batch:>5} {tf:10.2f} {tt:10.2f} {tt / tf:6.2f} "
                          f"{rf['peak_rss_mb']:10.1f} {rt['peak_rss_mb']:9.1f} "
                          f"{rf['peak_rss_mb'] / rt['peak_rss_mb']:9.2f} {100 * lim / tf:3.0f}|{100 * lim / tt:<3.0f} "
                          f" {'ok' if ok else 'MISMATCH'} ({msg})", flush=True)
                    if args.compile:
                        failures += _compiled_row(args, name, spec, mode, th, weights, steps, warmup, rf, rt)
    if failures:
        print(f"{failures} run(s) did not verify")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
