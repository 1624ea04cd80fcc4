"""Bidirectional: a recurrent layer run forward and backward over the sequence, outputs merged."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.layer import Layer, check_choice
from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import CheckpointError, ConfigError, InputError

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class BidirectionalCache(NamedTuple):
    fw: Any  # the forward layer's cache
    bw: Any  # the backward layer's cache
    y_fw: Any  # (B, T, H) or (B, H): forward output as merged (after masking)
    y_bw: Any  # (B, T, H') or (B, H'): backward output as merged (flipped, after masking)
    keep_fw: Any  # (B, T, 1) ((T, B, 1) if time_major) bool in the forward layer's output order, or None
    keep_bw: Any  # the same in the backward layer's output order (before the flip), or None


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Keras's Bidirectional wrapper around any recurrent layer (SimpleRNN, LSTM, GRU).

    As in Keras, ``layer`` only serves as a template: two fresh layers are built from its
    config — ``forward_<name>``, and ``backward_<name>`` with ``go_backwards`` toggled — and
    ``layer``'s own weights (if any) are not used. With ``return_sequences`` the backward
    layer's output is flipped along time before merging, so both directions line up with
    the input's timesteps (for a template with ``go_backwards=True`` the roles swap and the
    merged sequence comes out reversed, as that layer's own output would). With a mask and
    ``return_sequences``, masked timesteps of both directions output zeros (Keras forces
    ``zero_output_for_mask`` in Bidirectional).

    Args:
        layer: the recurrent layer to copy for both directions.
        merge_mode: ``"concat"`` (features ``H_fw + H_bw``), ``"sum"``, ``"mul"``, ``"ave"``, or
            ``None`` for the list ``[y_fw, y_bw]``.
        backward_layer: a recurrent layer to use as is for the backward direction instead of a
            copy; it must differ from ``layer`` in ``go_backwards`` and agree in
            ``return_sequences``, ``return_state`` and ``time_major``.

    Weights (``get_weights``) are the forward layer's then the backward layer's, Keras's order;
    the wrapper has none of its own (``sublayers()`` are the two directions).
    """

    kind = "bidirectional"

    def __init__(self, layer: Recurrent, merge_mode: str | None = "concat", backward_layer: Recurrent | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        owner = f"Bidirectional {self.name!r}"
        for what, sub in (("layer", layer), ("backward_layer", backward_layer)):
            if sub is not None and not isinstance(sub, Recurrent):
                raise ConfigError(
                    f"{owner}: received an invalid value for `{what}`, expected a recurrent layer "
                    f"(SimpleRNN, LSTM, GRU), got {type(sub).__name__}"
                )
        self.merge_mode = check_choice(merge_mode, "merge_mode", owner, MERGE_MODES)
        self.forward_layer = self._copy(layer, "forward_" + _strip(layer.name, "forward_"), layer.go_backwards)
        if backward_layer is None:
            backward_layer = self._copy(layer, "backward_" + _strip(layer.name, "backward_"), not layer.go_backwards)
        self.backward_layer = backward_layer
        self._verify(owner)

    @staticmethod
    def _copy(layer: Recurrent, name: str, go_backwards: bool) -> Recurrent:
        """A fresh, unbuilt layer of ``layer``'s class from its config (Keras's way)."""
        config = {**layer.config(), "name": name, "go_backwards": go_backwards}
        return type(layer)(**config, dtype=layer.dtype)

    def _verify(self, owner: str) -> None:
        fw, bw = self.forward_layer, self.backward_layer
        if fw.go_backwards == bw.go_backwards:
            raise ConfigError(
                f"{owner}: the forward and backward layers must differ in `go_backwards`, "
                f"got {fw.go_backwards} for both"
            )
        for attr in ("return_sequences", "return_state", "time_major"):
            if getattr(fw, attr) != getattr(bw, attr):
                raise ConfigError(
                    f"{owner}: the forward and backward layers must agree in `{attr}`, got "
                    f"{getattr(fw, attr)} for {fw.name!r} and {getattr(bw, attr)} for {bw.name!r}"
                )
        if self.merge_mode in ("sum", "mul", "ave") and fw.units != bw.units:
            raise ConfigError(
                f"{owner}: merge_mode {self.merge_mode!r} needs the same units in both directions, "
                f"got {fw.units} for {fw.name!r} and {bw.units} for {bw.name!r} (use 'concat' or None)"
            )

    # -- the wrapped layers' options -------------------------------------------------
    @property
    def return_sequences(self) -> bool:
        return self.forward_layer.return_sequences

    @property
    def return_state(self) -> bool:
        return self.forward_layer.return_state

    @property
    def time_major(self) -> bool:
        return self.forward_layer.time_major

    @property
    def units(self) -> int:
        """Output features: ``H_fw + H_bw`` with concat, else ``H`` (per output with None)."""
        fw, bw = self.forward_layer.units, self.backward_layer.units
        return fw + bw if self.merge_mode == "concat" else fw

    def sublayers(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def output_mask(self, mask: Any) -> Any:
        """The merged outputs come out in the forward direction's order."""
        return self.forward_layer.output_mask(mask)

    # -- construction ----------------------------------------------------------------
    def build(self, input_shape: tuple, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        """Build the directions not built yet (forward first, then backward, from one ``rng``)."""
        rng = rng if rng is not None else np.random.default_rng()
        for layer in self.sublayers():
            if not layer.built:
                layer.build(input_shape, rng, dtype)
        self.dtype = self.forward_layer.dtype
        self.built = True

    # -- computation -----------------------------------------------------------------
    def _split_states(self, initial_state: Any) -> tuple[Any, Any]:
        if initial_state is None:
            return None, None
        n_fw = len(self.forward_layer.state_names)
        n_bw = len(self.backward_layer.state_names)
        is_list = isinstance(initial_state, (list, tuple))
        if not is_list or len(initial_state) != n_fw + n_bw:
            got = len(initial_state) if is_list else f"a {type(initial_state).__name__}"
            names = [f"forward {s}" for s in self.forward_layer.state_names] + \
                    [f"backward {s}" for s in self.backward_layer.state_names]
            raise InputError(
                f"layer {self.name!r} ({self.kind}) takes a list of {n_fw + n_bw} initial states {names} "
                f"(the forward layer's, then the backward layer's), got {got}"
            )
        return list(initial_state[:n_fw]), list(initial_state[n_fw:])

    def _flip(self, y: Any) -> Any:
        """Reverse a sequence output along time."""
        return y[::-1] if self.time_major else y[:, ::-1]  # (B, T, H) or (T, B, H)

    def forward(self, x: Any, *, mask: Any = None, initial_state: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, BidirectionalCache]:
        """Args: x: (B, T, F) ((T, B, F) if time_major); mask: (B, T) bool, given to both
        directions; initial_state: the forward layer's states then the backward layer's, each (B, H).

        Returns the merged output — ``(B, T, 2H)`` with concat and return_sequences, ``(B, 2H)``
        without; ``(B, T, H)`` / ``(B, H)`` with sum, mul, ave; ``[y_fw, y_bw]`` with None — and,
        with return_state, the tuple ``(y, *fw_states, *bw_states)`` (``(y_fw, y_bw, *states)``
        with None), as Keras. Then the cache."""
        self.ensure_built(x, rng)
        init_fw, init_bw = self._split_states(initial_state)
        try:
            out_fw, cache_fw = self.forward_layer.forward(x, mask=mask, initial_state=init_fw, training=training,
                                                          rng=rng)
            out_bw, cache_bw = self.backward_layer.forward(x, mask=mask, initial_state=init_bw, training=training,
                                                           rng=rng)
        except InputError as error:  # say which wrapper the user named, not only its inner copy
            raise InputError(f"in Bidirectional {self.name!r}: {error}") from None
        states: list = []
        if self.return_state:
            y_fw, *states_fw = out_fw
            y_bw, *states_bw = out_bw
            states = [*states_fw, *states_bw]
        else:
            y_fw, y_bw = out_fw, out_bw
        keep_fw = keep_bw = None
        if self.return_sequences:
            if mask is not None:
                # each direction zeroes its masked steps in its own output order, before the flip
                # (a go_backwards layer's sequence comes out reversed)
                keep = (mask.T if self.time_major else mask)[:, :, None]  # (B, T, 1) or (T, B, 1)
                keep_fw = self._flip(keep) if self.forward_layer.go_backwards else keep  # (B, T, 1)
                keep_bw = self._flip(keep) if self.backward_layer.go_backwards else keep  # (B, T, 1)
                y_fw = np.where(keep_fw, y_fw, 0.0)  # (B, T, H)
                y_bw = np.where(keep_bw, y_bw, 0.0)  # (B, T, H')
            y_bw = self._flip(y_bw)  # (B, T, H'), in input order for the usual forward/backward pair
        y = self._merge(y_fw, y_bw)
        if self.return_state:
            out = (*y, *states) if self.merge_mode is None else (y, *states)
        else:
            out = y
        return out, BidirectionalCache(cache_fw, cache_bw, y_fw, y_bw, keep_fw, keep_bw)

    def _merge(self, y_fw: Any, y_bw: Any) -> Any:
        if self.merge_mode == "concat":
            return np.concatenate([y_fw, y_bw], axis=-1)  # (..., H + H')
        if self.merge_mode == "sum":
            return y_fw + y_bw  # (..., H)
        if self.merge_mode == "mul":
            return y_fw * y_bw  # (..., H)
        if self.merge_mode == "ave":
            return (y_fw + y_bw) * 0.5  # (..., H)
        return [y_fw, y_bw]

    def _unmerge(self, dy: Any, cache: BidirectionalCache) -> tuple[Any, Any]:
        """The gradients of the two merged outputs, given that of the merge."""
        if self.merge_mode is None:
            return dy[0], dy[1]
        if dy is None:
            return None, None
        if self.merge_mode == "concat":
            H = self.forward_layer.units
            return dy[..., :H], dy[..., H:]  # (..., H), (..., H')
        if self.merge_mode == "sum":
            return dy, dy
        if self.merge_mode == "mul":
            return dy * cache.y_bw, dy * cache.y_fw  # (..., H) each
        half = dy * 0.5  # (..., H)
        return half, half

    def backward_with_state(self, dout: Any, cache: BidirectionalCache) -> tuple[Any, list]:
        """Like ``backward``, and also the gradients of the initial states (forward layer's, then
        backward layer's). ``dout`` mirrors the forward output; ``None`` entries mean no gradient."""
        n_fw = len(self.forward_layer.state_names)
        n_bw = len(self.backward_layer.state_names)
        n_out = 2 if self.merge_mode is None else 1
        if self.return_state:
            dout = list(dout)
            dy = dout[:n_out] if self.merge_mode is None else dout[0]
            dstates = dout[n_out:]
        else:
            dy, dstates = dout, [None] * (n_fw + n_bw)
        dy_fw, dy_bw = self._unmerge(dy, cache)
        if self.return_sequences:
            if dy_bw is not None:
                dy_bw = self._flip(dy_bw)  # (B, T, H') in the backward layer's output order
            if cache.keep_fw is not None:
                dy_fw = None if dy_fw is None else np.where(cache.keep_fw, dy_fw, 0.0)  # (B, T, H)
                dy_bw = None if dy_bw is None else np.where(cache.keep_bw, dy_bw, 0.0)  # (B, T, H')
        if self.return_state:
            dout_fw: Any = (dy_fw, *dstates[:n_fw])
            dout_bw: Any = (dy_bw, *dstates[n_fw:])
        else:
            dout_fw, dout_bw = dy_fw, dy_bw
        dx_fw, d0_fw = self.forward_layer.backward_with_state(dout_fw, cache.fw)
        dx_bw, d0_bw = self.backward_layer.backward_with_state(dout_bw, cache.bw)
        return dx_fw + dx_bw, [*d0_fw, *d0_bw]  # (B, T, F)

    def backward(self, dout: Any, cache: BidirectionalCache) -> Any:
        """Adds both directions' weight gradients into their ``grads``; returns dx (B, T, F)."""
        return self.backward_with_state(dout, cache)[0]

    # -- parameters ------------------------------------------------------------------
    def zero_grad(self) -> None:
        for layer in self.sublayers():
            layer.zero_grad()

    def get_weights(self) -> list[np.ndarray]:
        """The forward layer's weights, then the backward layer's (Keras's order)."""
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load the forward layer's weights then the backward layer's; nothing is changed unless
        every count and shape fits."""
        if not self.built:
            raise ConfigError(f"layer {self.name!r} is not built yet: call it once or build the model first")
        subs = self.sublayers()
        names = [f"{layer.name}/{key}" for layer in subs for key in layer.params]
        if len(weights) != len(names):
            raise CheckpointError(
                f"layer {self.name!r} ({self.kind}) has {len(names)} weights {names}, got {len(weights)} arrays"
            )
        n_fw = len(self.forward_layer.params)
        parts = [(self.forward_layer, weights[:n_fw]), (self.backward_layer, weights[n_fw:])]
        for layer, ws in parts:
            for key, w in zip(layer.params, ws):
                if np.shape(w) != layer.params[key].shape:
                    raise CheckpointError(
                        f"layer {self.name!r} ({self.kind}): weight {layer.name}/{key} has shape "
                        f"{layer.params[key].shape}, got an array of shape {np.shape(w)}"
                    )
        for layer, ws in parts:
            layer.set_weights(ws)

    def config(self) -> dict[str, Any]:
        def spec(layer: Layer) -> dict[str, Any]:
            return {"class_name": type(layer).__name__, "config": layer.config()}
        return {"layer": spec(self.forward_layer), "merge_mode": self.merge_mode,
                "backward_layer": spec(self.backward_layer), "name": self.name}
