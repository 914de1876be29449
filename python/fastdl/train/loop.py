"""fit / evaluate / predict: the training loop over PyTorch-shaped models.

The contract used: ``model(x)`` returns a Tensor; ``loss_fn(output, target)`` returns a scalar
Tensor with ``.backward()``; ``optimizer.zero_grad()`` / ``optimizer.step()`` (and
``param_groups`` for the logged learning rate); ``model.train()`` / ``model.eval()`` /
``model.modules()`` / ``model.parameters()``.
"""
from __future__ import annotations

import math
import shutil
import sys
import time

import numpy as np

from ..autograd import no_grad
from ..data.dataloader import DataLoader
from ..data.dataset import Dataset, TensorDataset
from ..nn.utils import clip_grad_norm_
from ..tensor import Tensor
from . import _distributed as _dist
from .callbacks import Callback
from .history import History
from .metrics import resolve

__all__ = ["fit", "evaluate", "predict"]

DEFAULT_BATCH_SIZE = 32


# ---- helpers --------------------------------------------------------------------------------
def _as_loader(data, name, batch_size, shuffle, shard=False):
    """A DataLoader for ``data``: a DataLoader (used as is), a Dataset, or a tuple (X, y);
    with ``shard`` (DDP) the latter two are split between the ranks."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset) or (isinstance(data, (tuple, list)) and len(data) == 2):
        ds = data if isinstance(data, Dataset) else TensorDataset(*data)
        if shard:
            return DataLoader(ds, batch_size=batch_size, sampler=_dist.shard_sampler(ds, shuffle))
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle)
    raise TypeError(f"{name} must be a DataLoader, a Dataset or a tuple (X, y), got {type(data).__name__}"
                    + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""))


def _split(batch, name):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        got = f"a {type(batch).__name__}" + (f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else "")
        raise ValueError(f"{name}: each batch must be (inputs, targets), got {got}")
    return batch


def _capture_modes(model):
    """(module, training) for every submodule, to restore mixed train/eval states exactly."""
    mods = model.modules() if hasattr(model, "modules") else [model]
    return [(m, m.training) for m in mods]


def _restore_modes(saved):
    for m, mode in saved:
        object.__setattr__(m, "training", mode)


def _numpy(t):
    return t.data if isinstance(t, Tensor) else np.asarray(t)


def _current_lr(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        lr = groups[0].get("lr")
        if isinstance(lr, (int, float, np.floating)):
            return float(lr)
    return None


def _takes_metrics(scheduler):
    import inspect

    try:
        return "metrics" in inspect.signature(scheduler.step).parameters
    except (TypeError, ValueError):
        return False


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _format_logs(logs):
    parts = []
    for k, v in logs.items():
        if k in ("epoch_time", "samples_per_sec"):
            continue
        parts.append(f"{k}: {v:.4g}" if k == "lr" else f"{k}: {v:.4f}")
    return " - ".join(parts)


# Short names for the progress bar and the line under it (the logs keep the full names).
_SHORT = {"accuracy": "acc"}
_BAR_FIELDS = 2  # loss and the first metric; the full set goes on the line after the epoch
_MAX_COLUMNS = 100
_NOT_SHOWN = ("lr", "epoch_time", "samples_per_sec")  # on the summary line, not among the metrics


def _fixed(v):
    """A fixed-precision number: 4 decimals, or 3 significant digits in exponent form when large."""
    v = float(v)
    return f"{v:.4f}" if abs(v) < 1e4 or not math.isfinite(v) else f"{v:.3e}"


def _short_name(key):
    prefix = "val_" if key.startswith("val_") else ""
    base = key[len(prefix):]
    return prefix + _SHORT.get(base, base)


def _short_fields(values):
    return " ".join(f"{_short_name(k)} {_fixed(v)}" for k, v in values.items())


def _epoch_summary(logs):
    """The line printed under the bar after an epoch: every logged value, short names, fixed
    precision, e.g. ``loss 0.4321 acc 0.9012 val_loss 0.3912 val_acc 0.9100 lr 0.1 1904
    samples/s`` (77 columns with one metric and validation; the epoch time is in the bar)."""
    shown = {k: v for k, v in logs.items() if k not in _NOT_SHOWN}
    parts = [_short_fields(shown)]
    if "lr" in logs:
        parts.append(f"lr {logs['lr']:.2g}")
    parts.append(f"{logs['samples_per_sec']:.0f} samples/s")
    return " ".join(parts)


def _bar_class(stream):
    """(tqdm class, in a notebook) for a progress bar, or None for plain lines: ``tqdm.auto``
    picks the notebook widget under Jupyter (with ipywidgets); elsewhere a text bar is drawn
    only when ``stream`` is a terminal."""
    try:
        from tqdm.auto import tqdm as auto
    except ImportError:
        return None
    if auto.__module__ == "tqdm.notebook":
        return auto, True
    if _is_terminal(stream):
        return auto, False
    return None


class _Progress:
    """A tqdm bar per epoch on a terminal or in a notebook; one plain line per epoch otherwise
    (verbose=1). verbose=0 prints nothing; verbose=2 always prints plain lines.

    The bar reads ``Epoch 3/10 loss 0.4321 acc 0.9012  45%|####    | 57/125 [00:02<00:03]``:
    the numbers come first, short and fixed-width, so a narrow terminal cuts the bar, not them;
    after the epoch the full line (validation, lr, speed) is printed under the bar."""

    def __init__(self, verbose, epoch, epochs, total):
        self.verbose = verbose
        self.prefix = f"Epoch {epoch + 1}/{epochs}"
        self.bar = None
        kind = _bar_class(sys.stdout) if verbose == 1 else None
        if kind is not None:
            cls, notebook = kind
            extra = {} if notebook else {"ncols": min(shutil.get_terminal_size((80, 24)).columns, _MAX_COLUMNS)}
            self.bar = cls(total=total, desc=self.prefix, unit="batch", file=sys.stdout, leave=True,
                           bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
                           **extra)

    def update(self, batch, meter, start):
        if self.bar is None:
            return
        if batch % 10 == 0 or batch + 1 == self.bar.total:
            self._describe(meter.means())
        self.bar.update(1)

    def _describe(self, values):
        """The bar's text before the percentage: the epoch, the loss and the first metric."""
        shown = dict(list(values.items())[:_BAR_FIELDS])
        self.bar.set_description_str(f"{self.prefix} {_short_fields(shown)}", refresh=False)

    def abandon(self):
        """Close the bar without a summary (an exception interrupted the epoch)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self, logs):
        if self.bar is not None:
            self._describe({k: v for k, v in logs.items() if not k.startswith("val_") and k not in _NOT_SHOWN})
            self.bar.close()
            print(f"  {_epoch_summary(logs)}", file=sys.stdout, flush=True)
        elif self.verbose:
            print(f"{self.prefix} - {logs['epoch_time']:.2f}s - {logs['samples_per_sec']:.0f} samples/s - "
                  f"{_format_logs(logs)}", flush=True)


class _Meter:
    """Sample-weighted means of the loss and the metrics over an epoch."""

    def __init__(self, metric_fns):
        self.metric_fns = metric_fns
        self.n = 0
        self.sums = {}

    def add(self, n, loss, output=None, target=None):
        self.n += n
        if loss is not None:
            self.sums["loss"] = self.sums.get("loss", 0.0) + loss * n
        if output is not None:
            for name, fn in self.metric_fns:
                self.sums[name] = self.sums.get(name, 0.0) + float(fn(output, target)) * n

    def means(self, prefix=""):
        return {prefix + k: (v / self.n if self.n else math.nan) for k, v in self.sums.items()}


# ---- public API --------------------------------------------------------------------------
def fit(model, train_data, loss_fn, optimizer, epochs, val_data=None, metrics=("accuracy",), callbacks=(),
        scheduler=None, clip_grad_norm=None, verbose=1, batch_size=DEFAULT_BATCH_SIZE, compile=False):
    """Train ``model`` for ``epochs`` epochs and return a :class:`History`.

    - ``train_data`` / ``val_data``: a DataLoader, a Dataset or a tuple ``(X, y)``; the latter
      two are batched with ``batch_size`` (default 32), training data reshuffled every epoch
      from the global fastdl generator.
    - Each step: ``optimizer.zero_grad()``, ``loss_fn(model(x), y).backward()``, optional
      ``clip_grad_norm`` (global L2 norm, ``fastdl.nn.utils.clip_grad_norm_``),
      ``optimizer.step()``. The model is in train mode while training; validation runs
      ``evaluate`` (eval mode, no_grad). Train/eval modes are restored when fit returns.
    - ``metrics``: names ("accuracy") or callables ``f(output, target) -> float``; logged as
      sample-weighted epoch means for training (outputs before each update, as Keras) and
      validation (``val_`` prefix).
    - ``scheduler``: stepped once per epoch after validation; a scheduler whose ``step`` takes
      ``metrics`` (ReduceLROnPlateau) gets ``val_loss`` (``loss`` without validation data).
    - ``callbacks``: :class:`Callback` instances; ``model.stop_training = True`` stops.
    - ``verbose``: 0 silent; 1 a tqdm bar per epoch (``tqdm.auto``: a widget in Jupyter) when
      stdout is a terminal or a notebook — the loss and first metric in the bar, then a line
      with every value (validation, lr, samples/s) — else one plain line per epoch; 2 always
      plain lines.

    A NaN loss does not stop training unless :class:`TerminateOnNaN` is given; it is logged.

    ``compile=True`` runs each step through ``fastdl.compile_step`` (and validation through
    ``fastdl.compile``): the same results, replayed from C++ (docs/compile.md). With
    ``clip_grad_norm`` the steps stay eager (the clip sits between backward and the update).

    Under ``fastdl.nn.parallel.DistributedDataParallel`` (run with ``mpiexec``): data given
    as arrays or a Dataset is split between the ranks (``DistributedSampler`` for training,
    ``batch_size`` per rank); a DataLoader is used as given (``set_epoch`` is called on its
    DistributedSampler each epoch). Logged losses and metrics are sample-weighted means over
    all ranks, so every rank sees the same logs; only rank 0 prints (one plain line per epoch:
    Open MPI's forwarding of the ranks' output loses a progress bar), and the callbacks that
    write files (ModelCheckpoint, CSVLogger) write on rank 0 only.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ValueError(f"fit: clip_grad_norm must be a positive number or None, got {clip_grad_norm!r}")
    ddp = _dist.is_ddp(model)
    if ddp:  # rank 0 prints plain lines: mpiexec's output forwarding drops a bar's \r-updated line
        verbose = (2 if verbose else 0) if _dist.is_rank0() else 0
    loader = _as_loader(train_data, "train_data", batch_size, shuffle=True, shard=ddp)
    val_loader = None if val_data is None else _as_loader(val_data, "val_data", batch_size, shuffle=False, shard=ddp)
    metric_fns = resolve(metrics)
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be fastdl.train.Callback instances, got {type(cb).__name__}")
        cb.set_context(model, optimizer)
    plateau = scheduler is not None and _takes_metrics(scheduler)
    params = list(model.parameters()) if clip_grad_norm is not None else None
    step = compiled_eval = None
    if compile:
        from ..compiler import compile as compile_model, compile_step

        if clip_grad_norm is None:
            step = compile_step(model, loss_fn, optimizer, keep_output=True)
        compiled_eval = compile_model(model)

    history = History()
    saved_modes = _capture_modes(model)
    model.stop_training = False
    progress = None
    try:
        for cb in callbacks:
            cb.on_train_begin({})
        for epoch in range(int(epochs)):
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            lr = _current_lr(optimizer)
            _dist.set_epoch(loader, epoch)
            model.train()
            meter = _Meter(metric_fns)
            progress = _Progress(verbose, epoch, int(epochs), len(loader))
            start = time.perf_counter()
            nbatches = 0
            for b, batch in enumerate(loader):
                x, y = _split(batch, "train_data")
                if step is not None:
                    loss = step(x, y)
                    out = step.output
                else:
                    optimizer.zero_grad()
                    out = model(x)
                    loss = loss_fn(out, y)
                    loss.backward()
                    if params is not None:
                        clip_grad_norm_(params, clip_grad_norm)
                    optimizer.step()
                lv = float(loss.item())
                n = len(_numpy(x))
                meter.add(n, lv, _numpy(out) if metric_fns else None, _numpy(y))
                nbatches += 1
                progress.update(b, meter, start)
                for cb in callbacks:
                    cb.on_batch_end(b, {"loss": lv, "size": n})
                if model.stop_training:
                    break
            if nbatches == 0:
                raise ValueError("fit: train_data yielded no batches (empty data set, or drop_last with fewer "
                                 "samples than batch_size)")
            elapsed = time.perf_counter() - start
            if ddp:
                _dist.reduce_meter(meter, has_loss=True)
            logs = meter.means()
            if val_loader is not None:
                logs.update({"val_" + k: v for k, v in evaluate(model, val_loader, loss_fn, metrics,
                                                                 compile=compiled_eval or False).items()})
            if lr is not None:
                logs["lr"] = lr
            logs["epoch_time"] = elapsed
            logs["samples_per_sec"] = meter.n / elapsed if elapsed > 0 else math.inf
            progress.close(logs)
            progress = None
            if scheduler is not None:
                if plateau:
                    scheduler.step(logs["val_loss"] if "val_loss" in logs else logs["loss"])
                else:
                    scheduler.step()
            history.append(epoch, logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        final = {k: v[-1] for k, v in history.history.items()}
        for cb in callbacks:
            cb.on_train_end(final)
    finally:
        if progress is not None:
            progress.abandon()
        _restore_modes(saved_modes)
    return history


def evaluate(model, data, loss_fn=None, metrics=("accuracy",), batch_size=DEFAULT_BATCH_SIZE, compile=False):
    """Mean loss (when ``loss_fn`` is given) and metrics of ``model`` over ``data`` (a
    DataLoader, Dataset or tuple (X, y)), weighted by batch size. Runs in eval mode under
    no_grad and restores the previous train/eval modes. Returns a dict, e.g.
    ``{'loss': 0.31, 'accuracy': 0.91}``. A DistributedDataParallel model gives the means over
    all ranks (arrays or a Dataset are split between them). ``compile=True`` runs the model
    through ``fastdl.compile`` (the same outputs, replayed from C++)."""
    forward = _forward(model, compile)
    ddp = _dist.is_ddp(model)
    loader = _as_loader(data, "data", batch_size, shuffle=False, shard=ddp)
    meter = _Meter(resolve(metrics))
    saved = _capture_modes(model)
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                x, y = _split(batch, "data")
                out = forward(x)
                lv = float(loss_fn(out, y).item()) if loss_fn is not None else None
                meter.add(len(_numpy(x)), lv, _numpy(out), _numpy(y))
    finally:
        _restore_modes(saved)
    if ddp:
        _dist.reduce_meter(meter, has_loss=loss_fn is not None)
    if meter.n == 0:
        raise ValueError("evaluate: data yielded no batches (empty data set?)")
    return meter.means()


def _forward(model, compile):
    """model itself, or its compiled forward (``compile`` True or an existing fastdl.compile)."""
    if compile is False or compile is None:
        return model
    if compile is True:
        from ..compiler import compile as compile_model

        return compile_model(model)
    return compile


def predict(model, X, batch_size=256, compile=False):
    """``model`` applied to ``X`` batch by batch, concatenated into one numpy array.

    ``X``: an array or Tensor (batched along the first axis), or a DataLoader / Dataset (the
    first field of each batch is the input). Eval mode, no_grad; previous modes restored.
    ``compile=True`` runs the model through ``fastdl.compile``.
    """
    forward = _forward(model, compile)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"predict: batch_size must be a positive int, got {batch_size!r}")
    if isinstance(X, Dataset):
        X = DataLoader(X, batch_size=batch_size)
    if isinstance(X, DataLoader):
        batches = (b[0] if isinstance(b, (tuple, list)) else b for b in X)
    else:
        arr = X.data if isinstance(X, Tensor) else np.asarray(X)
        if arr.ndim == 0:
            raise ValueError("predict: X must have a batch dimension, got a 0-d array")
        if arr.dtype.kind in "fb" and arr.dtype != np.float32:
            arr = arr.astype(np.float32)
        n = arr.shape[0]
        starts = range(0, n, batch_size) if n else [0]
        batches = (Tensor._wrap(arr[s:s + batch_size]) for s in starts)
    saved = _capture_modes(model)
    model.eval()
    outs = []
    try:
        with no_grad():
            for xb in batches:
                out = forward(xb)
                outs.append(np.array(_numpy(out), copy=True))
    finally:
        _restore_modes(saved)
    if not outs:
        raise ValueError("predict: no batches (empty DataLoader?)")
    return np.concatenate(outs, axis=0)
