"""fastdl.experiments and `fastdl experiment`: every experiment runs once in --quick mode (one
module-scoped `all --quick` run), writes a valid PNG and JSON, and index.html links every plot;
the verdict rules are checked on synthetic metrics in both directions; the CLI rejects bad input
with exit status 2."""
import json
import os

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

import fastdl  # noqa: E402
from fastdl import experiments  # noqa: E402
from fastdl.__main__ import main  # noqa: E402
from fastdl.experiments import REGISTRY, report  # noqa: E402
from fastdl.experiments._registry import Context  # noqa: E402

NAMES = ["linear_regression", "softmax", "normalization", "batchnorm", "activations", "dying_relu",
         "conv_arithmetic", "residual", "recurrent_vs_recursive"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_all(tmp_path_factory):
    """`fastdl experiment all --quick --threads 1` once for the whole module (one thread: the
    experiments are small and the test machine is shared)."""
    out = tmp_path_factory.mktemp("experiments")
    prev = fastdl.get_num_threads()
    assert main(["experiment", "all", "--quick", "--seed", "0", "--out", str(out), "--threads", "1"]) == 0
    assert fastdl.get_num_threads() == prev          # --threads is restored afterwards
    return out


def test_registry_has_the_nine_experiments():
    assert sorted(experiments.names()) == sorted(NAMES)
    assert all(experiments.describe()[n] for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_png_and_json(quick_all, name):
    png = quick_all / f"{name}.png"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    import matplotlib.image

    img = matplotlib.image.imread(str(png))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    rec = json.loads((quick_all / f"{name}.json").read_text())
    assert isinstance(rec["claim"], str) and rec["claim"]
    assert isinstance(rec["supported"], bool)
    assert isinstance(rec["metrics"], dict) and rec["metrics"]
    assert isinstance(rec["config"], dict) and rec["config"]
    assert rec["seed"] == 0 and rec["quick"] is True
    assert rec["rule"] == REGISTRY[name].rule and rec["rule"].startswith("supported if")
    # the verdict is the rule applied to exactly the numbers in the JSON
    assert REGISTRY[name].verdict(rec["metrics"]) == rec["supported"]
    assert rec["verdict"] == ("supported" if rec["supported"] else "NOT supported")


def test_index_html_references_every_png(quick_all):
    page = (quick_all / "index.html").read_text()
    for name in NAMES:
        assert f"src='{name}.png'" in page
        assert REGISTRY[name].claim.split(",")[0].replace("'", "&#x27;") in page


def test_two_seeds_give_different_numbers():
    """Run (without plotting) the experiments that take about a second or less; each draws its
    start point, data split, logits, initial weights or inputs from the seed."""
    for name in ("linear_regression", "softmax", "normalization", "conv_arithmetic"):
        exp = REGISTRY[name]
        runs = []
        for seed in (0, 1):
            fastdl.manual_seed(seed)
            runs.append(experiments.runner.plain(exp.run(Context(True, seed, np.random.default_rng(seed))).metrics))
        assert runs[0] != runs[1], name


def test_run_api_single(tmp_path):
    rec = experiments.run("linear_regression", quick=True, seed=3, out=tmp_path, verbose=False)
    assert rec["seed"] == 3 and os.path.isfile(rec["png"]) and os.path.isfile(rec["json"])
    assert set(rec) >= {"claim", "supported", "metrics", "seed", "config", "rule"}
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize("kwargs, exc", [
    (dict(name="nope"), ValueError), (dict(name=None), ValueError), (dict(name="softmax", seed=-1), ValueError),
    (dict(name="softmax", seed=1.5), ValueError), (dict(name="softmax", quick="yes"), TypeError),
    (dict(name="softmax", out=3), TypeError)])
def test_run_api_bad_arguments(kwargs, exc, tmp_path):
    kwargs.setdefault("out", tmp_path)
    with pytest.raises(exc):
        experiments.run(**kwargs)


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"fastdl\[plot\]"):
        report.require_matplotlib()


# ---- verdict rules on synthetic metrics: each must be able to say yes and no ----------------
def _lin(w=2.0, b=0.0, diff=1e-6):
    return {"w_hand": w, "b_hand": b, "w_autograd": w, "b_autograd": b, "w_closed": 2.0, "b_closed": 0.0,
            "max_diff_hand_autograd": diff}


def _soft(naive_last=1.0, err=1e-7, acc=0.95):
    return {"naive_nonfinite_frac": [0, 0, 0.5, naive_last], "fastdl_prob_err": [1e-8, err],
            "fastdl_ce_rel_err": [1e-7], "fastdl_nonfinite_frac": [0, 0], "digits_test_accuracy": acc}


def _norm(z, raw):
    return {"steps_to_threshold": {"raw": raw, "min-max": 20, "z-score": z, "decimal": None}}


def _bn(plain, bn):
    return {"epochs_to_target": {"lenet": plain, "lenet_bn": bn}}


def _grad(sig, relu):
    return {"ratio_first_last_init": {"sigmoid": sig, "tanh": 0.1, "relu": relu, "leaky_relu": relu, "elu": relu}}


def _dead(relu, leaky, elu):
    return {"dead_fraction": {"relu": relu, "leaky_relu": leaky, "elu": elu}}


def _conv(mismatch=0, rel=0.0, rel64=1e-7):
    return {"layers_checked": 80, "formula_mismatches": mismatch, "conv1x1_vs_linear_rel_err": rel,
            "conv1x1_vs_float64_rel_err": rel64}


def _res(res, plain):
    return {"loss_drop": {"residual": res, "plain": plain}}


def _rec(tree, lstm, deep_tree, deep_lstm):
    return {"test_accuracy": {"tree_lstm": tree, "lstm": lstm},
            "deeper_test_accuracy": {"tree_lstm": deep_tree, "lstm": deep_lstm}}


VERDICT_CASES = {
    "linear_regression": ([_lin()], [_lin(w=1.8), _lin(b=0.3), _lin(diff=1e-2)]),
    "softmax": ([_soft()], [_soft(naive_last=0.0), _soft(err=1e-3), _soft(acc=0.5)]),
    "normalization": ([_norm(5, None), _norm(5, 11)], [_norm(None, None), _norm(6, 11), _norm(None, 100)]),
    "batchnorm": ([_bn({"0.1": None, "1.0": None}, {"0.1": 2, "1.0": 3}), _bn({"0.1": 3, "1.0": None},
                                                                             {"0.1": 2, "1.0": 2})],
                  [_bn({"0.1": 2, "1.0": None}, {"0.1": 2, "1.0": 3}), _bn({"0.1": None, "1.0": None},
                                                                          {"0.1": None, "1.0": None}),
                   _bn({"0.1": 3, "1.0": 3}, {"0.1": 1, "1.0": None})]),
    "activations": ([_grad(1e-7, 1e-2)], [_grad(1e-2, 1.0), _grad(1e-5, 1e-4)]),
    "dying_relu": ([_dead(0.3, 0.1, 0.0)], [_dead(0.05, 0.0, 0.0), _dead(0.3, 0.2, 0.0), _dead(0.3, 0.0, 0.2)]),
    "conv_arithmetic": ([_conv()], [_conv(mismatch=1), _conv(rel=1e-3), _conv(rel64=1e-3)]),
    "residual": ([_res(0.5, 0.01), _res(0.06, -0.02)], [_res(0.04, 0.0), _res(0.5, 0.3)]),
    "recurrent_vs_recursive": ([_rec(1.0, 0.95, 0.95, 0.7)], [_rec(1.0, 0.95, 0.8, 0.75), _rec(0.9, 0.95, 1.0, 0.5)]),
}


@pytest.mark.parametrize("name", NAMES)
def test_verdict_rule_says_yes_and_no(name):
    yes, no = VERDICT_CASES[name]
    for m in yes:
        assert REGISTRY[name].verdict(m), m
    for m in no:
        assert not REGISTRY[name].verdict(m), m


# ---- command line ----------------------------------------------------------------------------
def test_cli_list(capsys):
    assert main(["experiment", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == experiments.names() and len(lines) == 9


@pytest.mark.parametrize("argv", [
    ["experiment"], ["experiment", "nope"], ["experiment", "softmax", "--seed", "-1"],
    ["experiment", "softmax", "--seed", "x"], ["experiment", "softmax", "--threads", "0"],
    ["experiment", "softmax", "--bogus"], ["experiment", "softmax", "--list"]])
def test_cli_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err
