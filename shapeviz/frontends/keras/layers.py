"""One converter per Keras layer class: Keras config in, the shapeviz layer out (see :mod:`.registry`)."""

from __future__ import annotations

from typing import Any

from shapeviz.core import activations
from shapeviz.frontends.keras.registry import Conf, convert, converter

#: Keras initializer classes and the shapeviz initializer that is the same distribution (used only
#: where the source has no weights: a ``model.to_json()`` file); others fall back to the default
_INITIALIZERS = {"GlorotUniform": "glorot_uniform", "Orthogonal": "orthogonal", "Zeros": "zeros",
                 "glorot_uniform": "glorot_uniform", "orthogonal": "orthogonal", "zeros": "zeros"}


class InputMarker:
    """What the InputLayer converter returns: the input's name, shape and dtype, for the model builder."""

    def __init__(self, name: str, shape: list, dtype: str) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype


def _initializer(c: Conf, key: str, default: str) -> str:
    value = c.get(key)
    if isinstance(value, dict):
        value = value.get("class_name")
        if value == "RandomUniform":
            inner = c.config[key].get("config", {})
            if inner.get("minval") == -0.05 and inner.get("maxval") == 0.05:
                return "uniform"
    return _INITIALIZERS.get(value, default) if isinstance(value, str) else default


def activation_name(c: Conf, key: str, default: str, allowed: tuple) -> str:
    """The activation ``key`` names, as shapeviz calls it: Keras 2's ``hard_sigmoid`` (0.2x + 0.5)
    is ``hard_sigmoid_keras2``; a custom or unknown activation is refused."""
    value = c.get(key, default)
    if isinstance(value, dict) and isinstance(value.get("config"), str) and \
            str(value.get("module", "")).startswith("keras"):
        value = value["config"]  # Keras 3's serialised built-in function
    if value is None:
        value = "linear"
    if value == "hard_sigmoid" and c.keras2:
        value = "hard_sigmoid_keras2"
    if value not in allowed:
        shown = [a for a in allowed if a != "hard_sigmoid_keras2"]
        c.refuse(key, c.config.get(key), f"supported activations: {', '.join(shown)}")
        return default
    return str(value)


_RNN_KEYS = ("units", "activation", "use_bias", "return_sequences", "return_state", "go_backwards", "stateful",
             "unroll", "dropout", "recurrent_dropout", "zero_output_for_mask", "time_major", "implementation")
_RNN_HARMLESS = {"implementation": lambda v: True, "time_major": lambda v: v is False}


def _recurrent(c: Conf, cls: type, extra: dict) -> Any:
    kind = c.class_name
    allowed = activations.CELL_ACTIVATIONS
    kwargs: dict[str, Any] = {
        "return_sequences": bool(c.get("return_sequences", False)), "return_state": bool(c.get("return_state", False)),
        "go_backwards": bool(c.get("go_backwards", False)), "dropout": float(c.get("dropout", 0.0)),
        "recurrent_dropout": float(c.get("recurrent_dropout", 0.0)), "use_bias": bool(c.get("use_bias", True)),
        "kernel_initializer": _initializer(c, "kernel_initializer", "glorot_uniform"),
        "recurrent_initializer": _initializer(c, "recurrent_initializer", "orthogonal"),
        "bias_initializer": _initializer(c, "bias_initializer", "zeros"),
        "name": c.name,
    }
    if c.get("stateful", False):
        c.refuse("stateful", c.config["stateful"], "only stateful=False: shapeviz runs every batch from zero (or "
                 "given) initial states and keeps no state between batches")
    kwargs["unroll"] = bool(c.get("unroll", False))  # the same numbers: Keras unrolls only for speed
    if c.config.get("time_major", False):
        c.refuse("time_major", True, "only time_major=False (a Keras 2 option)")
    c.get("zero_output_for_mask")  # checked by the model builder, which knows whether a mask arrives
    c.get("implementation")
    kwargs["activation"] = activation_name(c, "activation", "tanh", allowed)
    if kind != "SimpleRNN":
        # a Keras 2 config without the key means Keras 2's default, its hard sigmoid
        default_rec = "hard_sigmoid_keras2" if c.keras2 and "recurrent_activation" not in c.config else "sigmoid"
        kwargs["recurrent_activation"] = activation_name(c, "recurrent_activation", default_rec, allowed)
    kwargs.update(extra)
    units = c.get("units")
    return cls(units, **kwargs)


@converter("InputLayer", honours=("batch_shape", "batch_input_shape", "shape", "dtype", "optional"),
           harmless={"optional": lambda v: v is False, "batch_size": lambda v: True})
def input_layer(c: Conf) -> Any:
    shape = c.get("batch_shape", c.get("batch_input_shape"))
    if shape is None and c.get("shape") is not None:
        shape = [None, *c.config["shape"]]
    dtype = c.get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    c.get("optional")
    return InputMarker(c.name, list(shape) if shape is not None else [None, None], str(dtype))


@converter("LSTM", honours=_RNN_KEYS + ("recurrent_activation", "unit_forget_bias"), harmless=_RNN_HARMLESS)
def lstm(c: Conf) -> Any:
    from shapeviz.core.lstm import LSTM
    return _recurrent(c, LSTM, {"unit_forget_bias": bool(c.get("unit_forget_bias", True))})


@converter("GRU", honours=_RNN_KEYS + ("recurrent_activation", "reset_after"), harmless=_RNN_HARMLESS)
def gru(c: Conf) -> Any:
    from shapeviz.core.gru import GRU
    # Keras 2 before 2.3 (and tf.keras 1.x) defaulted to reset_after=False
    return _recurrent(c, GRU, {"reset_after": bool(c.get("reset_after", not c.keras2))})


@converter("SimpleRNN", honours=_RNN_KEYS, harmless=_RNN_HARMLESS)
def simple_rnn(c: Conf) -> Any:
    from shapeviz.core.simple_rnn import SimpleRNN
    return _recurrent(c, SimpleRNN, {})


def _inner(c: Conf, key: str) -> Any:
    spec = c.get(key)
    if not isinstance(spec, dict) or "class_name" not in spec:
        c.problem(f"expected `{key}` to be a layer config with class_name and config, got {spec!r}")
        return None
    cfg = spec.get("config", {})
    return convert(spec["class_name"], cfg.get("name", f"{c.name}/{key}"), cfg, c.keras2, c.problems)


@converter("Bidirectional", honours=("layer", "merge_mode", "backward_layer"),
           harmless={"num_constants": lambda v: not v})
def bidirectional(c: Conf) -> Any:
    from shapeviz.core.bidirectional import Bidirectional
    forward = _inner(c, "layer")
    backward = _inner(c, "backward_layer") if c.config.get("backward_layer") is not None else None
    c.get("backward_layer")
    mode = c.choice("merge_mode", "concat", ("concat", "sum", "mul", "ave", None))
    if forward is None:
        return None
    return Bidirectional(forward, merge_mode=mode, backward_layer=backward, name=c.name)


@converter("Dense", honours=("units", "activation", "use_bias"))
def dense(c: Conf) -> Any:
    from shapeviz.core.dense import Dense
    act = activation_name(c, "activation", "linear", tuple(activations.ACTIVATIONS))
    return Dense(c.get("units"), activation=act, use_bias=bool(c.get("use_bias", True)),
                 kernel_initializer=_initializer(c, "kernel_initializer", "glorot_uniform"), name=c.name)


@converter("Embedding", honours=("input_dim", "output_dim", "mask_zero"),
           harmless={"input_length": lambda v: True})
def embedding(c: Conf) -> Any:
    from shapeviz.core.embedding import Embedding
    # Keras feeds float32 inputs by default and casts them to ids: whole-number floats are ids here too
    return Embedding(c.get("input_dim"), c.get("output_dim"), mask_zero=bool(c.get("mask_zero", False)),
                     embeddings_initializer=_initializer(c, "embeddings_initializer", "uniform"), float_ids=True,
                     name=c.name)


@converter("Masking", honours=("mask_value",))
def masking(c: Conf) -> Any:
    from shapeviz.core.masking import Masking
    return Masking(c.get("mask_value", 0.0), name=c.name)


@converter("Dropout", honours=("rate", "noise_shape"))
def dropout(c: Conf) -> Any:
    from shapeviz.core.dropout import Dropout
    return Dropout(c.get("rate"), noise_shape=c.get("noise_shape"), name=c.name)


@converter("SpatialDropout1D", honours=("rate",))
def spatial_dropout1d(c: Conf) -> Any:
    from shapeviz.core.dropout import Dropout
    # Keras's SpatialDropout1D drops whole feature channels: one (B, 1, F) mask for every step
    return Dropout(c.get("rate"), noise_shape=(None, 1, None), name=c.name)


@converter("TimeDistributed", honours=("layer",))
def time_distributed(c: Conf) -> Any:
    from shapeviz.core.time_distributed import TimeDistributed
    inner = _inner(c, "layer")
    return None if inner is None else TimeDistributed(inner, name=c.name)


@converter("RepeatVector", honours=("n",))
def repeat_vector(c: Conf) -> Any:
    from shapeviz.core.repeat_vector import RepeatVector
    return RepeatVector(c.get("n"), name=c.name)


@converter("Activation", honours=("activation",))
def activation(c: Conf) -> Any:
    from shapeviz.core.activation import Activation
    return Activation(activation_name(c, "activation", "linear", tuple(activations.ACTIVATIONS)), name=c.name)


@converter("Flatten", honours=("data_format",))
def flatten(c: Conf) -> Any:
    from shapeviz.core.reshape import Flatten
    c.choice("data_format", "channels_last", ("channels_last", None))
    return Flatten(name=c.name)


@converter("Reshape", honours=("target_shape",))
def reshape(c: Conf) -> Any:
    from shapeviz.core.reshape import Reshape
    return Reshape(tuple(c.get("target_shape")), name=c.name)


@converter("Permute", honours=("dims",))
def permute(c: Conf) -> Any:
    from shapeviz.core.reshape import Permute
    return Permute(tuple(c.get("dims")), name=c.name)


def _mask_mode(c: Conf) -> str:
    # Keras 3 ORs the inputs' masks (none when one input has none); Keras 2 ANDs those present
    return "and" if c.keras2 else "or"


@converter("Concatenate", honours=("axis",))
def concatenate(c: Conf) -> Any:
    from shapeviz.core.merge import Concatenate
    return Concatenate(axis=c.get("axis", -1), name=c.name, mask_mode=_mask_mode(c))


def _elementwise(class_name: str) -> None:
    @converter(class_name)
    def merge(c: Conf) -> Any:
        from shapeviz.core import merge as merges
        return getattr(merges, class_name)(name=c.name, mask_mode=_mask_mode(c))


for _name in ("Add", "Subtract", "Multiply", "Average"):
    _elementwise(_name)


def _pooling(c: Conf, cls: type, **extra: Any) -> Any:
    fmt = c.choice("data_format", "channels_last", ("channels_last", "channels_first"))
    return cls(data_format=fmt, keepdims=bool(c.get("keepdims", False)), name=c.name, **extra)


@converter("GlobalAveragePooling1D", honours=("data_format", "keepdims"))
def global_average_pooling1d(c: Conf) -> Any:
    from shapeviz.core.pooling import GlobalAveragePooling1D
    return _pooling(c, GlobalAveragePooling1D)


@converter("GlobalMaxPooling1D", honours=("data_format", "keepdims"))
def global_max_pooling1d(c: Conf) -> Any:
    from shapeviz.core.pooling import GlobalMaxPooling1D
    # Keras's GlobalMaxPooling1D takes no mask: the max over every step, padded or not
    return _pooling(c, GlobalMaxPooling1D, ignore_mask=True)
