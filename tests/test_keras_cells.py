"""The cells against real Keras (skipped where Keras is absent): the same options, Keras's
weights copied in, the same outputs in float32 (rtol 1e-5).

Keras runs on its torch backend (``KERAS_BACKEND=torch``, set here before the import unless
Keras is already imported), so no TensorFlow is needed.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras")

from shapeviz.core.gru import GRU  # noqa: E402
from shapeviz.core.lstm import LSTM  # noqa: E402
from shapeviz.core.simple_rnn import SimpleRNN  # noqa: E402

# Keras's torch backend converts tensors with np.array(tensor), which numpy 2 warns about on
# this torch; the warning is Keras's, not shapeviz's (filterwarnings=error would fail on it)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

B, T, F, H = 3, 6, 4, 5
MASK = np.array([[1, 1, 1, 1, 1, 1],
                 [1, 1, 1, 1, 0, 0],
                 [1, 1, 1, 1, 1, 0]], dtype=bool)  # (B, T) right padding, as Keras models see it
KERAS_ACTS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softsign")  # Keras 3's names = ours
CLOSE = dict(rtol=1e-5, atol=1e-6)


def keras2_hard_sigmoid(v):
    """Keras 2's ``backend.hard_sigmoid`` (``clip(0.2·x + 0.5, 0, 1)``) in keras.ops: what a
    Keras 2 model's "hard_sigmoid" computed, and what shapeviz calls "hard_sigmoid_keras2"."""
    return keras.ops.clip(0.2 * v + 0.5, 0.0, 1.0)


def weights(layer):
    """Keras's weights as numpy (``get_weights`` goes through ``np.array(variable)``, which
    numpy 2 warns about on the torch backend)."""
    return [keras.ops.convert_to_numpy(v.value) for v in layer.weights]


def twin(ours_cls, keras_cls, *, seed=0, keras_options=None, **options):
    """A Keras layer with random weights (std 0.3) and shapeviz's layer of the same options
    with those weights."""
    k = keras_cls(H, **{**options, **(keras_options or {})})
    k.build((None, T, F))
    rng = np.random.default_rng(seed)
    k.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32") for w in weights(k)])
    ours = ours_cls(H, **options)
    ours.build((B, T, F))
    ours.set_weights(weights(k))
    return k, ours


def run_keras(layer, x, **kw):
    out = layer(keras.ops.convert_to_tensor(x), **{k: (keras.ops.convert_to_tensor(v) if k == "mask" else
                                                       [keras.ops.convert_to_tensor(s) for s in v])
                                                   for k, v in kw.items()})
    return [keras.ops.convert_to_numpy(o) for o in out] if isinstance(out, (list, tuple)) else \
        keras.ops.convert_to_numpy(out)


def x_for(seed=1):
    return np.random.default_rng(seed).normal(size=(B, T, F)).astype("float32")


@pytest.mark.parametrize("activation", KERAS_ACTS)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_simple_rnn(activation, masked):
    k, ours = twin(SimpleRNN, keras.layers.SimpleRNN, activation=activation, return_sequences=True)
    x = x_for()
    kw = {"mask": MASK} if masked else {}
    np.testing.assert_allclose(ours(x, **kw), run_keras(k, x, **kw), **CLOSE)


@pytest.mark.parametrize("activation, recurrent_activation", list(itertools.product(KERAS_ACTS, KERAS_ACTS)))
def test_lstm_activations(activation, recurrent_activation):
    k, ours = twin(LSTM, keras.layers.LSTM, activation=activation, recurrent_activation=recurrent_activation,
                   return_sequences=True)
    x = x_for()
    np.testing.assert_allclose(ours(x, mask=MASK), run_keras(k, x, mask=MASK), **CLOSE)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("activation, recurrent_activation", list(itertools.product(KERAS_ACTS, KERAS_ACTS)))
def test_gru_activations(activation, recurrent_activation, reset_after):
    k, ours = twin(GRU, keras.layers.GRU, activation=activation, recurrent_activation=recurrent_activation,
                   reset_after=reset_after, return_sequences=True)
    x = x_for()
    np.testing.assert_allclose(ours(x, mask=MASK), run_keras(k, x, mask=MASK), **CLOSE)


@pytest.mark.parametrize("ours_cls, keras_cls, options", [
    (LSTM, "LSTM", {"use_bias": False}),
    (LSTM, "LSTM", {"unit_forget_bias": False, "go_backwards": True}),
    (LSTM, "LSTM", {"go_backwards": True, "activation": "softsign", "recurrent_activation": "hard_sigmoid"}),
    (GRU, "GRU", {"reset_after": False, "use_bias": False}),
    (GRU, "GRU", {"reset_after": False, "go_backwards": True}),
    (GRU, "GRU", {"use_bias": False, "go_backwards": True, "activation": "relu"}),
    (SimpleRNN, "SimpleRNN", {"use_bias": False, "go_backwards": True, "activation": "softsign"}),
    (LSTM, "LSTM", {"unroll": True}),
    (GRU, "GRU", {"unroll": True, "reset_after": False}),
], ids=lambda v: v if isinstance(v, str) else ("" if isinstance(v, type) else "-".join(f"{a}={b}" for a, b in v.items())))
def test_options_with_states(ours_cls, keras_cls, options):
    k, ours = twin(ours_cls, getattr(keras.layers, keras_cls), return_sequences=True, return_state=True, **options)
    x = x_for()
    rng = np.random.default_rng(2)
    states = [rng.normal(size=(B, H)).astype("float32") for _ in ours.state_names]
    for kw in ({}, {"initial_state": states}, {"mask": MASK}):
        got = ours(x, **kw)
        want = run_keras(k, x, **kw)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, **CLOSE)


@pytest.mark.parametrize("ours_cls, keras_cls, options", [
    (LSTM, "LSTM", {}),  # Keras 2's LSTM: recurrent_activation="hard_sigmoid" meant clip(0.2x + 0.5, 0, 1)
    (GRU, "GRU", {"reset_after": False}),  # Keras 2's GRU before 2.3: reset_after=False too
], ids=["LSTM", "GRU-reset_before"])
def test_keras2_hard_sigmoid(ours_cls, keras_cls, options):
    k, ours = twin(ours_cls, getattr(keras.layers, keras_cls), keras_options={"recurrent_activation": keras2_hard_sigmoid},
                   return_sequences=True, **options)
    ours = ours_cls(H, recurrent_activation="hard_sigmoid_keras2", return_sequences=True, **options)
    ours.build((B, T, F))
    ours.set_weights(weights(k))
    x = x_for() * 3.0  # past ±2.5, where the two hard sigmoids differ most
    np.testing.assert_allclose(ours(x, mask=MASK), run_keras(k, x, mask=MASK), **CLOSE)
    keras3 = ours_cls(H, recurrent_activation="hard_sigmoid", return_sequences=True, **options)
    keras3.build((B, T, F))
    keras3.set_weights(weights(k))
    assert np.abs(keras3(x) - run_keras(k, x)).max() > 1e-2  # the other definition is not Keras 2's


def test_keras_hard_sigmoid_is_the_keras_3_one():
    z = np.array([-3.5, -1.0, 0.0, 1.0, 2.75], dtype="float32")
    got = keras.ops.convert_to_numpy(keras.activations.hard_sigmoid(keras.ops.convert_to_tensor(z)))
    np.testing.assert_allclose(got, np.clip(z / 6 + 0.5, 0, 1), rtol=1e-6)
