"""TimeDistributed: a per-step layer applied to every timestep by folding time into the batch."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.layer import Layer
from shapeviz.errors import CheckpointError, ConfigError, InputError


class TimeDistributedCache(NamedTuple):
    inner: Any  # the wrapped layer's cache for the folded input (B*T, ...)
    x_shape: tuple  # (B, T, ...)


class TimeDistributed(Layer):
    """Keras's TimeDistributed: ``layer`` applied to each step of (B, T, ...) — the input is folded to
    (B*T, ...), run through ``layer`` once, and the output unfolded to (B, T, ...). The same layer
    (not a copy) is wrapped, so its weights are shared with any other use of it.

    The mask (B, T) passes through to the output; the wrapped layer gets none (its steps are samples).

    Args:
        layer: a single-input layer with one output (Dense, Dropout, Activation, ...).

    Weights (``get_weights``) and gradients are the wrapped layer's; ``sublayers()`` is ``[layer]``.
    """

    kind = "time_distributed"

    def __init__(self, layer: Layer, name: str | None = None) -> None:
        if not isinstance(layer, Layer):
            raise ConfigError(f"TimeDistributed {name or ''!r}: received an invalid value for `layer`, expected a "
                              f"layer, got {type(layer).__name__}")
        super().__init__(name, layer.dtype)
        owner = f"TimeDistributed {self.name!r}"
        if layer.multi_input:
            raise ConfigError(f"{owner}: received an invalid value for `layer`, expected a layer with one input, "
                              f"got {type(layer).__name__} {layer.name!r}, which merges several")
        if getattr(layer, "return_state", False) or getattr(layer, "merge_mode", "concat") is None:
            raise ConfigError(f"{owner}: received an invalid value for `layer`, expected a layer with one output, "
                              f"got {type(layer).__name__} {layer.name!r}, whose output is a tuple")
        self.layer = layer

    def sublayers(self) -> list[Layer]:
        return [self.layer]

    def build(self, input_shape: tuple, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        """Build the wrapped layer (if not built yet) for one step's shape (B*T, ...)."""
        if not self.layer.built:
            self.layer.build((None, *tuple(input_shape)[2:]), rng, dtype)
        self.dtype = self.layer.dtype
        self.built = True

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, TimeDistributedCache]:
        """Args: x: (B, T, ...), e.g. (B, T, F); mask: (B, T) or None, passed through.
        Returns y: (B, T, ...) the wrapped layer's per-step output, e.g. (B, T, U)."""
        if len(x.shape) < 3:
            raise InputError(f"layer {self.name!r} ({self.kind}) expects input of rank 3 or more (B, T, ...), "
                             f"got rank {len(x.shape)} with shape {tuple(x.shape)}")
        self.ensure_built(x, rng)
        B, T = x.shape[0], x.shape[1]
        # a copy: numpy's reshape copies a non-contiguous input (a recurrent layer's output is a view of
        # its time-major buffer) and views a contiguous one; always copying keeps the memory the tracer
        # counts for the wrapped layer's cache equal to the real one
        folded = x.reshape((B * T, *x.shape[2:])).copy()  # (B*T, F)
        try:
            out, inner = self.layer.forward(folded, training=training, rng=rng)  # (B*T, U)
        except InputError as error:  # say which wrapper the user named, not only the layer inside
            raise InputError(f"in TimeDistributed {self.name!r} (each step of input {tuple(x.shape)}): "
                             f"{error}") from None
        y = out.reshape((B, T, *out.shape[1:]))  # (B, T, U)
        return y, TimeDistributedCache(inner, tuple(x.shape))

    def backward(self, dy: Any, cache: TimeDistributedCache) -> Any:
        """Args: dy: (B, T, U). Adds the wrapped layer's weight gradients; returns dx: (B, T, F)
        (None when the wrapped layer gives no input gradient, as Embedding)."""
        B, T = cache.x_shape[0], cache.x_shape[1]
        dfolded = self.layer.backward(dy.reshape((B * T, *dy.shape[2:])), cache.inner)  # (B*T, F)
        if dfolded is None:
            return None
        return dfolded.reshape(cache.x_shape)  # (B, T, F)

    # -- parameters: the wrapped layer's -----------------------------------------------
    def zero_grad(self) -> None:
        self.layer.zero_grad()

    def get_weights(self) -> list[np.ndarray]:
        return self.layer.get_weights()

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if not self.built and not self.layer.built:
            raise ConfigError(f"layer {self.name!r} is not built yet: call it once or build the model first")
        try:
            self.layer.set_weights(weights)
        except CheckpointError as error:
            raise CheckpointError(f"in TimeDistributed {self.name!r}: {error}") from None

    def config(self) -> dict[str, Any]:
        return {"layer": {"class_name": type(self.layer).__name__, "config": self.layer.config()},
                "name": self.name}
