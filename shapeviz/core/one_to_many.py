"""OneToMany: a vector in, a sequence out (captioning, Karpathy's mode 2).

Note: one way to do each thing. The graph way to a one-to-many model is Keras's: ``RepeatVector(n)``
then a recurrent layer with ``return_sequences`` and a ``TimeDistributed`` head (see
``examples/functional.py``); it feeds the vector at every step. This class is another model, not a
copy of that one: the vector is the input at step 0 only, and after it the inputs are zeros
(``feedback="zeros"``) or the model's own previous output (``feedback="outputs"``). With zeros the
inputs are ``[x, 0, ..., 0]``, which a graph could only make with a zero-padding op (the graph
layers repeat a vector, they do not pad one). The fed-back
output makes step t's input depend on step t-1's output through the head: a loop over time through
several layers, which a directed acyclic graph cannot hold without unrolling ``steps`` copies of the
stack, so the loop stays here, in :func:`shapeviz.core.stack.decode`, which runs each layer's own
``run`` one step at a time (the shape rules and the step are the layers', not a second copy).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from shapeviz.core.inputs import InputSpec, read_front
from shapeviz.core.layer import Layer, check_choice, check_positive_int
from shapeviz.core.model import Model
from shapeviz.core.recurrent import Recurrent
from shapeviz.core.stack import DecodeCache, check_stack, decode, decode_backward
from shapeviz.errors import ConfigError, InputError


class OneToMany(Model):
    """(B, F) in, (B, steps, V) out: the vector is the input at step 0, then the inputs are empty
    (zeros, ``feedback="zeros"``) or the model's own previous output (``feedback="outputs"``,
    which needs V == F).

    Args:
        layers: recurrent layers (SimpleRNN, LSTM, GRU), bottom to top.
        head: the layer applied to the top state at every step, e.g. ``Dense(V)``.
        steps: the output length T.
        feedback: "zeros" or "outputs".
    """

    kind = "one_to_many"

    def __init__(self, layers: Sequence[Recurrent], head: Layer, steps: int, feedback: str = "zeros",
                 name: str | None = None, dtype: Any = "float32", seed: int | None = None) -> None:
        super().__init__(name, dtype, seed)
        owner = f"OneToMany {self.name!r}"
        self.stack = check_stack(layers, owner, "recurrent stack")
        if not isinstance(head, Layer):
            raise ConfigError(f"{owner}: the head must be a layer such as Dense(V), got {type(head).__name__}")
        self.head = head
        self.steps = check_positive_int(steps, "steps", owner)
        self.feedback = check_choice(feedback, "feedback", owner, ("zeros", "outputs"))

    @property
    def layers(self) -> list[Layer]:
        return [*self.stack, self.head]

    @property
    def mode(self) -> str:
        return "one-to-many"

    def _describe_inputs(self) -> list[InputSpec]:
        """One vector per sample, ``x`` (B, F)."""
        return [read_front(self.stack, "x", sequence=False)]

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, DecodeCache]:
        """Args: x: (B, F). Returns y: (B, steps, V)."""
        if len(x.shape) != 2:
            raise InputError(f"OneToMany {self.name!r} expects a vector per sample (B, F), got shape {tuple(x.shape)}")
        if mask is not None:
            raise InputError(f"OneToMany {self.name!r} takes one vector per sample: there is no time axis to mask")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        y, cache, _ = decode(self.stack, self.head, x, [None] * len(self.stack), self.steps,
                             self.feedback == "outputs", training, rng, self.init_rng, self.dtype,
                             f"OneToMany {self.name!r}")
        return y, cache

    def backward(self, dy: Any, cache: DecodeCache) -> Any:
        dx, _ = decode_backward(self.stack, self.head, dy, cache)
        return dx
