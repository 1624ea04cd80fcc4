"""examples/functional.py: its three graph models build, trace, report and learn (a small run)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

RUN_MAIN = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("example", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = module.main(sys.argv[2:])
print("RESULT " + json.dumps(result, default=float))
"""


@pytest.fixture(scope="module")
def functional():
    """The script as a module, undoing the thread setting it makes for scripts."""
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    spec = importlib.util.spec_from_file_location("example_functional", EXAMPLES / "functional.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        if before is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = before
    return module


def test_the_three_models_report_and_learn():
    """main() in a child process with one BLAS thread, as the script runs (see tests/test_examples.py)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", RUN_MAIN, str(EXAMPLES / "functional.py"), "--samples", "1000",
                           "--epochs", "3"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out, _, result = proc.stdout.rpartition("RESULT ")
    result = json.loads(result)
    assert set(result) == {"seq2seq", "addition", "classifier"}
    assert (result["seq2seq"]["mode"], result["seq2seq"]["output"]) == ("many-to-many", "(B, T_out, 12)")
    assert (result["addition"]["mode"], result["addition"]["output"]) == ("many-to-many", "(B, 3, 12)")
    assert (result["classifier"]["mode"], result["classifier"]["output"]) == ("many-to-one", "(B, 1)")
    for name, r in result.items():
        assert r["epochs"] == 3
        assert r["loss_after"] < 0.9 * r["loss_before"], name  # it learned something in three epochs
    # the summary tables were printed, one per model, with the graph's layers
    for layer in ("decoder_dense", "repeat", "per_step", "avg_pool", "max_pool", "pooled"):
        assert layer in out
    assert out.count("Total") == 3 and "Epoch 3/3" in out


def test_models_are_the_keras_graphs(functional):
    seq2seq = functional.build_seq2seq(latent_dim=8)
    assert seq2seq.input_names == ["encoder_inputs", "decoder_inputs"]
    dec = next(n for n in seq2seq.nodes if n.layer.name == "decoder")
    assert [t.describe() for t in dec.inputs[1:]] == ["'encoder' output 1 (h)", "'encoder' output 2 (c)"]
    addition = functional.build_addition(digits=3, hidden=8)
    assert [l.kind for l in addition.layers] == ["lstm", "repeat_vector", "lstm", "time_distributed"]
    assert addition.output_tensors[0].shape == (None, 4, 12)
    classifier = functional.build_classifier(embed=4, units=3)
    ids, labels = functional.classifier_data(5, 12, np.random.default_rng(0))
    assert ids.shape == (5, 12) and labels.shape == (5, 1) and (ids[:, 0] == 0).any()
    y = classifier(ids)
    assert y.shape == (5, 1)
    x, y = functional.seq2seq_data(4, np.random.default_rng(0))
    assert x[0].shape == (4, 5, 10) and x[1].shape == (4, 6, 12) and y.shape == (4, 6, 12)
    # teacher forcing: the decoder reads the targets shifted right, START first
    np.testing.assert_array_equal(x[1][:, 1:], y[:, :-1])
    assert (x[1][:, 0].argmax(-1) == functional.START).all()
    q, a = functional.addition_data(3, 2, np.random.default_rng(0))
    assert q.shape == (3, 5, 12) and a.shape == (3, 3, 12)
