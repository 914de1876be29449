"""fastdl.save / fastdl.load: checkpoints in the safetensors format, written atomically.

File layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length, a JSON header ``{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}``,
then the tensor bytes. Any safetensors reader opens fastdl files, and ``load`` opens files
written by other tools (returning a plain ``{name: array}`` dict).

What ``save`` accepts: any nesting of dicts (str or int keys), lists and tuples whose leaves
are arrays (numpy arrays, Tensors, numpy scalars) or JSON scalars (int, float, bool, str,
None). That covers

- a model ``state_dict`` (name → array): tensors are stored under their own names;
- an optimizer ``state_dict`` ``{'state': {idx: {slot: array | scalar}}, 'param_groups': [...]}``:
  tensors named ``optim/state/<idx>/<slot>``, hyper-parameters in the metadata;
- a checkpoint bundle ``{'model': sd, 'optimizer': osd, 'epoch': int,
  'rng_state': fastdl.random.get_rng_state(), ...}``: tensors named ``model/<name>``,
  ``optimizer/state/<idx>/<slot>``; everything else in the metadata.

Arrays become safetensors tensors named by their key path joined with ``/``; the rest of the
structure is JSON in ``__metadata__['fastdl_tree']`` (Python ints stay ints, tuples stay
tuples, dict key order is kept), so ``load`` returns the same structure with numpy arrays.
Metadata also holds ``format_version``, ``fastdl_version``, ``kind`` (state_dict /
optimizer / checkpoint) and ``sha256``, the SHA-256 of the tensor byte buffer, verified on
load. Values are never pickled.

Every save that returns can be loaded: ``save`` raises ValueError, writing nothing, for what
``load`` would reject - a tensor named ``__metadata__``, a header over 100 MB once every
metadata field (``sha256`` included) is in, or nesting deeper than 100 dicts/lists/tuples
(``load`` raises CheckpointError for a file nested deeper, never RecursionError).

Crash safety: the file is written to ``<path>.tmp-<pid>-<random>`` in the same folder,
flushed and fsynced, renamed over ``path`` with ``os.replace`` (atomic), and the folder is
fsynced so the rename survives a power loss. The temporary file is removed on any error, so
an interrupted save leaves the previous file at ``path`` intact.
"""
from __future__ import annotations

import os
import struct

import numpy as np

__all__ = ["save", "load", "CheckpointError"]

FORMAT_VERSION = "1"
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own cap on the JSON header
_MAX_DEPTH = 100  # nesting of dicts/lists/tuples (a cycle or a crafted file stops here, not in RecursionError)
_RESERVED = "__metadata__"  # the header key of the metadata map: no tensor may have this name
_CHUNK = 1 << 20


_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8"),
           "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U64": np.dtype("<u8"),
           "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"), "BOOL": np.dtype("?")}


class CheckpointError(ValueError):
    """A file that is not a valid (or not an intact) safetensors/fastdl checkpoint."""


# ---- encoding the structure ------------------------------------------------------------
def _kind(obj):
    if isinstance(obj, dict):
        if set(obj) == {"state", "param_groups"}:
            return "optimizer"
        if all(isinstance(k, str) for k in obj) and all(_as_array(v) is not None for v in obj.values()):
            return "state_dict"
    return "checkpoint"


def _as_array(v):
    """The ndarray behind an array-like leaf (ndarray, Tensor, numpy scalar), else None."""
    from .tensor import Tensor

    if isinstance(v, Tensor):
        return v.data
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, np.generic):
        return np.asarray(v)
    return None


def _encode(obj, path, tensors):
    """JSON-able skeleton of obj; arrays go into ``tensors`` under their '/'-joined path."""
    arr = _as_array(obj)
    if arr is not None:
        name = "/".join(path)
        if name == _RESERVED:
            raise ValueError(f"fastdl.save: {_RESERVED!r} is reserved by the safetensors format and cannot name a "
                             "tensor (rename that key)")
        if name in tensors:
            raise ValueError(f"fastdl.save: two entries map to the tensor name {name!r} (a key contains '/')")
        if arr.dtype.kind not in "biuf" or arr.dtype.itemsize > 8:
            raise TypeError(f"fastdl.save: {name!r} has dtype {arr.dtype}, which safetensors cannot store")
        tensors[name] = np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")  # keeps 0-d shapes
        return {"a": name}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"v": obj}
    if len(path) >= _MAX_DEPTH and isinstance(obj, (dict, list, tuple)):
        raise ValueError(f"fastdl.save: nesting deeper than {_MAX_DEPTH} levels at {'/'.join(path[:8])}/... "
                         "(a dict or list that contains itself?)")
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if isinstance(k, np.integer):
                k = int(k)
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"fastdl.save: dict keys must be str or int, got {type(k).__name__} "
                                f"at {'/'.join(path) or '<root>'}")
            items.append([k, _encode(v, path + [str(k)], tensors)])
        return {"d": items}
    if isinstance(obj, (list, tuple)):
        tag = "t" if isinstance(obj, tuple) else "l"
        return {tag: [_encode(v, path + [str(i)], tensors) for i, v in enumerate(obj)]}
    raise TypeError(f"fastdl.save: cannot store a value of type {type(obj).__name__} at "
                    f"{'/'.join(path) or '<root>'} (arrays, Tensors, dicts, lists, tuples, int, float, "
                    "bool, str and None are supported)")


def _decode(node, tensors, used, depth=0):
    if not isinstance(node, dict) or len(node) != 1:
        raise CheckpointError(f"fastdl.load: malformed structure node {str(node)[:80]!r}")
    (tag, val), = node.items()
    if tag in ("d", "l", "t") and depth >= _MAX_DEPTH:
        raise CheckpointError(f"fastdl.load: structure nested deeper than {_MAX_DEPTH} levels")
    if tag == "a":
        if val not in tensors:
            raise CheckpointError(f"fastdl.load: the structure refers to a missing tensor {val!r}")
        used.add(val)
        return tensors[val]
    if tag == "v":
        return val
    if tag == "d":
        return {k: _decode(v, tensors, used, depth + 1) for k, v in val}
    if tag in ("l", "t"):
        items = [_decode(v, tensors, used, depth + 1) for v in val]
        return tuple(items) if tag == "t" else items
    raise CheckpointError(f"fastdl.load: unknown structure tag {tag!r}")


# ---- writing -------------------------------------------------------------------------------
def _write(f, data):
    """Write ``data`` (a memoryview) to ``f`` in chunks."""
    for start in range(0, len(data), _CHUNK):
        f.write(data[start:start + _CHUNK])


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, path):
    """Write ``obj`` (a state_dict, an optimizer state_dict or a checkpoint dict) to ``path``
    in the safetensors format, atomically and durably (see the module docstring)."""
    import hashlib
    import json

    import safetensors.numpy

    from . import __version__

    path = os.fspath(path)
    kind = _kind(obj)
    tensors = {}
    tree = _encode(obj, ["optim"] if kind == "optimizer" else [], tensors)
    meta = {"format_version": FORMAT_VERSION, "fastdl_version": __version__, "kind": kind,
            "fastdl_tree": json.dumps(tree, separators=(",", ":"))}
    blob = memoryview(safetensors.numpy.save(tensors, metadata=meta))
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(bytes(blob[8:8 + n]))
    payload = blob[8 + n:]
    header["__metadata__"]["sha256"] = hashlib.sha256(payload).hexdigest()
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)  # keep the data 8-byte aligned, as safetensors does
    try:  # the checks load makes on the header, on the final header: every save that returns loads
        _read_header(path, struct.pack("<Q", len(hbytes)) + hbytes)
    except CheckpointError as e:
        raise ValueError(f"fastdl.save: not written, load would reject it: {e}") from None

    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with open(tmp, "xb") as f:
            f.write(struct.pack("<Q", len(hbytes)))
            f.write(hbytes)
            _write(f, payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


# ---- reading -------------------------------------------------------------------------------
def _read_header(path, raw):
    import json

    size = len(raw)
    if size < 8:
        raise CheckpointError(f"{path}: not a safetensors file: {size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER:
        raise CheckpointError(f"{path}: header too large: {n} bytes (limit {_MAX_HEADER}); corrupt or not "
                              "a safetensors file")
    if 8 + n > size:
        raise CheckpointError(f"{path}: truncated: the header needs {n} bytes but the file has {size - 8} "
                              "after the length field")
    try:
        header = json.loads(bytes(raw[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{path}: malformed header (not UTF-8 JSON): {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: malformed header: a JSON object expected, got {type(header).__name__}")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise CheckpointError(f"{path}: malformed header: __metadata__ must map strings to strings")
    return n, meta


def load(path):
    """Read a file written by :func:`save` (or any safetensors file) and return its structure:
    dicts, lists, tuples, Python scalars and numpy arrays (writeable copies).

    Raises FileNotFoundError for a missing file and :class:`CheckpointError` (a ValueError)
    for a truncated, malformed or corrupted one (the stored SHA-256 of the data is checked).
    """
    import hashlib
    import json

    import safetensors

    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    n, meta = _read_header(path, raw)
    expected = meta.get("sha256")
    if expected is not None:
        got = hashlib.sha256(memoryview(raw)[8 + n:]).hexdigest()
        if got != expected:
            raise CheckpointError(f"{path}: data checksum mismatch (SHA-256 {got}, header says {expected}): the "
                                  "file is corrupted or was modified")
    try:
        flat = safetensors.deserialize(raw)  # validates offsets, sizes, overlaps, dtypes
    except safetensors.SafetensorError as e:
        raise CheckpointError(f"{path}: invalid safetensors file: {e}") from None
    tensors = {}
    for name, view in flat:
        dtype = _DTYPES.get(view["dtype"])
        if dtype is None:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {view['dtype']}, which numpy cannot hold "
                                  f"(supported: {', '.join(_DTYPES)})")
        tensors[name] = np.frombuffer(view["data"], dtype=dtype).reshape(tuple(view["shape"]))
    if "fastdl_tree" not in meta:
        return tensors
    try:
        tree = json.loads(meta["fastdl_tree"])
    except (json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{path}: malformed fastdl_tree metadata: {e}") from None
    used = set()
    try:
        out = _decode(tree, tensors, used)
    except (TypeError, ValueError, RecursionError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: malformed fastdl_tree metadata: {e}") from None
    if used != set(tensors):
        raise CheckpointError(f"{path}: tensors not referenced by the structure: {sorted(set(tensors) - used)[:5]}")
    return out
