"""Sequential: a stack of layers, each reading the previous one's output."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from shapeviz.core.inputs import is_recurrent as _is_recurrent
from shapeviz.core.inputs import time_major_inputs
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import ConfigError, InputError


# layers that turn a sequence into one vector per sample
_TO_VECTOR = ("global_average_pooling1d", "global_max_pooling1d", "take_step", "last_step", "flatten")


class SequentialCache(NamedTuple):
    caches: list  # one per layer
    masks: list  # the mask each layer's output carries, (B, T) or None


class Sequential(Model):
    """Layers applied in order. Covers one-to-one (Dense stacks), many-to-one (a recurrent
    layer without ``return_sequences`` under a head) and synced many-to-many (every recurrent
    layer with ``return_sequences`` and a per-step Dense).

    Args:
        layers: the layers, first to last.
        dtype: float32 (default) or float64, for every layer.
        seed: seeds the weight initialisation.
    """

    kind = "sequential"

    def __init__(self, layers: Sequence[Layer], name: str | None = None, dtype: Any = "float32",
                 seed: int | None = None) -> None:
        super().__init__(name, dtype, seed)
        layers = list(layers)
        if not layers:
            raise ConfigError(f"Sequential {self.name!r} needs at least one layer")
        names = set()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"Sequential {self.name!r}: item {i} is {type(layer).__name__}, not a layer")
            if getattr(layer, "return_state", False):
                raise ConfigError(
                    f"Sequential {self.name!r}: layer {layer.name!r} has return_state=True, which makes its output "
                    "a tuple the next layer cannot read; use EncoderDecoder to hand states over"
                )
            if layer.name in names:
                raise ConfigError(f"Sequential {self.name!r}: two layers are named {layer.name!r}")
            names.add(layer.name)
        self._layers = layers

    @property
    def layers(self) -> list[Layer]:
        return self._layers

    @property
    def mode(self) -> str:
        """Read off the structure: sequence in? sequence out? over the input's time axis?

        An Embedding or a recurrent layer reads a sequence, and a recurrent layer hands one on with
        ``return_sequences``; a pooling over time, ``TakeStep``/``LastStep`` or ``Flatten`` makes one
        vector per sample; a ``RepeatVector`` makes a sequence over a new time axis (a one-to-many
        decoder, or the decoder of an encoder-decoder: Keras's addition_rnn)."""
        seq_in: bool | None = None  # decided by the first layer that reads or makes a sequence
        seq = False
        new_axis = False
        for layer in self._layers:
            kind = layer.kind
            if kind == "repeat_vector":
                seq_in = False if seq_in is None else seq_in
                seq = new_axis = True
            elif kind == "embedding" or _is_recurrent(layer):
                seq_in = True if seq_in is None else seq_in
                seq = kind == "embedding" or bool(getattr(layer, "return_sequences", False))
            elif kind in _TO_VECTOR:
                seq_in = True if seq_in is None else seq_in
                seq = False
        if not seq_in:
            return "one-to-many" if seq else "one-to-one"
        if not seq:
            return "many-to-one"
        return "many-to-many" if new_axis else "synced many-to-many"

    def recurrent_layers(self) -> list[Layer]:
        return [layer for layer in self._layers if _is_recurrent(layer)]

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: np.random.Generator | None = None,
                initial_states: dict[str, Any] | None = None) -> tuple[Any, SequentialCache]:
        """Args: x: the first layer's input, e.g. (B, T, F) or ids (B, T), or (T, B, F) for time_major
        layers; mask: (B, T) bool or None, whatever the data's layout (a Masking layer's is made so too);
        initial_states: per recurrent layer name, its initial states (truncated BPTT carries them).
        Returns y, e.g. (B, C) or (B, T, C), and the cache."""
        caches, masks = [], []
        for layer, time_major in zip(self._layers, time_major_inputs(self._layers)):
            layer.ensure_built(x, self.init_rng, self.dtype)
            kwargs: dict[str, Any] = {"mask": mask, "training": training, "rng": rng}
            if initial_states and layer.name in initial_states:
                kwargs["initial_state"] = initial_states[layer.name]
            y, cache = layer.forward(x, **kwargs)
            mask = self._next_mask(layer, x, mask, time_major)
            caches.append(cache)
            masks.append(mask)
            x = y
        return x, SequentialCache(caches, masks)

    @staticmethod
    def _next_mask(layer: Layer, x: Any, mask: Any, time_major: bool = False) -> Any:
        """The mask of ``layer``'s output: a mask the layer makes from its input (Embedding with
        mask_zero, Masking) is combined with the one it was given, never silently replaces it.
        ``time_major``: ``x`` is (T, B, ...), so the mask it makes is (T, B) and is turned to (B, T)."""
        passed = layer.output_mask(mask)
        compute_mask = getattr(layer, "compute_mask", None)
        made = compute_mask(x) if compute_mask is not None else None
        if made is None:
            return passed
        if time_major:
            made = made.T  # (B, T): masks are batch-first whatever the data's layout
        if passed is not None and tuple(passed.shape) != tuple(made.shape):  # else numpy's bare broadcast error
            B, T = made.shape
            raise InputError(f"layer {layer.name!r} ({layer.kind}): the mask must have shape (B, T) = ({B}, {T}), "
                             f"got {tuple(passed.shape)}")
        return made if passed is None else np.logical_and(made, passed)  # (B, T)

    def backward(self, dy: Any, cache: SequentialCache) -> Any:
        for layer, c in zip(reversed(self._layers), reversed(cache.caches)):
            dy = layer.backward(dy, c)
        return dy

    def output_mask(self, cache: SequentialCache) -> Any:
        """The mask of the output's positions, in the output's layout, for a per-step loss: (B, T),
        or (T, B) when the layers hand on time-major sequences (predictions (T, B, C)). Masks
        travel between layers as (B, T) whatever the layout."""
        mask = cache.masks[-1]
        if mask is not None and time_major_inputs(self._layers)[-1]:
            return mask.T  # (T, B)
        return mask

    def final_states(self, cache: SequentialCache) -> dict[str, list]:
        """Each unidirectional recurrent layer's states after its last step (for truncated BPTT)."""
        out = {}
        for layer, c in zip(self._layers, cache.caches):
            if isinstance(layer, Recurrent):
                out[layer.name] = [buf[-1].copy() for buf in c.S]
        return out
