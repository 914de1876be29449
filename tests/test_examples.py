"""Convergence of the issue-3 examples with fixed seeds, and the command line."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
sys.path.insert(0, EXAMPLES)


def test_linear_regression_textbook_and_converged():
    import linear_regression as lr

    # the textbook run (lr 0.01, 1000 iterations) gets close; both routes agree
    w1, b1, _ = lr.by_hand()
    w2, b2, _ = lr.with_autograd()
    assert abs(w1 - 2) < 0.01 and abs(b1) < 0.03
    assert abs(w1 - w2) < 1e-5 and abs(b1 - b2) < 1e-5
    # run to convergence: w = 2, b = 0 within 1e-3
    for fn in (lr.by_hand, lr.with_autograd):
        w, b, loss = fn(iterations=5000, lr=0.05)
        assert abs(w - 2) < 1e-3 and abs(b) < 1e-3 and loss < 1e-8


def test_softmax_regression_digits():
    pytest.importorskip("sklearn")
    import softmax_regression

    assert softmax_regression.main(epochs=30, verbose=0) >= 0.93


def test_mlp_digits():
    pytest.importorskip("sklearn")
    import mlp

    assert mlp.main(epochs=30, verbose=0) >= 0.97


def test_cli_info():
    out = subprocess.run([sys.executable, "-m", "fastdl"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "gemm self-check: ok" in out.stdout and "isa:" in out.stdout


def test_cli_demo_digits(tmp_path):
    pytest.importorskip("sklearn")
    png = tmp_path / "curves.png"
    out = subprocess.run([sys.executable, "-m", "fastdl", "demo", "--data", "digits", "--epochs", "3",
                          "--plot", str(png)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    acc = float(out.stdout.split("test accuracy:")[1].split()[0])
    assert acc > 0.9
    if "no plot" not in out.stdout:
        assert png.stat().st_size > 1000
