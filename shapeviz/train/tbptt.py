"""Truncated backpropagation through time: windows of k steps, states carried as constants.

A batch ``(B, T, ...)`` is cut along the time axis into windows of ``k`` steps (the last
one may be shorter). Each window starts from the final states of the previous window
(``Sequential.final_states``), which enter as constants: no gradient flows back across a
window boundary. The optimizer takes one step per window that has a loss (Williams and
Peng's BPTT(k, k); the classic choice, and what a stateful Keras RNN fed consecutive
chunks does), so the carried states of window ``w+1`` were computed with the weights
before window ``w``'s update.

- per-timestep outputs (synced many-to-many): every window's loss is on its own steps;
- many-to-one: only the last window produces an output the loss reads, so the earlier
  windows only run forward (training=True, to carry the states) and the single update
  sees gradients of the last ``k`` steps.

With ``k >= T`` there is one window and the step is exactly full BPTT.

A graph model is windowed the same way, every recurrent node carrying its own states
(``Functional.final_states``, by node name); which graphs allow it is read off the graph
(:mod:`shapeviz.train.tbptt_graph`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.layer import check_positive_int
from shapeviz.core.recurrent import Recurrent
from shapeviz.core.sequential import Sequential
from shapeviz.errors import ConfigError, InputError
from shapeviz.train.step import StepResult, run_step
from shapeviz.train.tbptt_graph import graph_tbptt_mode


def check_tbptt(model: Any, k: Any) -> int:
    """``k`` as an int if the model can be trained with truncated BPTT, else a ConfigError saying why."""
    k = check_positive_int(k, "tbptt", "fit")
    owner = f"fit(tbptt={k})"
    if hasattr(model, "run_node"):  # a graph: read off its nodes
        graph_tbptt_mode(model, owner)
        return k
    if not isinstance(model, Sequential):
        raise ConfigError(
            f"{owner}: truncated BPTT carries states between windows of a graph or a Sequential model; "
            f"{model.summary_name()} is {model.mode} (its time axes are not cut into windows)"
        )
    recurrent = model.recurrent_layers()
    if not recurrent:
        raise ConfigError(f"{owner}: {model.summary_name()} has no recurrent layer, so there is no time axis to cut")
    for layer in recurrent:
        if not isinstance(layer, Recurrent):
            raise ConfigError(
                f"{owner}: layer {layer.name!r} ({layer.kind}) reads the sequence in both directions; its backward "
                "direction would need the future of every window, so windows cannot be carried forward"
            )
        if layer.go_backwards:
            raise ConfigError(
                f"{owner}: layer {layer.name!r} has go_backwards=True: it starts from the last step, so the state "
                "at the end of one window is not the start of the next"
            )
        if layer.time_major:
            raise ConfigError(f"{owner}: layer {layer.name!r} is time_major; truncated BPTT cuts batch-first data")
    return k


def _window(a: Any, s: int, e: int) -> Any:
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(_window(x, s, e) for x in a)
    return a[:, s:e]


def _length(model: Any, xb: Any) -> int:
    """The time length the windows cut: every input sequence's (a graph's must agree)."""
    if not hasattr(model, "run_node"):
        return int(xb.shape[1])
    xs = model._feed(xb, "inputs")
    lengths = {t.name: int(x.shape[1]) for t, x in zip(model.input_tensors, xs)
               if t.ndim >= 3 or (t.ndim == 2 and t.dtype.kind in "iu")}
    if len(set(lengths.values())) > 1:
        raise InputError(f"fit(tbptt=...): the input sequences must have one length to be cut into windows, got "
                         + ", ".join(f"{n!r} {T} steps" for n, T in lengths.items()))
    return next(iter(lengths.values()))


def tbptt_step(model: Any, xb: Any, yb: Any, maskb: Any, rng: np.random.Generator | None, k: int, *,
               where: str = "", metric: bool = False) -> StepResult:
    """Train on one batch by truncated BPTT with windows of ``k`` steps.

    Args:
        xb: (B, T, F) inputs or (B, T) ids (a tuple of them for a graph with several inputs);
        yb: (B, C) for many-to-one, (B, T, ...) per step (a tuple per output for several);
        maskb: (B, T) or None (a tuple per input for several); k: the window length.

    Returns:
        The loss averaged over the windows that have one (weighted by their positions), the
        positions and metric hits summed over them, and the logs summed over them.
    """
    T = _length(model, xb)
    graph = hasattr(model, "run_node")
    per_step = graph_tbptt_mode(model, "fit(tbptt)") if graph else model.mode != "many-to-one"
    windows = [(s, min(s + k, T)) for s in range(0, T, k)]
    states = None
    total = count = hits = 0.0
    logs: dict[str, tuple[float, float]] = {}
    cache = None
    for i, (s, e) in enumerate(windows):
        xw = _window(xb, s, e)
        mw = _window(maskb, s, e)
        last = i == len(windows) - 1
        if per_step or last:
            yw = _window(yb, s, e) if per_step else yb
            at = f"{where} (window {i + 1}/{len(windows)}, timesteps {s}..{e - 1})"
            res = run_step(model, xw, yw, mw, rng, where=at, initial_states=states, metric=metric)
            total += res.loss * res.count
            count += res.count
            hits += res.hits
            for key, (a, n) in res.logs.items():
                old = logs.get(key, (0.0, 0.0))
                logs[key] = (old[0] + a, old[1] + n)
            cache = res.cache
        else:
            kwargs: dict[str, Any] = {"mask": mw, "training": True, "rng": rng}
            if states is not None:
                kwargs["initial_states"] = states
            _, cache = model.forward(xw, **kwargs)
        states = model.final_states(cache)
    return StepResult(total / count if count else 0.0, count, hits, cache, logs)
