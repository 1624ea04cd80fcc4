"""shapeviz: show and verify the (batch, seq_len, features) dimensions of recurrent networks.

The layers, models, optimizers, the tracer and the front ends are imported on first use
(PEP 562), so that ``import shapeviz`` (and the command line's ``--help``) does not pay for
numpy; ``from shapeviz import LSTM`` and ``shapeviz.LSTM`` work as if they were imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shapeviz.errors import (CheckpointError, ConfigError, InputError, NonFiniteError, RenderError, ShapeError,
                             ShapeVizError)

from shapeviz import hooks

# The core and the tracer do not import what sits above them; the package root names it here, and
# it is imported on first use (Model.fit, a Trace shown in Jupyter), which registers it.
hooks.provide("trainer", "shapeviz.train")
hooks.provide("html", "shapeviz.render.jupyter")
hooks.provide("keras_writer", "shapeviz.frontends.keras.saving")

__version__ = "0.1.0"

#: Every public name imported on first use, and the module it comes from.
_LAZY = {
    "Bidirectional": "shapeviz.core.bidirectional",
    "Dense": "shapeviz.core.dense",
    "Dropout": "shapeviz.core.dropout",
    "Embedding": "shapeviz.core.embedding",
    "EncoderDecoder": "shapeviz.core.encoder_decoder",
    "GRU": "shapeviz.core.gru",
    "LSTM": "shapeviz.core.lstm",
    "Masking": "shapeviz.core.masking",
    "OneToMany": "shapeviz.core.one_to_many",
    "SGD": "shapeviz.core.optimizers",
    "Adagrad": "shapeviz.core.optimizers",
    "Adam": "shapeviz.core.optimizers",
    "RMSprop": "shapeviz.core.optimizers",
    "Sequential": "shapeviz.core.sequential",
    "SimpleRNN": "shapeviz.core.simple_rnn",
    "Spec": "shapeviz.frontends.spec",
    "SpecError": "shapeviz.frontends.spec",
    "load_spec": "shapeviz.frontends.spec",
    "load": "shapeviz.frontends",
    "from_keras": "shapeviz.frontends.keras",
    "from_torch": "shapeviz.frontends.torch",
    "Activation": "shapeviz.core.activation",
    "Add": "shapeviz.core.merge",
    "Average": "shapeviz.core.merge",
    "Concatenate": "shapeviz.core.merge",
    "Multiply": "shapeviz.core.merge",
    "Stack": "shapeviz.core.merge",
    "Subtract": "shapeviz.core.merge",
    "Functional": "shapeviz.core.functional",
    "Input": "shapeviz.core.graph",
    "Model": "shapeviz.core.model",
    "InputSpec": "shapeviz.core.inputs",
    "GlobalAveragePooling1D": "shapeviz.core.pooling",
    "GlobalMaxPooling1D": "shapeviz.core.pooling",
    "RepeatVector": "shapeviz.core.repeat_vector",
    "Flatten": "shapeviz.core.reshape",
    "Permute": "shapeviz.core.reshape",
    "Reshape": "shapeviz.core.reshape",
    "Index": "shapeviz.core.select",
    "LastStep": "shapeviz.core.select",
    "Steps": "shapeviz.core.select",
    "TakeStep": "shapeviz.core.select",
    "TimeDistributed": "shapeviz.core.time_distributed",
    "Trace": "shapeviz.tracing",
    "trace": "shapeviz.tracing",
}

__all__ = [
    "__version__",
    "Bidirectional", "Dense", "Dropout", "Embedding", "GRU", "LSTM", "Masking", "SimpleRNN",
    "Add", "Subtract", "Multiply", "Average", "Concatenate", "Stack",
    "RepeatVector", "TimeDistributed", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Activation", "Flatten",
    "Reshape", "Permute", "Index", "LastStep", "TakeStep", "Steps",
    "Sequential", "OneToMany", "EncoderDecoder", "InputSpec", "Input", "Model", "Functional",
    "SGD", "Adagrad", "RMSprop", "Adam",
    "trace", "Trace", "load", "load_spec", "from_torch", "from_keras", "Spec", "SpecError",
    "ShapeVizError", "ConfigError", "InputError", "CheckpointError", "NonFiniteError", "ShapeError",
    "RenderError",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shapeviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from shapeviz.core.activation import Activation
    from shapeviz.core.functional import Functional
    from shapeviz.core.graph import Input
    from shapeviz.core.inputs import InputSpec
    from shapeviz.core.merge import Add, Average, Concatenate, Multiply, Stack, Subtract
    from shapeviz.core.model import Model
    from shapeviz.core.pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
    from shapeviz.core.repeat_vector import RepeatVector
    from shapeviz.core.reshape import Flatten, Permute, Reshape
    from shapeviz.core.select import Index, LastStep, Steps, TakeStep
    from shapeviz.core.time_distributed import TimeDistributed
    from shapeviz.core.bidirectional import Bidirectional
    from shapeviz.core.dense import Dense
    from shapeviz.core.dropout import Dropout
    from shapeviz.core.embedding import Embedding
    from shapeviz.core.encoder_decoder import EncoderDecoder
    from shapeviz.core.gru import GRU
    from shapeviz.core.lstm import LSTM
    from shapeviz.core.masking import Masking
    from shapeviz.core.one_to_many import OneToMany
    from shapeviz.core.optimizers import SGD, Adagrad, Adam, RMSprop
    from shapeviz.core.sequential import Sequential
    from shapeviz.core.simple_rnn import SimpleRNN
    from shapeviz.frontends import load
    from shapeviz.frontends.keras import from_keras
    from shapeviz.frontends.spec import Spec, SpecError, load_spec
    from shapeviz.tracing import Trace, trace
