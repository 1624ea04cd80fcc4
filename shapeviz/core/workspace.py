"""Large per-pass buffers recycled between training steps instead of coming fresh from the OS.

glibc gives the memory of large freed arrays back to the OS, so every training step
page-faults its activation and gradient buffers in afresh: on the addition task
(B=100, T=50, LSTM(100)) that was a sixth of a float32 step. A ``Workspace`` keeps the
buffers it handed out and hands one out again once nothing else refers to it, that is
once the cache (or the output view, or the user's variable) that held it has been
dropped. ``sys.getrefcount`` sees every such holder — a view keeps its base alive — so a
buffer that anything can still read is never reused.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from shapeviz.core import backend

MIN_BYTES = 1 << 16  # smaller arrays come from malloc's free lists anyway


def _idle_refcount() -> int:
    """What ``_is_idle`` counts for an array that only the pool list refers to (the count
    includes the caller's own references, which differ between Python versions)."""
    pool = [np.empty(1)]
    return _refcount(pool, 0)


def _refcount(pool: list, i: int) -> int:
    a = pool[i]
    return sys.getrefcount(a)


_IDLE = _idle_refcount()


class Workspace:
    """Hands out uninitialised arrays like ``backend.empty``, recycling large numpy ones.

    Args:
        keep: how many arrays of one shape and dtype to keep for reuse (2: a training loop
            that still holds the previous step's cache while it runs the next step still
            finds an idle set).
    """

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._pools: dict[tuple, list] = {}

    def empty(self, shape: tuple, like: Any, dtype: Any = None) -> Any:
        """An uninitialised array of ``shape``, of the kind of ``like`` (symbolic arrays and small
        arrays are not recycled)."""
        if type(like) is not np.ndarray:
            return backend.empty(shape, like=like, dtype=dtype)
        dt = np.dtype(like.dtype if dtype is None else dtype)
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) * dt.itemsize < MIN_BYTES:
            return np.empty(shape, dtype=dt)
        pool = self._pools.setdefault((shape, dt.str), [])
        for i in range(len(pool)):
            if _refcount(pool, i) == _IDLE:
                return pool[i]
        a = np.empty(shape, dtype=dt)
        if len(pool) < self.keep:
            pool.append(a)
        return a

    def clear(self) -> None:
        """Let go of every kept buffer (the memory returns once nothing else holds it)."""
        self._pools.clear()

    # a copied or pickled layer starts with an empty workspace, never with shared buffers
    def __deepcopy__(self, memo: dict) -> "Workspace":
        return Workspace(self.keep)

    def __copy__(self) -> "Workspace":
        return Workspace(self.keep)

    def __getstate__(self) -> dict:
        return {"keep": self.keep}

    def __setstate__(self, state: dict) -> None:
        self.keep = state["keep"]
        self._pools = {}
