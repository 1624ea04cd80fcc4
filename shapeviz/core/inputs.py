"""What a model expects as input: one :class:`InputSpec` per array its ``forward`` takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from shapeviz.core.layer import Layer
from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import ConfigError

KINDS = ("floats", "ids", "lengths")
PASS_THROUGH = ("masking", "dropout")  # keep their input's shape: the layer after them sets the input's size


@dataclass(frozen=True)
class InputSpec:
    """One input of a model: its rank, which axis is batch and which is time, its size, and its values.

    ``model.inputs`` is a list of these, one per array ``model.forward`` takes, in the order it takes
    them (several are passed as a tuple). A model computes its list from its layers (the checks, the
    tracer, the CLI's defaults and the renderers read it instead of looking at the layers); a front
    end that knows the inputs first-hand (an ``Input`` layer, ``batch_first``) may give it instead.

    Examples: ``(B, T, 2)`` batch-first floats is ``InputSpec("x", 3, 0, 1, features=2)``; time-major
    ``(T, B, 2)`` is ``InputSpec("x", 3, 1, 0, features=2)``; ids ``(B, T)`` for an Embedding of 1000
    words is ``InputSpec("x", 2, 0, 1, vocabulary=1000, kind="ids")``; one vector per sample ``(B, 2)``
    is ``InputSpec("x", 2, 0, None, features=2)``.

    Attributes:
        name: the input's name in traces and messages (``x``, ``source``, ``decoder_inputs``).
        rank: the number of axes.
        batch_axis: the axis of the samples.
        time_axis: the axis of the timesteps, or None (one vector per sample).
        features: the size of the last axis of float inputs, or None while unknown (a layer learns
            it when it is built) and for ids, which have no feature axis.
        vocabulary: for ids, how many there are (ids lie in ``[0, vocabulary)``), when known.
        kind: ``"floats"`` (feature values), ``"ids"`` (integer token ids, for an Embedding) or
            ``"lengths"`` (B,) (each sample's number of real steps of the sequence whose time axis is
            ``time_dim``: a torch model's packed sequences).
        masked: the model makes a mask from this input (a Masking in front, or an Embedding with
            ``mask_zero=True``): padded steps are skipped.
        time_dim, feature_dim: the names a declaration gives the time axis and an unknown feature
            size (``"T_in"`` and ``"F"`` for an encoder's source).
    """

    name: str
    rank: int
    batch_axis: int = 0
    time_axis: int | None = None
    features: int | None = None
    vocabulary: int | None = None
    kind: str = "floats"
    masked: bool = False
    time_dim: str = "T"
    feature_dim: str = "F"

    def __post_init__(self) -> None:
        owner = f"input {self.name!r}"
        if self.kind not in KINDS:
            raise ConfigError(f"{owner}: kind must be one of {list(KINDS)}, got {self.kind!r}")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"{owner}: rank must be a positive integer, got {self.rank!r}")
        axes = [a for a in (self.batch_axis, self.time_axis) if a is not None]
        if any(isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < self.rank for a in axes):
            raise ConfigError(f"{owner}: the batch and time axes must lie in [0, {self.rank}), got "
                              f"batch_axis={self.batch_axis!r}, time_axis={self.time_axis!r}")
        if self.time_axis == self.batch_axis:
            raise ConfigError(f"{owner}: the batch and time axes must differ, got {self.batch_axis} for both")
        if self.kind == "lengths":
            if self.rank != 1 or self.time_axis is not None or self.features is not None:
                raise ConfigError(f"{owner}: lengths are one integer per sample, (B,), got rank {self.rank} with "
                                  f"time_axis={self.time_axis}, features={self.features!r}")
        elif self.kind == "ids":
            if len(axes) != self.rank:
                raise ConfigError(f"{owner}: ids have one axis per batch and time and no feature axis, got rank "
                                  f"{self.rank} with batch_axis={self.batch_axis}, time_axis={self.time_axis}")
            if self.features is not None:
                raise ConfigError(f"{owner}: ids have no feature axis, got features={self.features!r}")
        elif self.vocabulary is not None:
            raise ConfigError(f"{owner}: only ids have a vocabulary, got vocabulary={self.vocabulary!r} for floats")
        elif len(axes) != self.rank - 1:
            raise ConfigError(f"{owner}: floats have a feature axis last, beside the batch and time axes, got rank "
                              f"{self.rank} with batch_axis={self.batch_axis}, time_axis={self.time_axis}")
        for what, size in (("features", self.features), ("vocabulary", self.vocabulary)):
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
                raise ConfigError(f"{owner}: {what} must be a positive integer or None, got {size!r}")

    @property
    def ids(self) -> bool:
        """Integer token ids (an Embedding reads them), not feature values."""
        return self.kind == "ids"

    @property
    def time_major(self) -> bool:
        """Time comes before batch, as in ``(T, B, F)``."""
        return self.time_axis is not None and self.time_axis < self.batch_axis

    def axis_names(self, sizes: bool = True) -> list[str]:
        """The declaration's name of every axis, e.g. ``["B", "T", "2"]``; ``sizes=False`` names the
        features (``F``) even when their size is known."""
        names = []
        for axis in range(self.rank):
            if axis == self.batch_axis:
                names.append("B")
            elif axis == self.time_axis:
                names.append(self.time_dim)
            else:
                names.append(str(self.features) if sizes and self.features is not None else self.feature_dim)
        return names

    def declaration(self, sizes: bool = True) -> str:
        """The default symbolic declaration, as the tracer and the CLI's ``--input`` read it:
        ``"(B, T, 2)"``, ``"(T, B, 2)"``, ``"(B, T)"`` for ids, ``"(B, 2)"`` for one vector per sample;
        an unknown feature size is named (``"(B, T, F)"``), also every one with ``sizes=False``."""
        return f"({', '.join(self.axis_names(sizes))})"

    def array_dtype(self, floats: Any) -> np.dtype:
        """The dtype of this input's arrays: int64 for ids, else ``floats`` (the model's dtype)."""
        return np.dtype("int64") if self.ids or self.kind == "lengths" else np.dtype(floats)


def is_recurrent(layer: Layer) -> bool:
    """A layer with its own time loop (SimpleRNN, LSTM, GRU, Bidirectional): it says the layout."""
    return isinstance(layer, Recurrent) or hasattr(layer, "backward_with_state")


def time_major_inputs(layers: Sequence[Layer]) -> list[bool]:
    """Per layer, whether the sequence it reads is time-major (T, B, ...).

    A recurrent layer (or Bidirectional) says so with ``time_major``. A layer that works in any
    layout (Masking, Dense, Dropout, Embedding) takes the layout of the next recurrent layer, which
    reads its output, else of the previous one if that hands on a sequence, else batch-first."""
    declared = [getattr(layer, "time_major", False) if is_recurrent(layer) else None for layer in layers]
    out = []
    for i, tm in enumerate(declared):
        if tm is None:
            readers = [d for d in declared[i + 1:] if d is not None]
            writers = [layer for layer, d in zip(layers[:i], declared) if d is not None]
            if readers:
                tm = readers[0]
            elif writers and getattr(writers[-1], "return_sequences", False):
                tm = writers[-1].time_major
        out.append(bool(tm))
    return out


def features_of(layer: Layer) -> int | None:
    """The input size ``layer`` was built for (a wrapper's: its first direction's), or None."""
    if layer.input_features is not None:
        return layer.input_features
    subs = layer.sublayers()
    return subs[0].input_features if subs else None


def read_front(layers: Sequence[Layer], name: str, *, sequence: bool = True, time_major: bool = False,
               time_dim: str = "T", feature_dim: str = "F") -> InputSpec:
    """The input the first of ``layers`` reads, past the Masking and Dropout in front (they keep its
    shape): ids for an Embedding, else floats of the size the layer was built for.

    Args:
        layers: the layers the input goes through first (a Sequential's, an encoder's).
        name: the input's name.
        sequence: the input has a time axis (else one vector per sample, ``(B, F)``).
        time_major: the time axis comes first, ``(T, B, ...)``.
        time_dim, feature_dim: see :class:`InputSpec`.
    """
    masked = False
    front = None
    for layer in layers:
        masked = masked or layer.kind == "masking"
        if layer.kind not in PASS_THROUGH:
            front = layer
            break
    batch_axis, time_axis = (1, 0) if time_major else (0, 1)
    if front is not None and front.kind == "embedding":  # ids are always a sequence, (B, T) or (T, B)
        return InputSpec(name, 2, batch_axis, time_axis, vocabulary=int(front.input_dim),  # type: ignore[attr-defined]
                         kind="ids", masked=masked or bool(getattr(front, "mask_zero", False)),
                         time_dim=time_dim, feature_dim=feature_dim)
    features = features_of(front) if front is not None else None
    if not sequence:
        return InputSpec(name, 2, 0, None, features=features, masked=masked, time_dim=time_dim,
                         feature_dim=feature_dim)
    return InputSpec(name, 3, batch_axis, time_axis, features=features, masked=masked, time_dim=time_dim,
                     feature_dim=feature_dim)
