"""Running a stack of recurrent layers directly on time-major sequences, and step by step
with fed-back outputs: the machinery under OneToMany and EncoderDecoder."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from shapeviz.core.backend import empty, revisit, timesteps, zeros
from shapeviz.core.layer import Layer
from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import ConfigError


def check_stack(layers: Sequence[Any], owner: str, what: str) -> list[Recurrent]:
    layers = list(layers)
    if not layers:
        raise ConfigError(f"{owner}: the {what} needs at least one recurrent layer")
    for layer in layers:
        if not isinstance(layer, Recurrent):
            raise ConfigError(
                f"{owner}: every {what} layer must be SimpleRNN, LSTM or GRU, got {type(layer).__name__} "
                f"{getattr(layer, 'name', '')!r}"
            )
        if layer.go_backwards or layer.time_major:
            raise ConfigError(
                f"{owner}: {what} layer {layer.name!r} must run forwards and batch-first "
                "(go_backwards=False, time_major=False)"
            )
    return layers


def run_stack(layers: Sequence[Recurrent], x_tm: Any, mask_tm: Any, states0: Sequence[Any],
              training: bool, rng: np.random.Generator | None, init_rng: np.random.Generator,
              dtype: Any) -> tuple[Any, list, list]:
    """Args: x_tm: (T, B, F); mask_tm: (T, B, 1) or None; states0: per layer a list of (B, H) or None.
    Returns (top layer's outputs (T, B, H), per layer its final states, per layer its cache)."""
    finals, caches = [], []
    for layer, s0 in zip(layers, states0):
        layer.ensure_built(x_tm, init_rng, dtype)
        T, B, F = x_tm.shape
        layer.check_features(x_tm, (3,), "(B, T, F)", shown_shape=(B, T, F))
        s0 = layer._initial_states(s0, x_tm.shape[1], x_tm)
        x_tm, final, cache = layer.run(x_tm, mask_tm, s0, training, rng)  # (T, B, H)
        finals.append(final)
        caches.append(cache)
    return x_tm, finals, caches


def run_stack_backward(layers: Sequence[Recurrent], dhs: Any, dfinals: Sequence[Any],
                       caches: Sequence[Any]) -> tuple[Any, list]:
    """BPTT through a stack. Args: dhs: (T, B, H) grads of the top outputs or None; dfinals: per
    layer a list of (B, H) grads (or None entries). Returns (dx_tm (T, B, F), per layer d states0)."""
    dstates0: list = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        dfinal = dfinals[i] if dfinals[i] is not None else [None] * len(layers[i].state_names)
        dhs, dstates0[i] = layers[i].run_backward(dhs, dfinal, caches[i])
    return dhs, dstates0


class DecodeCache(NamedTuple):
    steps: list  # per step visited, (t, stack caches, head cache)
    feedback: bool


def decode(layers: Sequence[Recurrent], head: Layer, first: Any, states0: Sequence[Any], steps: Any,
           feedback: bool, training: bool, rng: np.random.Generator | None,
           init_rng: np.random.Generator, dtype: Any, owner: str) -> tuple[Any, DecodeCache, list]:
    """Run the stack one step at a time: ``first`` (B, F) at step 0, then zeros or the head's
    previous output. Returns (y (B, steps, V), cache, final states per layer)."""
    states = list(states0)
    x_t = first  # (B, F)
    y = None
    step_caches = []
    for t in timesteps(steps):
        top, states, stack_caches = run_stack(layers, x_t[None], None, states, training, rng, init_rng, dtype)
        head.ensure_built(top[0], init_rng, dtype)
        y_t, head_cache = head.forward(top[0], training=training, rng=rng)  # (B, V)
        if y is None:
            y = empty((y_t.shape[0], steps, y_t.shape[1]), like=y_t)  # (B, steps, V)
        y[:, t] = y_t
        step_caches.append((t, stack_caches, head_cache))
        if feedback:
            if y_t.shape[-1] != first.shape[-1]:
                raise ConfigError(
                    f"{owner}: feeding outputs back needs the head's {y_t.shape[-1]} output features to equal "
                    f"the {first.shape[-1]} input features; give the head {first.shape[-1]} units"
                )
            x_t = y_t
        else:
            x_t = zeros(first.shape, like=first)  # (B, F): the empty input after step 0
    return y, DecodeCache(step_caches, feedback), states


def decode_backward(layers: Sequence[Recurrent], head: Layer, dy: Any, cache: DecodeCache,
                    dfinals: Sequence[Any] | None = None) -> tuple[Any, list]:
    """BPTT through ``decode``. Args: dy: (B, steps, V). Returns (d first (B, F), per layer d states0)."""
    dstates: list = list(dfinals) if dfinals is not None else [None] * len(layers)
    dfeed = None
    dx_t = None
    for t, stack_caches, head_cache in revisit(cache.steps):
        dy_t = dy[:, t]  # (B, V)
        if dfeed is not None:
            dy_t = dy_t + dfeed
        dtop = head.backward(dy_t, head_cache)  # (B, H)
        dx_tm, dstates = run_stack_backward(layers, dtop[None], dstates, stack_caches)
        dx_t = dx_tm[0]  # (B, F)
        dfeed = dx_t if cache.feedback else None
    return dx_t, dstates
