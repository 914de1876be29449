"""Run an experiment: seed, run, decide the verdict from the run's own metrics, write
``NAME.png`` and ``NAME.json``, print the claim, a table and the verdict; ``all`` also writes
``index.html``."""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np

import fastdl

from .._args import is_int
from . import report
from ._registry import REGISTRY, Context, get

__all__ = ["run", "plain", "DEFAULT_OUT"]

DEFAULT_OUT = "fastdl_experiments"


def plain(obj):
    """JSON-ready copy: numpy scalars/arrays to Python numbers/lists, tuples to lists, and
    non-finite floats (inf, NaN) to None."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"experiment result holds a {type(obj).__name__}, which is not a JSON value")


def _check_args(quick, seed, out):
    if not isinstance(quick, (bool, np.bool_)):
        raise TypeError(f"run: quick must be True or False, got {quick!r}")
    if not is_int(seed) or not 0 <= seed < 2**32:
        raise ValueError(f"run: seed must be an int in [0, 2**32), got {seed!r}")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"run: out must be a directory path or None, got {type(out).__name__}")


def _run_one(exp, quick, seed, out, verbose):
    fastdl.manual_seed(seed)
    ctx = Context(quick=bool(quick), seed=int(seed), rng=np.random.default_rng(seed))
    t0 = time.perf_counter()
    res = exp.run(ctx)
    seconds = time.perf_counter() - t0
    metrics = plain(res.metrics)
    supported = bool(exp.verdict(metrics))   # decided on exactly the numbers written to the JSON
    record = {
        "name": exp.name, "claim": exp.claim, "rule": exp.rule, "supported": supported,
        "verdict": "supported" if supported else "NOT supported",
        "metrics": metrics, "seed": int(seed), "quick": bool(quick), "config": plain(res.config),
        "table": plain(res.table), "curves": plain(res.curves), "seconds": round(seconds, 2),
        "fastdl_version": fastdl.__version__, "threads": fastdl.get_num_threads(), "isa": fastdl.get_isa(),
    }
    png = os.path.join(out, f"{exp.name}.png")
    report.write_png(exp, res, record, png)
    record["png"] = png
    path = os.path.join(out, f"{exp.name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, allow_nan=False)
        f.write("\n")
    record["json"] = path
    if verbose:
        print(report.text(record), flush=True)
    return record


def run(name, quick=False, seed=0, out=None, verbose=True):
    """Run experiment ``name`` (see ``fastdl.experiments.names()``) and return its record:
    ``{"claim", "rule", "supported", "metrics", "seed", "config", "png", "json", ...}``.

    Writes ``out/NAME.png`` and ``out/NAME.json`` (``out`` defaults to ./fastdl_experiments).
    ``name="all"`` runs every experiment, writes ``out/index.html`` and returns
    ``{name: record, ...}``. ``quick`` uses a smaller setup (seconds, not a minute). Needs
    matplotlib (``pip install 'fastdl[plot]'``).
    """
    _check_args(quick, seed, out)
    exps = list(REGISTRY.values()) if name == "all" else [get(name)]
    report.require_matplotlib()
    out = os.fspath(DEFAULT_OUT if out is None else out)
    os.makedirs(out, exist_ok=True)
    records = {e.name: _run_one(e, quick, seed, out, verbose) for e in exps}
    if name != "all":
        return records[name]
    index = report.write_index(list(records.values()), os.path.join(out, "index.html"))
    if verbose:
        n = sum(r["supported"] for r in records.values())
        print(f"{n}/{len(records)} claims supported on seed {seed}; report: {index}")
    return records
