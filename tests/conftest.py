"""Shared fixtures: every kernel test runs on each ISA path and on 1 and 2 threads."""
import os
import zlib

import numpy as np
import pytest

import fastdl

ALL_ISAS = ("generic", "avx2", "avx512")
ISAS = [name for name in ALL_ISAS if fastdl._C.cpu_supports(name)]


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Runs the test once per kernel path; a path this CPU (or build) lacks shows as a skip.
    Restores the previous path."""
    if not fastdl._C.cpu_supports(request.param):
        pytest.skip(f"ISA level {request.param!r} is not supported by this CPU/build")
    prev = fastdl.get_isa()
    fastdl.set_isa(request.param)
    yield request.param
    fastdl.set_isa(prev)


@pytest.fixture(params=[1, 2], ids=["t1", "t2"])
def threads(request):
    """Runs the test with 1 and with 2 threads; restores the previous count."""
    prev = fastdl.get_num_threads()
    fastdl.set_num_threads(request.param)
    yield request.param
    fastdl.set_num_threads(prev)


def on_thread_counts(fn, counts=(1, 2, 3)):
    """[fn() run on each thread count of ``counts``] (for bitwise thread-independence checks);
    restores the previous count."""
    prev = fastdl.get_num_threads()
    try:
        out = []
        for t in counts:
            fastdl.set_num_threads(t)
            out.append(fn())
        return out
    finally:
        fastdl.set_num_threads(prev)


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test name (reproducible, different per test)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def torch_or_skip():
    """Returns torch, or skips the test cleanly when it is not installed (or when the tests
    run under the sanitizer build, where torch's own libraries are not instrumented)."""
    if os.environ.get("FASTDL_SANITIZED"):
        pytest.skip("torch oracle skipped under the sanitizer build")
    return pytest.importorskip("torch")
