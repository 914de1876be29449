"""Guard-page harness (issue 15 item 7): every entry of fastdl._C.testing runs, on every ISA
level, with each input array placed against a no-access (PROT_NONE) page — once ending exactly
at the guard page after it, once starting right after the guard page before it — so a read or
write one element out of bounds faults.

Each family (the name's prefix: activation, softmax, loss, ...) runs in its own child process:
a fault fails that family's test (naming the last case started), not the test run.
BUILDERS holds an argument builder per testing function; a testing function without one
fails test_every_testing_function_has_a_builder, so new kernel tables are picked up.
"""
import ctypes
import mmap
import os
import subprocess
import sys

import numpy as np
import pytest

from fastdl import _C

T = _C.testing
ISAS = ("generic", "avx2", "avx512")
PLACEMENTS = ("after", "before")
_PAGE = mmap.PAGESIZE
_keep = []  # the mappings stay alive for the child's lifetime


def _mprotect_none(address):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(ctypes.c_void_p(address), _PAGE, 0) != 0:
        raise OSError(ctypes.get_errno(), "mprotect failed")


def guarded(values, where):
    """A copy of ``values`` (C-contiguous) placed against a PROT_NONE page: its last byte is
    the last before the guard page (``after``) or its first byte the first after one (``before``)."""
    values = np.ascontiguousarray(values)
    nbytes = values.nbytes
    pages = max(1, -(-nbytes // _PAGE))
    mm = mmap.mmap(-1, (pages + 2) * _PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    _mprotect_none(base)
    _mprotect_none(base + (pages + 1) * _PAGE)
    offset = _PAGE if where == "before" else (pages + 1) * _PAGE - nbytes
    a = np.frombuffer(mm, values.dtype, values.size, offset).reshape(values.shape)
    a[...] = values
    _keep.append(mm)
    return a


class Args:
    """Random inputs placed against guard pages (``where``)."""

    def __init__(self, where, seed=0):
        self.where = where
        self.rng = np.random.default_rng(seed)

    def f(self, *shape, scale=2.0):
        return guarded((self.rng.standard_normal(shape) * scale).astype(np.float32), self.where)

    def pos(self, *shape):
        return guarded((self.rng.random(shape) + 0.5).astype(np.float32), self.where)

    def prob(self, r, c):
        p = self.rng.random((r, c)) + 0.1
        return guarded((p / p.sum(1, keepdims=True)).astype(np.float32), self.where)

    def ints(self, shape, hi):
        return guarded(self.rng.integers(0, hi, shape).astype(np.int64), self.where)

    def u8(self, n):
        return guarded(self.rng.integers(0, 2, n).astype(np.uint8), self.where)

    def like(self, a):
        return guarded(np.asarray(a), self.where)


N, H, L, R, C = 3, 9, 37, 3, 19  # sizes off the vector widths: tails everywhere


def _lstm_saved(isa, a):
    h, c, gates = T.rnn_lstm_cell_forward(isa, a.f(N, 4 * H), a.f(N, H))
    return a.like(gates), a.like(c)


def _gru_saved(isa, a):
    h, gates, hn = T.rnn_gru_cell_forward(isa, a.f(N, 3 * H), a.f(N, 3 * H), a.f(3 * H), a.f(N, H))
    return a.like(gates), a.like(hn)


def _tile(isa):
    return T.gemm_table(isa)


def _packed_a(isa, a, m, k):
    return a.like(T.gemm_pack_a(isa, a.f(m, k)))


def _packed_b(isa, a, k, n):
    return a.like(T.gemm_pack_b(isa, a.f(k, n)))


def _gemm_macro_cases(isa, a):
    t = _tile(isa)
    m, n, k = 2 * t["mr"] + 1, t["nr"] + 3, 7
    return [(_packed_a(isa, a, m, k), _packed_b(isa, a, k, n), a.f(m, n), k, 1.0, beta) for beta in (0.0, 1.5)]


def _gemm_direct_cases(isa, a):
    t = _tile(isa)
    m, n, k = t["mr"] + 1, t["nr"] + 3, 9
    return [(a.f(m, k), a.f(k, n), a.f(m, n), 1.0, beta) for beta in (0.0, 1.5)]


def _gemm_dot_cases(isa, a):
    k = _tile(isa)["lanes"] + 3
    return [(a.f(5, k), a.f(k, 7), a.f(5, 7), 1.0, 1.5, False), (a.f(5, k), a.f(7, k), a.f(5, 7), 0.5, 0.0, True)]


def _max_pool_backward_cases(isa, a):
    x = a.f(7, 9)
    y, idx = T.pool_max_plane(isa, x, (3, 3), (2, 2), (1, 1), (1, 1), False)
    return [(a.f(*y.shape), a.like(idx), (7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False)]


def _bn_col(a, n):
    return (a.f(n), a.f(n), a.f(n), a.f(n), a.f(n))  # dy, x, m, a, b


# name -> builder(isa, args) -> the positional arguments after ``isa``
BUILDERS = {
    "gemm_table": lambda isa, a: [()],
    "gemm_pack_a": lambda isa, a: [(a.f(_tile(isa)["mr"] + 1, 5), tr) for tr in (False, True)],
    "gemm_pack_b": lambda isa, a: [(a.f(5, _tile(isa)["nr"] + 3), tr) for tr in (False, True)],
    "gemm_macro": _gemm_macro_cases,
    "gemm_direct": _gemm_direct_cases,
    "gemm_dot": _gemm_dot_cases,
    "linear_sum_rows": lambda isa, a: [(a.f(R, C),), (a.f(1, L),)],
    "conv_dw_small": lambda isa, a: [(a.f(5, 3, 17), a.f(2, 5, 19), a.f(5, 2, 3, 3), (1, 1), (0, 0), (1, 1), beta)
                                     for beta in (0.0, 1.0)],
    "conv_flat": lambda isa, a: [(a.f(2, 3, 5, 17), a.f(7, 3, 3, 3), a.f(7), (1, 1), (1, 1), False, (0, 0)),
                                 (a.f(2, 7, 5, 17), a.f(7, 3, 3, 3), None, (1, 1), (1, 1), True, (5, 17))],
    "conv_flat_dw": lambda isa, a: [(a.f(2, 7, 5, 17), a.f(2, 3, 5, 17), (3, 3), (1, 1), (1, 1))],
    "conv_im2col": lambda isa, a: [(a.f(2, 5, 6), (3, 3), (1, 2), (1, 0), (1, 1))],
    "conv_col2im": lambda isa, a: [(a.f(2 * 9, 5 * 2), (2, 5, 6), (3, 3), (1, 2), (1, 0), (1, 1))],
    "conv_direct_table": lambda isa, a: [()],
    "conv_direct_to_blocked": lambda isa, a: [(a.f(C, 3, 5), 1, 2)],
    "conv_direct_row_to_plain": lambda isa, a: [(a.f(2, 5, T.conv_direct_table(isa)["vl"]), 9)],
    "conv_direct_forward": lambda isa, a: [(a.f(2, C, 5, 17), a.f(33, C, 3, 3), a.f(33), (1, s), (1, 1), (1, 1))
                                           for s in (1, 2)],
    "conv_direct_backward": lambda isa, a: [(a.f(2, 33, 5, 17), a.f(2, C, 5, 17), a.f(33, C, 3, 3), (1, 1), (1, 1),
                                             (1, 1), True, True)],
    "pool_max_plane": lambda isa, a: [(a.f(7, 9), (3, 3), (2, 2), (1, 1), (1, 1), ceil) for ceil in (False, True)],
    "pool_max_backward_plane": _max_pool_backward_cases,
    "pool_avg_plane": lambda isa, a: [(a.f(7, 9), (3, 3), (2, 2), (1, 1), False, pad, 0) for pad in (False, True)],
    "pool_avg_backward_plane": lambda isa, a: [(a.f(4, 5), (7, 9), (3, 3), (2, 2), (1, 1), False, True, 0)],
    "pool_adaptive_avg_plane": lambda isa, a: [(a.f(7, 9), (3, 4))],
    "pool_adaptive_avg_backward_plane": lambda isa, a: [(a.f(3, 4), (7, 9))],
    "batchnorm_row_stats": lambda isa, a: [(a.f(L),)],
    "batchnorm_col_stats": lambda isa, a: [(a.f(L),)],
    "batchnorm_row_affine": lambda isa, a: [(a.f(L), 0.25, 1.5, -0.5, relu) for relu in (False, True)],
    "batchnorm_col_affine": lambda isa, a: [(a.f(L), a.f(L), a.f(L), a.f(L), relu) for relu in (False, True)],
    "batchnorm_row_bwd_stats": lambda isa, a: [(a.f(L), a.f(L), 0.25, 1.5, -0.5, relu) for relu in (False, True)],
    "batchnorm_col_bwd_stats": lambda isa, a: [(*_bn_col(a, L), relu) for relu in (False, True)],
    "batchnorm_row_bwd_dx": lambda isa, a: [(a.f(L), a.f(L), 0.25, 1.5, -0.5, relu, 0.7, -0.3, 0.1)
                                            for relu in (False, True)],
    "batchnorm_col_bwd_dx": lambda isa, a: [(*_bn_col(a, L), relu, a.f(L), a.f(L), a.f(L)) for relu in (False, True)],
    "batchnorm_row_affine_add_relu": lambda isa, a: [(a.f(L), a.f(L), 0.25, 1.5, -0.5)],
    "batchnorm_col_affine_add_relu": lambda isa, a: [(a.f(L), a.f(L), a.f(L), a.f(L), a.f(L))],
    "batchnorm_mask_grad": lambda isa, a: [(a.f(L), a.u8((L + 7) // 8))],
    "activation_forward": lambda isa, a: [(act, a.f(L), 0.3) for act in range(6)],
    "activation_backward": lambda isa, a: [(act, a.f(L), a.f(L), 0.3) for act in range(6)],
    "dropout_forward": lambda isa, a: [(a.f(L), 5, 0x1234567, 0x89ABCDEF, 1 << 23, 2.0)],
    "dropout_backward": lambda isa, a: [(a.f(L), a.u8(L), 2.0)],
    "softmax_rows": lambda isa, a: [(log, a.f(R, C)) for log in (False, True)],
    "softmax_cols": lambda isa, a: [(log, a.f(R, C)) for log in (False, True)],
    "softmax_backward_rows": lambda isa, a: [(log, a.f(R, C), a.prob(R, C)) for log in (False, True)],
    "softmax_backward_cols": lambda isa, a: [(log, a.f(R, C), a.prob(R, C)) for log in (False, True)],
    "loss_cross_entropy_rows": lambda isa, a: [(a.f(R, C), a.ints(R, C), w, -100, 0.1)
                                               for w in (None, a.pos(C))],
    "loss_cross_entropy_backward_rows": lambda isa, a: [(a.f(R), 1.0, a.prob(R, C), a.ints(R, C), w, -100, 0.1)
                                                        for w in (None, a.pos(C))],
    "loss_cross_entropy_prob_rows": lambda isa, a: [(a.f(R, C), a.prob(R, C), w, 0.1) for w in (None, a.pos(C))],
    "loss_cross_entropy_prob_backward_rows": lambda isa, a: [(a.f(R), 1.0, a.prob(R, C), a.prob(R, C), w, 0.1)
                                                             for w in (None, a.pos(C))],
    "loss_bce_with_logits_chunk": lambda isa, a: [(a.f(L), a.pos(L), w, pw)
                                                  for w, pw in ((None, None), (a.pos(L), a.pos(L)))],
    "loss_bce_with_logits_backward_chunk": lambda isa, a: [(a.f(L), 1.0, a.f(L), a.pos(L), w, pw)
                                                           for w, pw in ((None, None), (a.pos(L), a.pos(L)))],
    "optim_sgd_update": lambda isa, a: [(a.f(L), buf, a.f(L), 0.1, mom, 0.0, 0.01, nest, False, False)
                                        for buf, mom, nest in ((None, 0.0, False), (a.f(L), 0.9, True))],
    "optim_adam_update": lambda isa, a: [(a.f(L), a.f(L), a.pos(L), ms, a.f(L), 3, 1e-3, 0.9, 0.999, 1e-8, 0.01,
                                          dec, False) for ms, dec in ((None, False), (a.pos(L), True))],
    "rnn_rnn_cell_forward": lambda isa, a: [(relu, a.f(N, H)) for relu in (False, True)],
    "rnn_rnn_cell_backward": lambda isa, a: [(relu, a.f(N, H), a.f(N, H), a.f(N, H)) for relu in (False, True)],
    "rnn_lstm_cell_forward": lambda isa, a: [(a.f(N, 4 * H), cp) for cp in (None, a.f(N, H))],
    "rnn_lstm_cell_backward": lambda isa, a: [(a.f(N, H), a.f(N, H), a.f(N, H), *_lstm_saved(isa, a), cp)
                                              for cp in (None, a.f(N, H))],
    "rnn_gru_cell_forward": lambda isa, a: [(a.f(N, 3 * H), a.f(N, 3 * H), b, a.f(N, H)) for b in (None, a.f(3 * H))],
    "rnn_gru_cell_backward": lambda isa, a: [(a.f(N, H), a.f(N, H), *_gru_saved(isa, a), a.f(N, H))],
}


def _testing_functions():
    return sorted(n for n in dir(T) if not n.startswith("_") and callable(getattr(T, n)))


def _families():
    return sorted({n.split("_")[0] for n in _testing_functions()})


def run_family(family):
    """Child process: every case of ``family``; prints each case before running it."""
    for name in _testing_functions():
        if name.split("_")[0] != family:
            continue
        fn = getattr(T, name)
        for isa in ISAS:
            for where in PLACEMENTS:
                try:
                    cases = BUILDERS[name](isa, Args(where))
                except _C.UnsupportedIsaError:
                    continue
                for k, args in enumerate(cases):
                    print(f"CASE {name} isa={isa} placement={where} #{k}", flush=True)
                    try:
                        fn(isa, *args)
                    except _C.UnsupportedIsaError:
                        break
    print("DONE", flush=True)


def test_every_testing_function_has_a_builder():
    missing = [n for n in _testing_functions() if n not in BUILDERS]
    assert not missing, f"fastdl._C.testing functions without a guard-page argument builder: {missing}"


def test_guarded_array_faults_past_its_end():
    # the harness itself: one element past a guarded array is a fault (in a child process)
    code = ("import ctypes, numpy as np, test_guard_pages as g\n"
            "for where in ('after', 'before'):\n"
            "    a = g.guarded(np.ones(3, np.float32), where)\n"
            "    print(ctypes.c_float.from_address(a.ctypes.data + (12 if where == 'after' else -4)).value)\n")
    r = subprocess.run([sys.executable, "-c", code + "print('after survived')"], cwd=os.path.dirname(__file__),
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    # a signal (or, under ASan, its SEGV report and exit 1), never a Python exception
    assert r.returncode != 0 and "survived" not in r.stdout and "Traceback" not in r.stderr, (
        r.returncode, r.stdout, r.stderr[-500:])
    code_before = code.replace("('after', 'before')", "('before',)")
    r = subprocess.run([sys.executable, "-c", code_before], cwd=os.path.dirname(__file__), capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert r.returncode != 0 and "Traceback" not in r.stderr, (r.returncode, r.stdout, r.stderr[-500:])


@pytest.mark.parametrize("family", _families())
def test_kernel_family_within_guard_pages(family):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = f"import test_guard_pages as g; g.run_family({family!r})"
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__), capture_output=True,
                       text=True, env=env, timeout=300)
    cases = [line for line in r.stdout.splitlines() if line.startswith("CASE")]
    last = cases[-1] if cases else "(none)"
    assert r.returncode == 0 and r.stdout.rstrip().endswith("DONE"), (
        f"{family}: child exited with {r.returncode} during {last}\n{r.stderr[-2000:]}")
    assert cases, f"{family}: no case ran"
