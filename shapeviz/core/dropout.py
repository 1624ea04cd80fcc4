"""Dropout: inverted dropout in training, the identity at inference."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.backend import dropout_mask
from shapeviz.core.layer import Layer, check_rate
from shapeviz.errors import ConfigError, InputError


class DropoutCache(NamedTuple):
    keep: Any  # noise_shape (broadcastable to x): 0 or 1/(1-rate); None when nothing was dropped


class Dropout(Layer):
    """Zeroes each input entry with probability ``rate`` in training and scales the rest by
    ``1/(1-rate)``, so inference is the identity (Keras's Dropout).

    Args:
        rate: the fraction dropped, in [0, 1).
        noise_shape: the shape of the drawn mask, broadcast against the input; ``None`` entries
            take the input's size. ``(None, 1, None)`` on ``(B, T, F)`` draws one ``(B, 1, F)``
            mask shared by every timestep (Keras's example). ``None`` (default): the input's shape.
    """

    kind = "dropout"

    def __init__(self, rate: float, noise_shape: Any = None, name: str | None = None) -> None:
        super().__init__(name)
        owner = f"Dropout {self.name!r}"
        self.rate = check_rate(rate, "rate", owner)
        if noise_shape is not None:
            ok = isinstance(noise_shape, (tuple, list)) and all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
                for d in noise_shape)
            if not ok:
                raise ConfigError(
                    f"{owner}: received an invalid value for `noise_shape`, expected a tuple of positive "
                    f"integers or None, got {noise_shape!r}"
                )
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.noise_shape = noise_shape

    def mask_shape(self, x: Any) -> tuple:
        """The shape of the drawn mask for input ``x``: ``noise_shape`` with ``None`` filled in."""
        shape = tuple(x.shape)
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise InputError(
                f"layer {self.name!r} ({self.kind}): noise_shape {self.noise_shape} has {len(self.noise_shape)} "
                f"axes, got input of rank {len(shape)} with shape {shape}"
            )
        filled = tuple(d if n is None else n for n, d in zip(self.noise_shape, shape))
        for n, d in zip(filled, shape):
            if n != 1 and n != d:
                raise InputError(
                    f"layer {self.name!r} ({self.kind}): noise_shape {self.noise_shape} must broadcast to the "
                    f"input: expected each axis to be None, 1 or the input's size, got input shape {shape}"
                )
        return filled

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, DropoutCache]:
        """Args: x: any shape, e.g. (B, F) or (B, T, F); mask: passed through unchanged.

        Returns y: the shape of x — ``x * keep`` in training, ``x`` itself at inference."""
        self.ensure_built(x, rng)
        if not training or self.rate == 0.0:
            return x, DropoutCache(None)
        if rng is None:
            raise ConfigError(
                f"layer {self.name!r} ({self.kind}) uses dropout in training: pass rng=np.random.default_rng(seed)"
            )
        keep = dropout_mask(rng, self.mask_shape(x), self.rate, like=x)  # noise_shape, e.g. (B, 1, F)
        return x * keep, DropoutCache(keep)  # (B, T, F)

    def backward(self, dy: Any, cache: DropoutCache) -> Any:
        """Args: dy: the shape of x. Returns dx = dy * keep (dy itself at inference)."""
        if cache.keep is None:
            return dy
        return dy * cache.keep  # (B, T, F)

    def config(self) -> dict[str, Any]:
        return {"rate": self.rate, "noise_shape": self.noise_shape, "name": self.name}
