"""`shapeviz train` and `shapeviz check --deep` on graph models, through click's CliRunner."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner, Result

from shapeviz.cli import main

GRAPH_PY = '''
from shapeviz import Dense, GRU, LSTM, Input, Model

def seq2seq():  # two inputs, the encoder's states start the decoder; one output per decoder step
    src = Input("(B, T_in, 3)", name="source")
    tgt = Input("(B, T_out, 2)", name="target")
    _, h, c = LSTM(8, return_state=True, name="enc")(src)
    dec = LSTM(8, return_sequences=True, name="dec")(tgt, initial_state=[h, c])
    return Model(inputs=[src, tgt], outputs=Dense(2, name="out")(dec), seed=0)

def two_heads():  # one input, two outputs: per step and per sequence
    x = Input("(B, T, 3)", name="x")
    seq = GRU(6, return_sequences=True, name="gru")(x)
    model = Model(inputs=x, outputs=[Dense(2, name="steps")(seq), Dense(1, name="total")(GRU(4, name="sum")(seq))],
                  seed=0)
    model.compile({"steps": "mse", "total": "mse"}, loss_weights={"total": 0.5})
    return model
'''


@pytest.fixture
def chdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "graph.py").write_text(GRAPH_PY)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "seq2seq.npz", source=rng.standard_normal((12, 5, 3)), target=rng.standard_normal((12, 4, 2)),
             y=rng.standard_normal((12, 4, 2)), source_val=rng.standard_normal((4, 5, 3)),
             target_val=rng.standard_normal((4, 4, 2)), y_val=rng.standard_normal((4, 4, 2)))
    np.savez(tmp_path / "heads.npz", x=rng.standard_normal((8, 6, 3)), steps=rng.standard_normal((8, 6, 2)),
             total=rng.standard_normal((8, 1)))
    np.savez(tmp_path / "wrong.npz", x=rng.standard_normal((12, 5, 3)), y=rng.standard_normal((12, 4, 2)))
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "120"}).invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_a_graph_on_arrays_named_after_its_inputs(chdir):
    result = run("train", "graph.py:seq2seq", "--data", "seq2seq.npz", "--epochs", "2", "--batch-size", "4", "-q",
                 "--checkpoint", "run.npz")
    assert result.exit_code == 0, result.output
    assert re.search(r"trained epochs 1-2 of 2: loss: [0-9.]+ - val_loss: [0-9.]+; weights in run\.npz", result.output)
    again = run("train", "graph.py:seq2seq", "--data", "seq2seq.npz", "--epochs", "3", "-q", "--checkpoint",
                "run.npz", "--resume")
    assert again.exit_code == 0 and "resumed from run.npz after epoch 2" in again.output


def test_train_a_graph_with_two_outputs_logs_each(chdir):
    result = run("train", "graph.py:two_heads", "--data", "heads.npz", "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert re.search(r"loss: [0-9.]+ - steps_loss: [0-9.]+ - total_loss: [0-9.]+", result.output)


def test_train_a_graph_without_its_keys_lists_the_expected_ones(chdir):
    result = run("train", "graph.py:seq2seq", "--data", "wrong.npz")
    assert result.exit_code == 2
    assert ("expects arrays named after its inputs and outputs: source, target, y (optionally mask_<input>, and "
            "<key>_val for validation); got no 'source', 'target' (it holds x, y)") in " ".join(result.output.split())


def test_check_data_on_a_graph_reads_arrays_named_after_its_inputs(chdir):
    good = run("check", "graph.py:seq2seq", "--data", "seq2seq.npz")
    assert good.exit_code == 0, good.output
    assert "✓ data:" in good.output and "source (12, 5, 3)" in good.output
    heads = run("check", "graph.py:two_heads", "--data", "heads.npz")
    assert heads.exit_code == 0, heads.output
    rng = np.random.default_rng(1)
    np.savez(chdir / "bad.npz", source=rng.standard_normal((12, 5, 4)), target=rng.standard_normal((12, 4, 2)),
             y=rng.standard_normal((12, 4, 2)))
    bad = run("check", "graph.py:seq2seq", "--data", "bad.npz")
    assert bad.exit_code == 1  # a model and data that do not fit each other: a problem found
    text = " ".join(bad.output.split())
    assert "the arrays in 'bad.npz' do not fit the model" in text and "'enc' (lstm) was built for 3 input features" in text
    assert "source has shape (12, 5, 4): read axis 0 as the samples (12), axis 1 as the time of source (5)" in text
    wrong_targets = run("check", "graph.py:two_heads", "--data", "seq2seq.npz")
    assert wrong_targets.exit_code == 2 and "got no 'x', 'steps', 'total'" in " ".join(wrong_targets.output.split())
