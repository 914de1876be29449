"""History: the per-epoch numbers of a ``fit`` run, and a PNG of the curves."""
from __future__ import annotations

import math

from ..distributed.process_group import _is_rank0

__all__ = ["History"]

_NOT_CURVES = ("lr", "epoch_time", "samples_per_sec")


class History:
    """``history`` maps each logged name to a list with one value per epoch: ``loss``, each
    metric (``accuracy``), ``val_loss`` / ``val_<metric>`` when validation data is given,
    ``lr`` (the first parameter group's learning rate during the epoch), ``epoch_time``
    (seconds spent training, validation excluded) and ``samples_per_sec``. ``epoch`` lists the epoch indices (0-based)."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def append(self, epoch, logs):
        """Record one epoch's logs (a new name gets NaN for the epochs before it)."""
        n = len(self.epoch)
        for k, v in logs.items():
            self.history.setdefault(k, [math.nan] * n).append(v)
        for k, vals in self.history.items():
            if k not in logs:
                vals.append(math.nan)
        self.epoch.append(epoch)

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def plot(self, path, title=None):
        """Write a PNG to ``path``: losses (train and validation) in one panel, the other metrics
        in a second. Needs matplotlib (``pip install 'fastdl[plot]'``); uses its object API
        (no pyplot, no global backend change). Returns ``path``. In a distributed run only
        rank 0 writes the file."""
        if not _is_rank0():
            return path
        try:
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib, which is not installed; install it with: "
                              "pip install 'fastdl[plot]'") from None
        if not self.epoch:
            raise ValueError("History.plot: no epochs recorded")
        epochs = [e + 1 for e in self.epoch]
        base = [k for k in self.history if not k.startswith("val_") and k not in _NOT_CURVES]
        metrics = [k for k in base if k != "loss"]
        panels = [["loss"]] + ([metrics] if metrics else [])
        fig = Figure(figsize=(5.5 * len(panels), 4.0), dpi=100)
        for i, keys in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for k in keys:
                for name, style in ((k, "-"), ("val_" + k, "--")):
                    if name in self.history:
                        ax.plot(epochs, self.history[name], style, marker="o", markersize=3, label=name)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss" if keys == ["loss"] else "metric")
            ax.grid(True, alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, format="png")
        return path
