"""RepeatVector: one vector per sample repeated n times, (B, F) -> (B, n, F), Keras's way to a decoder."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

from shapeviz.core.layer import Layer, check_positive_int


class RepeatVectorCache(NamedTuple):
    pass  # the backward pass needs nothing: dx is the sum of dy over the copies


class RepeatVector(Layer):
    """``y[:, i] = x`` for ``i < n``: (B, F) -> (B, n, F), as Keras's RepeatVector (e.g. an encoder's
    last output fed to every step of a decoder). Masks are dropped.

    Args:
        n: how many times to repeat, a positive integer.
    """

    kind = "repeat_vector"
    supports_masking: ClassVar[bool] = False

    def __init__(self, n: int, name: str | None = None) -> None:
        super().__init__(name)
        self.n = check_positive_int(n, "n", f"RepeatVector {self.name!r}")

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, RepeatVectorCache]:
        """Args: x: (B, F). Returns y: (B, n, F), a fresh array."""
        self.check_features(x, (2,), "(B, F)")
        self.ensure_built(x, rng)
        B, F = x.shape
        y = np.broadcast_to(x[:, None, :], (B, self.n, F)).copy()  # (B, n, F), writable
        return y, RepeatVectorCache()

    def backward(self, dy: Any, cache: RepeatVectorCache) -> Any:
        """Args: dy: (B, n, F). Returns dx: (B, F), the sum over the n copies."""
        return dy.sum(axis=1)  # (B, F)

    def output_mask(self, mask: Any) -> Any:
        return None

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "name": self.name}
