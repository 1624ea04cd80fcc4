"""Weight initializers with Keras's names and defaults."""

from __future__ import annotations

import numpy as np

from shapeviz.core.backend import new_param
from shapeviz.errors import ConfigError

# Each initializer allocates through backend.new_param, so a dry build (the tracer's) costs nothing.


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    fan_in, fan_out = shape[0], shape[-1]
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return new_param(shape, dtype, lambda: rng.uniform(-limit, limit, size=shape).astype(dtype))


def _orthogonal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    rows, cols = shape[0], int(np.prod(shape[1:]))
    flat = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # makes the decomposition unique, as Keras does
    if rows < cols:
        q = q.T
    return q[:rows, :cols].reshape(shape).astype(dtype)


def orthogonal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return new_param(shape, dtype, lambda: _orthogonal(rng, shape, dtype))


def uniform(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, limit: float = 0.05) -> np.ndarray:
    return new_param(shape, dtype, lambda: rng.uniform(-limit, limit, size=shape).astype(dtype))


def zeros(rng: np.random.Generator | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return new_param(shape, dtype, lambda: np.zeros(shape, dtype=dtype))


def ones(rng: np.random.Generator | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return new_param(shape, dtype, lambda: np.ones(shape, dtype=dtype))


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "orthogonal": orthogonal,
    "uniform": uniform,
    "zeros": zeros,
}


def get(name: str, what: str = "initializer", owner: str = ""):
    """The initializer called ``name``; for an unknown one, an error naming the argument
    (``what``, e.g. "recurrent_initializer") and the layer (``owner``)."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        where = f"{owner}: " if owner else ""
        raise ConfigError(
            f"{where}received an invalid value for `{what}`, expected one of {sorted(INITIALIZERS)}, got {name!r}"
        ) from None
