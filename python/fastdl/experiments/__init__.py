"""fastdl.experiments: a course's claims as experiments that run in under a minute on 2 cores,
draw the picture that shows them and state from their own numbers whether the claim held.

    python -m fastdl experiment --list
    python -m fastdl experiment normalization [--quick] [--seed N] [--out DIR] [--threads N]
    python -m fastdl experiment all --quick          # + DIR/index.html

    >>> from fastdl import experiments
    >>> rec = experiments.run("softmax", quick=True, seed=1, out="runs")
    >>> rec["supported"], rec["metrics"]["digits_test_accuracy"]
"""
from . import basics, conv_arithmetic, activations, training, recursive  # noqa: F401  (each module registers its experiments, in --list order)
from ._registry import REGISTRY, Experiment  # noqa: F401
from .runner import DEFAULT_OUT, run  # noqa: F401

__all__ = ["run", "names", "describe", "REGISTRY", "Experiment", "DEFAULT_OUT"]


def names():
    """The experiment names, in the order ``all`` runs them."""
    return list(REGISTRY)


def describe():
    """``{name: one-line summary}``."""
    return {n: e.summary for n, e in REGISTRY.items()}
