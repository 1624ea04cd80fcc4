"""Activations as (forward, backward-from-output) pairs, written so they trace."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from shapeviz.errors import ConfigError


def sigmoid(z: Any) -> Any:
    """Logistic sigmoid through tanh: overflow-free and one transcendental call."""
    return 0.5 * np.tanh(0.5 * z) + 0.5


def softmax(z: Any) -> Any:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(z: Any) -> Any:
    """``log(softmax(z))`` over the last axis, computed without forming the softmax (no log of 0)."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _linear(z: Any) -> Any:
    return z


def _relu(z: Any) -> Any:
    return np.maximum(z, 0.0)


def _d_linear(y: Any, dy: Any) -> Any:
    return dy


def _d_tanh(y: Any, dy: Any) -> Any:
    return dy * (1.0 - y * y)


def _d_sigmoid(y: Any, dy: Any) -> Any:
    return dy * y * (1.0 - y)


def _d_relu(y: Any, dy: Any) -> Any:
    return dy * (y > 0)


def _d_softmax(y: Any, dy: Any) -> Any:
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def _d_log_softmax(y: Any, dy: Any) -> Any:
    return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)  # softmax = exp(y)


ACTIVATIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    "linear": (_linear, _d_linear),
    "tanh": (np.tanh, _d_tanh),
    "sigmoid": (sigmoid, _d_sigmoid),
    "relu": (_relu, _d_relu),
    "softmax": (softmax, _d_softmax),
    "log_softmax": (log_softmax, _d_log_softmax),
}


def get(name: str | None, owner: str) -> tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]:
    """The (forward, backward) pair for ``name``; ``None`` means linear."""
    key = "linear" if name is None else name
    if key not in ACTIVATIONS:
        raise ConfigError(
            f"{owner}: received an invalid value for `activation`, expected one of {sorted(ACTIVATIONS)}, got {name!r}"
        )
    return ACTIVATIONS[key]
