"""The deep checks on graph models: all eight run (per input/output pair where it matters), pass on
sound graphs, and the right check catches a broken one; `check --deep` on a graph through the CLI."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from shapeviz import GRU, LSTM, Dense, Input, Model, SimpleRNN
from shapeviz.checks import CHECKS, run
from shapeviz.cli import main
from shapeviz.core.layer import Layer


def seq2seq() -> Model:
    src, tgt = Input("(B, T_in, 3)", name="source"), Input("(B, T_out, 2)", name="target")
    _, h, c = LSTM(8, return_state=True, name="enc")(src)
    dec = LSTM(8, return_sequences=True, name="dec")(tgt, initial_state=[h, c])
    return Model(inputs=[src, tgt], outputs=Dense(2, name="out")(dec), seed=0)


def two_heads() -> Model:
    x = Input("(B, T, 3)", name="x")
    seq = GRU(6, return_sequences=True, name="gru")(x)
    return Model(inputs=x, outputs=[Dense(2, name="steps")(seq),
                                    Dense(1, activation="sigmoid", name="total")(GRU(4, name="sum")(seq))], seed=0)


class BatchCentre(Layer):
    """A bug: ``y = x - mean over the batch`` mixes the samples."""

    kind = "batch_centre"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        return x - x.mean(axis=0, keepdims=True), x.shape[0]  # (B, T, F)

    def backward(self, dy: Any, cache: Any) -> Any:
        return dy - dy.mean(axis=0, keepdims=True)


class Reverse(Layer):
    """A bug: the sequence reversed in time, fed to a forward layer as if it were in order."""

    kind = "reverse"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        return x[:, ::-1], None  # (B, T, F)

    def backward(self, dy: Any, cache: Any) -> Any:
        return dy[:, ::-1]


def by_name(results: list) -> dict:
    return {r.name: r for r in results}


@pytest.mark.parametrize("build", [seq2seq, two_heads])
def test_every_check_passes_on_sound_graphs(build):
    results = by_name(run(build(), seed=0))
    assert [name for name in CHECKS if name != "data"] == list(results)
    assert all(r.status == "pass" for r in results.values()), {n: (r.status, r.evidence) for n, r in results.items()}


def test_checks_read_each_input_and_output():
    r = by_name(run(seq2seq(), only=["batch independence", "causality", "gradient flow"]))
    assert "source or target" in r["batch independence"].evidence
    assert "1 outputs × 2 inputs" in r["batch independence"].evidence
    # the decoder's output runs over the target's time axis; the source is read whole
    assert r["causality"].data["pairs"] == ["y←target"]
    assert [s["layer"] for s in r["gradient flow"].data["series"]] == ["enc", "dec"]
    heads = by_name(run(two_heads(), only=["initial loss", "causality"]))
    assert heads["initial loss"].evidence.startswith("at init, per output: steps: mean_squared_error")
    assert "total: binary_crossentropy" in heads["initial loss"].evidence
    assert heads["causality"].data["pairs"] == ["steps←x"]


def test_a_batch_mixing_node_fails_batch_independence_naming_the_pair():
    a, b = Input("(B, T, 3)", name="a"), Input("(B, T, 2)", name="b")
    mixed = BatchCentre(name="centre")(b)
    model = Model(inputs=[a, b], outputs=[Dense(1, name="left")(SimpleRNN(3, name="ra")(a)),
                                          Dense(1, name="right")(SimpleRNN(3, name="rb")(mixed))], seed=0)
    r = by_name(run(model, only=["batch independence"]))["batch independence"]
    assert r.status == "fail"
    pairs = {(p["output_name"], p["input_name"]) for p in r.data["pairs"]}
    assert pairs == {("right", "b")}  # 'left' reads only a, which no node mixes
    assert "right[0]←b[1]" in r.evidence or "right[1]←b[0]" in r.evidence


def test_a_time_reversal_fails_causality_naming_the_pair():
    x = Input("(B, T, 3)", name="x")
    y = Dense(2, name="out")(SimpleRNN(4, return_sequences=True, name="rnn")(Reverse(name="rev")(x)))
    r = by_name(run(Model(inputs=x, outputs=y, seed=0), only=["causality"]))["causality"]
    assert r.status == "fail" and r.data["pairs"] == ["y←x"]
    import re
    assert re.match(r"y_(\d) depends on x after step \1 \(relative gradient", r.evidence)


def test_data_check_reads_arrays_named_after_the_inputs():
    rng = np.random.default_rng(0)
    data = {"source": rng.standard_normal((8, 5, 3)), "target": rng.standard_normal((8, 4, 2)),
            "y": rng.standard_normal((8, 4, 2))}
    results = by_name(run(seq2seq(), data=data, only=["data", "shapes", "overfit one batch"]))
    assert results["data"].status == "pass" and results["overfit one batch"].status == "pass"
    data["target"][2, 1, 0] = np.nan
    bad = by_name(run(seq2seq(), data=data, only=["data"]))["data"]
    assert bad.status == "fail" and bad.evidence == "target has 1 NaN/inf values"
    missing = by_name(run(seq2seq(), data={"source": data["source"], "y": data["y"]}, only=["data"]))["data"]
    assert missing.status == "fail"
    assert "reads arrays named after its inputs and outputs: source, target, y; got no 'target'" in missing.evidence


GRAPH_PY = '''
from shapeviz import Dense, LSTM, Input, Model

def seq2seq():
    src = Input("(B, T_in, 3)", name="source")
    tgt = Input("(B, T_out, 2)", name="target")
    _, h, c = LSTM(8, return_state=True, name="enc")(src)
    dec = LSTM(8, return_sequences=True, name="dec")(tgt, initial_state=[h, c])
    return Model(inputs=[src, tgt], outputs=Dense(2, name="out")(dec), seed=0)
'''


def test_check_deep_on_a_graph_model_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "graph.py").write_text(GRAPH_PY)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", source=rng.standard_normal((8, 5, 3)), target=rng.standard_normal((8, 4, 2)),
             y=rng.standard_normal((8, 4, 2)))
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(main, ["check", "graph.py:seq2seq", "--deep", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    import json
    report = json.loads(result.output)
    rows = {c["name"]: c["status"] for c in report["checks"]}
    assert rows == {name: "pass" for name in CHECKS if name != "data"}
    with_data = runner.invoke(main, ["check", "graph.py:seq2seq", "--deep", "--data", "d.npz", "--format", "json"],
                              catch_exceptions=False)
    assert with_data.exit_code == 0, with_data.output
    assert {c["name"]: c["status"] for c in json.loads(with_data.output)["checks"]} == {n: "pass" for n in CHECKS}
