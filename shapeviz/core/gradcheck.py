"""Central-difference gradient checks in float64 (used by the tests and by `check --deep`)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a-b| / max(|a|+|b|, tiny), the cs231n measure, over all entries."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-8)
    return float(np.max(np.abs(a - b) / denom)) if a.size else 0.0


def numerical_grad(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d array by central differences, perturbing ``array`` in place (restored after)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    it = np.nditer(array, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        old = array[idx].copy()
        array[idx] = old + eps
        fp = f()
        array[idx] = old - eps
        fm = f()
        array[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
        it.iternext()
    return grad
