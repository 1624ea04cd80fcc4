"""Masking: timesteps whose features all equal ``mask_value`` are padding for the layers after."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.layer import Layer
from shapeviz.errors import ConfigError, InputError


class MaskingCache(NamedTuple):
    keep: Any  # (B, T, 1) ((T, B, 1) for time-major data) bool: the timestep has a feature != mask_value


class Masking(Layer):
    """Keras's Masking: ``y = x * any(x != mask_value, axis=-1)[..., None]``, and
    ``compute_mask(x) = any(x != mask_value, axis=-1)`` (B, T) for the layers after it.

    A padded timestep (every feature equal to ``mask_value``) comes out as zeros and is
    skipped by the recurrent layers that read the mask.

    The layer works in either layout: on time-major data (T, B, F) its output is (T, B, F) and
    ``compute_mask`` gives (T, B). A Sequential reads the layout off the recurrent layer the mask
    goes to and hands that layer the mask as (B, T), the shape every mask has in the model.

    Args:
        mask_value: the padding value, 0.0 by default.
    """

    kind = "masking"

    def __init__(self, mask_value: float = 0.0, name: str | None = None) -> None:
        super().__init__(name)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"Masking {self.name!r}: received an invalid value for `mask_value`, expected a number, "
                f"got {mask_value!r}"
            ) from None

    def _check(self, x: Any) -> None:
        if len(x.shape) != 3:
            raise InputError(
                f"layer {self.name!r} ({self.kind}) expects input of rank 3 (B, T, F), "
                f"got rank {len(x.shape)} with shape {tuple(x.shape)}"
            )

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, MaskingCache]:
        """Args: x: (B, T, F) or (T, B, F); mask: ignored (the mask comes from x, see ``compute_mask``).
        Returns y: the shape of x, zero on padded timesteps."""
        self._check(x)
        self.ensure_built(x, rng)
        keep = np.any(x != self.mask_value, axis=-1, keepdims=True)  # (B, T, 1)
        return x * keep, MaskingCache(keep)  # (B, T, F)

    def backward(self, dy: Any, cache: MaskingCache) -> Any:
        """Args: dy: (B, T, F). Returns dx: (B, T, F), zero on padded timesteps."""
        return dy * cache.keep  # (B, T, F)

    def compute_mask(self, x: Any) -> Any:
        """The (B, T) bool mask of the output ((T, B) for time-major x): True where a timestep
        has a feature != mask_value."""
        self._check(x)
        return np.any(x != self.mask_value, axis=-1)  # (B, T)

    def config(self) -> dict[str, Any]:
        return {"mask_value": self.mask_value, "name": self.name}
