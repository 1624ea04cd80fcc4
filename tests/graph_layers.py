"""Test-only multi-input layers following the merge-layer contract (the package's merges live on
another branch): enough to build graphs with merges in the functional-model tests."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from shapeviz.core.layer import Layer


class Sum(Layer):
    """``y = x_0 + x_1 + ...`` elementwise; masks combine with a logical AND."""

    kind = "sum"
    multi_input: ClassVar[bool] = True

    def ensure_built(self, xs: Any, rng: Any = None, dtype: Any = None) -> None:
        """A model builds a multi-input layer from the list of its inputs, as the package's merges."""
        Layer.ensure_built(self, xs[0] if isinstance(xs, (list, tuple)) else xs, rng, dtype)

    def forward(self, xs: list, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        self.ensure_built(xs[0], rng)
        y = xs[0]
        for x in xs[1:]:
            y = y + x  # (B, ..., F)
        return y, len(xs)

    def backward(self, dy: Any, cache: Any) -> list:
        return [dy] * cache

    def output_mask(self, masks: Any) -> Any:
        present = [m for m in (masks or []) if m is not None]
        if not present:
            return None
        out = present[0]
        for m in present[1:]:
            out = np.logical_and(out, m)  # (B, T)
        return out


class Concat(Layer):
    """``np.concatenate(xs, axis=-1)``; masks combine with a logical AND."""

    kind = "concat"
    multi_input: ClassVar[bool] = True
    ensure_built = Sum.ensure_built

    def forward(self, xs: list, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        self.ensure_built(xs[0], rng)
        sizes = [x.shape[-1] for x in xs]
        return np.concatenate(xs, axis=-1), sizes  # (B, ..., F0 + F1 + ...)

    def backward(self, dy: Any, cache: Any) -> list:
        out, start = [], 0
        for size in cache:
            out.append(dy[..., start:start + size])  # (B, ..., F_i)
            start = start + size
        return out

    output_mask = Sum.output_mask


class Repeat(Layer):
    """Keras's RepeatVector: (B, F) -> (B, n, F) (its ``kind`` is what graph modes look for)."""

    kind = "repeat_vector"
    supports_masking: ClassVar[bool] = False

    def __init__(self, n: int, name: str | None = None) -> None:
        super().__init__(name)
        self.n = n

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        self.ensure_built(x, rng)
        return np.repeat(x[:, None, :], self.n, axis=1), None  # (B, n, F)

    def backward(self, dy: Any, cache: Any) -> Any:
        return dy.sum(axis=1)  # (B, F)
