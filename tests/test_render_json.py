"""shapeviz.render.jsonform: the versioned JSON form of a Trace, checked against the shipped schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from render_cases import CASES, all_traces, example, fresh_names
from shapeviz import trace
from shapeviz.render import SCHEMA_ID, dumps, to_json
from shapeviz.render.jsonform import SCHEMA_IDS, schema
from shapeviz.tracing.records import Trace

TOP_LEVEL = ["schema", "model", "model_kind", "mode", "dtype", "inputs", "outputs", "labels", "loss", "options",
             "param_count", "memory", "bindings", "layers", "steps", "gradients", "cost"]


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    return all_traces()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    doc = schema()
    jsonschema.Draft202012Validator.check_schema(doc)
    return jsonschema.Draft202012Validator(doc)


def test_the_schema_ships_with_the_package() -> None:
    path = Path(__file__).resolve().parents[1] / "shapeviz" / "schemas" / "trace.schema.json"
    assert json.loads(path.read_text(encoding="utf-8")) == schema()
    assert schema()["properties"]["schema"]["enum"] == list(SCHEMA_IDS) == ["shapeviz.trace/1", SCHEMA_ID]
    assert SCHEMA_ID == "shapeviz.trace/2"


@pytest.mark.parametrize("case", list(CASES))
def test_every_mode_validates(case: str, traces: dict[str, Trace], validator) -> None:
    doc = json.loads(dumps(traces[case]))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    graph = traces[case].graph is not None  # a graph model's nodes and edges follow its layers
    assert list(doc) == (TOP_LEVEL[:14] + ["graph"] + TOP_LEVEL[14:] if graph else TOP_LEVEL)


def test_version_1_documents_still_validate(traces: dict[str, Trace], validator) -> None:
    """A document written by the version before graphs (schema /1, no graph key) is still valid; a
    /1 document cannot carry a graph, and a graph's edges must say where they go."""
    golden = Path(__file__).parent / "golden" / "json" / "imdb.json"
    old = json.loads(golden.read_text(encoding="utf-8"))
    old["schema"] = "shapeviz.trace/1"
    validator.validate(old)
    doc = to_json(traces["seq2seq_graph"])
    validator.validate(doc)
    doc["schema"] = "shapeviz.trace/1"
    assert not validator.is_valid(doc)
    for path, value in ((("graph", "edges", 0, "slot"), "state"), (("graph", "nodes", 0, "call"), -1)):
        bad = to_json(traces["seq2seq_graph"])
        node = bad
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert not validator.is_valid(bad), path
    bad = to_json(traces["seq2seq_graph"])
    del bad["graph"]["edges"][0]["dst"]
    assert not validator.is_valid(bad)


def test_a_graph_as_json(traces: dict[str, Trace]) -> None:
    doc = to_json(traces["seq2seq_graph"])
    graph = doc["graph"]
    assert [(n["name"], n["kind"]) for n in graph["nodes"]] == [
        ("encoder_inputs", "input"), ("decoder_inputs", "input"), ("encoder", "lstm"), ("decoder", "lstm"),
        ("decoder_dense", "dense")]
    assert graph["nodes"][2]["outputs"] == ["y", "h", "c"]
    handover = [e for e in graph["edges"] if e["slot"] == "initial_state"]
    assert handover == [
        {"src": "encoder", "output": 1, "label": "h", "dst": "decoder", "slot": "initial_state", "index": 0},
        {"src": "encoder", "output": 2, "label": "c", "dst": "decoder", "slot": "initial_state", "index": 1}]
    assert graph["outputs"] == [{"name": "y", "node": "decoder_dense", "output": 0, "label": "y"}]
    assert "graph" not in to_json(traces["many_to_many"])  # the other models: as before, but for the version


def test_a_concrete_trace_validates(validator, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_names(monkeypatch)
    model = example("five_modes").synced(np.random.default_rng(0), 4)[0]
    tr = trace(model, np.zeros((2, 5, 1)), all_steps=True)
    doc = to_json(tr)
    validator.validate(doc)
    assert [s["t"] for s in doc["steps"] if s["phase"] == "forward"] == [0, 1, 2, 3, 4]
    assert doc["memory"]["bytes"] == tr.memory_bytes() and isinstance(doc["memory"]["bytes"], int)


def test_the_schema_rejects_what_is_not_a_trace(traces: dict[str, Trace], validator) -> None:
    good = to_json(traces["imdb"])
    for path, value in ((("layers", 1, "outputs", "y", 1), 128.5),  # not a whole size
                        (("layers", 1, "outputs", "y", 0), "B T"),  # not an expression
                        (("schema",), "shapeviz.trace/3"),
                        (("mode",), "many-to-few"),
                        (("steps", 0, "phase"), "sideways")):
        doc = copy.deepcopy(good)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert not validator.is_valid(doc), f"{path} = {value!r} passed"
    doc = copy.deepcopy(good)
    del doc["gradients"]
    assert not validator.is_valid(doc)


def test_imdb_as_json(traces: dict[str, Trace]) -> None:
    doc = to_json(traces["imdb"])
    assert doc["mode"] == "many-to-one" and doc["inputs"] == {"x": ["B", "T"]} and doc["outputs"] == {"y": ["B", 1]}
    lstm = doc["layers"][1]
    assert lstm["path"] == "lstm_1" and lstm["kind"] == "lstm"
    assert lstm["inputs"] == {"x": ["B", "T", 128]} and lstm["outputs"] == {"y": ["B", 128]}
    assert lstm["states"] == {"h": ["B", 128], "c": ["B", 128]}
    assert lstm["params"] == {"kernel": [128, 512], "recurrent_kernel": [128, 512], "bias": [512]}
    assert lstm["memory"] == {"formula": "4096*B*T+6144*B+264192", "bytes": 4096 * 32 * 80 + 6144 * 32 + 264192}
    assert lstm["config"]["units"] == 128
    assert doc["param_count"] == 2691713
    assert doc["memory"] == {"formula": "4104*B*T+6148*B+264192", "bytes": 10967168}
    assert doc["bindings"] == [
        {"name": "B", "role": "batch", "value": 32, "where": "the given sizes (B=32)", "declared": "the input x (axis 0)"},
        {"name": "T", "role": "time", "value": 80, "where": "the given sizes (T=80)", "declared": "the input x (axis 1)"},
    ]
    forward = [s for s in doc["steps"] if s["phase"] == "forward"]
    backward = [s for s in doc["steps"] if s["phase"] == "backward"]
    assert [s["t"] for s in forward] == [0, 1, "T-1"] and [s["t"] for s in backward] == ["T-1", 1, 0]
    assert list(forward[0]["tensors"]) == ["x_t", "h_{t-1}", "c_{t-1}", "z_t", "h_t", "c_t", "y_t"]
    assert forward[0]["tensors"]["z_t"] == ["B", 512]
    # the core reports a backward step in two halves; the JSON has one entry per step
    assert list(backward[0]["tensors"]) == ["dh_t", "dc_t", "dz_t", "dh_{t-1}", "dc_{t-1}"]
    assert doc["gradients"][1] == {"param": "lstm_1/kernel", "shape": [128, 512], "param_shape": [128, 512],
                                   "ok": True}
    assert doc["labels"] == ["B", 1] and doc["loss"] == "binary_crossentropy"


def test_json_golden(traces: dict[str, Trace], golden) -> None:
    golden("json/imdb.json", dumps(traces["imdb"]))
    golden("json/many_to_many.json", dumps(traces["many_to_many"]))
    golden("json/seq2seq_graph.json", dumps(traces["seq2seq_graph"]))
    golden("json/repeat_graph.json", dumps(traces["repeat_graph"]))
    golden("json/pooled_graph.json", dumps(traces["pooled_graph"]))


def test_unbound_memory_and_wrappers(traces: dict[str, Trace]) -> None:
    doc = to_json(traces["addition_lstm"])
    assert doc["memory"]["bytes"] is None and "B*T" in doc["memory"]["formula"]
    assert [(layer["path"], layer["depth"]) for layer in doc["layers"]] == [
        ("bidirectional_1", 0), ("bidirectional_1/forward_lstm_1", 1), ("bidirectional_1/backward_lstm_1", 1),
        ("dense_1", 0)]
    assert doc["param_count"] == 82601  # the directions counted once, inside the wrapper
    assert doc["layers"][0]["config"]["layer"]["class_name"] == "LSTM"  # nested configs stay JSON


def test_same_model_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = []
    for _ in range(2):  # two fresh builds, names restarted: byte-identical
        fresh_names(monkeypatch)
        texts.append(dumps(CASES["addition"]()))
    assert texts[0] == texts[1]
    model = example("five_modes").many_to_one(np.random.default_rng(0), 4)[0]
    first, second = (dumps(trace(model, "(B, T, 1)", dims={"B": 32, "T": 80})) for _ in range(2))
    assert first == second  # the same model traced twice


def test_dumps_is_json_of_to_json(traces: dict[str, Trace]) -> None:
    tr = traces["one_to_many"]
    assert json.loads(dumps(tr)) == to_json(tr)
    assert dumps(tr).endswith("}\n") and "\n" not in dumps(tr, indent=None).rstrip("\n")
    assert to_json(tr)["options"] == {"steps": 6, "feedback": "outputs"}
