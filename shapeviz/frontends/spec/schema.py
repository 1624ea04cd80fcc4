"""The spec schema: its value types, the layer and model kinds a spec can name, and :class:`SpecError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.dense import Dense
from shapeviz.core.dropout import Dropout
from shapeviz.core.embedding import Embedding
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.gru import GRU
from shapeviz.core.layer import Layer
from shapeviz.core.lstm import LSTM
from shapeviz.core.masking import Masking
from shapeviz.core.model import Model
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
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

_RECURRENT = {
    "units": INT, "return_sequences": BOOL, "return_state": BOOL, "go_backwards": BOOL,
    "dropout": NUMBER, "recurrent_dropout": NUMBER, "time_major": BOOL, "use_bias": BOOL,
    "kernel_initializer": STRING, "recurrent_initializer": STRING, "bias_initializer": STRING,
    "stateful": BOOL, "unroll": BOOL,
}

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
}

_MODEL_COMMON = {"kind": STRING, "name": STRING, "dtype": STRING, "seed": INT}
#: Every model kind: its class, its options in ``[model]``, and the top-level keys holding its layers.
MODEL_KINDS: dict[str, tuple[type[Model], dict[str, ValueType], tuple[str, ...]]] = {
    "sequential": (Sequential, _MODEL_COMMON, ("layers",)),
    "one_to_many": (OneToMany, {**_MODEL_COMMON, "steps": INT, "feedback": STRING}, ("layers", "head")),
    "encoder_decoder": (EncoderDecoder, _MODEL_COMMON, ("encoder", "decoder", "head")),
}
REQUIRED_MODEL_OPTIONS = {"one_to_many": ("steps",)}
DTYPES = ("float32", "float64")

#: The top-level keys of a spec.
TOP_LEVEL = ("description", "model", "mode", "input", "dims", "roles", "expect", "labels", "mask", "loss",
             "optimizer", "layers", "encoder", "decoder", "head")
CROSSENTROPY = {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}
