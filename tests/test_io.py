"""fastdl.save / fastdl.load: safetensors checkpoints, bit-exact round trips, malformed and
truncated files, atomic and crash-safe writes, resumed training, no pickle anywhere."""
import json
import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from train_doubles import MLP, SGD, CrossEntropyLoss

import fastdl
from fastdl import io as fio
from fastdl.io import CheckpointError

safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

PKG = pathlib.Path(fastdl.__file__).parent


def _bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


def _assert_same(a, b):
    """Structures equal, arrays bit for bit (dtype, shape, bytes), containers of the same type."""
    if isinstance(b, dict):  # OrderedDict state_dicts come back as plain dicts, same order
        assert isinstance(a, dict)
    else:
        assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert _bits(a) == _bits(b)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def _special_f32():
    raw = np.array([0x7FC00001, 0xFFC12345, 0x80000000, 0x00000001, 0x7F800000, 0xFF800000, 0x3F800000],
                   dtype=np.uint32)
    return raw.view(np.float32)  # NaN payloads, -0.0, a denormal, ±inf, 1.0


def test_state_dict_round_trip_is_bit_exact(tmp_path, rng):
    sd = {
        "layer.weight": rng.standard_normal((5, 3)).astype(np.float32),
        "layer.bias": _special_f32(),
        "bn.running_var": rng.standard_normal(4),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
        "half": rng.standard_normal(3).astype(np.float16),
        "i32": np.array([-1, 2**31 - 1], dtype=np.int32),
        "u8": np.arange(5, dtype=np.uint8),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
        "fortran": np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)),
        "strided": rng.standard_normal((6, 4)).astype(np.float32)[::2, ::-1],
        "big_endian": np.arange(4, dtype=">f4"),
        "tensor": fastdl.tensor(np.ones((2, 2))),
    }
    p = tmp_path / "m.safetensors"
    fastdl.save(sd, p)
    out = fastdl.load(p)
    assert list(out) == list(sd)
    for k, v in sd.items():
        v = v.data if isinstance(v, fastdl.Tensor) else v
        assert out[k].dtype == v.dtype.newbyteorder("=") and out[k].shape == v.shape
        assert out[k].tobytes() == np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("=")).tobytes()
        assert out[k].flags.writeable
    with safe_open(str(p), framework="numpy") as f:  # a plain safetensors file for other tools
        assert set(f.keys()) == set(sd)
        meta = f.metadata()
    assert meta["format_version"] == "1" and meta["fastdl_version"] == fastdl.__version__
    assert meta["kind"] == "state_dict" and re.fullmatch(r"[0-9a-f]{64}", meta["sha256"])
    raw = p.read_bytes()
    assert (8 + struct.unpack("<Q", raw[:8])[0]) % 8 == 0  # data stays 8-byte aligned


def test_optimizer_state_round_trip(tmp_path, rng):
    osd = {
        "state": {0: {"step": 10, "exp_avg": rng.standard_normal(3).astype(np.float32),
                      "exp_avg_sq": rng.random(3).astype(np.float32), "max": np.float32(2.5)},
                  2: {"momentum_buffer": None}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
                          "nesterov": True, "name": "body", "maximize": None, "inf": float("inf"),
                          "params": [0, 1, 2]}],
    }
    p = tmp_path / "opt.safetensors"
    fastdl.save(osd, p)
    out = fastdl.load(p)
    expected = dict(osd)
    expected["state"] = {0: dict(osd["state"][0], max=np.asarray(np.float32(2.5))), 2: {"momentum_buffer": None}}
    _assert_same(out, expected)
    assert isinstance(out["param_groups"][0]["betas"], tuple) and list(out["state"]) == [0, 2]
    with safe_open(str(p), framework="numpy") as f:
        assert set(f.keys()) == {"optim/state/0/exp_avg", "optim/state/0/exp_avg_sq", "optim/state/0/max"}
        assert f.metadata()["kind"] == "optimizer"


def test_checkpoint_bundle_and_rng_state(tmp_path):
    model = MLP((4, 8, 3))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.state = {0: {"momentum_buffer": np.ones((8, 4), np.float32)}}
    fastdl.manual_seed(11)
    fastdl.random.default_generator().random(3)
    bundle = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 4,
              "rng_state": fastdl.random.get_rng_state(), "note": "ok", "losses": [0.5, 0.25]}
    p = tmp_path / "ckpt.safetensors"
    fastdl.save(bundle, p)
    expected_draw = fastdl.random.default_generator().random(5)
    out = fastdl.load(p)
    _assert_same(out, bundle)
    assert fastdl.load(p)["epoch"] == 4 and type(out["epoch"]) is int
    fastdl.random.set_rng_state(out["rng_state"])
    np.testing.assert_array_equal(fastdl.random.default_generator().random(5), expected_draw)
    fresh = MLP((4, 8, 3), seed=99)
    fresh.load_state_dict(out["model"])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    with safe_open(str(p), framework="numpy") as f:
        assert "model/fc1.weight" in f.keys() and "optimizer/state/0/momentum_buffer" in f.keys()
        assert f.metadata()["kind"] == "checkpoint"


def test_load_foreign_safetensors_file(tmp_path):
    p = tmp_path / "foreign.safetensors"
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, str(p), metadata={"format": "np"})
    out = fastdl.load(p)
    assert list(out) == ["w"] and np.array_equal(out["w"], np.arange(6).reshape(2, 3))


def test_save_rejects_unsupported_values(tmp_path):
    p = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="set.*a/b"):
        fastdl.save({"a": {"b": {1, 2}}}, p)
    with pytest.raises(TypeError, match="dict keys"):
        fastdl.save({(1, 2): np.zeros(1)}, p)
    with pytest.raises(TypeError, match="complex128"):
        fastdl.save({"c": np.zeros(2, np.complex128)}, p)
    with pytest.raises(TypeError, match="object"):
        fastdl.save({"o": np.array([None])}, p)
    with pytest.raises(ValueError, match="a/b"):
        fastdl.save({"a/b": np.zeros(1), "a": {"b": np.ones(1)}}, p)
    assert not p.exists() and os.listdir(tmp_path) == []


# ---- every save that returns can be loaded (issue 15) ----------------------------------------
def test_save_refuses_a_tensor_named_metadata(tmp_path):
    p = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="__metadata__.*reserved"):
        fastdl.save({"__metadata__": np.zeros(2, np.float32)}, p)
    assert os.listdir(tmp_path) == []
    fastdl.save({"m": {"__metadata__": np.ones(2, np.float32)}, "__metadata__x": 1}, p)  # not the header key
    _assert_same(fastdl.load(p), {"m": {"__metadata__": np.ones(2, np.float32)}, "__metadata__x": 1})


def test_save_checks_header_size_after_every_metadata_field(tmp_path, monkeypatch):
    """The header limit applies to the header as written, sha256 included: a header that is
    under the limit before the checksum is added and over it after is refused by save."""
    p = tmp_path / "x.safetensors"
    obj = {"w": np.arange(6, dtype=np.float32), "note": "x" * 1000}
    fastdl.save(obj, p)
    (n,) = struct.unpack("<Q", p.read_bytes()[:8])
    sha_field = len(',"sha256":""') + 64
    monkeypatch.setattr(fio, "_MAX_HEADER", n - sha_field + 8)  # passes without sha256, fails with it
    q = tmp_path / "y.safetensors"
    with pytest.raises(ValueError, match="header too large"):
        fastdl.save(obj, q)
    assert not q.exists() and not [f for f in os.listdir(tmp_path) if ".tmp-" in f]
    monkeypatch.setattr(fio, "_MAX_HEADER", n)  # exactly at the limit: saved and loaded
    fastdl.save(obj, q)
    _assert_same(fastdl.load(q), obj)


def _nested(depth, leaf):
    obj = leaf
    for i in range(depth):
        obj = {"k": obj} if i % 3 == 0 else ([obj] if i % 3 == 1 else (obj,))
    return obj


def test_nesting_limit_is_the_same_for_save_and_load(tmp_path):
    p = tmp_path / "x.safetensors"
    deepest = _nested(fio._MAX_DEPTH, np.ones(3, np.float32))
    fastdl.save(deepest, p)
    _assert_same(fastdl.load(p), deepest)
    with pytest.raises(ValueError, match="nesting deeper"):
        fastdl.save(_nested(fio._MAX_DEPTH + 1, 1), tmp_path / "y.safetensors")
    cycle = {"a": [1]}
    cycle["a"].append(cycle)
    with pytest.raises(ValueError, match="contains itself"):
        fastdl.save(cycle, tmp_path / "y.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["x.safetensors"]


@pytest.mark.parametrize("depth", [fio._MAX_DEPTH + 1, 400, 100_000])
def test_deeply_nested_crafted_files_raise_checkpoint_error(tmp_path, depth):
    """A crafted fastdl_tree (or safetensors header) nested deeper than save allows: a
    CheckpointError, never a RecursionError."""
    p = tmp_path / "deep.safetensors"
    tree = '{"l":[' * depth + '{"v":1}' + "]}" * depth
    save_file({}, str(p), metadata={"fastdl_tree": tree})
    with pytest.raises(CheckpointError, match="nested deeper|fastdl_tree"):
        fastdl.load(p)
    h = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "x": ' + b"[" * depth + b"]" * depth + b"}"
    p.write_bytes(struct.pack("<Q", len(h)) + h + b"\x00" * 4)
    with pytest.raises(CheckpointError, match="malformed header|invalid safetensors"):
        fastdl.load(p)


# ---- malformed files (docs/testing.md §3: the nine cases safetensors rejects) --------------------
def _file(header, data=b"", n=None):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def _valid_small():
    return _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 8)


MALFORMED = {
    "header length 2^63": struct.pack("<Q", 2**63) + b"{}",
    "header length > file": _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\x00" * 4,
                                  n=4096),
    "offsets past end": _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 4),
    "shape x dtype != byte range": _file({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                                         b"\x00" * 8),
    "overlapping tensors": _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\x00" * 12),
    "hole in the buffer": _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                 "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, b"\x00" * 12),
    "shape product overflow": _file({"a": {"dtype": "F32", "shape": [2**62, 8], "data_offsets": [0, 8]}},
                                    b"\x00" * 8),
    "unknown dtype": _file({"a": {"dtype": "X99", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 8),
    "truncated to 20 bytes": _valid_small()[:20],
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_raise_clear_errors(tmp_path, case):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(MALFORMED[case])
    with pytest.raises(CheckpointError, match=re.escape(str(p))) as e:
        fastdl.load(p)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("header", [b"[1, 2]", b"\xff\xfe{}", b"{not json", b'{"__metadata__": {"a": 1}}'])
def test_malformed_json_headers(tmp_path, header):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match="malformed header"):
        fastdl.load(p)


def test_malformed_structure_metadata(tmp_path):
    good = tmp_path / "g.safetensors"
    for tree, msg in (('{"a": "missing"}', "missing tensor"), ('{"zz": 1}', "unknown structure tag"),
                      ("{oops", "fastdl_tree"), ('{"d": [[1]]}', "fastdl_tree"), ('{"d": []}', "not referenced")):
        save_file({"x": np.zeros(2, np.float32)}, str(good), metadata={"fastdl_tree": tree})
        with pytest.raises(CheckpointError, match=msg):
            fastdl.load(good)


def test_truncation_at_every_byte_offset(tmp_path):
    p = tmp_path / "small.safetensors"
    fastdl.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.5], np.float32),
                 "step": 3}, p)
    raw = p.read_bytes()
    t = tmp_path / "t.safetensors"
    for cut in range(len(raw)):
        t.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError):
            fastdl.load(t)
    t.write_bytes(raw)
    assert fastdl.load(t)["step"] == 3


def test_corrupted_bytes_are_detected(tmp_path):
    p = tmp_path / "c.safetensors"
    fastdl.save({"w": np.arange(64, dtype=np.float32)}, p)
    raw = bytearray(p.read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    for pos in (8 + n, len(raw) - 1, 8 + n + 100):  # flips in the data
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        p.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="checksum mismatch"):
            fastdl.load(p)
    bad = bytearray(raw)
    bad[8 + raw[8:8 + n].index(b'"w"') + 1] = ord("v")  # a renamed tensor in the header
    p.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="missing tensor"):
        fastdl.load(p)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        fastdl.load("/nonexistent/dir/x.safetensors")


# ---- atomic, crash-safe writes -------------------------------------------------------------
def test_failed_save_keeps_previous_file_and_removes_temp(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.safetensors"
    fastdl.save({"w": np.zeros(3, np.float32)}, p)

    def boom(f, data):
        f.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(fio, "_write", boom)
    with pytest.raises(OSError, match="disk full"):
        fastdl.save({"w": np.ones(1000, np.float32)}, p)
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    np.testing.assert_array_equal(fastdl.load(p)["w"], np.zeros(3))


def test_save_replaces_and_syncs(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(fio.os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode), real_fsync(fd))[1])
    p = tmp_path / "ckpt.safetensors"
    fastdl.save({"w": np.zeros(3, np.float32)}, p)
    fastdl.save({"w": np.ones(3, np.float32)}, str(p))
    import stat

    kinds = ["dir" if stat.S_ISDIR(m) else "file" for m in synced]
    assert kinds == ["file", "dir", "file", "dir"]  # the data, then the folder entry
    np.testing.assert_array_equal(fastdl.load(p)["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import fastdl
    from fastdl import io

    real = io._write

    def slow(f, data):          # write half, tell the parent, wait to be killed
        real(f, data[: len(data) // 2])
        f.flush()
        print("PAUSED", flush=True)
        time.sleep(60)

    io._write = slow
    fastdl.save({"w": np.full(1 << 18, 7.0, np.float32)}, sys.argv[1])
""")


def test_sigkill_during_save_leaves_previous_checkpoint_loadable(tmp_path):
    p = tmp_path / "ckpt.safetensors"
    prev = {"w": np.arange(10, dtype=np.float32), "epoch": 1}
    fastdl.save(prev, p)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PKG.parent), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(p)], stdout=subprocess.PIPE, env=env)
    try:
        line = child.stdout.readline()
        assert line.strip() == b"PAUSED"
        temps = [f for f in os.listdir(tmp_path) if f != "ckpt.safetensors"]
        assert len(temps) == 1 and (tmp_path / temps[0]).stat().st_size > 0  # a partial temp file exists
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    _assert_same(fastdl.load(p), prev)
    with pytest.raises(CheckpointError):  # the orphaned temp file is torn
        fastdl.load(tmp_path / temps[0])


# ---- resumed training continues the same loss curve ----------------------------------------
def test_resume_from_checkpoint_continues_the_same_loss_curve(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 4)).astype(np.float32)
    y = rng.integers(0, 3, 96)

    def train(model, opt, epochs):
        return fastdl.fit(model, (X, y), CrossEntropyLoss(), opt, epochs=epochs, verbose=0,
                          batch_size=16).history["loss"]

    fastdl.manual_seed(1)
    model = MLP((4, 8, 3), seed=0)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    train(model, opt, 2)
    p = tmp_path / "resume.safetensors"
    fastdl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2,
                 "rng_state": fastdl.random.get_rng_state()}, p)
    uninterrupted = train(model, opt, 3)

    fastdl.manual_seed(12345)  # a different global state, restored from the checkpoint
    ck = fastdl.load(p)
    model2 = MLP((4, 8, 3), seed=7)
    opt2 = SGD(model2.parameters(), lr=0.5)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    fastdl.random.set_rng_state(ck["rng_state"])
    resumed = train(model2, opt2, 3)
    assert resumed == uninterrupted and ck["epoch"] == 2
    for k, v in model.state_dict().items():
        assert _bits(model2.state_dict()[k]) == _bits(v)


# ---- no pickle ------------------------------------------------------------------------------
def test_package_source_never_pickles():
    bad = re.compile(r"\bimport\s+(c?pickle|dill|joblib)\b|\bfrom\s+(c?pickle|dill|joblib)\b|\bpickle\.|"
                     r"allow_pickle\s*=\s*True|torch\.load\(")
    files = list(PKG.rglob("*.py"))
    assert len(files) > 10
    hits = [f"{f.relative_to(PKG)}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
            if bad.search(line)]
    assert hits == []


# ---- random mutations (a cheap stand-in for the atheris fuzz target) -------------------------
def test_random_mutations_raise_only_checkpoint_errors(tmp_path):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    src = tmp_path / "seed.safetensors"
    fastdl.save({"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
                 "optimizer": {"state": {0: {"step": 2}}, "param_groups": [{"lr": 0.1, "params": [0]}]}}, src)
    raw = src.read_bytes()
    target = tmp_path / "mut.safetensors"

    @hypothesis.settings(max_examples=200, deadline=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1,
                               max_size=4))
    def check(edits):
        data = bytearray(raw)
        for pos, val in edits:
            data[pos] = val
        target.write_bytes(bytes(data))
        try:
            out = fastdl.load(target)
        except CheckpointError:
            return
        assert isinstance(out, dict)  # a mutation that kept the file valid (e.g. whitespace)

    check()


def test_resume_with_real_layers_and_adam(tmp_path):
    nn = fastdl.nn
    if not all(hasattr(nn, n) for n in ("Linear", "ReLU", "Sequential", "CrossEntropyLoss")):
        pytest.skip("real layers not available")
    import fastdl.optim as optim
    prev_threads = fastdl.get_num_threads()
    fastdl.set_num_threads(1)
    try:
        rng = np.random.default_rng(1)
        X = rng.standard_normal((80, 6)).astype(np.float32)
        y = rng.integers(0, 4, 80)

        def make():
            return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))

        def train(model, opt, epochs):
            return fastdl.fit(model, (X, y), nn.CrossEntropyLoss(), opt, epochs=epochs, verbose=0,
                              batch_size=16).history["loss"]

        fastdl.manual_seed(3)
        model = make()
        opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
        train(model, opt, 2)
        p = tmp_path / "adam.safetensors"
        fastdl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2,
                     "rng_state": fastdl.random.get_rng_state()}, p)
        uninterrupted = train(model, opt, 3)

        fastdl.manual_seed(999)
        model2 = make()
        opt2 = optim.Adam(model2.parameters(), lr=1.0, amsgrad=True)
        ck = fastdl.load(p)
        model2.load_state_dict(ck["model"])
        opt2.load_state_dict(ck["optimizer"])
        fastdl.random.set_rng_state(ck["rng_state"])
        assert train(model2, opt2, 3) == uninterrupted
        _assert_same(fastdl.load(p)["optimizer"], ck["optimizer"])
    finally:
        fastdl.set_num_threads(prev_threads)
