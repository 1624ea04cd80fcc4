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


def numerical_grad(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6,
                   order: int = 2) -> np.ndarray:
    """d f() / d array by central differences, perturbing ``array`` in place (restored after).

    ``order=2`` is the two-point stencil ``(f(x+h) - f(x-h)) / 2h`` (error O(h²));
    ``order=4`` the four-point one ``(8(f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h``
    (error O(h⁴)), which with h ≈ 1e-3 resolves gradients near round-off in float64."""
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    grad = np.zeros(array.shape, dtype=np.float64)
    it = np.nditer(array, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        old = array[idx].copy()

        def at(step: float) -> float:
            array[idx] = old + step
            return f()

        near = at(eps) - at(-eps)
        if order == 2:
            grad[idx] = near / (2 * eps)
        else:
            far = at(2 * eps) - at(-2 * eps)
            grad[idx] = (8 * near - far) / (12 * eps)
        array[idx] = old
        it.iternext()
    return grad
