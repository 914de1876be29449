"""Callbacks: hooks ``fit`` calls at the start/end of training, of each epoch and after each batch.

A callback sees the model and optimizer (``self.model``, ``self.optimizer``, set by ``fit``
through ``set_context``) and the logs dict of the moment. Setting
``self.model.stop_training = True`` asks ``fit`` to stop: after the current batch when done in
``on_batch_end``, after the current epoch otherwise (``on_epoch_end`` and ``on_train_end``
still run).

Epoch indices passed to callbacks are 0-based. Epoch logs hold ``loss``, the metrics,
``val_loss``/``val_<metric>`` with validation data, ``lr``, ``epoch_time`` and
``samples_per_sec``; batch logs hold ``loss`` and ``size``.

In a distributed run (DistributedDataParallel) every rank runs the callbacks with the same
epoch logs; the ones that write files (ModelCheckpoint, CSVLogger) write on rank 0 only.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .._args import count_arg
from ..distributed.process_group import _is_rank0

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN", "CSVLogger", "TensorBoard"]


class Callback:
    """Base class: override any of the hooks; each receives the logs dict."""

    model = None
    optimizer = None

    def set_context(self, model, optimizer):
        """Called by ``fit`` before training: the model and optimizer the hooks may use."""
        self.model = model
        self.optimizer = optimizer

    def on_train_begin(self, logs=None):
        """Called once before the first epoch (``logs`` is empty)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called before each epoch; ``epoch`` is 0-based."""

    def on_batch_end(self, batch, logs=None):
        """Called after each training step; ``logs`` holds the batch ``loss`` and ``size``."""

    def on_epoch_end(self, epoch, logs=None):
        """Called after each epoch (and its validation) with the epoch logs: ``loss``, the
        metrics, ``val_*``, ``lr``, ``epoch_time``, ``samples_per_sec``."""

    def on_train_end(self, logs=None):
        """Called once when training ends normally (also after an early stop) with the last
        epoch's logs; not called when an exception interrupts ``fit``."""


def _resolve_mode(name, mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{name}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


def _monitored(name, monitor, logs):
    if monitor not in logs:
        raise KeyError(f"{name}: monitored value {monitor!r} is not in the logs (available: {', '.join(logs)}); "
                       "pass val_data to fit or choose another monitor, e.g. monitor='loss'")
    return float(logs[monitor])


class _Monitor:
    """Tracks the best value of a monitored quantity (min or max mode, min_delta)."""

    def __init__(self, mode, min_delta):
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.best = math.inf if mode == "min" else -math.inf

    def improved(self, value):
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras' EarlyStopping).

    ``mode``: 'min', 'max', or 'auto' (max for names containing 'acc'). With
    ``restore_best_weights=True`` the model gets the weights of the best epoch back when
    training ends. Attributes after fit: ``best``, ``best_epoch``, ``stopped_epoch`` (None
    when training ran to the end).
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = _resolve_mode("EarlyStopping", mode, monitor)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, logs=None):
        self._tracker = _Monitor(self.mode, self.min_delta)
        self.wait = 0
        self.best = self._tracker.best
        self.best_epoch = None
        self.stopped_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored("EarlyStopping", self.monitor, logs or {})
        if self._tracker.improved(value):
            self._tracker.best = self.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save a checkpoint with ``fastdl.save`` at the end of epochs.

    ``path`` may contain ``str.format`` fields: ``{epoch}`` (1-based) and any log name, e.g.
    ``"ckpt-{epoch:03d}-{val_loss:.3f}.safetensors"``. With ``save_best_only=True`` it is
    written only when ``monitor`` improves (the best model); otherwise every epoch (the last
    model). ``save_weights_only=True`` writes the model's state_dict; otherwise a bundle
    ``{'model', 'optimizer', 'epoch', 'rng_state', 'logs'}`` from which training can resume
    (``epoch`` = number of completed epochs). ``saved`` lists the paths written.
    ``keep_last=k`` (a positive int) keeps only the k most recently written files, deleting
    older ones as new ones are written (a path written again counts as new); None keeps all.
    ``kept`` lists the files currently kept, oldest first. ValueError for a bad keep_last.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", save_weights_only=False,
                 keep_last=None):
        if keep_last is not None:
            keep_last = count_arg(keep_last, "keep_last", "ModelCheckpoint")
        self.keep_last = keep_last
        self.kept = []
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.mode = _resolve_mode("ModelCheckpoint", mode, monitor)
        self.save_weights_only = bool(save_weights_only)
        self.saved = []

    def on_train_begin(self, logs=None):
        self._tracker = _Monitor(self.mode, 0.0)
        self.best = self._tracker.best

    def on_epoch_end(self, epoch, logs=None):
        from .. import io, random

        logs = logs or {}
        if self.save_best_only:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            if not self._tracker.improved(value):
                return
            self._tracker.best = self.best = value
        if not _is_rank0():
            return
        path = self.path.format(epoch=epoch + 1, **logs)
        if self.save_weights_only:
            obj = self.model.state_dict()
        else:
            obj = {"model": self.model.state_dict(), "epoch": epoch + 1, "rng_state": random.get_rng_state(),
                   "logs": {k: float(v) for k, v in logs.items()}}
            if self.optimizer is not None and hasattr(self.optimizer, "state_dict"):
                obj["optimizer"] = self.optimizer.state_dict()
        io.save(obj, path)
        self.saved.append(path)
        self._rotate(path)

    def _rotate(self, path):
        if path in self.kept:
            self.kept.remove(path)
        self.kept.append(path)
        while self.keep_last is not None and len(self.kept) > self.keep_last:
            old = self.kept.pop(0)
            if os.path.exists(old):
                os.remove(old)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite (Keras' TerminateOnNaN).
    ``stopped_batch`` records (epoch, batch) of the bad loss."""

    def on_train_begin(self, logs=None):
        self.stopped_batch = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.stopped_batch = (self._epoch, batch)
            print(f"TerminateOnNaN: invalid loss {loss} at epoch {self._epoch + 1}, batch {batch + 1}; stopping")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Append one CSV row per epoch (``epoch`` then the logs) to ``path``.

    The file is truncated when training begins unless ``append=True``; the header is written
    when the file is empty. Each row is written and closed at once, so the file is complete
    even if training crashes later.
    """

    def __init__(self, path, separator=",", append=False):
        self.path = os.fspath(path)
        self.separator = separator
        self.append = bool(append)
        self._keys = None

    def on_train_begin(self, logs=None):
        if not self.append and _is_rank0():
            open(self.path, "w").close()
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        if not _is_rank0():
            return
        logs = logs or {}
        if self._keys is None:
            self._keys = list(logs)
        sep = self.separator
        with open(self.path, "a", newline="") as f:
            if f.tell() == 0:
                f.write(sep.join(["epoch"] + self._keys) + "\n")
            f.write(sep.join([str(epoch)] + [_fmt(logs.get(k, math.nan)) for k in self._keys]) + "\n")


def _fmt(v):
    return repr(float(v)) if isinstance(v, (float, int, np.floating, np.integer)) else str(v)


from .tensorboard import TensorBoard  # noqa: E402  (defined beside: it needs the optional tensorboardX)
