"""The five sequence modes of the seed text, each as a small canonical model and its input."""

from __future__ import annotations

from typing import Any, Callable

from shapeviz.core.dense import Dense
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.gru import GRU
from shapeviz.core.lstm import LSTM
from shapeviz.core.model import Model
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN

# mode -> (builder, input declaration, what it is for). Every layer is named, counted within its
# model as a spec counts them: an auto-name (lstm_3) would depend on what the process built before.
CANONICAL: dict[str, tuple[Callable[[], Model], Any, str]] = {
    "one-to-one": (lambda: Sequential([Dense(16, activation="tanh", name="dense_1"), Dense(3, name="dense_2")],
                                      name="one_to_one", seed=0),
                   "(B, 4)", "plain feed-forward: a vector in, a class out"),
    "one-to-many": (lambda: OneToMany([LSTM(24, name="lstm_1")], Dense(2, activation="tanh", name="dense_1"), steps=6,
                                      feedback="outputs", name="one_to_many", seed=0),
                    "(B, 2)", "captioning: a vector in, a sequence out (its own outputs fed back)"),
    "many-to-one": (lambda: Sequential([GRU(16, name="gru_1"), Dense(1, name="dense_1")], name="many_to_one", seed=0),
                    "(B, T, 1)", "sentiment: a sequence in, one output"),
    "many-to-many": (lambda: EncoderDecoder([LSTM(32, name="lstm_1")], [LSTM(32, name="lstm_2")],
                                            Dense(3, name="dense_1"), name="many_to_many", seed=0),
                     ("(B, T_in, 3)", "(B, T_out, 3)"), "translation: encoder-decoder, T_in != T_out"),
    "synced many-to-many": (lambda: Sequential([SimpleRNN(16, return_sequences=True, name="simple_rnn_1"),
                                                Dense(1, name="dense_1")], name="synced_many_to_many", seed=0),
                            "(B, T, 1)", "label every frame: one output per input step"),
}
