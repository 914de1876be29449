"""The TensorBoard callback: epoch logs and weight histograms as TensorBoard event files.

Written through tensorboardX (the ``tensorboard`` extra: ``pip install 'fastdl[tensorboard]'``),
a small pure-Python writer of TensorBoard's event format (numpy + protobuf; no TensorFlow, no
PyTorch, no TensorBoard server needed to write). View with ``tensorboard --logdir LOG_DIR``.
"""
from __future__ import annotations

import os

import numpy as np

from ..distributed.process_group import _is_rank0
from .callbacks import Callback

__all__ = ["TensorBoard"]

_EXTRA = "pip install 'fastdl[tensorboard]'"


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError(f"fastdl.train.callbacks.TensorBoard needs tensorboardX, which is not installed; "
                          f"install it with: {_EXTRA}") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Write each epoch's logs to TensorBoard event files under ``log_dir``, as Keras does.

    - ``log_dir/train``: ``epoch_loss`` and ``epoch_<metric>`` of the training data,
      ``epoch_learning_rate`` (the first parameter group's ``lr`` during the epoch),
      ``epoch_time`` (seconds) and ``epoch_samples_per_sec``;
    - ``log_dir/validation``: ``epoch_loss`` and ``epoch_<metric>`` from the ``val_`` logs,
      so TensorBoard draws training and validation in one chart per quantity;
    - with ``histograms=True``, a histogram of every parameter (its ``named_parameters``
      name, e.g. ``0.weight``) in ``log_dir/train`` after each epoch.

    The step of each value is the number of completed epochs (1 after the first epoch). Files
    are flushed after every epoch, so a crash later keeps what was written; they are closed
    when training ends. NaN or infinite logs are written as they are; a parameter holding
    NaN or inf gets no histogram that epoch. Under ``fastdl.distributed`` only rank 0 writes.

    Raises ``ImportError`` (naming the extra) when tensorboardX is missing and ``TypeError``
    for a ``log_dir`` that is not a path, both when the callback is made — before training.
    """

    def __init__(self, log_dir, histograms=False):
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"TensorBoard: log_dir must be a path, got {type(log_dir).__name__}")
        self.log_dir = os.fspath(log_dir)
        self.histograms = bool(histograms)
        self._SummaryWriter = _summary_writer()
        self._writers = {}

    def _writer(self, run):
        if run not in self._writers:
            self._writers[run] = self._SummaryWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self.close()

    def on_epoch_end(self, epoch, logs=None):
        if not _is_rank0():  # under DistributedDataParallel only rank 0 writes (logs are averaged)
            return
        step = epoch + 1
        for key, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if key.startswith("val_"):
                run, name = "validation", key[4:]
            else:
                run, name = "train", {"lr": "learning_rate"}.get(key, key)
                name = name[len("epoch_"):] if name.startswith("epoch_") else name
            self._writer(run).add_scalar(f"epoch_{name}", value, step)
        if self.histograms and self.model is not None:
            writer = self._writer("train")
            for name, p in self.model.named_parameters():
                data = np.asarray(getattr(p, "data", p))
                if data.size and np.isfinite(data).all():  # a histogram of NaNs has no bins
                    writer.add_histogram(name, data, step)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        """Close the event files (done by ``fit`` when training ends)."""
        for w in self._writers.values():
            w.close()
        self._writers = {}
