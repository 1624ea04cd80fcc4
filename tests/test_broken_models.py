"""The broken-model catalogue: mistakes users really make, and what the tracer says about each.

Every case is a small builder whose docstring names the mistake in one line (a CLI or the
README can list them), the arguments it is traced with, and the parts of the message that
must appear: the layer, the timestep where there is one, the operation and operands, the
conflicting dims, where each dim got its size, and the hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from shapeviz import (GRU, LSTM, Bidirectional, ConfigError, Dense, Embedding, EncoderDecoder, Masking, OneToMany,
                      Sequential, ShapeError, trace)

B32 = "B (batch) = 32, bound at the given sizes (B=32); declared by the input x (axis 0)"
T_FREE = "T (time) has no size (symbolic); declared by the input x (axis 1)"


@dataclass(frozen=True)
class Case:
    """One mistake: ``build()`` makes the model, ``trace(model, **kwargs)`` must raise ``error``
    whose message contains every string of ``parts`` (the first one starts it); ``layer`` and
    ``timestep`` are the error's fields."""

    build: Callable[[], Any]
    kwargs: dict
    parts: tuple[str, ...]
    layer: str | None = None
    timestep: str | None = None
    error: type = ShapeError
    id: str = field(default="")

    @property
    def mistake(self) -> str:
        return (self.build.__doc__ or "").strip()


CASES: list[Case] = []


def case(kwargs: dict, *parts: str, layer: str | None = None, timestep: str | None = None,
         error: type = ShapeError) -> Callable:
    def register(build: Callable) -> Callable:
        CASES.append(Case(build, kwargs, parts, layer, timestep, error, build.__name__))
        return build
    return register


def lstm_head(units: int = 16, **options: Any) -> list:
    return [LSTM(units, name="lstm", **options), Dense(1, name="out")]


# -- layout: batch-first vs time-major ------------------------------------------------------
@case(dict(inputs="(T, B, 2)", dims={"B": 32}),
      "layer 'lstm', forward: the time loop runs over B, which is a batch dim: the layer reads time along axis 1",
      "cause: lstm forward on x (T, B, 2)",
      "expected (B): a time dim (role time), got: B (role batch)",
      "B (batch) = 32, bound at the given sizes (B=32); declared by the input x (axis 1)",
      "T (time) has no size (symbolic); declared by the input x (axis 0)",
      "hint: looks like time-major (T, B, F) data fed to a batch-first layer: transpose the data to (B, T, F)",
      layer="lstm")
def time_major_data_into_batch_first_model():
    """Time-major (T, B, F) data fed to a batch-first LSTM."""
    return Sequential(lstm_head(), name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}),
      "layer 'lstm', forward: the time loop runs over B, which is a batch dim: the layer reads time along axis 0",
      "cause: lstm forward on x (B, T, 2)", B32, T_FREE,
      "hint: looks like batch-first (B, T, F) data fed to a time_major layer: give it (T, B, F) data, or set "
      "time_major=False", layer="lstm")
def batch_first_data_into_time_major_model():
    """Batch-first (B, T, F) data fed to an LSTM built with time_major=True."""
    return Sequential(lstm_head(time_major=True), name="m")


@case(dict(inputs="(T, B, 2)", dims={"B": 32}),
      "layer 'lstm_2', forward: the time loop runs over B, which is a batch dim",
      "cause: lstm forward on x (T, B, 16)",
      "B (batch) = 32, bound at the given sizes (B=32); declared by the input x (axis 1)",
      "hint: layer 'lstm_1' before it has time_major=True and hands on (T, B, H), but 'lstm_2' has "
      "time_major=False: give every recurrent layer of the model the same time_major", layer="lstm_2")
def time_major_on_one_layer_only():
    """time_major=True on the first LSTM of a stack but not on the second."""
    return Sequential([LSTM(16, return_sequences=True, time_major=True, name="lstm_1"), LSTM(8, name="lstm_2"),
                       Dense(1, name="out")], name="m")


# -- return_sequences ------------------------------------------------------------------------
@case(dict(inputs="(B, T, 2)", dims={"B": 32}),
      "layer 'lstm_2', forward: layer 'lstm_2' (lstm) expects input of rank 3 (B, T, F), got rank 2 with shape "
      "(B, 32)", "cause: lstm forward on x (B, 32)", B32,
      "hint: layer 'lstm_1' (lstm) returns only its last step, (B, 32), because return_sequences=False; set "
      "return_sequences=True on it to stack a recurrent layer on top", layer="lstm_2")
def stacked_lstm_without_return_sequences():
    """A second LSTM stacked on one without return_sequences=True."""
    return Sequential([LSTM(32, name="lstm_1"), LSTM(16, name="lstm_2"), Dense(1, name="out")], name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, labels="(B, T)"),
      "layer 'loss', forward: sparse_categorical_crossentropy: labels of shape (B, T) do not fit predictions of "
      "shape (B, 10)", "these look like class ids over T timesteps",
      "cause: loss forward on predictions (B, 10) and labels (B, T)", B32, T_FREE,
      "hint: the labels have one entry per timestep, the output one per sequence: set return_sequences=True on "
      "'lstm' for per-step outputs", layer="loss")
def per_step_dense_after_last_step_only():
    """A per-step classifier (labels per timestep) whose LSTM lacks return_sequences=True."""
    model = Sequential([LSTM(32, name="lstm"), Dense(10, name="out")], name="m")
    return model.compile("sparse_categorical_crossentropy")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, expect={"output": "(B, 1)"}),
      "forward: the model's output has shape (B, T, 1), expected (B, 1)",
      "expected: (B, 1), got: (B, T, 1)", B32, T_FREE,
      "hint: the output has a time axis: 'lstm' has return_sequences=True, so it hands on every step and 'out' "
      "runs on each of them; set return_sequences=False on 'lstm' for one output per sequence")
def dense_on_sequence_meant_last_step():
    """Dense on (B, T, H) where (B, H) was meant: return_sequences=True left on before the head."""
    return Sequential(lstm_head(return_sequences=True), name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, labels="(B,)"),
      "layer 'loss', forward: binary_crossentropy: targets of shape (B,) do not fit predictions of shape (B, T, 1)",
      "cause: loss forward on predictions (B, T, 1) and labels (B,)", B32, T_FREE,
      "hint: the output has a time axis, (B, T, 1): 'lstm' has return_sequences=True, so the head runs on every "
      "step; set return_sequences=False for one output per sequence", layer="loss")
def labels_per_sequence_output_per_step():
    """Labels (B,) for a sentiment model whose output is (B, T, 1) instead of (B, 1)."""
    model = Sequential([LSTM(32, return_sequences=True, name="lstm"), Dense(1, activation="sigmoid", name="out")],
                       name="m")
    return model.compile("binary_crossentropy")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, expect={"lstm": "(B, 128)"}),
      "layer 'lstm', forward: the output of layer 'lstm' has shape (B, T, 128), expected (B, 128)",
      "expected: (B, 128), got: (B, T, 128)", B32, T_FREE,
      "hint: layer 'lstm' has return_sequences=True, so it outputs every step (B, T, 128); with "
      "return_sequences=False it outputs only the last step (B, 128)", layer="lstm")
def expectation_of_last_step_on_sequence_layer():
    """Expecting (B, H) from an LSTM that returns sequences (B, T, H)."""
    return Sequential(lstm_head(128, return_sequences=True), name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, labels="(B,)"),
      "layer 'loss', forward: sparse_categorical_crossentropy: labels of shape (B,) do not fit predictions of "
      "shape (B, T, 10)", "the model outputs T timesteps but the labels have one per sample",
      "cause: loss forward on predictions (B, T, 10) and labels (B,)", B32, T_FREE,
      "hint: the output has a time axis, (B, T, 10): 'lstm' has return_sequences=True, so the head runs on every "
      "step", layer="loss")
def per_step_softmax_with_per_sample_labels():
    """A softmax on every timestep (B, T, C) trained with one class id per sample (B,)."""
    model = Sequential([LSTM(32, return_sequences=True, name="lstm"), Dense(10, name="out")], name="m")
    return model.compile("sparse_categorical_crossentropy")


# -- features and built weights ----------------------------------------------------------------
@case(dict(inputs="(B, T, 2)", dims={"B": 32}),
      "layer 'lstm_2', forward: layer 'lstm_2' (lstm) was built for 32 input features (kernel shape (32, 64)), "
      "got input of shape (B, T, 64) whose last axis is 64", "cause: lstm forward on x (B, T, 64)", B32, T_FREE,
      "hint: the weights of 'lstm_2' were made for 32 features, but 'lstm_1' (lstm) before it now outputs 64",
      layer="lstm_2")
def features_changed_under_built_layer():
    """The first LSTM widened from 32 to 64 units while the built layers above it were kept."""
    old = Sequential([LSTM(32, return_sequences=True, name="lstm_1"), LSTM(16, name="lstm_2"), Dense(1, name="out")],
                     name="old", seed=0)
    old.build((None, None, 2))
    return Sequential([LSTM(64, return_sequences=True, name="lstm_1"), old.layers[1], old.layers[2]], name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}),
      "layer 'lstm_2', forward: layer 'lstm_2' (lstm) was built for 16 input features (kernel shape (16, 32)), got "
      "input of shape (B, T, 32) whose last axis is 32", B32,
      "hint: Bidirectional 'bi' with merge_mode='concat' outputs both directions side by side, 32 = 2 x 16 "
      "features; rebuild 'lstm_2' for 32 inputs, or use merge_mode='sum' or 'ave' to keep 16", layer="lstm_2")
def bidirectional_concat_doubles_features():
    """The first LSTM wrapped in Bidirectional (concat: 2H features) under layers built for H."""
    old = Sequential([LSTM(16, return_sequences=True, name="lstm_1"), LSTM(8, name="lstm_2"), Dense(1, name="out")],
                     name="old", seed=0)
    old.build((None, None, 2))
    return Sequential([Bidirectional(LSTM(16, return_sequences=True, name="lstm_1"), name="bi"), old.layers[1],
                       old.layers[2]], name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, expect={"bi": "(B, T, 16)"}),
      "layer 'bi', forward: the output of layer 'bi' has shape (B, T, 32), expected (B, T, 16)", B32, T_FREE,
      "hint: Bidirectional 'bi' concatenates both directions: its last axis is 2 x 16 = 32; use merge_mode='sum' "
      "or 'ave' for 16", layer="bi")
def bidirectional_expected_to_keep_units():
    """Expecting Bidirectional(LSTM(16)) to output 16 features (concat gives 32)."""
    return Sequential([Bidirectional(LSTM(16, return_sequences=True, name="lstm"), name="bi"), LSTM(8, name="top"),
                       Dense(1, name="out")], name="m")


@case(dict(inputs="(B, T, 3)", dims={"B": 32}),
      "layer 'lstm', forward: layer 'lstm' (lstm) was built for 2 input features (kernel shape (2, 64)), got input "
      "of shape (B, T, 3) whose last axis is 3", "cause: lstm forward on x (B, T, 3)", B32,
      "hint: the model's weights were made for 2 input features: declare the input with 2 features, or rebuild the "
      "model for 3", layer="lstm")
def model_built_for_2_features_traced_with_3():
    """A model built for F=2 traced (or fed) with F=3."""
    model = Sequential(lstm_head(), name="m", seed=0)
    return model.build((None, None, 2))


@case(dict(inputs="(B, T, F)", dims={"B": 32}),
      "layer 'lstm', forward: lstm 'lstm' sizes its weights by the input's last axis, F, which has no size",
      "cause: lstm build on x (B, T, F)", B32,
      "F (features) has no size (symbolic); declared by the input x (axis 2)",
      "hint: give F a size: trace(..., dims={'F': 2}), or write it in the shape, \"(B, T, 2)\"", layer="lstm")
def feature_size_left_symbolic():
    """Tracing an unbuilt model with a symbolic feature size F: its weights need a number."""
    return Sequential(lstm_head(), name="m")


# -- ranks: ids, vectors, sequences ------------------------------------------------------------
@case(dict(inputs="(B, T)", dims={"B": 32}),
      "layer 'lstm', forward: lstm 'lstm' sizes its weights by the input's last axis, T, which has no size",
      "cause: lstm build on x (B, T)", B32, T_FREE,
      "hint: the last axis T is a time dim, so x (B, T) has no feature axis: token ids (B, T) need an "
      "Embedding(V, E) first", layer="lstm")
def token_ids_into_lstm():
    """Token ids (B, T) fed straight to an LSTM, without an Embedding."""
    return Sequential(lstm_head(), name="m")


@case(dict(inputs="(B, T)", dims={"B": 32, "T": 80}),
      "layer 'lstm', forward: layer 'lstm' (lstm) expects input of rank 3 (B, T, F), got rank 2 with shape (B, 16)",
      "cause: lstm forward on x (B, 16)", B32,
      "hint: Dense 'dense' before it read (B, T), treating the time axis T as features: token ids (B, T) need an "
      "Embedding(V, E) first", layer="lstm")
def dense_applied_to_token_ids():
    """A Dense applied to token ids (B, T) in place of an Embedding."""
    return Sequential([Dense(16, name="dense"), LSTM(8, name="lstm"), Dense(1, name="out")], name="m")


@case(dict(inputs="(B, F)", dims={"B": 32, "F": 2}),
      "layer 'lstm', forward: layer 'lstm' (lstm) expects input of rank 3 (B, T, F), got rank 2 with shape (B, F)",
      "cause: lstm forward on x (B, F)", B32,
      "F (features) = 2, bound at the given sizes (F=2); declared by the input x (axis 1)",
      "hint: a recurrent layer reads a sequence (B, T, F), and this input has no time axis: (B, F) is one vector "
      "per sample; add a time axis with x[:, None, :] (B, 1, F), or use OneToMany", layer="lstm")
def vector_per_sample_into_lstm():
    """A 2-D input (B, F), one vector per sample, fed to an LSTM."""
    return Sequential(lstm_head(), name="m")


@case(dict(inputs=np.linspace(0.0, 1.0, 28, dtype=np.float32).reshape(4, 7)),
      "layer 'embedding', forward: layer 'embedding' (embedding) expects integer token ids, got dtype float32 "
      "with shape (4, 7)", "cause: embedding forward on x (4, 7)",
      "hint: an Embedding takes integer token ids (B, T); float data looks like features that are already vectors",
      layer="embedding")
def float_data_into_embedding():
    """Float data (normalised values, not ids) fed to an Embedding."""
    return Sequential([Embedding(1000, 16, name="embedding"), LSTM(8, name="lstm"), Dense(1, name="out")], name="m")


@case(dict(inputs="(B, T, 3)", dims={"B": 32}),
      "layer 'embedding', forward: layer 'embedding' (embedding) expects integer ids of rank 2 (B, T), got rank 3 "
      "with shape (B, T, 3)", "cause: embedding forward on x (B, T, 3)", B32, T_FREE,
      "hint: an Embedding turns integer ids (B, T) into vectors (B, T, E); this input already has a feature axis: "
      "feed it to the recurrent layer directly and drop the Embedding", layer="embedding")
def feature_vectors_into_embedding():
    """Feature vectors (B, T, F) fed to an Embedding, as if it were a projection."""
    return Sequential([Embedding(1000, 16, name="embedding"), LSTM(8, name="lstm"), Dense(1, name="out")], name="m")


@case(dict(inputs="(B, T)", dims={"B": 32}),
      "layer 'masking', forward: layer 'masking' (masking) expects input of rank 3 (B, T, F), got rank 2 with shape "
      "(B, T)", "cause: masking forward on x (B, T)", B32, T_FREE,
      "hint: Masking reads feature vectors (B, T, F)", "use Embedding(..., mask_zero=True), which masks id 0",
      layer="masking")
def masking_on_token_ids():
    """Masking(0) put in front of padded token ids (B, T)."""
    return Sequential([Masking(name="masking"), LSTM(8, name="lstm"), Dense(1, name="out")], name="m")


@case(dict(inputs="(B, T, 8)", dims={"B": 32}),
      "forward: OneToMany 'captioner' expects a vector per sample (B, F), got shape (B, T, 8)",
      "cause: OneToMany forward on x (B, T, 8)", B32, T_FREE,
      "hint: OneToMany reads one vector per sample (B, F) and makes a sequence; for a sequence in, use Sequential")
def sequence_into_one_to_many():
    """A sequence (B, T, F) given to a one-to-many model, which reads one vector per sample."""
    return OneToMany([LSTM(16, name="lstm")], Dense(10, name="head"), steps=5, name="captioner")


# -- masks -----------------------------------------------------------------------------------------
@case(dict(inputs="(B, T, 2)", dims={"B": 32}, mask="(T, B)"),
      "layer 'lstm', forward: layer 'lstm' (lstm): the mask must have shape (B, T) = (B, T), got (T, B)",
      "cause: lstm forward on x (B, T, 2) and mask (T, B)", B32, T_FREE,
      "hint: the mask looks transposed: it is (T, B), the layers take (B, T); pass mask.T", layer="lstm")
def mask_transposed():
    """A (T, B) mask for batch-first data."""
    return Sequential(lstm_head(), name="m")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, mask="(B, T, 2)"),
      "layer 'lstm', forward: layer 'lstm' (lstm): the mask must have shape (B, T) = (B, T), got (B, T, 2)",
      "cause: lstm forward on x (B, T, 2) and mask (B, T, 2)", B32, T_FREE,
      "hint: the mask has a feature axis, as if computed per feature (x != 0): one flag per step is "
      "(x != 0).any(axis=-1), shape (B, T)", layer="lstm")
def mask_computed_per_feature():
    """A mask made as x != 0, one flag per feature instead of per step."""
    return Sequential(lstm_head(), name="m")


@case(dict(inputs="(B, 80, 2)", dims={"B": 32}, mask="(B, 100)"),
      "layer 'lstm', forward: layer 'lstm' (lstm): the mask must have shape (B, T) = (B, 80), got (B, 100)",
      "cause: lstm forward on x (B, 80, 2) and mask (B, 100)", B32,
      "hint: the mask has 100 steps and the data 80: pad or cut them to the same length", layer="lstm")
def mask_from_before_truncation():
    """A mask padded to 100 steps for sequences cut to 80."""
    return Sequential(lstm_head(), name="m")


@case(dict(inputs=("(B, T_in, 8)", "(B, T_out, 10)"), dims={"B": 32}, mask="(B, T_out)"),
      "forward: EncoderDecoder 'translator' (source of shape (B, T_in, F)): the mask must have shape (B, T) = "
      "(B, T_in), got (B, T_out)",
      "cause: EncoderDecoder forward on source (B, T_in, 8) and decoder_inputs (B, T_out, 10)",
      "B (batch) = 32, bound at the given sizes (B=32); declared by the input source (axis 0)",
      "T_out (time) has no size (symbolic); declared by the input decoder_inputs (axis 1)",
      "hint: the mask marks the padded steps of the source, so it is (B, T_in) like the source's first two axes")
def target_mask_given_to_encoder_decoder():
    """The target-side (B, T_out) mask passed where the source's (B, T_in) mask goes."""
    return EncoderDecoder([LSTM(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"), name="translator")


# -- labels ------------------------------------------------------------------------------------------
@case(dict(inputs="(B, T, 2)", dims={"B": 32}, labels="(B, 12)"),
      "layer 'loss', forward: categorical_crossentropy: labels of shape (B, 12) do not fit predictions of shape "
      "(B, 10)", "the labels look one-hot with 12 classes, but the model outputs 10 classes",
      "cause: loss forward on predictions (B, 10) and labels (B, 12)", B32,
      "hint: the head 'out' has units=10, one per class: give it 12 units, or one-hot the labels over 10 classes",
      layer="loss")
def one_hot_labels_with_more_classes_than_the_head():
    """One-hot labels over 12 classes for a 10-class softmax head."""
    model = Sequential([LSTM(32, name="lstm"), Dense(10, name="out")], name="m")
    return model.compile("categorical_crossentropy")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}, labels="(B, 2)"),
      "layer 'loss', forward: binary_crossentropy: targets of shape (B, 2) do not fit predictions of shape (B, 1)",
      "cause: loss forward on predictions (B, 1) and labels (B, 2)", B32,
      "hint: labels (B, 2) look one-hot over 2 classes, but the output is one sigmoid unit (B, 1), which takes 0/1 "
      "labels (B,) or (B, 1): pass labels.argmax(-1)", layer="loss")
def one_hot_labels_for_a_sigmoid_output():
    """One-hot labels (B, 2) for a binary classifier with one sigmoid unit (B, 1)."""
    model = Sequential([LSTM(32, name="lstm"), Dense(1, activation="sigmoid", name="out")], name="m")
    return model.compile("binary_crossentropy")


# -- encoder-decoder and one-to-many -------------------------------------------------------------
@case(dict(inputs="(B, 8)", dims={"B": 32}),
      "layer 'head', timestep 0, forward: OneToMany 'captioner': feeding outputs back needs the head's 10 output "
      "features to equal the 8 input features; give the head 8 units", "cause: OneToMany forward on x (B, 8)", B32,
      "hint: with feedback='outputs' each step's output y_t (B, V) is the next step's input x_{t+1}",
      layer="head", timestep="0")
def feedback_head_size_differs_from_input():
    """A one-to-many model feeding back outputs whose size (10) differs from its input's (8)."""
    return OneToMany([LSTM(16, name="lstm")], Dense(10, name="head"), steps=5, feedback="outputs", name="captioner")


@case(dict(inputs="(B, 8)", dims={"B": 32}),
      "layer 'head', timestep 0, forward: layer 'head' (lstm) expects input of rank 3 (B, T, F), got rank 2 with "
      "shape (B, 16)", "cause: lstm forward on x (B, 16)", B32,
      "hint: the head of OneToMany runs once per step on the top layer's state (B, H); a recurrent head has no "
      "sequence to read there: use Dense(V) as the head", layer="head", timestep="0")
def recurrent_head_in_one_to_many():
    """An LSTM used as the per-step head of a one-to-many model."""
    return OneToMany([LSTM(16, name="lstm")], LSTM(10, name="head"), steps=5, name="captioner")


@case(dict(inputs=("(B, T_in, 8)", "(B, T_out)"), dims={"B": 32}),
      "forward: EncoderDecoder 'translator': decoder inputs must be (B, T_out, V_in)", "got shape (B, T_out)",
      "cause: EncoderDecoder forward on source (B, T_in, 8) and decoder_inputs (B, T_out)",
      "B (batch) = 32, bound at the given sizes (B=32); declared by the input source (axis 0)",
      "T_out (time) has no size (symbolic); declared by the input decoder_inputs (axis 1)",
      "hint: the decoder inputs look like token ids (B, T_out): the decoder reads one vector per step, so one-hot "
      "them to (B, T_out, V)")
def decoder_fed_token_ids():
    """The decoder fed target token ids (B, T_out) instead of vectors (B, T_out, V)."""
    return EncoderDecoder([LSTM(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"), name="translator")


@case(dict(inputs=("(B, T_in, 8)", "(B, T_out, 12)"), dims={"B": 32}),
      "layer 'dec', forward: layer 'dec' (lstm) was built for 10 input features (kernel shape (10, 128)), got "
      "input of shape (B, T_out, 12) whose last axis is 12",
      "cause: EncoderDecoder forward on source (B, T_in, 8) and decoder_inputs (B, T_out, 12)",
      "T_out (time) has no size (symbolic); declared by the input decoder_inputs (axis 1)",
      "hint: the decoder's weights were built for inputs of 10 features (V_in) and the decoder inputs have 12",
      layer="dec")
def decoder_inputs_over_a_new_vocabulary():
    """A trained translator's decoder fed one-hot targets over a grown vocabulary (12, built for 10)."""
    model = EncoderDecoder([LSTM(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"),
                           name="translator", seed=0)
    return model.build(((None, None, 8), (None, None, 10)))


@case(dict(inputs=("(B, T_in, 8)", "(16, T_out, 10)"), dims={"B": 32}),
      "forward: EncoderDecoder 'translator': decoder inputs must be (B, T_out, V_in) with B = B, got shape "
      "(16, T_out, 10)", "cause: EncoderDecoder forward on source (B, T_in, 8) and decoder_inputs (16, T_out, 10)",
      "B (batch) = 32, bound at the given sizes (B=32); declared by the input source (axis 0)",
      "hint: the source and the decoder inputs are two views of one batch: the source has B = 32 samples and the "
      "decoder inputs 16")
def decoder_inputs_with_another_batch_size():
    """Decoder inputs declared with a literal batch of 16 while the source has B = 32."""
    return EncoderDecoder([LSTM(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"), name="translator")


@case(dict(inputs=("(B=32, T_in, 8)", "(B=16, T_out, 10)")),
      "B is declared with two sizes: 32 at the input declaration of source (B=32), and 16 at the input declaration "
      "of decoder_inputs (B=16)", "expected (B): 32, got: 16",
      "B (batch) = 32, bound at the input declaration of source (B=32); declared by the input source (axis 0)",
      "hint: one name is one size in the whole trace")
def two_inputs_bind_one_dim_to_two_sizes():
    """Source and decoder inputs declaring the same B with two sizes (32 and 16)."""
    return EncoderDecoder([LSTM(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"), name="translator")


@case(dict(inputs=("(B, T_in, 8)", "(B, T_out, 10)"), dims={"B": 32}),
      "layer 'dec', forward: EncoderDecoder 'translator': layer 'dec' was put in after the model was made, and it "
      "does not fit: encoder layer 'enc' (lstm, states ['h', 'c'] of size 32) cannot initialise decoder layer 'dec' "
      "(lstm, states ['h', 'c'] of size 64)",
      "cause: EncoderDecoder forward on source (B, T_in, 8) and decoder_inputs (B, T_out, 10)",
      "B (batch) = 32, bound at the given sizes (B=32); declared by the input source (axis 0)",
      "hint: an EncoderDecoder checks its layers when it is made and runs the graph it made of them", layer="dec")
def decoder_widened_after_the_model_was_made():
    """The decoder swapped for a 64-unit LSTM after construction; the encoder hands over 32."""
    model = EncoderDecoder([LSTM(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"), name="translator")
    model.decoder[0] = LSTM(64, name="dec")
    return model


@case(dict(inputs=("(B, T_in, 8)", "(B, T_out, 10)"), dims={"B": 32}),
      "EncoderDecoder 'translator': encoder layer 'enc' (lstm, states ['h', 'c'] of size 32) cannot initialise "
      "decoder layer 'dec' (lstm, states ['h', 'c'] of size 64); hint: encoder and decoder state sizes must match",
      error=ConfigError)
def encoder_and_decoder_units_differ():
    """Encoder and decoder with different units (32 vs 64): caught when the model is made, before tracing."""
    return EncoderDecoder([LSTM(32, name="enc")], [LSTM(64, name="dec")], Dense(10, name="head"), name="translator")


@case(dict(inputs=("(B, T_in, 8)", "(B, T_out, 10)"), dims={"B": 32}),
      "EncoderDecoder 'translator': encoder layer 'enc' (gru, states ['h'] of size 32) cannot initialise decoder "
      "layer 'dec' (lstm, states ['h', 'c'] of size 32)", error=ConfigError)
def gru_state_into_lstm_decoder():
    """A GRU encoder (state h) handing over to an LSTM decoder (states h and c): caught when the model is made."""
    return EncoderDecoder([GRU(32, name="enc")], [LSTM(32, name="dec")], Dense(10, name="head"), name="translator")


@case(dict(inputs="(B, T, 2)", dims={"B": 32}),
      "layer 'lstm', forward: layer 'lstm' (lstm) got a list of 2 arrays instead of one array",
      "cause: lstm forward on x[0] (B, T, 16) and x[1] (B, T, 16)", B32, T_FREE,
      "hint: Bidirectional 'bi' has merge_mode=None, which returns [y_forward, y_backward]; a Sequential passes one "
      "array on: use merge_mode='concat'", layer="lstm")
def bidirectional_without_merge_in_a_stack():
    """Bidirectional(merge_mode=None), which returns two arrays, in the middle of a Sequential."""
    return Sequential([Bidirectional(LSTM(16, return_sequences=True, name="inner"), merge_mode=None, name="bi"),
                       LSTM(8, name="lstm"), Dense(1, name="out")], name="m")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_model(case: Case) -> None:
    with pytest.raises(case.error, match=re.escape(case.parts[0])) as info:
        model = case.build()
        trace(model, **case.kwargs)
    message = str(info.value)
    assert message.startswith(case.parts[0]), message
    for part in case.parts[1:]:
        assert part in message, f"missing {part!r} in:\n{message}"
    if case.error is ShapeError:
        error = info.value
        assert error.layer == case.layer, message
        assert error.timestep == case.timestep, message
        assert error.hint and f"hint: {error.hint}" in message, message
        if not isinstance(case.kwargs["inputs"], np.ndarray):  # a real array's sizes are plain numbers
            assert error.provenance, message  # where each involved dim got its size
        assert "Dim(" not in message, message  # sizes read as users write them


def test_the_catalogue_is_a_catalogue() -> None:
    """At least 20 distinct mistakes, each with a one-line description of the mistake."""
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.mistake for c in CASES}) == len(CASES)
    for c in CASES:
        assert c.mistake and "\n" not in c.mistake, c.id
    assert sum(c.error is ShapeError for c in CASES) >= 20


def test_the_fixed_models_trace() -> None:
    """The near misses are fine: labels (B,) fit an output (B, 1), a (B, T) mask fits, F=2 fits."""
    model = Sequential([LSTM(32, name="lstm"), Dense(1, activation="sigmoid", name="out")], name="m")
    model.compile("binary_crossentropy")
    tr = trace(model, "(B, T, 2)", dims={"B": 32}, labels="(B,)", mask="(B, T)", expect={"output": "(B, 1)"})
    assert tr.outputs == {"y": (tr.inputs["x"][0], 1)}
    fixed = Sequential([Bidirectional(LSTM(16, return_sequences=True, name="l"), name="bi"), LSTM(8, name="top")],
                       name="m2")
    assert trace(fixed, "(B, T, 2)", expect={"bi": "(B, T, 32)"}).layer("top").inputs["x"][-1] == 32
