"""The Keras example files in every command, without Keras (h5py only): report names the file and the
Keras version, graph draws it, check runs, train --save writes a .keras file with the trained weights
and the original config; fixed Input sizes are bound with the Input layer as their provenance."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from shapeviz.cli import main

pytest.importorskip("h5py", reason="reading Keras weights needs h5py")

EXAMPLES = Path(__file__).parent.parent / "examples" / "keras"
IMDB = str(EXAMPLES / "imdb_lstm.keras")
SEQ2SEQ = str(EXAMPLES / "lstm_seq2seq.keras")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_report_names_the_file_and_the_keras_version():
    result = run("report", IMDB, "--no-color")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"from {IMDB} (a .keras file saved by Keras 3.15.1)"
    assert "lstm       lstm       (B, T, 32)  (B, 32)" in result.output
    result = run("report", SEQ2SEQ, "--no-color", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["inputs"] == {"encoder_inputs": ["B", "T_in", 71], "decoder_inputs": ["B", "T_out", 93]}


def test_graph_and_check_take_keras_files(tmp_path):
    result = run("graph", SEQ2SEQ, "-o", str(tmp_path / "s.txt"))
    assert result.exit_code == 0, result.output
    assert "decoder" in (tmp_path / "s.txt").read_text()
    result = run("check", IMDB, "--no-color")
    assert result.exit_code == 0, result.output


def test_train_save_writes_the_trained_weights_into_the_original_archive(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 1000, (12, 7)).astype("float32")
    y = rng.integers(0, 2, (12, 1)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "trained.keras"
    result = run("train", IMDB, "--data", str(tmp_path / "d.npz"), "--epochs", "2", "--batch-size", "4",
                 "--loss", "binary_crossentropy", "--save", str(out), "-q")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(f"the Keras model in {out}")
    with zipfile.ZipFile(IMDB) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        assert a.read("config.json") == b.read("config.json") and a.read("metadata.json") == b.read("metadata.json")
        assert a.read("model.weights.h5") != b.read("model.weights.h5")
    from shapeviz import from_keras
    before, after = from_keras(IMDB), from_keras(out)
    assert not np.allclose(before.predict(x), after.predict(x))


def test_train_save_needs_a_keras_model(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3, 2), "float32"), y=np.zeros((4, 1), "float32"))
    spec = Path(__file__).parent.parent / "examples" / "specs" / "addition.toml"
    result = CliRunner().invoke(main, ["train", str(spec), "--data", str(tmp_path / "d.npz"),
                                       "--save", str(tmp_path / "o.keras")])
    assert result.exit_code == 2
    assert "--save: cannot write" in result.output and "expected a .keras MODEL" in result.output
    result = CliRunner().invoke(main, ["train", IMDB, "--data", str(tmp_path / "d.npz"),
                                       "--save", str(tmp_path / "o.h5")])
    assert result.exit_code == 2 and "--save: cannot write" in result.output and "expected the extension .keras" \
        in result.output


def test_a_fixed_length_is_bound_by_the_input_layer(tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 7, 12], "dtype": "float32", "name": "digits"}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 4}},
    ]}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(config))
    result = run("report", str(path), "--no-color")
    assert result.exit_code == 0, result.output
    assert "the model's Input layer 'digits' (T=7)" in result.output
    result = run("report", str(path), "--no-color", "--dim", "T=9")
    assert "the given sizes (T=9)" in result.output
