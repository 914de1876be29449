"""Runtime dispatch and thread control: get_isa/set_isa, FASTDL_ISA, set/get_num_threads,
OMP_NUM_THREADS and FASTDL_NUM_THREADS (environment cases run in a fresh interpreter)."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastdl

PYTHON_DIR = str(pathlib.Path(fastdl.__file__).resolve().parent.parent)
ISAS = [name for name in ("generic", "avx2", "avx512") if fastdl._C.cpu_supports(name)]


def run_python(code, **env_updates):
    env = dict(os.environ)
    for k in ("FASTDL_ISA", "FASTDL_NUM_THREADS", "OMP_NUM_THREADS"):
        env.pop(k, None)
    env.update(env_updates)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def test_get_isa_is_best_supported_by_default():
    r = run_python("import fastdl; print(fastdl.get_isa())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ISAS[-1]


def test_set_isa_round_trip():
    prev = fastdl.get_isa()
    try:
        for name in ISAS:
            fastdl.set_isa(name)
            assert fastdl.get_isa() == name
            a = np.arange(12, dtype=np.float32).reshape(3, 4)
            np.testing.assert_array_equal(fastdl.ops.matmul(a, a.T), a @ a.T)
    finally:
        fastdl.set_isa(prev)


def test_set_isa_unknown_name_raises_clear_error():
    prev = fastdl.get_isa()
    with pytest.raises(ValueError, match="unknown ISA 'avx1024'.*'generic', 'avx2' or 'avx512'"):
        fastdl.set_isa("avx1024")
    with pytest.raises(ValueError, match="unknown ISA 'AVX512'"):
        fastdl.set_isa("AVX512")  # names are lower case (FASTDL_ISA is lowered by the package)
    with pytest.raises(TypeError, match="str"):
        fastdl.set_isa(2)
    assert fastdl.get_isa() == prev


def test_set_isa_unsupported_raises():
    if fastdl._C.cpu_supports("avx2"):
        pytest.skip("this CPU has AVX2+FMA; the unsupported case is covered by the unknown name")
    with pytest.raises(ValueError, match="not supported by this CPU"):
        fastdl.set_isa("avx2")


def test_set_isa_avx512():
    """avx512 is selectable exactly when supported; there use_avx2() kernels keep working."""
    prev = fastdl.get_isa()
    try:
        if fastdl._C.cpu_supports("avx512"):
            assert fastdl._C.cpu_supports("avx2")
            fastdl.set_isa("avx512")
            assert fastdl.get_isa() == "avx512"
            x = np.linspace(-3, 3, 37, dtype=np.float32)
            np.testing.assert_allclose(fastdl._C.exp(x), np.exp(x), rtol=2e-6)
        else:
            with pytest.raises(ValueError, match="ISA 'avx512' is not supported by this CPU"):
                fastdl.set_isa("avx512")
            assert fastdl.get_isa() == prev
    finally:
        fastdl.set_isa(prev)


def test_isa_levels_are_nested():
    supported = [fastdl._C.cpu_supports(n) for n in ("generic", "avx2", "avx512")]
    assert supported[0]
    assert supported == sorted(supported, reverse=True)  # no level without the ones below


@pytest.mark.parametrize("name", ISAS)
def test_fastdl_isa_env(name):
    r = run_python("import fastdl; print(fastdl.get_isa())", FASTDL_ISA=name.upper())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == name


def test_fastdl_isa_env_bad_value_fails_import():
    r = run_python("import fastdl", FASTDL_ISA="sse9")
    assert r.returncode != 0
    assert "FASTDL_ISA" in r.stderr and "unknown ISA" in r.stderr


def test_set_get_num_threads():
    prev = fastdl.get_num_threads()
    try:
        for n in (1, 2, 3):
            fastdl.set_num_threads(n)
            assert fastdl.get_num_threads() == n
    finally:
        fastdl.set_num_threads(prev)


@pytest.mark.parametrize("n", [0, -1, -(2 ** 40)])
def test_set_num_threads_below_one_raises(n):
    prev = fastdl.get_num_threads()
    with pytest.raises(ValueError, match=">= 1"):
        fastdl.set_num_threads(n)
    assert fastdl.get_num_threads() == prev


@pytest.mark.parametrize("n", [1.5, "2", None, True])
def test_set_num_threads_type_errors(n):
    with pytest.raises(TypeError):
        fastdl.set_num_threads(n)


def test_omp_num_threads_honoured():
    if not fastdl._C.has_openmp():
        pytest.skip("built without OpenMP")
    for n in ("1", "3"):
        r = run_python("import fastdl; print(fastdl.get_num_threads())", OMP_NUM_THREADS=n)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == n


def test_fastdl_num_threads_env():
    r = run_python("import fastdl; print(fastdl.get_num_threads())", FASTDL_NUM_THREADS="1",
                   OMP_NUM_THREADS="2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    r = run_python("import fastdl", FASTDL_NUM_THREADS="0")
    assert r.returncode != 0 and ">= 1" in r.stderr


def test_fma_peak_measures_every_supported_level():
    for name in ISAS:
        gflops = fastdl.ops.fma_peak(name, seconds=0.05)
        assert 0.1 < gflops < 1e5
    for name in ("generic", "avx2", "avx512"):
        if name not in ISAS:
            with pytest.raises(fastdl._C.UnsupportedIsaError):
                fastdl.ops.fma_peak(name, seconds=0.05)


@pytest.mark.parametrize("seconds", [0.0, -1.0, 61.0, float("nan")])
def test_fma_peak_rejects_bad_durations(seconds):
    with pytest.raises(ValueError, match="seconds"):
        fastdl.ops.fma_peak("generic", seconds=seconds)
    with pytest.raises(ValueError):
        fastdl.ops.fma_peak("sse9")
