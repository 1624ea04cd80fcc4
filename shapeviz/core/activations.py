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


def hard_sigmoid(z: Any) -> Any:
    """Keras 3's hard sigmoid, ``relu6(z + 3) / 6 = clip(z/6 + 1/2, 0, 1)``: Keras 3.x
    ``keras.activations.hard_sigmoid`` calls ``ops.hard_sigmoid``, which is
    ``torch.nn.functional.hardsigmoid`` on the torch backend (checked against Keras 3.15:
    hard_sigmoid(1) = 0.6667). Models saved by Keras 3 mean this one."""
    return np.clip(z * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hard_sigmoid_keras2(z: Any) -> Any:
    """Keras 2's and tf.keras's hard sigmoid, ``clip(0.2·z + 0.5, 0, 1)`` (``keras/backend.py``
    ``hard_sigmoid`` in Keras 2.x and ``tf.keras.backend.hard_sigmoid``: ``x = 0.2 * x + 0.5``,
    then ``clip_by_value(x, 0., 1.)``); the default ``recurrent_activation`` of LSTM and GRU in
    Keras before 2.3, so models saved by Keras 2 mean this one when they say "hard_sigmoid"."""
    return np.clip(z * 0.2 + 0.5, 0.0, 1.0)


def softsign(z: Any) -> Any:
    """``z / (1 + |z|)``."""
    return z / (np.abs(z) + 1.0)


def _d_linear(y: Any, dy: Any) -> Any:
    return dy


def _d_tanh(y: Any, dy: Any) -> Any:
    return dy * (1.0 - y * y)


def _d_sigmoid(y: Any, dy: Any) -> Any:
    return dy * y * (1.0 - y)


def _d_relu(y: Any, dy: Any) -> Any:
    return dy * (y > 0)


def _d_hard_sigmoid(y: Any, dy: Any) -> Any:
    # the slope 1/6 inside (0, 1), 0 on the clipped parts; at the two kinks the one-sided
    # derivative of the clipped side (0), as torch's hardsigmoid backward
    return dy * ((y > 0.0) * (y < 1.0)) * (1.0 / 6.0)


def _d_hard_sigmoid_keras2(y: Any, dy: Any) -> Any:
    return dy * ((y > 0.0) * (y < 1.0)) * 0.2


def _d_softsign(y: Any, dy: Any) -> Any:
    # y = z / (1 + |z|) gives 1 - |y| = 1 / (1 + |z|), and dy/dz = 1 / (1 + |z|)²
    s = 1.0 - np.abs(y)
    return dy * s * s


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
    "hard_sigmoid": (hard_sigmoid, _d_hard_sigmoid),
    "hard_sigmoid_keras2": (hard_sigmoid_keras2, _d_hard_sigmoid_keras2),
    "softsign": (softsign, _d_softsign),
    "log_softmax": (log_softmax, _d_log_softmax),
}

# what a recurrent cell's ``activation`` / ``recurrent_activation`` may be: each derivative
# above is a function of the activation's output alone, which is all a cell keeps for BPTT
CELL_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "relu", "linear", "softsign")


def get(name: str | None, owner: str, argument: str = "activation",
        allowed: tuple[str, ...] | None = None) -> tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]:
    """The (forward, backward-from-output) pair for ``name``; ``None`` means linear.
    ``allowed`` (default: every name in ``ACTIVATIONS``) is the list the error quotes."""
    key = "linear" if name is None else name
    choices = sorted(ACTIVATIONS) if allowed is None else list(allowed)
    if key not in choices:
        raise ConfigError(
            f"{owner}: received an invalid value for `{argument}`, expected one of {choices}, got {name!r}"
        )
    return ACTIVATIONS[key]
