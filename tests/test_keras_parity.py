"""Parity with real Keras: models built and saved by Keras 3 (torch backend) in each format, imported
by shapeviz without Keras, must predict what Keras predicts (float32, relative error <= 1e-5) and show
Keras's per-layer output shapes and parameter counts. Skipped where Keras or torch is absent."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: the torch wheel CI installs
pytest.importorskip("torch", reason="the Keras parity tests run Keras on its torch backend")
keras = pytest.importorskip("keras", reason="the Keras parity tests need keras (pip install keras)")
pytest.importorskip("h5py", reason="reading Keras weights needs h5py")
from keras import layers as L  # noqa: E402

import shapeviz  # noqa: E402
from shapeviz.frontends import load  # noqa: E402
from shapeviz.tracing import trace  # noqa: E402

TOL = 1e-5
# Keras's own warnings (numpy 2's __array__ copy keyword, its legacy-.h5 notice) are not shapeviz's
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore::UserWarning:keras"),
              pytest.mark.filterwarnings("ignore::UserWarning:absl")]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def ids(rng, batch: int, steps: int, vocab: int, pad: bool = True) -> np.ndarray:
    x = rng.integers(1, vocab, (batch, steps)).astype("float32")  # Keras's default Input dtype
    if pad:
        x[0, :2] = 0  # pre-padding (pad_sequences' default) in one row, post-padding in another
        x[1, -3:] = 0
    return x


# -- the models ---------------------------------------------------------------------------
def imdb_lstm():
    m = keras.Sequential([keras.Input((None,), name="words"), L.Embedding(100, 8),
                          L.LSTM(6, dropout=0.2, recurrent_dropout=0.2), L.Dense(1, activation="sigmoid")])
    return m, lambda rng: ids(rng, 4, 9, 100, pad=False)


def bidirectional_classifier():
    m = keras.Sequential([keras.Input((None,)), L.Embedding(60, 8, mask_zero=True),
                          L.Bidirectional(L.LSTM(5)), L.Dropout(0.3), L.Dense(1, activation="sigmoid")])
    return m, lambda rng: ids(rng, 4, 8, 60)


def addition_rnn():
    m = keras.Sequential([keras.Input((7, 12), name="question"), L.LSTM(16), L.RepeatVector(4),
                          L.LSTM(16, return_sequences=True), L.TimeDistributed(L.Dense(12, activation="softmax"))])
    return m, lambda rng: rng.normal(size=(3, 7, 12)).astype("float32")


def lstm_seq2seq():
    enc_in = keras.Input((None, 5), name="encoder_inputs")
    dec_in = keras.Input((None, 4), name="decoder_inputs")
    _, h, c = L.LSTM(8, return_state=True, name="encoder")(enc_in)
    y = L.LSTM(8, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    out = L.Dense(4, activation="softmax", name="decoder_dense")(y)
    m = keras.Model([enc_in, dec_in], out)
    return m, lambda rng: [rng.normal(size=(3, 6, 5)).astype("float32"), rng.normal(size=(3, 4, 4)).astype("float32")]


def gru_tagger():
    m = keras.Sequential([keras.Input((None,)), L.Embedding(40, 8, mask_zero=True),
                          L.GRU(6, return_sequences=True), L.TimeDistributed(L.Dense(5, activation="softmax"))])
    return m, lambda rng: ids(rng, 4, 7, 40)


def stacked_simple_rnn():
    m = keras.Sequential([keras.Input((None, 3)), L.Masking(0.0), L.SimpleRNN(5, return_sequences=True),
                          L.SimpleRNN(4), L.Dense(2)])

    def data(rng):
        x = rng.normal(size=(4, 6, 3)).astype("float32")
        x[0, :2] = 0.0
        x[2, 4:] = 0.0
        return x
    return m, data


def pooled_bigru():
    inp = keras.Input((None,), name="ids")
    e = L.Embedding(30, 8, mask_zero=True)(inp)
    g = L.Bidirectional(L.GRU(5, return_sequences=True))(e)
    p = L.Concatenate()([L.GlobalAveragePooling1D()(g), L.GlobalMaxPooling1D()(g)])
    return keras.Model(inp, L.Dense(3, activation="softmax")(p)), lambda rng: ids(rng, 4, 7, 30)


def hard_sigmoid_lstm():
    m = keras.Sequential([keras.Input((None, 3)), L.LSTM(5, recurrent_activation="hard_sigmoid",
                                                         return_sequences=True), L.Dense(2)])
    return m, lambda rng: rng.normal(size=(3, 6, 3)).astype("float32") * 3


def gru_reset_before():
    m = keras.Sequential([keras.Input((None, 3)), L.GRU(5, reset_after=False), L.Dense(2)])
    return m, lambda rng: rng.normal(size=(3, 6, 3)).astype("float32")


MODELS = {
    "imdb_lstm": imdb_lstm, "bidirectional_classifier": bidirectional_classifier, "addition_rnn": addition_rnn,
    "lstm_seq2seq": lstm_seq2seq, "gru_tagger": gru_tagger, "stacked_simple_rnn": stacked_simple_rnn,
    "pooled_bigru": pooled_bigru,
    "hard_sigmoid_lstm": hard_sigmoid_lstm, "gru_reset_before": gru_reset_before,
}


def build(make, seed: int = 0):
    keras.utils.set_random_seed(seed)
    model, data = make()
    # non-trivial biases too: Keras initialises them to zero
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([w + rng.normal(scale=0.1, size=w.shape).astype(w.dtype) for w in weights])
    return model, data(np.random.default_rng(seed + 1))


def check_shapes_and_params(km, loaded):
    """Per layer: Keras's output shape (None for free axes) and parameter count."""
    tr = trace(loaded.model, loaded.inputs, dims=loaded.dims, backward=False, roles=loaded.roles)
    layers = {layer.name: layer for layer in loaded.model.layers}
    for kl in km.layers:
        if isinstance(kl, L.InputLayer):
            continue
        assert layers[kl.name].count_params() == kl.count_params(), kl.name
        out = kl.output
        kshape = tuple((out[0] if isinstance(out, (list, tuple)) else out).shape)
        record = tr.layer(kl.name)
        ours = str(next(iter(record.outputs.values()))).strip("()").split(", ")
        assert len(ours) == len(kshape), (kl.name, ours, kshape)
        for mine, theirs in zip(ours, kshape):
            if theirs is None:
                assert not mine.isdigit(), (kl.name, ours, kshape)
            else:
                assert mine == str(theirs) or (mine.isalpha() and loaded.dims.get(mine) == theirs), \
                    (kl.name, ours, kshape)
    assert loaded.model.count_params() == km.count_params()


@pytest.mark.parametrize("make", list(MODELS.values()), ids=list(MODELS))
def test_keras_file_formats_predict_what_keras_predicts(make, tmp_path):
    km, x = build(make)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "m.keras")
    km.save(tmp_path / "m.h5")
    (tmp_path / "m.json").write_text(km.to_json())
    for name in ("m.keras", "m.h5"):
        loaded = load(str(tmp_path / name))
        assert f"saved by Keras {keras.__version__}" in loaded.source and name in loaded.source
        got = loaded.model.predict(x)
        assert rel(got, expected) <= TOL, name
        check_shapes_and_params(km, loaded)
    # architecture only: fresh weights, said so; with Keras's weights put in per layer it is the same model
    loaded = load(str(tmp_path / "m.json"))
    assert "weights freshly initialised" in loaded.source
    check_shapes_and_params(km, loaded)
    for layer in loaded.model.layers:
        if layer.built and layer.get_weights():
            layer.set_weights(km.get_layer(layer.name).get_weights())
    assert rel(loaded.model.predict(x), expected) <= TOL
    # a live model, through get_config() and get_weights() only
    assert rel(shapeviz.from_keras(km).predict(x), expected) <= TOL


def test_the_twin_trains_and_goes_back_to_keras(tmp_path):
    km, x = build(gru_tagger)
    km.save(tmp_path / "tagger.keras")
    model = shapeviz.from_keras(tmp_path / "tagger.keras")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, x.shape).astype("int64")
    before = model.predict(x)
    model.compile("sparse_categorical_crossentropy", "adam")
    model.fit(x, y, epochs=3, batch_size=2, verbose=0, seed=0)
    after = model.predict(x)
    assert rel(after, before) > 1e-3  # it did train
    model.save_keras(tmp_path / "trained.keras")
    back = keras.saving.load_model(tmp_path / "trained.keras")
    assert rel(back.predict(x, verbose=0), after) <= TOL
    import json
    import zipfile
    with zipfile.ZipFile(tmp_path / "tagger.keras") as a, zipfile.ZipFile(tmp_path / "trained.keras") as b:
        assert json.loads(a.read("config.json")) == json.loads(b.read("config.json"))
        assert a.read("metadata.json") == b.read("metadata.json")


def test_train_command_saves_a_keras_file(tmp_path):
    from click.testing import CliRunner

    from shapeviz.cli import main
    km, x = build(imdb_lstm)
    km.save(tmp_path / "imdb.keras")
    y = np.random.default_rng(4).integers(0, 2, (len(x), 1)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    result = CliRunner().invoke(main, ["train", str(tmp_path / "imdb.keras"), "--data", str(tmp_path / "d.npz"),
                                       "--epochs", "2", "--batch-size", "2", "--loss", "binary_crossentropy",
                                       "--save", str(tmp_path / "out.keras"), "-q"])
    assert result.exit_code == 0, result.output
    assert f"the Keras model in {tmp_path / 'out.keras'}" in result.output
    back = keras.saving.load_model(tmp_path / "out.keras")
    twin = shapeviz.from_keras(tmp_path / "out.keras")
    assert rel(back.predict(x, verbose=0), twin.predict(x)) <= TOL
    assert rel(back.predict(x, verbose=0), km.predict(x, verbose=0)) > 1e-4  # the weights are the trained ones


# -- every layer and option the front end takes -------------------------------------------
def bidirectional_modes():
    inp = keras.Input((None, 3), name="x")
    outs = []
    for mode in ("concat", "sum", "mul", "ave"):
        outs.append(L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode=mode, name=f"bi_{mode}")(inp))
    both = L.Bidirectional(L.LSTM(4), merge_mode=None, name="bi_none")(inp)
    custom = L.Bidirectional(L.LSTM(4, return_sequences=True),
                             backward_layer=L.LSTM(4, return_sequences=True, go_backwards=True,
                                                   use_bias=False), name="bi_custom")(inp)
    seq = L.Concatenate()(outs + [custom])
    flat = L.Concatenate()([L.GlobalAveragePooling1D()(seq), *both])
    return keras.Model(inp, L.Dense(2)(flat)), lambda rng: rng.normal(size=(3, 5, 3)).astype("float32")


def recurrent_options():
    inp = keras.Input((None, 3), name="x")
    a = L.LSTM(4, use_bias=False, unit_forget_bias=False, return_sequences=True, go_backwards=True,
               unroll=True)(inp)
    y, h = L.GRU(4, return_state=True, activation="tanh", dropout=0.1, recurrent_dropout=0.1)(a)
    s = L.SimpleRNN(4, activation="relu", use_bias=False, go_backwards=True)(inp)
    return keras.Model(inp, [L.Add()([y, h]), L.Dense(2)(s)]), \
        lambda rng: rng.normal(size=(3, 5, 3)).astype("float32")


def plumbing():
    inp = keras.Input((6, 4), name="frames")
    x = L.SpatialDropout1D(0.2)(inp)
    x = L.TimeDistributed(L.Dense(4, activation="tanh"))(x)
    p = L.Permute((2, 1))(x)  # (B, 4, 6)
    r = L.Reshape((6, 4))(L.Flatten()(p))
    seq = L.LSTM(5, return_sequences=True)(L.Activation("relu")(r))
    a = L.Dense(5)(seq)
    merged = L.Average()([L.Subtract()([seq, a]), L.Multiply()([seq, a])])
    top = L.GlobalMaxPooling1D()(merged)
    rep = L.RepeatVector(3)(top)
    return keras.Model(inp, L.SimpleRNN(2, return_sequences=True)(rep)), \
        lambda rng: rng.normal(size=(3, 6, 4)).astype("float32")


def masked_merges():
    a = keras.Input((None,), name="a")
    b = keras.Input((None,), name="b")
    shared = L.Embedding(20, 4, mask_zero=True, name="shared")
    sa = L.LSTM(3, return_sequences=True)(shared(a))
    sb = L.LSTM(3, return_sequences=True)(shared(b))  # a shared layer: its second call is node 1
    cat = L.Concatenate()([sa, sb])
    added = L.Add()([sa, sb])
    out = L.Concatenate()([L.GRU(2)(cat), L.GRU(2)(added), L.GlobalAveragePooling1D()(sa)])
    return keras.Model([a, b], out), lambda rng: [ids(rng, 4, 6, 20), np.flip(ids(rng, 4, 6, 20), axis=0).copy()]


MORE = {"bidirectional_modes": bidirectional_modes, "recurrent_options": recurrent_options, "plumbing": plumbing,
        "masked_merges": masked_merges}


@pytest.mark.parametrize("make", list(MORE.values()), ids=list(MORE))
def test_every_layer_and_option_predicts_what_keras_predicts(make, tmp_path):
    km, x = build(make)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "m.keras")
    loaded = load(str(tmp_path / "m.keras"))
    got = loaded.model.forward(x)[0]
    for mine, theirs in zip(got if isinstance(got, list) else [got], expected if isinstance(expected, list)
                            else [expected]):
        assert rel(mine, theirs) <= TOL
    assert loaded.model.count_params() == km.count_params()


def test_a_mask_keras_hands_a_layer_that_the_twin_would_not_is_refused(tmp_path):
    from shapeviz.frontends.keras import KerasImportError
    ids_in = keras.Input((None,), name="ids")
    feats = keras.Input((None, 3), name="feats")
    y = L.LSTM(4, name="lstm")(feats, mask=keras.ops.not_equal(ids_in, 0))  # a mask from another input
    keras.Model([ids_in, feats], y).save(tmp_path / "m.keras")
    with pytest.raises(KerasImportError, match=r"layer 'lstm' \(LSTM\): Keras hands this call the mask \(ids != 0\), "
                       r"shapeviz's graph would hand it none"):
        load(str(tmp_path / "m.keras"))


def test_an_operation_on_the_data_is_refused(tmp_path):
    from shapeviz.frontends.keras import KerasImportError
    x = keras.Input((None, 3), name="x")
    y = L.LSTM(4, name="lstm")(keras.ops.tanh(x))
    keras.Model(x, y).save(tmp_path / "m.keras")
    with pytest.raises(KerasImportError, match=r"layer 'lstm' \(LSTM\) reads the result of the operation 'tanh' "
                       r"\(Tanh\): operations \(keras.ops calls\) in a functional model are not supported"):
        load(str(tmp_path / "m.keras"))


def test_inputs_in_the_models_order_not_the_configs(tmp_path):
    enc_in = keras.Input((None, 5), name="enc")  # made first: first in the config's layer list
    dec_in = keras.Input((None, 4), name="dec")
    _, h, c = L.LSTM(6, return_state=True)(enc_in)
    y = L.LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
    km = keras.Model([dec_in, enc_in], y)  # but second in the model's inputs
    km.compile(loss="mse")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(3, 4, 4)).astype("float32"), rng.normal(size=(3, 7, 5)).astype("float32")]
    km.save(tmp_path / "m.keras")
    loaded = load(str(tmp_path / "m.keras"))
    assert list(loaded.inputs) == ["dec", "enc"] and loaded.inputs["dec"] == "(B, T_in, 4)"
    assert loaded.loss == "mse"
    assert rel(loaded.model.predict(x), km.predict(x, verbose=0)) <= TOL
    trace(loaded.model, loaded.inputs, roles=loaded.roles)
