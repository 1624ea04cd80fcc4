"""The data checks at the entry of fit/evaluate/predict, and batching.

Layers check shapes; only here are the *values* of user data checked (once per call,
not per batch): empty arrays, NaN/inf, sample counts that disagree, dtypes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.errors import ConfigError, InputError


class Data(NamedTuple):
    xs: tuple  # the input arrays, each (N, ...)
    is_tuple: bool  # x was given as a tuple (EncoderDecoder's (source, decoder_inputs))
    y: Any  # (N, ...) targets or None
    mask: Any  # (N, T) bool or None
    n: int  # the number of samples

    def batch(self, idx: Any) -> tuple[Any, Any, Any]:
        """``(xb, yb, maskb)`` for the samples ``idx`` (a slice or an index array)."""
        xs = tuple(a[idx] for a in self.xs)
        xb = xs if self.is_tuple else xs[0]
        yb = None if self.y is None else self.y[idx]
        mb = None if self.mask is None else self.mask[idx]
        return xb, yb, mb


def _first_bad(a: np.ndarray) -> str:
    bad = ~np.isfinite(a)
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    value = a[index]
    return f"{int(bad.sum())} NaN/inf values, the first {value} at index {index}"


def check_values(a: Any, name: str) -> np.ndarray:
    """``a`` as an ndarray: numbers, at least one sample, no empty axis, no NaN/inf."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers, got dtype {a.dtype} (shape {a.shape})")
    if a.ndim == 0:
        raise InputError(f"{name} must have a sample axis first, got a scalar")
    if a.shape[0] == 0:
        raise InputError(f"{name} is empty: shape {a.shape} has no samples")
    if 0 in a.shape:
        raise InputError(f"{name} has an empty axis: shape {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputError(f"{name} (shape {a.shape}) contains {_first_bad(a)}; clean or impute the data first")
    return a


def _ids(a: np.ndarray, name: str) -> np.ndarray:
    """Token ids stay integers (an Embedding looks them up); whole-valued floats are accepted."""
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "f" and np.array_equal(a, np.round(a)):
        return a.astype(np.int64)
    raise InputError(
        f"{name} (shape {a.shape}, dtype {a.dtype}) must be integer token ids: the model starts with an Embedding"
    )


def prepare(model: Any, x: Any, y: Any = None, mask: Any = None, *, prefix: str = "") -> Data:
    """Check and cast the arrays of one call of fit, evaluate or predict, which batch along axis 0
    (so time-major layers are refused here); see :func:`validate` for the arguments."""
    time_major = [layer.name for layer in model.leaf_layers() if getattr(layer, "time_major", False)]
    if time_major:
        raise ConfigError(
            f"{model.summary_name()}: fit, evaluate and predict batch along axis 0, the sample axis, but layer "
            f"{time_major[0]!r} has time_major=True; give the data as (N, T, F) and use time_major=False, "
            "or call forward/backward yourself with (T, B, F) arrays"
        )
    return validate(model, x, y, mask, prefix=prefix)


def validate(model: Any, x: Any, y: Any = None, mask: Any = None, *, prefix: str = "") -> Data:
    """Check and cast the arrays of one call: what fit refuses in data (``check --data`` runs it too).

    Args:
        model: decides the dtypes: floats are cast to ``model.dtype``; the first input stays
            integer ids if ``model.input_dtype()`` is integer (an Embedding model); integer
            targets (class ids) stay integer.
        x: (N, ...) or a tuple of such arrays; y: (N, ...) or None; mask: (N, T) or None.
        prefix: "validation " for the names in messages.
    """
    is_tuple = isinstance(x, (tuple, list))
    raw = tuple(x) if is_tuple else (x,)
    if is_tuple and not raw:
        raise InputError(f"{prefix}x is an empty tuple: give the model's input arrays")
    names = [f"{prefix}x[{i}]" for i in range(len(raw))] if is_tuple else [f"{prefix}x"]
    xs = []
    for i, (a, name) in enumerate(zip(raw, names)):
        a = check_values(a, name)
        if i == 0 and model.input_dtype().kind in "iu":
            a = _ids(a, name)
        else:
            a = a.astype(model.dtype, copy=False)
        xs.append(a)
    arrays = list(zip(names, xs))
    if y is not None:
        y = check_values(y, f"{prefix}y")
        if y.dtype.kind in "iu":
            y = y.astype(np.int64, copy=False)
        else:
            y = y.astype(model.dtype, copy=False)
        arrays.append((f"{prefix}y", y))
    if mask is not None:
        mask = check_values(mask, f"{prefix}mask")
        first = xs[0]
        if mask.ndim != 2 or (first.ndim >= 2 and mask.shape[1] != first.shape[1]):
            raise InputError(
                f"{prefix}mask must be (N, T) with T = {first.shape[1] if first.ndim >= 2 else '?'} steps of "
                f"{names[0]} (shape {first.shape}), got shape {mask.shape}"
            )
        mask = mask.astype(bool, copy=False) if mask.dtype == bool else mask != 0
        arrays.append((f"{prefix}mask", mask))
    n = arrays[0][1].shape[0]
    for name, a in arrays[1:]:
        if a.shape[0] != n:
            raise InputError(
                f"{arrays[0][0]} has {n} samples (shape {arrays[0][1].shape}) but {name} has {a.shape[0]} "
                f"(shape {a.shape}); the first axis of every array is the sample axis"
            )
    return Data(tuple(xs), is_tuple, y, mask, n)


def batches(n: int, batch_size: int, order: np.ndarray | None) -> list[Any]:
    """The index of every batch: slices (views) in order, or chunks of a permutation."""
    if order is None:
        return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    return [order[s:s + batch_size] for s in range(0, n, batch_size)]


def batch_len(idx: Any, n: int) -> int:
    return len(range(*idx.indices(n))) if isinstance(idx, slice) else len(idx)
