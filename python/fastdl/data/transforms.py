"""Feature scalers: fit on the training split, then transform any split with the same numbers.

Each scaler works column-wise on 2-D data ``(n_samples, n_features)`` (numpy arrays or
Tensors), computes its statistics in float64 and returns the input's float type (float32 for
integer input; a Tensor for a Tensor). Shared rules:

- ``transform`` / ``inverse_transform`` before ``fit`` raise ``RuntimeError`` naming the scaler.
- A constant feature never divides by zero: its scale is 1 (as scikit-learn's
  ``_handle_zeros_in_scale``).
- NaN: ignored when fitting (``nanmin``/``nanmean``...), passed through ``transform``
  unchanged, like scikit-learn; a feature that is all NaN gets the identity (offset 0,
  scale 1). ±inf raises ValueError.
- ``transform`` checks the number of features against the fitted one.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..tensor import Tensor

__all__ = ["MinMaxScaler", "StandardScaler", "DecimalScaler"]


def _prepare(name, X):
    is_tensor = isinstance(X, Tensor)
    a = np.asarray(X.data if is_tensor else X)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape {a.shape}; "
                         "reshape 1-D data with x.reshape(-1, 1)")
    x = a.astype(np.float64)
    if np.isinf(x).any():
        raise ValueError(f"{name}: input contains infinity")
    out_dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
    return x, out_dtype, is_tensor


def _finish(y, out_dtype, is_tensor):
    y = np.ascontiguousarray(y, dtype=out_dtype)
    return Tensor._wrap(y) if is_tensor else y


def _nan_stat(fn, x):
    """Column statistic ignoring NaN; all-NaN columns give NaN without a RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(x, axis=0)


class _Scaler:
    """y = x * scale_ + offset_ per feature; subclasses compute scale_/offset_ in ``_fit``."""

    scale_ = None
    offset_ = None
    n_features_in_ = None

    def _fit(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X):
        """Compute the per-feature statistics from ``X`` (the training split). Returns self."""
        name = type(self).__name__
        x, _, _ = _prepare(name, X)
        if x.shape[0] == 0:
            raise ValueError(f"{name}: cannot fit on 0 samples")
        self.n_features_in_ = x.shape[1]
        scale, offset = self._fit(x)
        bad = ~np.isfinite(scale) | ~np.isfinite(offset) | (scale == 0)
        scale[bad] = 1.0
        offset[bad] = 0.0
        self.scale_, self.offset_ = scale, offset
        return self

    def _check(self, X, what):
        name = type(self).__name__
        if self.scale_ is None:
            raise RuntimeError(f"{name} is not fitted yet: call fit(X) on the training split before {what}()")
        x, out_dtype, is_tensor = _prepare(name, X)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"{name}.{what}: X has {x.shape[1]} features, but the scaler was fitted "
                             f"on {self.n_features_in_} (shape {x.shape})")
        return x, out_dtype, is_tensor

    def transform(self, X):
        """Scale ``X`` with the fitted statistics."""
        x, dt, t = self._check(X, "transform")
        return _finish(x * self.scale_ + self.offset_, dt, t)

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Undo ``transform``: x = (y - offset_) / scale_."""
        x, dt, t = self._check(X, "inverse_transform")
        return _finish((x - self.offset_) / self.scale_, dt, t)

    def __repr__(self):
        return f"{type(self).__name__}()"


class MinMaxScaler(_Scaler):
    """Map each feature's [min, max] on the training split to ``feature_range`` (sklearn's
    MinMaxScaler): ``y = (x - min) / (max - min) * (hi - lo) + lo``. A constant feature maps to
    ``lo + (x - min)``. Attributes ``data_min_``, ``data_max_``, ``data_range_``."""

    def __init__(self, feature_range=(0.0, 1.0)):
        try:
            lo, hi = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise ValueError(f"MinMaxScaler: feature_range must be a pair (min, max), got {feature_range!r}") from None
        if not lo < hi:
            raise ValueError(f"MinMaxScaler: minimum of desired feature range must be smaller than maximum, "
                             f"got {feature_range!r}")
        self.feature_range = (lo, hi)

    def _fit(self, x):
        lo, hi = self.feature_range
        self.data_min_ = _nan_stat(np.nanmin, x)
        self.data_max_ = _nan_stat(np.nanmax, x)
        self.data_range_ = self.data_max_ - self.data_min_
        rng = np.where(self.data_range_ == 0, 1.0, self.data_range_)
        scale = (hi - lo) / rng
        offset = lo - self.data_min_ * scale
        return scale, offset

    def __repr__(self):
        return f"MinMaxScaler(feature_range={self.feature_range})"


class StandardScaler(_Scaler):
    """z-score per feature: ``y = (x - mean) / std`` with the population std (ddof=0), as
    sklearn's StandardScaler. Attributes ``mean_``, ``var_``; ``scale_`` is 1/std."""

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)

    def _fit(self, x):
        self.mean_ = _nan_stat(np.nanmean, x)
        self.var_ = _nan_stat(np.nanvar, x)
        std = np.sqrt(self.var_)
        std = np.where(std == 0, 1.0, std) if self.with_std else np.ones_like(std)
        mean = self.mean_ if self.with_mean else np.zeros_like(self.mean_)
        return 1.0 / std, -mean / std

    def __repr__(self):
        return f"StandardScaler(with_mean={self.with_mean}, with_std={self.with_std})"


class DecimalScaler(_Scaler):
    """Decimal scaling per feature: ``y = x / 10**d`` with ``d`` the smallest integer such that
    ``max|x| / 10**d < 1`` on the training split (``d`` may be negative for features below
    0.1). An all-zero feature gets ``d = 0``. Attribute ``exponent_`` (int64 per feature)."""

    def _fit(self, x):
        m = _nan_stat(np.nanmax, np.abs(x))
        d = np.zeros(m.shape, dtype=np.int64)
        ok = np.isfinite(m) & (m > 0)
        d[ok] = np.floor(np.log10(m[ok])).astype(np.int64) + 1
        # log10 is inexact near powers of ten: fix d so that m / 10**d < 1 <= m / 10**(d-1)
        for j in np.flatnonzero(ok):
            while m[j] / 10.0 ** d[j] >= 1:
                d[j] += 1
            while m[j] / 10.0 ** (d[j] - 1) < 1:
                d[j] -= 1
        self.exponent_ = d
        scale = 10.0 ** (-d.astype(np.float64))
        return scale, np.zeros_like(scale)

    def transform(self, X):
        # dividing by 10**d (not multiplying by 10**-d) keeps results exact for exact inputs
        x, dt, t = self._check(X, "transform")
        return _finish(x / 10.0 ** self.exponent_.astype(np.float64), dt, t)

    def inverse_transform(self, X):
        x, dt, t = self._check(X, "inverse_transform")
        return _finish(x * 10.0 ** self.exponent_.astype(np.float64), dt, t)
