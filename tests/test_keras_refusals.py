"""What the Keras front end refuses, and how it says so: every problem of every layer at once, each
naming the layer, its class, the option and what is supported. Runs without Keras (hand-written
configs, as ``model.to_json()`` writes them)."""

from __future__ import annotations

import json
import sys

import pytest

from shapeviz.frontends import ModelLoadError, load
from shapeviz.frontends.keras import KerasImportError, supported

DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def layer(class_name: str, **config):
    return {"module": "keras.layers", "class_name": class_name,
            "config": {"trainable": True, "dtype": DTYPE, **config}, "registered_name": None}


def sequential(*layers, batch_shape=(None, None, 3)):
    inp = {"module": "keras.layers", "class_name": "InputLayer",
           "config": {"batch_shape": list(batch_shape), "dtype": "float32", "sparse": False, "ragged": False,
                      "name": "x", "optional": False}, "registered_name": None}
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "m", "trainable": True, "dtype": DTYPE, "layers": [inp, *layers]}}


def lstm(name="lstm", **options):
    base = dict(name=name, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                unroll=False, zero_output_for_mask=False, units=4, activation="tanh", recurrent_activation="sigmoid",
                use_bias=True, unit_forget_bias=True, kernel_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                seed=None)
    return layer("LSTM", **{**base, **options})


def load_config(tmp_path, config):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    return load(str(path))


def test_a_supported_model_loads_from_its_json(tmp_path):
    loaded = load_config(tmp_path, sequential(lstm(), layer("Dense", name="out", units=1, activation="sigmoid")))
    assert loaded.inputs == "(B, T, 3)" and "architecture-only JSON" in loaded.source
    assert [lay.kind for lay in loaded.model.layers] == ["lstm", "dense"]


def test_every_problem_is_listed_at_once(tmp_path):
    config = sequential(
        layer("Conv1D", name="conv", filters=4, kernel_size=3),
        lstm(stateful=True, implementation_detail=1),
        layer("Dense", name="out", units=1, activation="gelu"),
    )
    with pytest.raises(KerasImportError) as info:
        load_config(tmp_path, config)
    text = str(info.value)
    assert "cannot import this Keras model exactly (4 problems)" in text
    assert f"layer 'conv': the Keras class 'Conv1D' is not supported; supported classes: {', '.join(supported())}" \
        in text
    assert "layer 'lstm' (LSTM): option stateful=True is not supported; only stateful=False" in text
    assert ("layer 'lstm' (LSTM): option implementation_detail=1 is unknown to shapeviz's LSTM converter "
            "(it knows: activation, ") in text
    assert "layer 'out' (Dense): option activation='gelu' is not supported; supported activations: " in text


def test_a_regularizer_is_fine_but_a_custom_activation_is_not(tmp_path):
    l2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}
    ok = sequential(lstm(kernel_regularizer=l2), layer("Dense", name="out", units=1, kernel_regularizer=l2))
    assert load_config(tmp_path, ok).model.count_params() > 0
    custom = {"module": "builtins", "class_name": "function", "config": "my_act", "registered_name": "my_act"}
    with pytest.raises(KerasImportError, match=r"layer 'lstm' \(LSTM\): option activation=\{'module': 'builtins'.* is "
                       r"not supported; supported activations: tanh, sigmoid"):
        load_config(tmp_path, sequential(lstm(activation=custom)))


def test_a_non_default_harmless_key_is_refused_with_its_only_value(tmp_path):
    with pytest.raises(KerasImportError, match=r"option trainable=False is not supported; only trainable=True"):
        load_config(tmp_path, sequential(lstm(trainable=False)))
    half = {**DTYPE, "config": {"name": "mixed_float16"}}
    with pytest.raises(KerasImportError, match=r"option dtype=.*mixed_float16.* only dtype=float32"):
        load_config(tmp_path, sequential(lstm(dtype=half)))


def test_masked_options_keras_computes_differently_are_refused(tmp_path):
    config = sequential(layer("Masking", name="mask", mask_value=0.0),
                        lstm(return_sequences=True, zero_output_for_mask=True),
                        lstm(name="back", return_sequences=True, go_backwards=True), lstm(name="last"))
    with pytest.raises(KerasImportError) as info:
        load_config(tmp_path, config)
    assert "layer 'lstm' (LSTM): option zero_output_for_mask=True on a masked input is not supported" in str(info.value)
    assert "layer 'back' (LSTM): go_backwards=True with return_sequences=True on a masked input is not supported" \
        in str(info.value)
    # unmasked, the same options are the same numbers: accepted
    assert load_config(tmp_path, sequential(lstm(return_sequences=True, zero_output_for_mask=True), lstm(name="l2")))


def test_a_subclassed_or_unknown_model_class_is_refused(tmp_path):
    with pytest.raises(KerasImportError, match=r"expected a Sequential or functional Keras model, got the class "
                       r"'MyModel'"):
        load_config(tmp_path, {"class_name": "MyModel", "config": {}})


def test_a_keras_json_is_told_from_a_spec_by_its_content(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"model": {"kind": "sequential"}, "input": "(B, T, 2)", "layers": [{"kind": "lstm", "units": 3}]}))
    assert load(str(tmp_path / "spec.json")).model.layers[0].kind == "lstm"
    assert "architecture-only" in load_config(tmp_path, sequential(lstm())).source


def test_missing_files_and_bad_archives_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="there is no such file"):
        load(str(tmp_path / "none.keras"))
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(ModelLoadError, match=r"expected a .keras file \(a zip archive\)"):
        load(str(tmp_path / "bad.keras"))


def test_missing_h5py_says_how_to_install_it(tmp_path, monkeypatch):
    import zipfile
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as z:
        z.writestr("config.json", json.dumps(sequential(lstm())))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("model.weights.h5", b"")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ModelLoadError, match=r'reading Keras weights needs h5py, which is not installed: run '
                       r'pip install "shapeviz\[keras\]"'):
        load(str(tmp_path / "m.keras"))


def test_save_keras_needs_a_keras_file(tmp_path):
    from shapeviz.errors import ShapeVizError
    model = load_config(tmp_path, sequential(lstm())).model
    with pytest.raises(ShapeVizError, match=r"imported from an architecture-only .json file .* save_keras writes the "
                       r"trained weights into the .keras file"):
        model.save_keras(tmp_path / "out.keras")
    from shapeviz import LSTM, Sequential
    with pytest.raises(ShapeVizError, match="it was not imported from a Keras model"):
        Sequential([LSTM(2)]).save_keras(tmp_path / "out.keras")


def test_the_docs_list_every_converter_and_option():
    """A new converter or option shows up here until docs/keras.md lists it."""
    from pathlib import Path

    from shapeviz.frontends.keras.registry import CONVERTERS
    docs = (Path(__file__).parent.parent / "docs" / "keras.md").read_text(encoding="utf-8")
    for name, conv in CONVERTERS.items():
        assert f"`{name}`" in docs, name
        for key in conv.honours - {"name"}:
            assert f"`{key}`" in docs, (name, key)


def test_the_example_files_open_without_keras():
    pytest.importorskip("h5py", reason="reading Keras weights needs h5py")
    from pathlib import Path

    examples = Path(__file__).parent.parent / "examples" / "keras"
    imdb = load(str(examples / "imdb_lstm.keras"))
    # Keras's own summary() of this file: Embedding 32,000, LSTM 8,320, Dense 33, total 40,353
    assert [lay.count_params() for lay in imdb.model.layers] == [32000, 8320, 33]
    assert imdb.inputs == "(B, T)" and "saved by Keras 3.15.1" in imdb.source
    seq2seq = load(str(examples / "lstm_seq2seq.keras"))
    assert seq2seq.inputs == {"encoder_inputs": "(B, T_in, 71)", "decoder_inputs": "(B, T_out, 93)"}
    assert seq2seq.model.count_params() == 32509


def test_an_old_keras2_sequential_config_is_a_bare_list(tmp_path):
    config = {"class_name": "Sequential", "keras_version": "2.2.4", "backend": "tensorflow", "config": [
        {"class_name": "GRU", "config": {"name": "gru_1", "units": 4, "batch_input_shape": [None, None, 3],
                                         "dtype": "float32", "implementation": 1}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 1}},
    ]}
    loaded = load_config(tmp_path, config)
    gru = loaded.model.layers[0]
    # Keras before 2.3: no reset_after key means reset_after=False; the recurrent activation's default
    # was Keras 2's hard sigmoid (0.2x + 0.5)
    assert gru.reset_after is False and gru.recurrent_activation == "hard_sigmoid_keras2"
    assert loaded.inputs == "(B, T, 3)"
