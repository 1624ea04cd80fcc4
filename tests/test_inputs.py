"""``model.inputs``: what every model kind and layout expects, read once off its layers, and the
checks, the tracer and the CLI's defaults reading it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import shapeviz
from shapeviz import (GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, EncoderDecoder, InputSpec, Masking,
                      OneToMany, Sequential, SimpleRNN, trace)
from shapeviz.checks import common, run
from shapeviz.core.model import Model
from shapeviz.errors import ConfigError
from shapeviz.frontends import default_inputs


def only(model: Model) -> InputSpec:
    (spec,) = model.inputs
    return spec


# -- every model kind and layout -------------------------------------------------------------------
def test_batch_first_floats_unbuilt_then_built() -> None:
    model = Sequential([LSTM(4), Dense(1)])
    spec = only(model)
    assert spec == InputSpec("x", 3, 0, 1, features=None)
    assert spec.declaration() == "(B, T, F)"
    model.build((None, None, 3))
    spec = only(model)
    assert spec == InputSpec("x", 3, 0, 1, features=3)
    assert (spec.kind, spec.ids, spec.masked, spec.time_major) == ("floats", False, False, False)
    assert spec.declaration() == "(B, T, 3)"
    assert spec.declaration(sizes=False) == "(B, T, F)"
    assert model.input_dtype() == np.float32


def test_time_major() -> None:
    model = Sequential([SimpleRNN(3, time_major=True, return_sequences=True), Dense(2)], dtype="float64")
    model.build((None, None, 2))
    spec = only(model)
    assert (spec.rank, spec.batch_axis, spec.time_axis, spec.features) == (3, 1, 0, 2)
    assert spec.time_major
    assert spec.declaration() == "(T, B, 2)"
    assert model.input_dtype() == np.float64


@pytest.mark.parametrize("time_major", [False, True])
def test_ids_through_an_embedding(time_major: bool) -> None:
    model = Sequential([Embedding(50, 8, mask_zero=True), GRU(3, time_major=time_major), Dense(1)])
    spec = only(model)  # the vocabulary is known before any build
    assert (spec.kind, spec.ids, spec.rank, spec.vocabulary, spec.features, spec.masked) == ("ids", True, 2, 50,
                                                                                             None, True)
    assert (spec.batch_axis, spec.time_axis) == ((1, 0) if time_major else (0, 1))
    assert spec.declaration() == ("(T, B)" if time_major else "(B, T)")
    assert model.input_dtype() == np.int64
    assert spec.array_dtype("float32") == np.int64
    assert not only(Sequential([Embedding(50, 8), LSTM(2)])).masked


def test_masking_in_front() -> None:
    model = Sequential([Masking(), LSTM(4, return_sequences=True), Dense(1)])
    assert only(model) == InputSpec("x", 3, 0, 1, features=None, masked=True)
    model.build((None, None, 5))
    assert only(model) == InputSpec("x", 3, 0, 1, features=5, masked=True)


@pytest.mark.parametrize("front", [[Dense(6)], [Dropout(0.2)], [Dropout(0.2), Dense(6)], [Masking(), Dropout(0.1)]],
                         ids=["Dense", "Dropout", "Dropout, Dense", "Masking, Dropout"])
def test_dense_and_dropout_in_front(front: list) -> None:
    model = Sequential([*front, LSTM(3, time_major=True), Dense(1)])
    model.build((None, None, 4))
    spec = only(model)
    # past Dropout and Masking (they keep the shape) to the layer that sizes its weights by the input
    assert (spec.features, spec.time_axis, spec.batch_axis) == (4, 0, 1)
    assert spec.masked == any(isinstance(layer, Masking) for layer in front)


@pytest.mark.parametrize("time_major", [False, True])
def test_bidirectional(time_major: bool) -> None:
    model = Sequential([Bidirectional(GRU(3, time_major=time_major, return_sequences=True)), Dense(2)])
    assert only(model).features is None
    model.build((None, None, 7))
    spec = only(model)
    assert spec.features == 7
    assert spec.time_major == time_major


def test_one_to_one() -> None:
    model = Sequential([Dense(4, activation="tanh"), Dense(2)])
    model.build((None, 3))
    assert only(model) == InputSpec("x", 2, 0, None, features=3)
    assert only(model).declaration() == "(B, 3)"


def test_one_to_many() -> None:
    model = OneToMany([LSTM(4)], Dense(3), steps=5)
    assert only(model).declaration() == "(B, F)"
    model.build((None, 6))
    assert only(model) == InputSpec("x", 2, 0, None, features=6)
    assert only(model).declaration() == "(B, 6)"


def test_encoder_decoder_has_the_source_and_the_teacher_forced_decoder_inputs() -> None:
    model = EncoderDecoder([GRU(4)], [GRU(4)], Dense(3))
    source, dec = model.inputs
    assert (source.name, dec.name) == ("source", "decoder_inputs")
    assert (source.declaration(), dec.declaration()) == ("(B, T_in, F)", "(B, T_out, V)")
    model.build(((None, None, 2), (None, None, 3)))
    source, dec = model.inputs
    assert source == InputSpec("source", 3, 0, 1, features=2, time_dim="T_in")
    assert dec == InputSpec("decoder_inputs", 3, 0, 1, features=3, time_dim="T_out", feature_dim="V")
    assert (source.declaration(), dec.declaration()) == ("(B, T_in, 2)", "(B, T_out, 3)")
    assert (source.declaration(sizes=False), dec.declaration(sizes=False)) == ("(B, T_in, F)", "(B, T_out, V)")


class Single(Model):
    """A model kind of a user's own: it gets the default description (one input ``x``)."""

    kind = "single"

    def __init__(self, layer: Any) -> None:
        super().__init__()
        self.layer = layer

    @property
    def layers(self) -> list:
        return [self.layer]

    @property
    def mode(self) -> str:
        return "many-to-one"


def test_a_model_kind_of_ones_own_gets_one_input_read_off_its_layers() -> None:
    assert only(Single(LSTM(2, time_major=True))) == InputSpec("x", 3, 1, 0)
    assert only(Single(Embedding(9, 2))) == InputSpec("x", 2, 0, 1, vocabulary=9, kind="ids")


# -- read once ----------------------------------------------------------------------------------------
def test_kept_once_built_and_not_before(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = Model._describe_inputs

    def counted(self: Model) -> list:
        calls.append(self.name)
        return original(self)

    monkeypatch.setattr(Model, "_describe_inputs", counted)
    model = Sequential([LSTM(4), Dense(1)])
    model.inputs
    model.inputs
    assert len(calls) == 2  # unbuilt: the features may still change
    model.build((None, None, 3))  # the dry run reads the dtype off an unbuilt model
    del calls[:]
    first = model.inputs
    first.append("not kept")  # a copy: the model's own list is not the caller's
    assert model.inputs == [InputSpec("x", 3, 0, 1, features=3)]
    assert len(calls) == 1


def test_the_deep_checks_read_the_layers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = Model._describe_inputs

    def counted(self: Model) -> list:
        calls.append(self.name)
        return original(self)

    monkeypatch.setattr(Model, "_describe_inputs", counted)
    model = Sequential([Masking(), LSTM(4, time_major=True), Dense(1)], seed=0)
    model.build((None, None, 2))
    del calls[:]
    results = run(model, steps=5)
    assert {r.name: r.status for r in results}["shapes"] == "pass"
    assert len(calls) == 1  # the float64 twins are copies: they keep what the model read


def test_nothing_in_the_checks_guesses_the_layout_any_more() -> None:
    for name in ("time_major_data", "input_features", "_first"):
        assert not hasattr(common, name), name


# -- the readers ------------------------------------------------------------------------------------
def test_the_checks_random_inputs_follow_the_description() -> None:
    rng = np.random.default_rng(0)
    tm = Sequential([Masking(), LSTM(3, time_major=True), Dense(1)]).build((None, None, 2))
    assert common.make_inputs(tm, 2, 5, rng).shape == (5, 2, 2)
    ids = Sequential([Embedding(4, 3, mask_zero=True), GRU(2)]).build((None, None))
    x = common.make_inputs(ids, 64, 5, rng)
    assert x.shape == (64, 5) and x.dtype.kind == "i" and x.min() == 1 and x.max() == 3  # id 0 is padding
    ed = EncoderDecoder([GRU(4)], [GRU(4)], Dense(3)).build(((None, None, 2), (None, None, 3)))
    source, dec = common.make_inputs(ed, 2, 5, rng)
    assert (source.shape, dec.shape) == ((2, 5, 2), (2, 6, 3))  # T_in != T_out
    with pytest.raises(ConfigError, match="is not built, so its input size is unknown"):
        common.make_inputs(Sequential([LSTM(2)]), 2, 5, rng)


def test_the_first_samples_are_cut_along_the_batch_axis() -> None:
    tm = Sequential([LSTM(3, time_major=True), Dense(1)]).build((None, None, 2))
    assert common.first_samples(tm, np.zeros((7, 10, 2)), 4).shape == (7, 4, 2)
    ed = EncoderDecoder([GRU(4)], [GRU(4)], Dense(3)).build(((None, None, 2), (None, None, 3)))
    a, b = common.first_samples(ed, (np.zeros((10, 7, 2)), np.zeros((10, 5, 3))), 4)
    assert (a.shape, b.shape) == ((4, 7, 2), (4, 5, 3))


def test_the_clis_default_declaration_is_the_description() -> None:
    assert default_inputs(Sequential([LSTM(2)])) is None  # not built: no size to give
    tm = Sequential([Masking(), GRU(2, time_major=True), Dense(1)]).build((None, None, 3))
    assert default_inputs(tm) == "(T, B, 3)"
    ids = Sequential([Embedding(9, 2), LSTM(2, time_major=True)]).build((None, None))
    assert default_inputs(ids) == "(T, B)"
    ed = EncoderDecoder([GRU(4)], [GRU(4)], Dense(3)).build(((None, None, 2), (None, None, 3)))
    assert default_inputs(ed) == ("(B, T_in, 2)", "(B, T_out, 3)")
    # and it traces: axis 0 is time for a time-major model
    tr = trace(ids, default_inputs(ids))
    assert [str(d) for d in tr.inputs["x"]] == ["T", "B"]
    assert tr.outputs["y"] == tr.layers[-1].outputs["y"]


def test_the_cli_traces_a_built_time_major_model_without_input(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from shapeviz.cli import main

    (tmp_path / "tm.py").write_text(
        "from shapeviz import Dense, Masking, GRU, Sequential\n"
        "def build():\n"
        "    return Sequential([Masking(), GRU(4, time_major=True), Dense(1)]).build((None, None, 3))\n")
    result = CliRunner().invoke(main, ["--no-color", "check", f"{tmp_path / 'tm.py'}:build"])
    assert result.exit_code == 0, result.output
    assert "✓ shapes: 3 layers traced forward and backward (many-to-one), output (B, 1)" in result.output


def test_the_tracer_names_and_types_the_inputs_as_described() -> None:
    ed = EncoderDecoder([GRU(4)], [GRU(4)], Dense(3))
    with pytest.raises(ConfigError, match=r'takes 2 inputs \(source, decoder_inputs\): declare each, e\.g\. '
                                          r'\("\(B, T_in, F\)", "\(B, T_out, V\)"\)'):
        trace(ed, "(B, T, 2)")
    tr = trace(ed, ("(B, T_in, 2)", "(B, T_out, 3)"))
    assert list(tr.inputs) == ["source", "decoder_inputs"]


# -- the record itself -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"rank": 3, "kind": "words"}, "kind must be one of"),
    ({"rank": 0}, "rank must be a positive integer"),
    ({"rank": 3, "batch_axis": 0, "time_axis": 3}, r"must lie in \[0, 3\)"),
    ({"rank": 3, "batch_axis": 1, "time_axis": 1}, "must differ"),
    ({"rank": 3, "time_axis": 1, "kind": "ids"}, "no feature axis"),
    ({"rank": 2, "time_axis": 1, "kind": "ids", "features": 4}, "ids have no feature axis, got features=4"),
    ({"rank": 3, "time_axis": 1, "vocabulary": 10}, "only ids have a vocabulary"),
    ({"rank": 2, "time_axis": 1}, "floats have a feature axis last"),
    ({"rank": 3, "time_axis": 1, "features": 0}, "features must be a positive integer"),
])
def test_a_bad_description_is_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"input 'x': .*{message}"):
        InputSpec("x", **kwargs)


def test_exported() -> None:
    assert shapeviz.InputSpec is InputSpec
    assert "InputSpec" in shapeviz.__all__


def test_functional_inputs_come_from_the_input_declarations():
    import shapeviz as sv
    src = sv.Input("(B, T_in, 5)", name="src")
    tgt = sv.Input("(B, T_out)", name="tgt", dtype="int64")
    _, h, c = sv.LSTM(8, return_state=True)(src)
    emb = sv.Embedding(20, 4, mask_zero=True)(tgt)
    y = sv.LSTM(8, return_sequences=True)(emb, initial_state=[h, c])
    model = sv.Model([src, tgt], y)
    floats, ids = model.inputs
    assert (floats.name, floats.rank, floats.batch_axis, floats.time_axis, floats.features, floats.kind,
            floats.time_dim, floats.masked) == ("src", 3, 0, 1, 5, "floats", "T_in", False)
    assert (ids.name, ids.rank, ids.time_axis, ids.vocabulary, ids.kind, ids.time_dim, ids.masked) == \
        ("tgt", 2, 1, 20, "ids", "T_out", True)
    assert [s.declaration() for s in model.inputs] == ["(B, T_in, 5)", "(B, T_out)"]
