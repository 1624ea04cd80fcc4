"""Keras 2 / tf.keras legacy .h5 files (written by the keras2_writer fixture from a Keras 3 model, since
Keras 2 cannot be installed here) import as the same model where the semantics coincide, with Keras 2's
own defaults (hard_sigmoid = 0.2x + 0.5, reset_after=False before 2.3) and implicit masks."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"
pytest.importorskip("torch", reason="the Keras parity tests run Keras on its torch backend")
keras = pytest.importorskip("keras", reason="the Keras parity tests need keras (pip install keras)")
pytest.importorskip("h5py", reason="reading Keras weights needs h5py")
from keras import layers as L  # noqa: E402
from keras2_writer import write_keras2_h5  # noqa: E402
from test_keras_parity import TOL, build, imdb_lstm, lstm_seq2seq, pooled_bigru, rel, stacked_simple_rnn  # noqa: E402

from shapeviz.frontends import load  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore::UserWarning:keras")]


@pytest.mark.parametrize("make", [imdb_lstm, lstm_seq2seq, pooled_bigru, stacked_simple_rnn],
                         ids=["imdb_lstm", "lstm_seq2seq", "pooled_bigru", "stacked_simple_rnn"])
def test_keras2_h5_predicts_what_the_keras3_model_predicts(make, tmp_path):
    km, x = build(make)
    write_keras2_h5(tmp_path / "k2.h5", km)
    loaded = load(str(tmp_path / "k2.h5"))
    assert "saved by Keras 2.15.0" in loaded.source
    assert rel(loaded.model.predict(x), km.predict(x, verbose=0)) <= TOL
    assert loaded.model.count_params() == km.count_params()


def keras2_hard_sigmoid(v):
    """Keras 2's hard sigmoid, clip(0.2 x + 0.5, 0, 1), in keras.ops."""
    return keras.ops.clip(0.2 * v + 0.5, 0.0, 1.0)


def test_keras2_hard_sigmoid_is_keras2s(tmp_path):
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((None, 3)), L.LSTM(5, recurrent_activation=keras2_hard_sigmoid,
                                                           name="lstm"), L.Dense(2, name="out")])
    x = np.random.default_rng(0).normal(size=(3, 6, 3)).astype("float32") * 3
    # the same model as Keras 2 saved it: "hard_sigmoid" by name, meaning 0.2x + 0.5
    write_keras2_h5(tmp_path / "k2.h5", km, overrides={"lstm": {"recurrent_activation": "hard_sigmoid"}})
    loaded = load(str(tmp_path / "k2.h5"))
    assert loaded.model.layers[0].recurrent_activation == "hard_sigmoid_keras2"
    assert rel(loaded.model.predict(x), km.predict(x, verbose=0)) <= TOL


def test_keras2_gru_without_reset_after_is_the_old_gru(tmp_path):
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((None, 3)), L.GRU(5, reset_after=False, name="gru"), L.Dense(2, name="out")])
    x = np.random.default_rng(0).normal(size=(3, 6, 3)).astype("float32")
    overrides = {"gru": {"reset_after": None}}
    write_keras2_h5(tmp_path / "k2.h5", km, overrides=overrides)
    import h5py
    import json
    with h5py.File(tmp_path / "k2.h5", "r+") as f:  # Keras before 2.3 wrote no reset_after at all
        config = json.loads(f.attrs["model_config"])
        del config["config"]["layers"][1]["config"]["reset_after"]
        f.attrs["model_config"] = json.dumps(config)
    loaded = load(str(tmp_path / "k2.h5"))
    assert loaded.model.layers[0].reset_after is False
    assert rel(loaded.model.predict(x), km.predict(x, verbose=0)) <= TOL
