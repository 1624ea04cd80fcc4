"""The layer protocol: parameters and gradients as two dicts, forward returns an explicit cache."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np

from shapeviz.core import graph
from shapeviz.core.backend import new_param
from shapeviz.errors import CheckpointError, ConfigError, InputError

_counters: dict[str, itertools.count] = {}


def _auto_name(kind: str) -> str:
    counter = _counters.setdefault(kind, itertools.count(1))
    return f"{kind}_{next(counter)}"


def check_positive_int(value: Any, what: str, owner: str) -> int:
    """``value`` as an int, or a ConfigError in Keras's words."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{owner}: received an invalid value for `{what}`, expected a positive integer, got {value!r}")
    return int(value)


def check_rate(value: Any, what: str, owner: str) -> float:
    """``value`` as a float in [0, 1), or a ConfigError."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = -1.0
    if isinstance(value, bool) or not 0.0 <= rate < 1.0:
        raise ConfigError(f"{owner}: received an invalid value for `{what}`, expected a float in [0, 1), got {value!r}")
    return rate


def check_choice(value: Any, what: str, owner: str, choices: tuple) -> Any:
    if value not in choices:
        raise ConfigError(f"{owner}: received an invalid value for `{what}`, expected one of {list(choices)}, got {value!r}")
    return value


class Layer:
    """Base class of every layer.

    A layer owns ``params`` and ``grads``, two dicts with the same keys and shapes.
    ``forward`` returns ``(output, cache)``; ``backward(dout, cache)`` adds the
    parameter gradients into ``grads`` and returns the gradient of the input.
    A layer keeps no per-call state: everything backward needs is in the cache.
    """

    kind: ClassVar[str] = "layer"
    multi_input: ClassVar[bool] = False  # True: forward takes a list of inputs (merges)
    supports_masking: ClassVar[bool] = True  # False: a graph gives it no mask and its output has none

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or _auto_name(self.kind)
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.built = False
        self.input_features: int | None = None

    # -- construction -------------------------------------------------------------
    def build(self, input_shape: tuple, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        """Create the parameters for inputs of ``input_shape`` (only the feature size is used)."""
        if dtype is not None:
            self.dtype = np.dtype(dtype)
        elif self.dtype is None:
            self.dtype = np.dtype("float32")
        rng = rng if rng is not None else np.random.default_rng()
        self.params = self.make_params(input_shape, rng)
        self.grads = {k: new_param(v.shape, v.dtype, lambda v=v: np.zeros_like(v)) for k, v in self.params.items()}
        self.built = True

    def make_params(self, input_shape: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The layer's parameters, in Keras's ``get_weights`` order."""
        return {}

    def output_mask(self, mask: Any) -> Any:
        """The mask of this layer's output, given the mask of its input."""
        return mask

    # -- computation --------------------------------------------------------------
    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: np.random.Generator | None = None) -> tuple[Any, Any]:
        raise NotImplementedError

    def backward(self, dout: Any, cache: Any) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        """The output of ``forward``; on graph tensors (``Input`` and what layers made of them) the
        call records a node of a functional graph and returns its output tensor(s) instead."""
        if graph.is_graph_call(x, kwargs):
            return graph.call_layer(self, x, kwargs)
        return self.forward(x, **kwargs)[0]

    def ensure_built(self, x: Any, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        """Build on first use from the shape of ``x`` (only its feature size matters).

        ``dtype`` is the model's: a layer created or built with another dtype is an error
        rather than a silent cast."""
        if dtype is not None and self.dtype is not None and np.dtype(dtype) != self.dtype:
            state = "was built" if self.built else "was created"
            raise ConfigError(
                f"layer {self.name!r} ({self.kind}) {state} with dtype {self.dtype}, but the model computes in "
                f"{np.dtype(dtype)}: give the dtype to the model only (e.g. Sequential(..., dtype='float64'))"
            )
        if not self.built:
            if len(x.shape) == 0:  # the build reads the feature axis
                raise InputError(f"layer {self.name!r} ({self.kind}) expects an input with a feature axis, "
                                 "got a scalar (shape ())")
            self.build(tuple(x.shape), rng, dtype)

    def check_features(self, x: Any, expected_rank: tuple[int, ...], layout: str,
                       shown_shape: tuple | None = None) -> None:
        """Rank, emptiness and feature-size checks every layer does on its input.

        ``shown_shape`` is the shape to name in messages when ``x`` is an internal view of
        what the user passed (e.g. a time-major transpose inside a model)."""
        shown = tuple(x.shape) if shown_shape is None else tuple(shown_shape)
        ndim = len(x.shape)
        if ndim not in expected_rank:
            ranks = " or ".join(str(r) for r in expected_rank)
            raise InputError(
                f"layer {self.name!r} ({self.kind}) expects input of rank {ranks} {layout}, "
                f"got rank {ndim} with shape {shown}"
            )
        if any(d == 0 for d in x.shape):
            raise InputError(
                f"layer {self.name!r} ({self.kind}) got an empty input of shape {shown} {layout}: "
                "every axis needs at least one entry"
            )
        if self.input_features is not None and x.shape[-1] != self.input_features:
            raise InputError(
                f"layer {self.name!r} ({self.kind}) was built for {self.input_features} input features "
                f"(kernel shape {tuple(self.params['kernel'].shape) if 'kernel' in self.params else '?'}), "
                f"got input of shape {shown} whose last axis is {x.shape[-1]}"
            )

    # -- parameters ---------------------------------------------------------------
    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0.0)

    def sublayers(self) -> list["Layer"]:
        return []

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values())) + sum(l.count_params() for l in self.sublayers())

    def shown_param_count(self) -> int:
        """The parameter count reports show: ``count_params()``, or, for a twin imported from another
        framework, that framework's count (``source_param_count``: torch keeps two biases per
        recurrent layer where the twin folds them into one)."""
        own = getattr(self, "source_param_count", None)
        if own is not None:
            return int(own)
        if self.sublayers():
            return int(sum(p.size for p in self.params.values())) + sum(l.shown_param_count() for l in self.sublayers())
        return self.count_params()

    def get_weights(self) -> list[np.ndarray]:
        """The weights in Keras's order and shapes."""
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load weights in Keras's order; a wrong count or shape is an error naming the weight."""
        if not self.built:
            raise ConfigError(f"layer {self.name!r} is not built yet: call it once or build the model first")
        names = list(self.params)
        if len(weights) != len(names):
            raise CheckpointError(
                f"layer {self.name!r} ({self.kind}) has {len(names)} weights {names}, got {len(weights)} arrays"
            )
        for key, w in zip(names, weights):
            w = np.asarray(w)
            if w.shape != self.params[key].shape:
                raise CheckpointError(
                    f"layer {self.name!r} ({self.kind}) weight {key!r} has shape {self.params[key].shape}, "
                    f"got an array of shape {w.shape}"
                )
        for key, w in zip(names, weights):
            self.params[key][...] = w

    def config(self) -> dict[str, Any]:
        """The constructor options of this layer (for specs and reports)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({opts}{', ' if opts else ''}name={self.name!r})"
