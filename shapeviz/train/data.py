"""The data checks at the entry of fit/evaluate/predict, and batching.

Layers check shapes; only here are the *values* of user data checked (once per call,
not per batch): empty arrays, NaN/inf, sample counts that disagree, dtypes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.inputs import time_major_inputs
from shapeviz.errors import InputError


class Data(NamedTuple):
    xs: tuple  # the input arrays, each (N, ...), or (T, N, ...) for a time-major input
    is_tuple: bool  # x was given as several arrays (EncoderDecoder's (source, decoder_inputs), a graph's inputs)
    y: Any  # (N, ...) targets, a tuple of them (None where an output has no targets), or None
    mask: Any  # (N, T) bool, a tuple of them per input (or None), or None; batch-first whatever the layout
    n: int  # the number of samples
    x_axes: tuple = ()  # per input its sample axis (0 where not given)
    y_axes: tuple = ()  # per output its sample axis: 1 for a time-major sequence (T, N, ...), else 0

    def batch(self, idx: Any) -> tuple[Any, Any, Any]:
        """``(xb, yb, maskb)`` for the samples ``idx`` (a slice or an index array), each taken
        along its own sample axis (masks along axis 0)."""
        xs = tuple(_along(a, idx, self.x_axes[i] if i < len(self.x_axes) else 0) for i, a in enumerate(self.xs))
        xb = xs if self.is_tuple else xs[0]
        return xb, _take(self.y, idx, self.y_axes), _take(self.mask, idx)


def _along(a: np.ndarray, idx: Any, axis: int) -> np.ndarray:
    """``a``'s samples ``idx`` along ``axis`` (a view for a slice)."""
    return a[idx] if axis == 0 else a[(slice(None),) * axis + (idx,)]


def _take(a: Any, idx: Any, axes: tuple = ()) -> Any:
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(None if v is None else _along(v, idx, axes[i] if i < len(axes) else 0) for i, v in enumerate(a))
    return _along(a, idx, axes[0] if axes else 0)


def output_batch_axes(model: Any) -> list[int]:
    """Per output its sample axis: 1 where the output is a time-major sequence (T, B, ...), else 0.

    A Sequential's output is time-major when its last layer reads a time-major sequence and the
    model hands on a sequence; a graph's output when the node making it is laid out time-major
    and the output is a layer's sequence (as :meth:`Functional.output_masks` decides)."""
    if _graph(model):
        out = []
        for t in model.output_tensors:
            node = model.producer(t)
            seq = len(t.shape) >= 3 and t.label in ("y", "y_forward", "y_backward")
            layouts = getattr(model, "_layouts", {})
            out.append(1 if seq and node is not None and layouts.get(id(node)) else 0)
        return out
    layers = getattr(model, "layers", None)
    if not layers or not hasattr(model, "mode"):
        return [0]
    seq = model.mode not in ("many-to-one", "one-to-one")
    return [1 if seq and time_major_inputs(layers)[-1] else 0]


def _time_major(model: Any) -> bool:
    """Some input or output is not batch-first (else every array batches along axis 0)."""
    if any(getattr(layer, "time_major", False) for layer in model.leaf_layers()):
        return True
    return _graph(model) and any(spec.batch_axis != 0 for spec in model.inputs)


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
    """Check and cast the arrays of one call of fit, evaluate or predict, which batch along each
    array's sample axis (axis 1 of a time-major input or output); see :func:`validate`."""
    return validate(model, x, y, mask, prefix=prefix)


def _named(model: Any, value: Any, names: list[str], what: str, prefix: str,
           optional: tuple = ()) -> tuple[list, list[str]]:
    """The arrays of a several-input (or several-output) graph model in its order: a dict keyed by
    the names (those in ``optional`` may be left out) or a list/tuple in order. Returns the arrays
    (None for one left out) and the names messages give them."""
    label = f"{prefix}{what}"
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        missing = [k for k in names if k not in value and k not in optional]
        if unknown or missing:
            raise InputError(f"{label} keys must be the {'input' if what != 'y' else 'output'} names {names} of "
                             f"{model.summary_name()}" + (f"; unknown: {unknown}" if unknown else "")
                             + (f"; missing: {missing}" if missing else ""))
        return [value.get(k) for k in names], [f"{label}[{k!r}]" for k in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise InputError(f"{model.summary_name()} takes {len(names)} {'inputs' if what != 'y' else 'outputs'} "
                             f"{names}: {label} must have one array each (a list in that order or a dict by name), "
                             f"got {len(value)}")
        return list(value), [f"{label}[{k!r}]" for k in names]
    raise InputError(f"{model.summary_name()} takes {len(names)} {'inputs' if what != 'y' else 'outputs'} {names}: "
                     f"give {label} as a list in that order or a dict by name, got one {type(value).__name__}")


def _graph(model: Any) -> bool:
    return hasattr(model, "input_names") and hasattr(model, "output_tensors")


def validate(model: Any, x: Any, y: Any = None, mask: Any = None, *, prefix: str = "") -> Data:
    """Check and cast the arrays of one call: what fit refuses in data (``check --data`` runs it too).

    Args:
        model: decides the dtypes: floats are cast to ``model.dtype``; an input stays integer ids
            if the model reads ids there (an Embedding); integer targets (class ids) stay integer.
        x: (N, ...), or a tuple of such arrays; for a graph model with several inputs a list in
            input order or a dict by input name (a one-input graph also takes the dict).
        y: (N, ...) or None; for a graph model with several outputs a list in output order or a
            dict by output name (an output without a loss may be left out or None).
        mask: (N, T) or None; for a graph model with several inputs a list/dict per input.
        prefix: "validation " for the names in messages.
    """
    graph = _graph(model)
    if graph and (len(model.input_names) > 1 or isinstance(x, dict)):
        raw, names = _named(model, x, model.input_names, "x", prefix)
        is_tuple = len(raw) > 1
    else:
        is_tuple = isinstance(x, (tuple, list))
        raw = list(x) if is_tuple else [x]
        if is_tuple and not raw:
            raise InputError(f"{prefix}x is an empty tuple: give the model's input arrays")
        names = [f"{prefix}x[{i}]" for i in range(len(raw))] if is_tuple else [f"{prefix}x"]
    dtypes = model.input_dtypes() if graph else None
    xs = []
    for i, (a, name) in enumerate(zip(raw, names)):
        a = check_values(a, name)
        ids = dtypes[i].kind in "iu" if dtypes is not None else (i == 0 and model.input_dtype().kind in "iu")
        xs.append(_ids(a, name) if ids else a.astype(model.dtype, copy=False))
    x_axes, y_axes = [0] * len(xs), [0]
    if _time_major(model):
        specs = model.inputs
        if len(specs) == len(xs):
            x_axes = [spec.batch_axis if a.ndim > spec.batch_axis else 0 for spec, a in zip(specs, xs)]
        y_axes = output_batch_axes(model)
    arrays = [(nm, a, ax) for nm, a, ax in zip(names, xs, x_axes)]
    if y is not None:
        if graph and not model.single_output:
            lossless = tuple(n for n, lo in zip(model.output_names, getattr(model.loss, "losses", ())) if lo is None)
            ys, ynames = _named(model, y, model.output_names, "y", prefix, lossless)
            y = tuple(None if a is None else _targets(a, n, model) for a, n in zip(ys, ynames))
            arrays += [(n, a, ax if a.ndim > ax else 0) for n, a, ax in zip(ynames, y, y_axes) if a is not None]
        else:
            y = _targets(y, f"{prefix}y", model)
            arrays.append((f"{prefix}y", y, y_axes[0] if y.ndim > y_axes[0] else 0))
    if mask is not None:
        if graph and len(model.input_names) > 1:
            ms, mnames = _named(model, mask, model.input_names, "mask", prefix)
            mask = tuple(None if m is None else _mask(m, n, a, xn, ax)
                         for m, n, a, xn, ax in zip(ms, mnames, xs, names, x_axes))
            arrays += [(n, m, 0) for n, m in zip(mnames, mask) if m is not None]
        else:
            mask = _mask(mask, f"{prefix}mask", xs[0], names[0], x_axes[0])
            arrays.append((f"{prefix}mask", mask, 0))
    first, a0, ax0 = arrays[0]
    n = a0.shape[ax0]
    for name, a, ax in arrays[1:]:
        if a.shape[ax] != n:
            where = "the first axis of every array is the sample axis" if not any(t[2] for t in arrays) else \
                "the sample axis is axis 1 of a time-major array (T, N, ...), axis 0 of the others and of masks"
            raise InputError(
                f"{first} has {n} samples (shape {a0.shape}) but {name} has {a.shape[ax]} "
                f"(shape {a.shape}); {where}"
            )
    return Data(tuple(xs), is_tuple, y, mask, n, tuple(x_axes), tuple(y_axes))


def _targets(y: Any, name: str, model: Any) -> np.ndarray:
    y = check_values(y, name)
    return y.astype(np.int64, copy=False) if y.dtype.kind in "iu" else y.astype(model.dtype, copy=False)


def _mask(mask: Any, name: str, first: np.ndarray, first_name: str, batch_axis: int = 0) -> np.ndarray:
    """A (N, T) mask, batch-first even when ``first`` is time-major (T, N, ...) (``batch_axis`` 1)."""
    mask = check_values(mask, name)
    time_axis = 0 if batch_axis == 1 else 1
    if mask.ndim != 2 or (first.ndim >= 2 and mask.shape[1] != first.shape[time_axis]):
        raise InputError(
            f"{name} must be (N, T) with T = {first.shape[time_axis] if first.ndim >= 2 else '?'} steps of "
            f"{first_name} (shape {first.shape}), got shape {mask.shape}"
            + ("; masks stay batch-first for time-major data" if batch_axis == 1 else "")
        )
    return mask.astype(bool, copy=False) if mask.dtype == bool else mask != 0


def batches(n: int, batch_size: int, order: np.ndarray | None) -> list[Any]:
    """The index of every batch: slices (views) in order, or chunks of a permutation."""
    if order is None:
        return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    return [order[s:s + batch_size] for s in range(0, n, batch_size)]


def batch_len(idx: Any, n: int) -> int:
    return len(range(*idx.indices(n))) if isinstance(idx, slice) else len(idx)
