"""Activation: one of shapeviz's activations applied elementwise (softmax over the last axis)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core import activations
from shapeviz.core.layer import Layer
from shapeviz.errors import InputError


class ActivationCache(NamedTuple):
    y: Any  # the output, the input's shape (the backward functions read the output)


class Activation(Layer):
    """``y = activation(x)`` on any shape, e.g. (B, F) or (B, T, F) (Keras's Activation). The mask
    passes through.

    Args:
        activation: linear, tanh, sigmoid, relu, softmax or log_softmax (both over the last axis).
    """

    kind = "activation"

    def __init__(self, activation: str, name: str | None = None) -> None:
        super().__init__(name)
        self._act, self._dact = activations.get(activation, f"Activation {self.name!r}")
        self.activation = activation or "linear"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, ActivationCache]:
        """Args: x: (B, ...), e.g. (B, T, F). Returns y: the shape of x."""
        if len(x.shape) == 0:
            raise InputError(f"layer {self.name!r} ({self.kind}) expects input of rank 1 or more (B, ...), "
                             f"got a 0-d input")
        self.ensure_built(x, rng)
        y = self._act(x)  # (B, T, F)
        return y, ActivationCache(y)

    def backward(self, dy: Any, cache: ActivationCache) -> Any:
        """Args: dy: the shape of x. Returns dx: the shape of x."""
        return self._dact(cache.y, dy)  # (B, T, F)

    def config(self) -> dict[str, Any]:
        return {"activation": self.activation, "name": self.name}
