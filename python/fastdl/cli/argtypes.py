"""argparse ``type=`` functions: each turns a command-line string into a checked value or
raises ``argparse.ArgumentTypeError``, which argparse reports as a one-line usage error with
exit code 2 (no traceback) before any work starts."""
from __future__ import annotations

import argparse
import math
import os

__all__ = ["positive_int", "non_negative_int", "positive_float", "output_file"]


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text):
    """An integer >= 1 (``--batch-size``, ``--threads``)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text):
    """An integer >= 0 (``--epochs``: 0 evaluates without training; ``--seed``)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text):
    """A finite number > 0 (``--lr``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def output_file(text):
    """A path to write later: '' means none; otherwise its folder must exist and be writable
    and the path must not be a folder — checked now, so a long run never fails at its end."""
    if text == "":
        return ""
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name such as {os.path.join(text, 'curves.png')!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"folder {folder!r} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not writable")
    return path
