"""Flatten, Reshape and Permute: per-sample shape changes (the batch axis stays first). They drop masks."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

from shapeviz.core.layer import Layer
from shapeviz.errors import ConfigError, InputError


class ShapeCache(NamedTuple):
    x_shape: tuple  # the input's shape, (B, ...)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _elements(shape: tuple) -> Any:
    """The product of ``shape``: an int, or a symbolic size when traced."""
    n: Any = 1
    for d in shape:
        n = n * d
    return n


class _PerSample(Layer):
    """Flatten and Reshape return a fresh array: numpy's reshape copies a non-contiguous input (a
    recurrent layer's output is a view of its time-major buffer) but views a contiguous one, which a
    symbolic array cannot tell apart; a copy either way keeps the BPTT memory the tracer counts for
    the layers after equal to the real run's."""

    supports_masking: ClassVar[bool] = False

    def backward(self, dy: Any, cache: ShapeCache) -> Any:
        """Args: dy: the output's shape. Returns dx: the input's shape."""
        return dy.reshape(cache.x_shape)  # (B, ...)

    def output_mask(self, mask: Any) -> Any:
        return None

    def _check_rank(self, x: Any, low: int, layout: str) -> None:
        if len(x.shape) < low:
            raise InputError(f"layer {self.name!r} ({self.kind}) expects input of rank {low} or more {layout}, "
                             f"got rank {len(x.shape)} with shape {tuple(x.shape)}")


class Flatten(_PerSample):
    """(B, d_1, ..., d_k) -> (B, d_1 * ... * d_k), as Keras's Flatten ((B,) -> (B, 1))."""

    kind = "flatten"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, ShapeCache]:
        """Args: x: (B, ...), e.g. (B, T, F). Returns y: (B, T*F)."""
        self._check_rank(x, 1, "(B, ...)")
        self.ensure_built(x, rng)
        y = x.reshape((x.shape[0], _elements(x.shape[1:]))).copy()  # (B, T*F), see _PerSample
        return y, ShapeCache(tuple(x.shape))

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


class Reshape(_PerSample):
    """Each sample reshaped to ``target_shape``: (B, ...) -> (B, *target_shape), as Keras's Reshape.

    Args:
        target_shape: a tuple of positive integers, one of which may be -1 (inferred from the
            number of elements per sample).
    """

    kind = "reshape"

    def __init__(self, target_shape: Any, name: str | None = None) -> None:
        super().__init__(name)
        owner = f"Reshape {self.name!r}"
        if _is_int(target_shape):
            target_shape = (target_shape,)
        ok = isinstance(target_shape, (tuple, list)) and len(target_shape) > 0 and all(
            _is_int(d) and (d > 0 or d == -1) for d in target_shape)
        if not ok:
            raise ConfigError(f"{owner}: received an invalid value for `target_shape`, expected a tuple of positive "
                              f"integers (one of them may be -1), got {target_shape!r}")
        if sum(1 for d in target_shape if d == -1) > 1:
            raise ConfigError(f"{owner}: received an invalid value for `target_shape`, expected at most one -1 "
                              f"(an inferred axis), got {tuple(target_shape)!r}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, ShapeCache]:
        """Args: x: (B, ...), e.g. (B, T*F). Returns y: (B, *target_shape), e.g. (B, T, F)."""
        self._check_rank(x, 1, "(B, ...)")
        self.ensure_built(x, rng)
        n = _elements(x.shape[1:])
        known = _elements(d for d in self.target_shape if d != -1)
        target = self.target_shape
        if -1 in target:
            if _is_int(n) and n % known:  # a symbolic size is checked by the reshape itself
                raise InputError(
                    f"layer {self.name!r} ({self.kind}) cannot reshape samples of shape {tuple(x.shape[1:])} "
                    f"({n} elements) into {target}: {n} is not a multiple of {known}")
        elif not n == known:
            raise InputError(
                f"layer {self.name!r} ({self.kind}) expects samples of {known} elements to reshape into {target}, "
                f"got input of shape {tuple(x.shape)} ({n} elements per sample)")
        y = x.reshape((x.shape[0], *target)).copy()  # (B, *target_shape), see _PerSample
        return y, ShapeCache(tuple(x.shape))

    def config(self) -> dict[str, Any]:
        return {"target_shape": self.target_shape, "name": self.name}


class Permute(_PerSample):
    """The per-sample axes reordered: ``dims`` is a permutation of 1..k (1-based, the batch axis 0 stays
    first), as Keras's Permute; ``Permute((2, 1))`` turns (B, T, F) into (B, F, T).

    Args:
        dims: the input axis each output axis takes, e.g. (2, 1).
    """

    kind = "permute"

    def __init__(self, dims: Any, name: str | None = None) -> None:
        super().__init__(name)
        ok = isinstance(dims, (tuple, list)) and all(_is_int(d) for d in dims) and \
            sorted(int(d) for d in dims) == list(range(1, len(dims) + 1)) and len(dims) > 0
        if not ok:
            raise ConfigError(f"Permute {self.name!r}: received an invalid value for `dims`, expected a permutation "
                              f"of 1..k (1-based axes; the batch axis 0 stays first), got {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, ShapeCache]:
        """Args: x: (B, d_1, ..., d_k). Returns y: (B, d_dims[0], ..., d_dims[k-1]), e.g. (B, F, T)."""
        k = len(self.dims)
        if len(x.shape) != k + 1:
            raise InputError(f"layer {self.name!r} ({self.kind}) with dims {self.dims} expects input of rank {k + 1} "
                             f"(B and {k} more axes), got rank {len(x.shape)} with shape {tuple(x.shape)}")
        self.ensure_built(x, rng)
        y = x.transpose((0, *self.dims))  # (B, F, T)
        return y, ShapeCache(tuple(x.shape))

    def backward(self, dy: Any, cache: ShapeCache) -> Any:
        """Args: dy: the output's shape. Returns dx: the input's shape (the inverse permutation)."""
        order = (0, *self.dims)
        inverse = tuple(order.index(i) for i in range(len(order)))
        return dy.transpose(inverse)  # (B, T, F)

    def config(self) -> dict[str, Any]:
        return {"dims": self.dims, "name": self.name}


__all__ = ["Flatten", "Reshape", "Permute"]
