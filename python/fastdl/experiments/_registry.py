"""The experiment registry: what each experiment claims, the rule that decides the verdict
from its own metrics, and the functions that run it and draw it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Experiment", "Context", "Result", "REGISTRY", "register", "get"]


@dataclass(frozen=True)
class Context:
    """What a run gets: ``quick`` (a smaller setup), ``seed`` and a numpy generator seeded with it
    (fastdl's global generator is seeded with the same value before the run)."""
    quick: bool
    seed: int
    rng: np.random.Generator


@dataclass
class Result:
    """What a run returns. ``metrics``: the numbers the verdict rule reads (JSON scalars, lists,
    dicts; ``None`` for "never happened"); ``config``: the setup; ``curves``: series for the plot;
    ``table``: rows printed and shown in the report (first row = header)."""
    metrics: dict
    config: dict
    curves: dict = field(default_factory=dict)
    table: list = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str                            # one line for --list
    claim: str                              # the course's claim, in words
    rule: str                               # how `verdict` decides, in words (written into the JSON)
    verdict: Callable[[dict], bool]         # metrics -> supported?
    run: Callable[[Context], Result]
    plot: Callable[[object, Result], None]  # (matplotlib Figure, result) -> draws on the figure
    figsize: tuple = (11, 4.2)


REGISTRY: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    if exp.name in REGISTRY:
        raise ValueError(f"experiment {exp.name!r} registered twice")
    REGISTRY[exp.name] = exp
    return exp


def get(name) -> Experiment:
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[name]
