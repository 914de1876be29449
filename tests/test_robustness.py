"""Bad-input sweep over the public functional ops (docs/testing.md §1 item 4, §2 rows 2, 3, 16, 18).

Every op gets a valid sample call; then each array argument in turn is replaced by None, a
string, bytes, an object array, a complex array, a 0-d array, a Python float, arrays of one
rank more / less, a mismatched size, float64, int64 and bool arrays, a nested list, NaN and
Inf values and zero-size arrays, and each scalar option by out-of-range, non-numeric and
overflowing values. The rule: a Python exception of type TypeError / ValueError / IndexError /
RuntimeError / OverflowError, or a defined result (an array or Tensor; its backward runs too)
- never a crash, a hang or another exception type. Where PyTorch defines the outcome more
tightly the sweep checks it: None / strings / objects for a required array raise, NaN / Inf /
float64 are computed (float64 exactly as its float32 cast), zero-size batches give empty
results. The cases run in a subprocess, so a segfault or an abort fails the case that caused it
and the sweep resumes after it.

Also here: torch is never imported by the package (the pickle ban lives in test_io.py).
"""
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastdl
import fastdl.functional as F

ALLOWED = (TypeError, ValueError, IndexError, RuntimeError, OverflowError)
HERE = Path(__file__).resolve().parent
PKG = Path(fastdl.__file__).resolve().parent


# ---- op specs ------------------------------------------------------------------------------
def _f(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _i(high, *shape):
    return np.random.default_rng(1).integers(0, high, size=shape).astype(np.int64)


class Spec:
    """A valid call ``fn(*args, **kwargs)``. ``arrays``: positions of array arguments to replace
    (``optional``: positions where None is valid, ``index``: integer-target positions);
    ``buffers``: positions updated in place (not differentiable; must already be float32);
    ``scalars``: {kwarg: [bad values]}; ``strict_rank``: a rank change must raise, unless
    ``ranks`` ({position: accepted ndims}) accepts the new rank."""

    def __init__(self, fn, args, kwargs=None, arrays=None, optional=(), index=(), scalars=None, strict_rank=True,
                 seeded=False, ranks=None, buffers=(), allow=()):
        self.ranks, self.buffers, self.allow = ranks or {}, set(buffers), set(allow)
        self.fn = (lambda *a, **k: (fastdl.manual_seed(0), fn(*a, **k))[1]) if seeded else fn
        self.args, self.kwargs = list(args), dict(kwargs or {})
        self.grad = fn is not fastdl.ops.gemm
        self.arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)] if arrays is None else arrays
        self.optional, self.index, self.scalars, self.strict_rank = set(optional), set(index), scalars or {}, strict_rank


class Ok:
    """A scalar option value with a defined result (computed, not necessarily finite); every
    other listed scalar value must raise."""

    def __init__(self, value):
        self.value = value


_BAD_DIM = [7, -7, 1.5, "1", 2 ** 70]
_BAD_REDUCTION = {"reduction": ["avg", None, 3]}


def _specs():
    s = {
        "ops.gemm": Spec(fastdl.ops.gemm, [_f(3, 4), _f(4, 5)],
                         scalars={"alpha": [Ok(float("nan")), "x", None], "out": [np.zeros((2, 2), np.float32),
                                  np.zeros((3, 5)), np.zeros((5, 3), np.float32).T, "x"]}),
        "matmul": Spec(fastdl.matmul, [_f(3, 4), _f(4, 5)], strict_rank=False),
        "linear": Spec(F.linear, [_f(3, 4), _f(5, 4), _f(5)], optional={2}, strict_rank=False),
        "relu": Spec(F.relu, [_f(3, 4)], strict_rank=False),
        "leaky_relu": Spec(F.leaky_relu, [_f(3, 4)], {"negative_slope": 0.1}, strict_rank=False,
                           scalars={"negative_slope": ["x", None, Ok(float("nan")), Ok(1e300)]}),
        "elu": Spec(F.elu, [_f(3, 4)], strict_rank=False, scalars={"alpha": ["x", None, Ok(float("inf"))]}),
        "sigmoid": Spec(F.sigmoid, [_f(3, 4)], strict_rank=False),
        "tanh": Spec(F.tanh, [_f(3, 4)], strict_rank=False),
        "softmax": Spec(F.softmax, [_f(3, 4)], {"dim": 1}, strict_rank=False, scalars={"dim": _BAD_DIM}),
        "log_softmax": Spec(F.log_softmax, [_f(3, 4)], {"dim": -1}, strict_rank=False, scalars={"dim": _BAD_DIM}),
        "dropout": Spec(F.dropout, [_f(3, 4)], {"p": 0.5}, strict_rank=False, seeded=True,
                        scalars={"p": [-0.1, 1.5, float("nan"), "x", None]}),
        "cross_entropy": Spec(F.cross_entropy, [_f(3, 4), _i(4, 3)], index={1}, strict_rank=False,
                              scalars={"ignore_index": ["x", 2 ** 70, None], "label_smoothing": [-0.5, 2.0, "x"],
                                       "weight": [np.ones(3, np.float32), "x", np.ones((4, 1), np.float32)],
                                       **_BAD_REDUCTION}),
        "nll_loss": Spec(F.nll_loss, [_f(3, 4), _i(4, 3)], index={1}, strict_rank=False,
                         scalars={"ignore_index": ["x", 2 ** 70], "weight": [np.ones(5, np.float32)],
                                  **_BAD_REDUCTION}),
        "mse_loss": Spec(F.mse_loss, [_f(3, 4), _f(3, 4, seed=1)], strict_rank=False, scalars=_BAD_REDUCTION),
        "l1_loss": Spec(F.l1_loss, [_f(3, 4), _f(3, 4, seed=1)], strict_rank=False, scalars=_BAD_REDUCTION),
        "binary_cross_entropy_with_logits": Spec(
            F.binary_cross_entropy_with_logits, [_f(3, 4), np.abs(_f(3, 4, seed=1)) % 1], strict_rank=False,
            scalars={"weight": [np.ones(5, np.float32), "x"], "pos_weight": [np.ones((2, 3), np.float32), "x"],
                     **_BAD_REDUCTION}),
    }
    # Families landing later (PyTorch signatures), swept once they are in the tree.
    if hasattr(F, "conv2d"):
        s["conv2d"] = Spec(F.conv2d, [_f(2, 3, 6, 5), _f(4, 3, 3, 3), _f(4)], optional={2}, ranks={0: {3, 4}},
                           scalars={"stride": [0, -1, (1, 0), "x", 2 ** 70], "padding": [-1, 2 ** 62, "x"],
                                    "dilation": [0, -2, 2 ** 62], "groups": [0, 2, -1]})
    for name in ("max_pool2d", "avg_pool2d"):
        if hasattr(F, name):
            s[name] = Spec(getattr(F, name), [_f(2, 3, 6, 5)], {"kernel_size": 2}, ranks={0: {3, 4}},
                           scalars={"kernel_size": [0, -1, 7, 2 ** 62, "x", None], "stride": [0, -1, 2 ** 70],
                                    "padding": [-1, 2, 2 ** 62]})
    if hasattr(F, "adaptive_avg_pool2d"):
        s["adaptive_avg_pool2d"] = Spec(F.adaptive_avg_pool2d, [_f(2, 3, 6, 5)], {"output_size": 2},
                                        ranks={0: {3, 4}}, scalars={"output_size": [0, -1, (0, 1), "x", None]})
    if hasattr(F, "batch_norm"):
        s["batch_norm"] = Spec(F.batch_norm, [_f(4, 3, 2, 2), np.zeros(3, np.float32), np.ones(3, np.float32),
                                              np.ones(3, np.float32), np.zeros(3, np.float32)],
                               {"training": True}, optional={1, 2, 3, 4}, strict_rank=False, buffers={1, 2},
                               scalars={"momentum": [Ok(-1.0), "x"], "eps": [Ok(-1.0), "x", None]})
    if hasattr(F, "embedding"):
        s["embedding"] = Spec(F.embedding, [_i(10, 3, 4), _f(10, 5)], index={0}, strict_rank=False,
                              allow={(0, "wrong_size"), (1, "wrong_size")},  # any id shape, bigger table
                              scalars={"padding_idx": [20, -20, "x"]})
    if hasattr(F, "rnn_cell"):
        w = [_f(6, 4, seed=2), _f(6, 6, seed=3), _f(6, seed=4), _f(6, seed=5)]
        for mode in ("RNN_TANH", "GRU"):
            ws = w if mode == "RNN_TANH" else [np.tile(a, (3,) + (1,) * (a.ndim - 1)) for a in w]
            s[f"rnn_cell_{mode}"] = Spec(lambda x, h, _ws=ws, _m=mode: F.rnn_cell(x, h, _ws, _m),
                                         [_f(3, 4), _f(3, 6, seed=1)], optional={1}, ranks={0: {1}, 1: {1}},
                                         allow={(1, "nested_list")})  # hx: a Tensor/array or a tuple
    if hasattr(F, "rnn"):
        w = [_f(6, 4, seed=2), _f(6, 6, seed=3), _f(6, seed=4), _f(6, seed=5)]
        s["rnn_RNN_TANH"] = Spec(lambda x, h, _ws=w: F.rnn(x, h, _ws, "RNN_TANH"),
                                 [_f(5, 3, 4), _f(1, 3, 6, seed=1)], optional={1}, strict_rank=False)
    return s


def _replacements(v, is_index):
    """(kind, value) replacements for the valid array ``v``."""
    r = [("none", None), ("str", "abc"), ("bytes", b"abc"), ("object", np.array([object()] * max(v.size, 1))),
         ("zero_d", np.array(1.5, np.float32)), ("python_float", 1.5),
         ("rank_up", np.repeat(v[..., None], 2, axis=-1)), ("nested_list", v.tolist())]
    if v.ndim >= 1:
        r.append(("rank_down", v.reshape(-1)[: int(np.prod(v.shape[1:]))].reshape(v.shape[1:])))
        r.append(("wrong_size", np.pad(v, [(0, 1)] * v.ndim, mode="edge")))  # every dim + 1
        r.append(("empty_batch", v[:0]))
        r.append(("empty_last", v[..., :0]))
    if is_index:
        r += [("float32", v.astype(np.float32)), ("int32", v.astype(np.int32)), ("out_of_range", v + 100),
              ("negative", v - 100), ("int_max", np.full_like(v, np.iinfo(np.int64).max))]
    else:
        nan, inf = v.copy(), v.copy()
        nan.reshape(-1)[::2] = np.nan
        inf.reshape(-1)[::2] = np.inf
        inf.reshape(-1)[1::4] = -np.inf
        r += [("float64", v.astype(np.float64)), ("int64", np.round(v * 3).astype(np.int64)), ("bool", v > 0),
              ("complex", v.astype(np.complex64)), ("nan", nan), ("inf", inf),
              ("huge", np.full_like(v, 3e38)), ("denormal", np.full_like(v, 1e-40))]
    return r


def _cases(spec):
    for pos in spec.arrays:
        for kind, val in _replacements(spec.args[pos], pos in spec.index):
            yield f"arg{pos}:{kind}", pos, kind, val
    for kw, vals in spec.scalars.items():
        for j, val in enumerate(vals):
            if isinstance(val, Ok):
                yield f"{kw}:{j}:{type(val.value).__name__}", kw, "scalar_ok", val.value
            else:
                yield f"{kw}:{j}:{type(val).__name__}", kw, "scalar", val


# ---- the child side ------------------------------------------------------------------------
def _summary(out):
    """A JSON-able description of a result, or raises when it is not a defined result."""
    items = out if isinstance(out, tuple) else (out,)
    desc = []
    for o in items:
        a = o.data if isinstance(o, fastdl.Tensor) else o
        if not isinstance(a, np.ndarray):
            raise AssertionError(f"result is a {type(o).__name__}, not an array or Tensor")
        desc.append(a)
    return desc


def _backward(spec, args, kwargs):
    """Re-runs the call with float array arguments as Tensors requiring grad, then backward."""
    targs = list(args)
    leaves = []
    for p in spec.arrays:
        a = targs[p]
        if isinstance(a, np.ndarray) and a.dtype == np.float32 and p not in spec.index and p not in spec.buffers \
                and spec.grad:
            targs[p] = fastdl.tensor(a, requires_grad=True)
            leaves.append((p, targs[p]))
    if not leaves:
        return
    out = spec.fn(*targs, **kwargs)
    out = out[0] if isinstance(out, tuple) else out
    if isinstance(out, fastdl.Tensor) and out.requires_grad:
        out.sum().backward()
        for p, t in leaves:
            assert t.grad is not None and t.grad.shape == t.shape, f"arg{p}: gradient shape"


def run_case(spec, case):
    """Returns a dict: {'raised': type name, 'msg'} or {'shapes', 'finite'}; never lets a bad
    outcome pass silently (those become 'bad')."""
    cid, where, kind, val = case
    args, kwargs = list(spec.args), dict(spec.kwargs)
    if kind.startswith("scalar"):
        kwargs[where] = val
    else:
        args[where] = val
    try:
        out = spec.fn(*args, **kwargs)
        arrays = _summary(out)
    except ALLOWED as e:
        return {"raised": type(e).__name__, "msg": str(e)[:300]}
    except Exception as e:  # noqa: BLE001 - reported as a failure by the parent
        return {"bad": f"{type(e).__name__}: {e}"[:400]}
    res = {"shapes": [list(a.shape) for a in arrays], "finite": all(bool(np.isfinite(a).all()) for a in arrays
                                                                      if a.dtype.kind == "f")}
    if kind in ("float64", "int64", "bool", "int32", "nested_list"):
        ref_args = list(args)
        if kind != "nested_list":
            ref_args[where] = val.astype(np.int64 if where in spec.index else np.float32)
        else:
            ref_args[where] = spec.args[where]
        ref = _summary(spec.fn(*ref_args, **kwargs))
        res["same_as_cast"] = all(a.shape == b.shape and a.tobytes() == b.tobytes() for a, b in zip(arrays, ref))
    try:
        _backward(spec, args, kwargs)
    except ALLOWED as e:
        res["backward_raised"] = f"{type(e).__name__}: {e}"[:300]
    except Exception as e:  # noqa: BLE001
        return {"bad": f"backward: {type(e).__name__}: {e}"[:400]}
    return res


def child_main(start):
    warnings.simplefilter("ignore")
    specs = _specs()
    k = 0
    for name, spec in specs.items():
        for case in _cases(spec):
            if k >= start:
                print(json.dumps({"k": k, "op": name, "case": case[0], "start": True}), flush=True)
                r = run_case(spec, case)
                print(json.dumps({"k": k, "op": name, "case": case[0], **r}), flush=True)
            k += 1
    print(json.dumps({"done": k}), flush=True)


# ---- the parent side -----------------------------------------------------------------------
_RESULTS = {}


def sweep_results():
    """{op: {case: result}} for all cases, run in subprocesses (restarted after a crash/hang)."""
    if _RESULTS:
        return _RESULTS
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PKG.parent), str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("FASTDL_NUM_THREADS", "2")
    start, rounds = 0, 0
    while rounds < 50:
        rounds += 1
        code = f"import test_robustness as t; t.child_main({start})"
        try:
            p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
            out, died = p.stdout, (None if p.returncode == 0 else f"exit code {p.returncode}: {p.stderr[-500:]}")
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            died = "hung (timeout)"
        last_start = None
        finished = False
        for line in out.splitlines():
            rec = json.loads(line)
            if "done" in rec:
                finished = True
            elif rec.get("start"):
                last_start = rec
            else:
                _RESULTS.setdefault(rec["op"], {})[rec["case"]] = rec
                last_start = None
        if finished and died is None:
            return _RESULTS
        if last_start is None:
            raise RuntimeError(f"sweep subprocess failed outside a case: {died}")
        _RESULTS.setdefault(last_start["op"], {})[last_start["case"]] = {"bad": f"process died: {died}"}
        start = last_start["k"] + 1
    raise RuntimeError("too many crashed cases")


MUST_RAISE = {"none", "str", "bytes", "object", "python_float", "zero_d", "wrong_size", "complex"}
MUST_COMPUTE = {"float64", "nan", "inf", "huge", "denormal", "nested_list", "int32"}


def _check_op(name, results, spec):
    problems = []
    for cid, pos, kind, val in _cases(spec):
        r = results.get(cid)
        if r is None:
            problems.append(f"{cid}: no result")
            continue
        if "bad" in r:
            problems.append(f"{cid}: {r['bad']}")
            continue
        raised = "raised" in r
        if (pos, kind) in spec.allow:
            continue
        if raised and not r["msg"].strip():
            problems.append(f"{cid}: {r['raised']} with an empty message")
        optional = pos in spec.optional
        if kind in MUST_RAISE and not raised and not (kind == "none" and optional):
            if kind in ("zero_d", "python_float") and not spec.strict_rank:
                pass  # elementwise ops / broadcasting losses accept scalars, as PyTorch does
            elif kind == "wrong_size" and len(spec.arrays) == 1:
                pass  # nothing to mismatch with
            else:
                problems.append(f"{cid}: accepted (result shapes {r['shapes']}); expected an exception")
        if kind in ("rank_up", "rank_down") and spec.strict_rank:
            ndim = spec.args[pos].ndim + (1 if kind == "rank_up" else -1)
            if ndim not in spec.ranks.get(pos, ()) and not raised:
                problems.append(f"{cid}: accepted a wrong rank (result shapes {r['shapes']})")
        if kind == "scalar" and not raised:
            problems.append(f"{cid}: accepted {kind} value {val!r} (result shapes {r['shapes']}); expected an exception")
        if kind in MUST_COMPUTE and raised and not (pos in spec.buffers and kind in ("float64", "nested_list")):
            problems.append(f"{cid}: raised {r['raised']}: {r['msg']} (expected a result)")
        if "same_as_cast" in r and not r["same_as_cast"]:
            problems.append(f"{cid}: result differs from the run on the float32/int64 cast")
        if kind == "out_of_range" and not (raised and r["raised"] == "IndexError"):
            problems.append(f"{cid}: expected IndexError (torch: 'Target ... is out of bounds'), got {r}")
        if "backward_raised" in r and kind in MUST_COMPUTE | {"empty_batch"}:
            problems.append(f"{cid}: backward raised {r['backward_raised']}")
    return problems


SPECS = _specs()

# Reported, not yet fixed in the owner's file: {(op, case): reason}. Each must still show up
# (remove the entry once fixed), so the list cannot go stale.
KNOWN = {}  # (op, case) -> why: bad-input cases still open (none at the moment)


@pytest.mark.parametrize("name", list(SPECS))
def test_bad_inputs_raise_python_errors_or_give_defined_results(name):
    results = sweep_results().get(name, {})
    problems = _check_op(name, results, SPECS[name])
    known = {case for op, case in KNOWN if op == name}
    still = {p.split(":")[0] + ":" + p.split(":")[1] for p in problems} & known
    assert still == known, f"fixed, remove from KNOWN: {sorted(known - still)}"
    problems = [p for p in problems if p.split(":")[0] + ":" + p.split(":")[1] not in known]
    assert problems == [], f"{name}:\n" + "\n".join(problems)


def test_every_functional_op_is_swept():
    """New ops in fastdl.functional get a spec here (or at least their first argument swept)."""
    public = [n for n in dir(F) if not n.startswith("_") and callable(getattr(F, n))
              and getattr(getattr(F, n), "__module__", "").startswith("fastdl.functional")]
    assert len(public) >= 14
    swept = {n.split("_RNN")[0].split("_GRU")[0] for n in SPECS}
    missing = [n for n in public if n not in swept and not n.endswith("_relu")]
    fallback = []
    for n in missing:  # a generic sweep of the first argument for ops without a spec
        for bad in (None, "abc", np.array([object()]), np.zeros((0,), np.float32)):
            try:
                getattr(F, n)(bad)
            except ALLOWED:
                pass
            except Exception as e:  # noqa: BLE001
                fallback.append(f"{n}({type(bad).__name__}): {type(e).__name__}: {e}")
    assert fallback == []


# ---- targeted cases ------------------------------------------------------------------------
def test_zero_batch_backward_gives_zero_weight_grads():
    """docs/testing.md row 4: an empty batch must give dW = db = 0 (PyTorch), not uninitialised memory."""
    for threads in (1, 2):
        prev = fastdl.get_num_threads()
        fastdl.set_num_threads(threads)
        try:
            x = fastdl.tensor(np.zeros((0, 7), np.float32), requires_grad=True)
            w = fastdl.tensor(_f(5, 7), requires_grad=True)
            b = fastdl.tensor(_f(5), requires_grad=True)
            y = F.linear(x, w, b)
            assert y.shape == (0, 5)
            y.sum().backward()
            assert x.grad.shape == (0, 7)
            assert np.array_equal(w.grad.numpy(), np.zeros((5, 7), np.float32))
            assert np.array_equal(b.grad.numpy(), np.zeros(5, np.float32))
            a = fastdl.ops.gemm(np.zeros((4, 0), np.float32), np.zeros((0, 3), np.float32))
            assert np.array_equal(a, np.zeros((4, 3), np.float32))  # K = 0: C = 0, never garbage
            if hasattr(F, "conv2d"):
                x = fastdl.tensor(np.zeros((0, 3, 6, 5), np.float32), requires_grad=True)
                w = fastdl.tensor(_f(4, 3, 3, 3), requires_grad=True)
                b = fastdl.tensor(_f(4), requires_grad=True)
                y = F.conv2d(x, w, b, padding=1)
                assert y.shape == (0, 4, 6, 5)
                y.sum().backward()
                assert x.grad.shape == (0, 3, 6, 5)
                assert not w.grad.numpy().any() and not b.grad.numpy().any()
        finally:
            fastdl.set_num_threads(prev)


def test_zero_batch_losses_match_torch():
    torch = pytest.importorskip("torch")
    x0, t0 = np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    for red in ("mean", "sum", "none"):
        got = F.cross_entropy(x0, t0, reduction=red).numpy()
        want = torch.nn.functional.cross_entropy(torch.from_numpy(x0), torch.from_numpy(t0), reduction=red).numpy()
        np.testing.assert_array_equal(got, want, err_msg=red)
        got = F.mse_loss(x0, x0, reduction=red).numpy()
        want = torch.nn.functional.mse_loss(torch.from_numpy(x0), torch.from_numpy(x0), reduction=red).numpy()
        np.testing.assert_array_equal(got, want, err_msg=red)


def test_ops_keep_working_after_errors():
    """An exception inside a binding leaves no state behind (GIL, workspaces, thread count)."""
    a = _f(8, 8)
    want = fastdl.ops.gemm(a, a)
    for bad in (None, "x", np.zeros((3, 2)), np.array([object()])):
        with pytest.raises(ALLOWED):
            fastdl.ops.gemm(a, bad)
        with pytest.raises(ALLOWED):
            F.cross_entropy(a, bad)
    assert np.array_equal(fastdl.ops.gemm(a, a), want)


# ---- package hygiene -----------------------------------------------------------------------
def test_package_never_imports_torch():
    """torch is a test oracle and a benchmark peer, never a runtime dependency (the pickle
    ban is test_io.py::test_package_source_never_pickles)."""
    bad = re.compile(r"^\s*(import\s+torch\b|from\s+torch\b)|__import__\(\s*['\"]torch|import_module\(\s*['\"]torch")
    files = list(PKG.rglob("*.py"))
    assert len(files) > 10
    # `fastdl bench` times PyTorch beside fastdl: it imports torch inside run(), only when installed.
    peers = {"cli/bench.py"}
    hits = [f"{f.relative_to(PKG)}:{i}: {line.strip()}" for f in files if str(f.relative_to(PKG)) not in peers
            for i, line in enumerate(f.read_text().splitlines(), 1) if bad.search(line)]
    assert hits == []
    # and importing fastdl (all subpackages) does not load it
    code = ("import sys, fastdl, fastdl.nn, fastdl.optim, fastdl.data, fastdl.train, fastdl.functional; "
            "import pkgutil, importlib; [importlib.import_module(m.name) for m in "
            "pkgutil.walk_packages(fastdl.__path__, 'fastdl.') if not m.name.endswith('__main__')]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    env = dict(os.environ, PYTHONPATH=str(PKG.parent))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = r.stdout.strip().splitlines()[-1]
    assert "torch" not in loaded, loaded


def test_pickle_ban_lives_in_test_io():
    src = (HERE / "test_io.py").read_text()
    assert "def test_package_source_never_pickles" in src and "allow_pickle" in src
    assert "def test_failed_save_keeps_previous_file" in src
