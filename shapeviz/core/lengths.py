"""Sequence lengths as a mask: PyTorch's packed sequences, written as padded data plus lengths.

``pack_padded_sequence(x, lengths)`` -> :class:`PackSequence` (the data unchanged, the mask
``t < lengths[b]``); the recurrent layers then skip the padded steps, so their final states are
those of each sequence's last real step, as torch's are. ``pad_packed_sequence`` ->
:class:`PadPacked` (the padded steps zeroed, the mask dropped: torch has none past it).
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

from shapeviz.core.backend import zeros
from shapeviz.core.layer import Layer
from shapeviz.errors import InputError


class LengthsCache(NamedTuple):
    keep: Any  # PadPacked: (B, T, 1) or (T, B, 1) in x's dtype, or None; PackSequence: None


def lengths_mask(lengths: Any, T: Any) -> Any:
    """``mask[b, t] = t < lengths[b]``: (B,) integer lengths -> (B, T) bool."""
    steps = zeros((lengths.shape[0], T), like=lengths, dtype=lengths.dtype)  # (B, T)
    if isinstance(steps, np.ndarray):  # values only on a concrete run (the tracer needs the shape alone)
        steps += np.arange(T, dtype=lengths.dtype)
    return steps < lengths[:, None]  # (B, T)


class PackSequence(Layer):
    """``[x, lengths]`` -> x, with the mask ``t < lengths[b]`` for the layers after it.

    Args:
        time_major: x is (T, B, F) (torch's ``batch_first=False``) rather than (B, T, F).
    """

    kind = "pack_sequence"
    multi_input: ClassVar[bool] = True

    def __init__(self, time_major: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.time_major = bool(time_major)

    def ensure_built(self, xs: Any, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        if not self.built:
            self.dtype = np.dtype(dtype) if dtype is not None else np.dtype("float32")
            self.built = True

    def _split(self, xs: Any) -> tuple[Any, Any]:
        if not isinstance(xs, (list, tuple)) or len(xs) != 2:
            raise InputError(f"layer {self.name!r} ({self.kind}) takes [x, lengths], got {type(xs).__name__}")
        x, lengths = xs
        B = x.shape[1] if self.time_major else x.shape[0]
        layout = "(T, B, F)" if self.time_major else "(B, T, F)"
        if len(x.shape) != 3:
            raise InputError(f"layer {self.name!r} ({self.kind}) expects x of rank 3 {layout}, got shape {tuple(x.shape)}")
        if len(lengths.shape) != 1 or not lengths.shape[0] == B or lengths.dtype.kind not in "iuf":
            raise InputError(f"layer {self.name!r} ({self.kind}) expects integer lengths (B,) = ({B},) beside x "
                             f"{tuple(x.shape)} {layout}, got {lengths.dtype} of shape {tuple(lengths.shape)}")
        if lengths.dtype.kind == "f":  # a trainer that casts every input to the model's floats
            lengths = lengths.astype(np.int64)
        return x, lengths

    def forward(self, xs: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, LengthsCache]:
        """Args: xs: [x (B, T, F), lengths (B,)]. Returns x unchanged."""
        x, _ = self._split(xs)
        self.ensure_built(xs, rng)
        return x, LengthsCache(None)

    def backward(self, dy: Any, cache: LengthsCache) -> list:
        return [dy, None]  # lengths are integers: no gradient

    def compute_mask(self, xs: Any) -> Any:
        """(B, T) bool: ``t < lengths[b]``."""
        x, lengths = self._split(xs)
        return lengths_mask(lengths, x.shape[0] if self.time_major else x.shape[1])  # (B, T)

    def output_mask(self, masks: Any) -> Any:
        return None  # replaced by compute_mask

    def config(self) -> dict[str, Any]:
        return {"time_major": self.time_major, "name": self.name}


class PadPacked(Layer):
    """The padded steps (masked) set to zero, the mask dropped: torch's ``pad_packed_sequence``.

    Args:
        time_major: x is (T, B, H) rather than (B, T, H).
    """

    kind = "pad_packed"

    def __init__(self, time_major: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.time_major = bool(time_major)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, LengthsCache]:
        """Args: x: (B, T, H) ((T, B, H) time-major); mask: (B, T) or None. Returns y: x with zeros
        at the masked steps."""
        if len(x.shape) != 3:
            raise InputError(f"layer {self.name!r} ({self.kind}) expects a sequence of rank 3, got shape "
                             f"{tuple(x.shape)}")
        self.ensure_built(x, rng)
        if mask is None:
            return x.copy(), LengthsCache(None)
        keep = (mask.T if self.time_major else mask)[:, :, None].astype(x.dtype)  # (B, T, 1)
        return x * keep, LengthsCache(keep)  # (B, T, H)

    def backward(self, dy: Any, cache: LengthsCache) -> Any:
        return dy if cache.keep is None else dy * cache.keep  # (B, T, H)

    def output_mask(self, mask: Any) -> Any:
        return None

    def config(self) -> dict[str, Any]:
        return {"time_major": self.time_major, "name": self.name}


__all__ = ["PackSequence", "PadPacked", "lengths_mask"]
