"""Lasagne's addition task (``examples/recurrent.py``): add the two marked numbers of a sequence."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.errors import ConfigError

MIN_LENGTH = 50
MAX_LENGTH = 55
N_BATCH = 100


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def gen_data(n_batch: int = N_BATCH, min_length: int = MIN_LENGTH, max_length: int = MAX_LENGTH,
             rng: np.random.Generator | int | None = None, *, center: bool = True,
             dtype: Any = "float32") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch of the "add" task, as Lasagne's ``gen_data`` makes it.

    Each sequence is a list of pairs ``(a, b)``: ``a`` uniform in [0, 1), ``b`` a marker that is
    1 at exactly two positions and 0 elsewhere; the target is the sum of the two marked ``a``::

        a | 0.5 | 0.7 | 0.3 | 0.1 | 0.2 | ... | 0.5 | 0.9 | ... | 0.8 | 0.2 |
        b |  0  |  0  |  1  |  0  |  0  |     |  0  |  1  |     |  0  |  0  |   ->  0.3 + 0.9 = 1.2

    As in Lasagne, a sequence's length is drawn from ``[min_length, max_length)`` (``randint``
    excludes its upper bound, so the last column is always padding), the first marker sits in
    the first tenth of the sequence (``[0, length // 10)``) and the second in its second half
    (``[length // 2, length)``), pairs past the length are zero and masked out, and finally
    inputs and targets are centred: ``x -= x.reshape(-1, 2).mean(axis=0); y -= y.mean()``
    (padding included, exactly as Lasagne does it).

    Args:
        n_batch: number of sequences N.
        min_length: shortest length (at least 10, so the first tenth holds a position).
        max_length: one past the longest length; also the padded length T.
        rng: a numpy Generator, or a seed for one.
        center: centre ``x`` and ``y`` as Lasagne does; ``False`` gives the raw pairs and sums.
        dtype: float dtype of ``x`` and ``y`` (Lasagne's floatX; float32 by default).

    Returns:
        x: (N, T, 2) pairs; y: (N,) targets; mask: (N, T) bool, True within each sequence's
        length (Lasagne returns it as floatX 0/1; shapeviz masks are bool).
    """
    if isinstance(n_batch, bool) or not isinstance(n_batch, (int, np.integer)) or n_batch <= 0:
        raise ConfigError(f"gen_data: expected a positive integer n_batch, got {n_batch!r}")
    if not 10 <= min_length < max_length:
        raise ConfigError(
            f"gen_data: expected 10 <= min_length < max_length (lengths are drawn from [min_length, max_length) "
            f"and the first marker from the first tenth), got min_length={min_length!r}, max_length={max_length!r}"
        )
    rng = _rng(rng)
    N, T = int(n_batch), int(max_length)
    lengths = rng.integers(min_length, max_length, size=N)  # (N,) in [min_length, max_length)
    steps = np.arange(T)  # (T,)
    mask = steps[None, :] < lengths[:, None]  # (N, T)
    x = np.zeros((N, T, 2))  # (N, T, 2) float64 until the final cast, like Lasagne
    x[:, :, 0] = rng.uniform(size=(N, T)) * mask  # (N, T): zero past the length
    rows = np.arange(N)  # (N,)
    first = rng.integers(0, lengths // 10)  # (N,) in the first tenth
    second = rng.integers(lengths // 2, lengths)  # (N,) in the second half
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[:, :, 0] * x[:, :, 1]).sum(axis=1)  # (N,)
    if center:
        x -= x.reshape(-1, 2).mean(axis=0)  # (N, T, 2) - (2,)
        y -= y.mean()  # (N,)
    return x.astype(dtype), y.astype(dtype), mask
