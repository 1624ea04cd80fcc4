"""The seed's two examples, each run through its main() on a tiny configuration (a few seconds).

main() runs in a child process with ``OPENBLAS_NUM_THREADS=1``, as the scripts set for
themselves: their time loops do hundreds of tiny matmuls per batch, which OpenBLAS's threads
slow down (on a busy 2-core machine, in this process, 30x: 67 s instead of 2 s). The
full-size runs (about 25 s each) are not part of the suite.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shapeviz.datasets.imdb import save_imdb_npz, synthetic_imdb

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    """Import examples/<name>.py as a module, undoing the thread setting it makes for scripts."""
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        if before is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = before
    return module


RUN_MAIN = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("example", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = module.main(sys.argv[2:])
print("RESULT " + json.dumps(result, default=float))
"""


def run_main(name, *argv):
    """``examples/<name>.py``'s ``main(argv)`` in a child process: (what it printed, what it returned)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", RUN_MAIN, str(EXAMPLES / f"{name}.py"), *argv],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out, _, result = proc.stdout.rpartition("RESULT ")
    return out, json.loads(result)


@pytest.fixture(scope="module")
def addition():
    return load_example("addition")


@pytest.fixture(scope="module")
def imdb_lstm():
    return load_example("imdb_lstm")


# -- addition ---------------------------------------------------------------------------------------
def test_addition_learns_below_the_baseline():
    out, result = run_main("addition", "--epochs", "2", "--epoch-size", "20", "--seed", "0")
    assert len(result["val_costs"]) == 2
    assert 0.12 < result["baseline"] < 0.25  # the variance of a sum of two uniforms is 1/6
    assert result["final_cost"] < 0.9 * result["baseline"]
    assert re.search(r"Epoch 1 validation cost = [0-9.]+ +\(predict-the-mean baseline", out)
    assert "Learned: validation cost" in out and out.count("\n  ") >= 6  # header + 5 predictions


def test_addition_lstm_learns_below_the_baseline():
    out, result = run_main("addition", "--lstm", "--epochs", "1", "--epoch-size", "25", "--quiet")
    assert result["final_cost"] < 0.8 * result["baseline"]
    assert "Epoch" not in out and "Learned" in out  # --quiet prints only the summary


def test_addition_model_and_flags(addition):
    model = addition.build_model(seed=0)
    y, _ = model.forward(np.zeros((3, addition.MAX_LENGTH, 2), np.float32), mask=np.ones((3, addition.MAX_LENGTH), bool))
    assert y.shape == (3, 1)  # forward and backward final states (3, 100) each, concatenated, then Dense(1)
    names = [path for path, _, _ in model.parameters()]
    assert len(names) == 8  # 3 weights per direction, Dense kernel and bias
    rnn = [layer for _, layer, key in model.parameters() if key == "recurrent_kernel"]
    assert len(rnn) == 2 and all(np.abs(l.params["recurrent_kernel"]).max() <= np.sqrt(3 / 100) for l in rnn)
    default = addition.parse_args([])
    assert (default.learning_rate, default.epochs) == (addition.LEARNING_RATE, addition.NUM_EPOCHS)
    lasagne = addition.parse_args(["--lasagne"])
    assert (lasagne.learning_rate, lasagne.epochs) == (0.001, 10)
    assert addition.parse_args(["--lstm"]).epochs == addition.NUM_EPOCHS_LSTM
    assert addition.parse_args(["--lasagne", "--epochs", "3"]).epochs == 3


# -- imdb_lstm ----------------------------------------------------------------------------------------
def test_imdb_lstm_learns_above_chance():
    # the first ~50 batches decide whether the sentiment words have been found yet: 1280 reviews
    # scored 61-85% over seeds 0-3, 1600 scored 71-84% (seed 0: 83%, loss 0.45)
    out, result = run_main("imdb_lstm", "--train-size", "1600", "--test-size", "400", "--seed", "0")
    assert result["chance"] == pytest.approx(0.5)
    assert result["test_accuracy"] > 0.65
    assert result["test_loss"] < np.log(2)
    assert "synthetic IMDB-shaped corpus: 1600 train and 400 test reviews" in out
    assert "x_train shape: (1600, 80)" in out and "x_test shape: (400, 80)" in out
    assert "Test accuracy:" in out and "Learned: test accuracy" in out


def test_imdb_lstm_reads_a_keras_file(tmp_path):
    path = save_imdb_npz(tmp_path / "imdb.npz", synthetic_imdb(400, 300, num_words=30000, seed=1))
    out, result = run_main("imdb_lstm", "--data", str(path), "--train-size", "96", "--test-size", "0",
                           "--epochs", "2")
    assert "Using 96 of 400 train and 300 of 300 test reviews" in out
    assert "x_train shape: (96, 80)" in out and "x_test shape: (300, 80)" in out
    assert len(result["history"]["loss"]) == 2 and len(result["history"]["val_accuracy"]) == 2
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_imdb_lstm_model_shapes(imdb_lstm):
    model = imdb_lstm.build_model(seed=0)
    ids = np.array([[0] * 78 + [1, 19999]] * 2)  # (2, 80): padding, start char, the largest id kept
    y, _ = model.forward(ids)
    assert y.shape == (2, 1) and ((y > 0) & (y < 1)).all()
    assert model.count_params() == 20000 * 128 + (128 * 512 + 128 * 512 + 512) + (128 + 1)
