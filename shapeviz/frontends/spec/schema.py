"""The spec schema: its value types, the layer and model kinds a spec can name, and :class:`SpecError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.dense import Dense
from shapeviz.core.dropout import Dropout
from shapeviz.core.embedding import Embedding
from shapeviz.core.activation import Activation
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.functional import Functional
from shapeviz.core.gru import GRU
from shapeviz.core.layer import Layer
from shapeviz.core.lstm import LSTM
from shapeviz.core.masking import Masking
from shapeviz.core.merge import Add, Average, Concatenate, Multiply, Stack, Subtract
from shapeviz.core.model import Model
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from shapeviz.core.repeat_vector import RepeatVector
from shapeviz.core.reshape import Flatten, Permute, Reshape
from shapeviz.core.select import Index, LastStep, Steps, TakeStep
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.core.time_distributed import TimeDistributed
from shapeviz.errors import ConfigError


class SpecError(ConfigError):
    """A spec file that cannot be read or does not describe a valid model.

    ``str()`` reads ``FILE:LINE: KEY: problem`` (the line and the key when known).

    Attributes:
        source: the file (or ``"<dict>"``).
        key: the key path, e.g. ``"layers[1].units"``, or None for the whole file.
        line: the line where the key is written (TOML and JSON files), or None.
        column: the column, for a file that does not decode.
        problem: the message without its location.
    """

    def __init__(self, problem: str, *, source: str, key: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        self.line = line
        self.column = column
        where = source + (f":{line}" if line else "") + (f":{column}" if line and column else "")
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


@dataclass(frozen=True)
class ValueType:
    """A value type of the schema: its name in messages and its test."""

    name: str
    test: Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


INT = ValueType("an integer", _is_int)
NUMBER = ValueType("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
BOOL = ValueType("a boolean (true or false)", lambda v: isinstance(v, bool))
STRING = ValueType("a string", lambda v: isinstance(v, str))
TABLE = ValueType("a table", lambda v: isinstance(v, dict))
ARRAY = ValueType("an array", lambda v: isinstance(v, list))
SHAPE = ValueType('a shape string such as "(B, T, 2)"', lambda v: isinstance(v, str))
# merge_mode None (a list of both directions' outputs) is null in JSON and "none" in TOML
MERGE = ValueType('a string ("concat", "sum", "mul", "ave", "none") or null',
                  lambda v: v is None or isinstance(v, str))
LAYER = ValueType("a table describing a recurrent layer, e.g. {kind = \"lstm\", units = 64}",
                  lambda v: isinstance(v, dict))
STEP_LAYER = ValueType("a table describing a per-step layer, e.g. {kind = \"dense\", units = 10}",
                       lambda v: isinstance(v, dict))
INTS = ValueType("an array of integers such as [2, 1]",
                 lambda v: isinstance(v, list) and all(_is_int(d) for d in v))

_RECURRENT = {
    "units": INT, "return_sequences": BOOL, "return_state": BOOL, "go_backwards": BOOL,
    "dropout": NUMBER, "recurrent_dropout": NUMBER, "time_major": BOOL, "use_bias": BOOL,
    "kernel_initializer": STRING, "recurrent_initializer": STRING, "bias_initializer": STRING,
    "stateful": BOOL, "unroll": BOOL,
}

_POOLING = {"data_format": STRING, "time_major": BOOL, "keepdims": BOOL}

#: Every layer kind a spec can name: its class, its options (besides ``kind`` and ``name``) and
#: their types, and the options it requires. Values are checked by the constructors.
LAYER_KINDS: dict[str, tuple[type[Layer], dict[str, ValueType], tuple[str, ...]]] = {
    "dense": (Dense, {"units": INT, "activation": STRING, "use_bias": BOOL, "kernel_initializer": STRING},
              ("units",)),
    "embedding": (Embedding, {"input_dim": INT, "output_dim": INT, "mask_zero": BOOL,
                              "embeddings_initializer": STRING, "padding_idx": INT, "float_ids": BOOL},
                             ("input_dim", "output_dim")),
    "dropout": (Dropout, {"rate": NUMBER, "noise_shape": ARRAY}, ("rate",)),
    "masking": (Masking, {"mask_value": NUMBER}, ()),
    "simple_rnn": (SimpleRNN, {"units": INT, "activation": STRING, **_RECURRENT}, ("units",)),
    "lstm": (LSTM, {"units": INT, "unit_forget_bias": BOOL, **_RECURRENT, "activation": STRING,
                    "recurrent_activation": STRING}, ("units",)),
    "gru": (GRU, {"units": INT, "reset_after": BOOL, **_RECURRENT, "activation": STRING,
                  "recurrent_activation": STRING}, ("units",)),
    "bidirectional": (Bidirectional, {"layer": LAYER, "merge_mode": MERGE, "backward_layer": LAYER}, ("layer",)),
    # merges: they read several tensors, so only a graph's nodes take them
    "concatenate": (Concatenate, {"axis": INT, "mask_mode": STRING}, ()),
    "add": (Add, {"mask_mode": STRING}, ()),
    "subtract": (Subtract, {"mask_mode": STRING}, ()),
    "multiply": (Multiply, {"mask_mode": STRING}, ()),
    "average": (Average, {"mask_mode": STRING}, ()),
    "stack": (Stack, {"axis": INT}, ()),
    # sequence plumbing
    "repeat_vector": (RepeatVector, {"n": INT}, ("n",)),
    "time_distributed": (TimeDistributed, {"layer": STEP_LAYER}, ("layer",)),
    "global_average_pooling1d": (GlobalAveragePooling1D, _POOLING, ()),
    "global_max_pooling1d": (GlobalMaxPooling1D, {**_POOLING, "ignore_mask": BOOL}, ()),
    "activation": (Activation, {"activation": STRING}, ("activation",)),
    "flatten": (Flatten, {}, ()),
    "reshape": (Reshape, {"target_shape": INTS}, ("target_shape",)),
    "permute": (Permute, {"dims": INTS}, ("dims",)),
    # selection
    "index": (Index, {"key": STRING, "time_major": BOOL}, ("key",)),
    "take_step": (TakeStep, {"t": INT, "time_major": BOOL}, ("t",)),
    "last_step": (LastStep, {"time_major": BOOL}, ()),
    "steps": (Steps, {"start": INT, "stop": INT, "time_major": BOOL}, ()),
}
#: The kinds that read several tensors (a list): only a graph node can give them their inputs.
MULTI_INPUT_KINDS = tuple(kind for kind, (cls, _, _) in LAYER_KINDS.items() if cls.multi_input)

_MODEL_COMMON = {"kind": STRING, "name": STRING, "dtype": STRING, "seed": INT}
#: Every model kind: its class, its options in ``[model]``, and the top-level keys holding its layers.
MODEL_KINDS: dict[str, tuple[type[Model], dict[str, ValueType], tuple[str, ...]]] = {
    "sequential": (Sequential, _MODEL_COMMON, ("layers",)),
    "one_to_many": (OneToMany, {**_MODEL_COMMON, "steps": INT, "feedback": STRING}, ("layers", "head")),
    "encoder_decoder": (EncoderDecoder, _MODEL_COMMON, ("encoder", "decoder", "head")),
    "graph": (Functional, _MODEL_COMMON, ("inputs", "nodes", "outputs")),
}
REQUIRED_MODEL_OPTIONS = {"one_to_many": ("steps",)}
DTYPES = ("float32", "float64")

#: The top-level keys of a spec.
TOP_LEVEL = ("description", "model", "mode", "input", "dims", "roles", "expect", "labels", "mask", "loss",
             "optimizer", "layers", "encoder", "decoder", "head", "inputs", "nodes", "outputs")
#: The keys that hold a model's parts (which of them a model takes: MODEL_KINDS).
SECTIONS = ("layers", "encoder", "decoder", "head", "inputs", "nodes", "outputs")
CROSSENTROPY = {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}
