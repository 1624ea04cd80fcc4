"""Global pooling over time: the mean or the max of the (unmasked) timesteps, (B, T, F) -> (B, F)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.backend import zeros
from shapeviz.core.layer import Layer, check_choice
from shapeviz.errors import ConfigError, InputError

DATA_FORMATS = ("channels_last", "channels_first")


class PoolCache(NamedTuple):
    x_shape: tuple  # (B, T, F), (B, F, T) or (T, B, F)
    keep: Any  # the mask laid out like x with a 1 for features, (B, T, 1) etc., x's dtype; or None
    denom: Any  # average: (B, 1, 1) unmasked steps per row (at least 1), or 1/T as a number; max: None
    idx: Any  # max: (B, 1, F) the winning step of every feature; average: None
    any_kept: Any  # max with a mask: (B, 1, 1) bool, whether a row has an unmasked step; else None


class _GlobalPooling1D(Layer):
    """Base of the two global poolings: layout options, input and mask checks.

    Args:
        data_format: ``"channels_last"`` (default, (B, T, F)) or ``"channels_first"`` ((B, F, T)), Keras's.
        time_major: inputs are (T, B, F) (shapeviz's layout option); not with channels_first.
        keepdims: keep the pooled time axis with length 1 ((B, 1, F)), as Keras's ``keepdims``.

    The mask (B, T) is consumed: masked steps are left out, and the output has no mask.
    """

    def __init__(self, data_format: str = "channels_last", time_major: bool = False, keepdims: bool = False,
                 name: str | None = None) -> None:
        super().__init__(name)
        owner = f"{type(self).__name__} {self.name!r}"
        self.data_format = check_choice(data_format, "data_format", owner, DATA_FORMATS)
        self.time_major = bool(time_major)
        self.keepdims = bool(keepdims)
        if self.time_major and self.data_format == "channels_first":
            raise ConfigError(f"{owner}: time_major=True reads (T, B, F) inputs, which are channels_last: "
                              "use data_format='channels_last' with it")

    @property
    def layout(self) -> str:
        if self.time_major:
            return "(T, B, F)"
        return "(B, T, F)" if self.data_format == "channels_last" else "(B, F, T)"

    @property
    def time_axis(self) -> int:
        return 0 if self.time_major else (1 if self.data_format == "channels_last" else 2)

    def _keep(self, x: Any, mask: Any) -> Any:
        """The (B, T) mask laid out like ``x`` with a length-1 feature axis, in x's dtype; or None."""
        if mask is None:
            return None
        B, T = (x.shape[1], x.shape[0]) if self.time_major else (x.shape[0], x.shape[self.time_axis])
        if len(mask.shape) != 2 or not mask.shape[0] == B or not mask.shape[1] == T:
            raise InputError(f"layer {self.name!r} ({self.kind}): the mask must have shape (B, T) = ({B}, {T}), "
                             f"got {tuple(mask.shape)}")
        if self.time_major:
            keep = mask.T[:, :, None]  # (T, B, 1)
        elif self.data_format == "channels_last":
            keep = mask[:, :, None]  # (B, T, 1)
        else:
            keep = mask[:, None, :]  # (B, 1, T)
        return keep.astype(x.dtype)

    def _check(self, x: Any) -> None:
        self.check_features(x, (3,), self.layout)

    def _out(self, y: Any) -> Any:
        """Drop the pooled axis unless keepdims."""
        return y if self.keepdims else y.squeeze(axis=self.time_axis)  # (B, F)

    def _dy(self, dy: Any) -> Any:
        """``dy`` with the pooled axis back (length 1)."""
        return dy if self.keepdims else np.expand_dims(dy, self.time_axis)  # (B, 1, F)

    def output_mask(self, mask: Any) -> Any:
        """Pooling consumes the mask: the output (B, F) has none."""
        return None

    def config(self) -> dict[str, Any]:
        return {"data_format": self.data_format, "time_major": self.time_major, "keepdims": self.keepdims,
                "name": self.name}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over timesteps, (B, T, F) -> (B, F); with a mask, the mean over the unmasked steps
    (as Keras; a row whose steps are all masked gives zeros where Keras gives NaN)."""

    kind = "global_average_pooling1d"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, PoolCache]:
        """Args: x: (B, T, F) ((B, F, T) channels_first, (T, B, F) time_major); mask: (B, T) or None.
        Returns y: (B, F) ((B, 1, F) with keepdims), and the cache."""
        self._check(x)
        self.ensure_built(x, rng)
        ax = self.time_axis
        keep = self._keep(x, mask)
        if keep is None:
            denom: Any = 1.0 / x.shape[ax]  # 1/T, a number (a size in float arithmetic when traced)
            y = x.sum(axis=ax, keepdims=True)  # (B, 1, F)
            y *= denom  # in place: the scale never changes y's dtype
        else:
            denom = np.maximum(keep.sum(axis=ax, keepdims=True), 1.0)  # (B, 1, 1)
            y = (x * keep).sum(axis=ax, keepdims=True) / denom  # (B, 1, F)
        return self._out(y), PoolCache(tuple(x.shape), keep, denom, None, None)

    def backward(self, dy: Any, cache: PoolCache) -> Any:
        """Args: dy: (B, F). Returns dx: (B, T, F), dy spread evenly over the unmasked steps."""
        dyk = self._dy(dy)  # (B, 1, F)
        dx = zeros(cache.x_shape, like=dyk)  # (B, T, F)
        dx += dyk  # broadcast over the steps
        if cache.keep is None:
            dx *= cache.denom  # 1/T
        else:
            dx *= cache.keep / cache.denom  # (B, T, 1)
        return dx


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The max over timesteps, (B, T, F) -> (B, F); with a mask, the max over the unmasked steps (a
    row whose steps are all masked gives zeros). Keras's own GlobalMaxPooling1D ignores the mask:
    ``ignore_mask=True`` does the same (the max over every step, masked or not), as a model imported
    from Keras needs; the layer then takes no mask (``supports_masking`` False on it).

    The gradient goes to the first step holding the max (numpy's argmax, torch's ``max(dim)``)."""

    kind = "global_max_pooling1d"

    def __init__(self, data_format: str = "channels_last", time_major: bool = False, keepdims: bool = False,
                 ignore_mask: bool = False, name: str | None = None) -> None:
        super().__init__(data_format, time_major, keepdims, name)
        self.ignore_mask = bool(ignore_mask)
        if self.ignore_mask:
            self.supports_masking = False  # type: ignore[misc]  # a graph then hands it no mask, as Keras

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, PoolCache]:
        """Args: x: (B, T, F) ((B, F, T) channels_first, (T, B, F) time_major); mask: (B, T) or None.
        Returns y: (B, F) ((B, 1, F) with keepdims), and the cache."""
        self._check(x)
        self.ensure_built(x, rng)
        ax = self.time_axis
        keep = None if self.ignore_mask else self._keep(x, mask)
        any_kept = None
        filled = x if keep is None else np.where(keep > 0, x, -np.inf)  # (B, T, F), masked steps never win
        idx = np.argmax(filled, axis=ax, keepdims=True)  # (B, 1, F)
        y = np.take_along_axis(filled, idx, axis=ax)  # (B, 1, F)
        if keep is not None:
            any_kept = keep.max(axis=ax, keepdims=True) > 0  # (B, 1, 1)
            y = np.where(any_kept, y, 0.0).astype(x.dtype)  # (B, 1, F): zeros for a row with no step
        return self._out(y), PoolCache(tuple(x.shape), keep, None, idx, any_kept)

    def backward(self, dy: Any, cache: PoolCache) -> Any:
        """Args: dy: (B, F). Returns dx: (B, T, F), dy at each feature's winning step, zero elsewhere."""
        dyk = self._dy(dy)  # (B, 1, F)
        if cache.any_kept is not None:
            dyk = np.where(cache.any_kept, dyk, 0.0).astype(dyk.dtype)  # (B, 1, F)
        dx = zeros(cache.x_shape, like=dyk)  # (B, T, F)
        np.put_along_axis(dx, cache.idx, dyk, axis=self.time_axis)
        return dx

    def config(self) -> dict[str, Any]:
        return {**super().config(), **({"ignore_mask": True} if self.ignore_mask else {})}


__all__ = ["GlobalAveragePooling1D", "GlobalMaxPooling1D"]
