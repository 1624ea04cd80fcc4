"""Dense: a fully connected layer on (B, F) or on every timestep of (B, T, F)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core import activations, initializers
from shapeviz.core.layer import Layer, check_positive_int


class DenseCache(NamedTuple):
    x: Any  # (..., F)
    y: Any  # (..., U) after the activation


class Dense(Layer):
    """``y = activation(x @ kernel + bias)``, applied to the last axis.

    Args:
        units: output features U.
        activation: linear (default), tanh, sigmoid, relu, softmax, hard_sigmoid (Keras 3's),
            hard_sigmoid_keras2 or softsign.
        use_bias: whether to add ``bias`` (U,).
    """

    kind = "dense"

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self.units = check_positive_int(units, "units", f"Dense {self.name!r}")
        self.activation = activation or "linear"
        self._act, self._dact = activations.get(self.activation, f"Dense {self.name!r}")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer", f"Dense {self.name!r}")
        self._kernel_init_name = kernel_initializer

    def make_params(self, input_shape: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
        self.input_features = int(input_shape[-1])
        params = {"kernel": self.kernel_initializer(rng, (self.input_features, self.units), self.dtype)}
        if self.use_bias:
            params["bias"] = initializers.zeros(rng, (self.units,), self.dtype)
        return params

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, DenseCache]:
        """Args: x: (B, F) or (B, T, F). Returns y: (B, U) or (B, T, U)."""
        self.ensure_built(x, rng)
        self.check_features(x, (2, 3), "(B, F) or (B, T, F)")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        p = self.params
        z = x @ p["kernel"]  # (..., U)
        if self.use_bias:
            z = z + p["bias"]  # (..., U)
        y = self._act(z)  # (..., U)
        return y, DenseCache(x, y)

    def backward(self, dy: Any, cache: DenseCache) -> Any:
        x, y = cache
        dz = self._dact(y, dy)  # (..., U)
        F = x.shape[-1]
        dz2 = dz.reshape(-1, self.units)  # (N, U)
        self.grads["kernel"] += x.reshape(-1, F).T @ dz2  # (F, U)
        if self.use_bias:
            self.grads["bias"] += dz2.sum(axis=0)  # (U,)
        return dz @ self.params["kernel"].T  # (..., F)

    def config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self._kernel_init_name, "name": self.name}
