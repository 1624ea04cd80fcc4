"""Result dtypes of numpy's ufuncs and functions on symbolic arrays: numpy itself decides them,
on empty arrays of the operands' dtypes, once per combination (the fast paths read the cache)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from shapeviz.tracing.shapes import dtype_of

# (ufunc or np.where, dtype or Python type per operand) -> the result's dtype (a list for several outputs)
DTYPES: dict[tuple, Any] = {}


def result_dtype(ufunc: np.ufunc, inputs: Sequence[Any]) -> Any:
    key = (ufunc, *(dtype_of(x) if isinstance(dtype_of(x), np.dtype) else type(x) for x in inputs))
    hit = DTYPES.get(key)
    if hit is None:
        hit = DTYPES[key] = _probe_dtype(ufunc, inputs)
    return hit


def _probe_dtype(ufunc: np.ufunc, inputs: Sequence[Any]) -> Any:
    probes = []
    for x in inputs:
        dt = dtype_of(x)
        probes.append(np.empty((0,), dtype=dt) if isinstance(dt, np.dtype) else dt)
    try:
        with np.errstate(all="ignore"):
            res = ufunc(*probes)
    except TypeError as error:
        raise TypeError(f"{ufunc.__name__} on dtypes {[str(dtype_of(x)) for x in inputs]}: {error}") from None
    if isinstance(res, tuple):
        return [np.asarray(r).dtype for r in res]
    return np.asarray(res).dtype


def probe(x: Any) -> Any:
    """What stands for ``x`` when numpy is asked for a dtype: an empty array of its dtype, or the scalar."""
    dt = dtype_of(x)
    return np.empty((0,), dt) if isinstance(dt, np.dtype) else dt

