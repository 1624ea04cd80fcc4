"""Traces of the five modes and the two seed examples, for the renderer tests.

``CASES`` maps a case name to a function returning a fresh Trace. Call :func:`fresh_names`
(with pytest's ``monkeypatch``) before building one, so layer names do not depend on which
tests ran before (``lstm_1``, not ``lstm_7``).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import pytest

import shapeviz.core.layer as layer_module
import shapeviz.core.model as model_module
from shapeviz import trace
from shapeviz.tracing.records import Trace

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_modules: dict[str, ModuleType] = {}


def example(name: str) -> ModuleType:
    """An example script as a module (loaded once; its ``main`` is not run)."""
    if name not in _modules:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _modules[name] = module
    return _modules[name]


def fresh_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restart the automatic layer and model names (``lstm_1``, ``sequential_1``) for one test."""
    monkeypatch.setattr(layer_module, "_counters", {})
    monkeypatch.setattr(model_module, "_counter", itertools.count(1))


def _mode(name: str) -> Callable[[], object]:
    return dict(example("five_modes").MODES)[name]


def one_to_one() -> Trace:
    model, _, _ = _mode("one-to-one")(np.random.default_rng(0), 4)
    return trace(model, "(B, 4)", labels="(B,)")


def one_to_many() -> Trace:
    model, _, _ = _mode("one-to-many")(np.random.default_rng(0), 4)
    return trace(model, "(B, 2)", labels="(B, 6, 2)")


def many_to_one() -> Trace:
    model, _, _ = _mode("many-to-one")(np.random.default_rng(0), 4)
    return trace(model, "(B, T, 1)", labels="(B, 1)")


def many_to_many() -> Trace:
    model, _, _ = _mode("many-to-many (encoder-decoder)")(np.random.default_rng(0), 4)
    return trace(model, ("(B, T_in, 3)", "(B, T_out, 3)"), labels="(B, T_out, 3)")


def synced() -> Trace:
    model, _, _ = _mode("synced many-to-many")(np.random.default_rng(0), 4)
    return trace(model, "(B, T, 1)", labels="(B, T, 1)", dims={"B": 32, "T": 8})


def imdb() -> Trace:
    """Keras's imdb_lstm: ids (32, 80) -> Embedding -> LSTM(128) -> Dense(1, sigmoid)."""
    model = example("imdb_lstm").build_model(seed=0)
    return trace(model, "(B, T)", dims={"B": 32, "T": 80}, labels="(B, 1)", loss="binary_crossentropy")


def addition() -> Trace:
    """Lasagne's addition task: a masked bidirectional SimpleRNN(100), (100, 55, 2) -> (100, 1)."""
    model = example("addition").build_model(seed=0)
    return trace(model, "(B, T, 2)", mask="(B, T)", dims={"B": 100, "T": 55}, labels="(B, 1)", loss="mse")


def addition_lstm() -> Trace:
    """The addition task with ``--lstm``: h and c in both directions."""
    model = example("addition").build_model(lstm=True, seed=0)
    return trace(model, "(B, T, 2)", mask="(B, T)", labels="(B, 1)", loss="mse")


# -- graph models (issue 10's three examples) ----------------------------------------------------
def seq2seq_graph() -> Trace:
    """Keras's lstm_seq2seq: two inputs, the encoder's return_state (h, c) starts the decoder."""
    from shapeviz import LSTM, Dense, Input, Model
    enc_in = Input("(B, T_in, 71)", name="encoder_inputs")
    dec_in = Input("(B, T_out, 93)", name="decoder_inputs")
    _, h, c = LSTM(32, return_state=True, name="encoder")(enc_in)
    dec, _, _ = LSTM(32, return_sequences=True, return_state=True, name="decoder")(dec_in, initial_state=[h, c])
    out = Dense(93, activation="softmax", name="decoder_dense")(dec)
    model = Model(inputs=[enc_in, dec_in], outputs=out, name="seq2seq", seed=0)
    return trace(model, None, labels="(B, T_out, 93)", loss="categorical_crossentropy")


def repeat_graph() -> Trace:
    """addition_rnn's decoder as a one-to-many: a vector, RepeatVector(4), an LSTM over the 4 steps,
    TimeDistributed(Dense) at every step."""
    from shapeviz import LSTM, Dense, Input, Model, RepeatVector, TimeDistributed
    question = Input("(B, 12)", name="question")
    code = Dense(16, activation="relu", name="encode")(question)
    seq = LSTM(16, return_sequences=True, name="decoder")(RepeatVector(4, name="repeat")(code))
    out = TimeDistributed(Dense(12, activation="softmax", name="digit"), name="digits")(seq)
    return trace(Model(inputs=question, outputs=out, name="addition_rnn", seed=0), None)


def pooled_graph() -> Trace:
    """A text classifier: a bidirectional GRU's sequence, average- and max-pooled, concatenated, Dense."""
    from shapeviz import GRU, Bidirectional, Concatenate, Dense, Embedding, GlobalAveragePooling1D, \
        GlobalMaxPooling1D, Input, Model
    ids = Input("(B, T)", name="tokens", dtype="int64")
    emb = Embedding(2000, 16, name="embed")(ids)
    seq = Bidirectional(GRU(8, return_sequences=True), name="bigru")(emb)
    both = Concatenate(name="pools")([GlobalAveragePooling1D(name="avg")(seq), GlobalMaxPooling1D(name="max")(seq)])
    out = Dense(1, activation="sigmoid", name="score")(both)
    return trace(Model(inputs=ids, outputs=out, name="classifier", seed=0), None, labels="(B, 1)",
                 loss="binary_crossentropy")


GRAPH_CASES: dict[str, Callable[[], Trace]] = {
    "seq2seq_graph": seq2seq_graph,
    "repeat_graph": repeat_graph,
    "pooled_graph": pooled_graph,
}

CASES: dict[str, Callable[[], Trace]] = {
    "one_to_one": one_to_one,
    "one_to_many": one_to_many,
    "many_to_one": many_to_one,
    "many_to_many": many_to_many,
    "synced": synced,
    "imdb": imdb,
    "addition": addition,
    "addition_lstm": addition_lstm,
    **GRAPH_CASES,
}


@functools.cache
def all_traces() -> dict[str, Trace]:
    """One trace of every case, each built with fresh names; made once per test run and shared by
    the renderer tests (building imdb's and the LSTM addition's weights takes a second or two).
    Treat them as read-only: ``trace.bind()`` makes a copy."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, make in CASES.items():
            fresh_names(mp)
            out[name] = make()
    return out
