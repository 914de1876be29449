"""The global random state of fastdl (parameter initialisation, dropout masks, shuffling).

``fastdl.manual_seed(s)`` makes a run reproducible. The state is a numpy PCG64 Generator;
``get_rng_state()`` returns it as a JSON-serialisable dict (stored in checkpoints).
"""
from __future__ import annotations

import numpy as np
from ._args import is_int

__all__ = ["manual_seed", "default_generator", "get_rng_state", "set_rng_state", "next_seed"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the global generator (``seed`` >= 0)."""
    global _generator
    if not is_int(seed) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))


def default_generator() -> np.random.Generator:
    """The global numpy Generator (use it for anything random inside fastdl)."""
    return _generator


def next_seed() -> int:
    """A fresh 63-bit seed drawn from the global generator (for C++ kernels such as dropout)."""
    return int(_generator.integers(0, 2**63 - 1))


def get_rng_state() -> dict:
    """The global generator's state (a JSON-serialisable dict)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    g = np.random.default_rng()
    g.bit_generator.state = state
    global _generator
    _generator = g
