"""Graph specs: ``[model] kind = "graph"`` builds the Functional the Python API builds, traces it, and
every mistake in its inputs, nodes and outputs gets its message at its key and line."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from shapeviz import Input, Model, ShapeError
from shapeviz.cli import main
from shapeviz.core.dense import Dense
from shapeviz.core.functional import Functional
from shapeviz.core.lstm import LSTM
from shapeviz.frontends.spec import SpecError, build_spec, load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "examples" / "specs"
GRAPH_EXAMPLES = [SPECS / "seq2seq_graph.toml", SPECS / "pooled_bigru.toml"]

# line numbers below refer to this text
BASE = """\
mode = "many-to-many"
outputs = ["probs"]

[model]
kind = "graph"
seed = 0

[[inputs]]
name = "source"
shape = "(B, T_in, 3)"

[[inputs]]
name = "target"
shape = "(B, T_out, 4)"

[[nodes]]
name = "enc"
layer = { kind = "lstm", units = 8, return_state = true }
inputs = ["source"]

[[nodes]]
name = "dec"
layer = { kind = "lstm", units = 8, return_sequences = true }
inputs = ["target"]
initial_state = ["enc.h", "enc.c"]

[[nodes]]
name = "probs"
layer = { kind = "dense", units = 4, activation = "softmax" }
inputs = ["dec"]
"""

EXTRA_NODE = """
[[nodes]]
name = "extra"
layer = { kind = "dense", units = 2 }
inputs = ["dec"]
"""


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return Path(name)


def edited(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# -- building ------------------------------------------------------------------------------------
def test_the_base_graph_builds_and_traces(tmp_path):
    spec = load_spec(write(tmp_path, BASE, "seq.toml"))
    model = spec.model
    assert isinstance(model, Functional) and model.name == "seq" and model.seed == 0
    assert spec.inputs == {"source": "(B, T_in, 3)", "target": "(B, T_out, 4)"}
    assert model.input_names == ["source", "target"] and model.single_output
    assert [n.name for n in model.nodes] == ["enc", "dec", "probs"]
    dec = model.nodes[1]
    assert [t.describe() for t in dec.inputs] == ["input 'target'", "'enc' output 1 (h)", "'enc' output 2 (c)"]
    assert spec.mode == model.mode == "many-to-many"
    trace = spec.trace()
    assert [r.path for r in trace.layers] == ["enc", "dec", "probs"]
    assert str(trace.outputs["y"]) == "(B, T_out, 4)"
    assert {k: str(v) for k, v in trace.layers[1].inputs.items()} == {"x": "(B, T_out, 4)", "h_0": "(B, 8)",
                                                                      "c_0": "(B, 8)"}


def test_the_spec_builds_what_the_python_api_builds(tmp_path):
    """Same layers, names, order and seed: the same weights and the same outputs."""
    spec = load_spec(write(tmp_path, BASE, "seq.toml"))
    source, target = Input("(B, T_in, 3)", name="source"), Input("(B, T_out, 4)", name="target")
    _, h, c = LSTM(8, return_state=True, name="enc")(source)
    y = LSTM(8, return_sequences=True, name="dec")(target, initial_state=[h, c])
    python = Model(inputs=[source, target], outputs=Dense(4, activation="softmax", name="probs")(y), seed=0)
    for a, b in zip(spec.model.get_weights(), python.get_weights()):
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 5, 3)).astype(np.float32), rng.standard_normal((2, 3, 4)).astype(np.float32)]
    np.testing.assert_array_equal(spec.model(xs), python(xs))


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda p: p.name)
def test_graph_examples_trace_with_their_expectations(path):
    spec = load_spec(path)
    assert isinstance(spec.model, Functional) and spec.expect
    trace = spec.trace()
    assert trace.mode == spec.mode and trace.grads
    assert trace.model_kind == "functional"


def test_seq2seq_example_is_kerass_lstm_seq2seq():
    spec = load_spec(SPECS / "seq2seq_graph.toml")
    enc, dec, dense = spec.model.layers
    assert (enc.units, enc.return_state, dec.units, dec.return_sequences) == (256, True, 256, True)
    assert (dense.units, dense.activation) == (93, "softmax")
    assert spec.model.input_names == ["encoder_inputs", "decoder_inputs"] and spec.mode == "many-to-many"
    trace = spec.trace()
    assert str(trace.outputs["y"]) == "(B, T_out, 93)" and trace.loss == "categorical_crossentropy"


def test_pooled_bigru_example_merges_two_poolings_of_a_masked_sequence():
    spec = load_spec(SPECS / "pooled_bigru.toml")
    kinds = [layer.kind for layer in spec.model.layers]
    assert kinds == ["embedding", "bidirectional", "global_average_pooling1d", "global_max_pooling1d", "concatenate",
                     "dense"]
    pooled = next(n for n in spec.model.nodes if n.name == "pooled")
    assert [t.name for t in pooled.inputs] == ["avg_pool", "max_pool"]
    trace = spec.trace()
    records = {r.path: r for r in trace.layers}
    assert "mask" in records["avg_pool"].inputs and "mask" in records["max_pool"].inputs
    assert str(records["pooled"].outputs["y"]) == "(B, 128)"
    # a real run: ids with padding go through, the mask made by mask_zero reaches the poolings
    ids = np.array([[3, 4, 5, 0, 0], [7, 1, 2, 9, 4]])
    y = spec.model(ids)
    assert y.shape == (2, 1) and np.all((y > 0) & (y < 1))


def test_nodes_may_be_written_in_any_order(tmp_path):
    moved = BASE.replace("""
[[nodes]]
name = "enc"
layer = { kind = "lstm", units = 8, return_state = true }
inputs = ["source"]
""", "") + """
[[nodes]]
name = "enc"
layer = { kind = "lstm", units = 8, return_state = true }
inputs = ["source"]
"""
    spec = load_spec(write(tmp_path, moved, "moved.toml"))
    assert [n.name for n in spec.model.nodes] == ["enc", "dec", "probs"]


def test_tensor_references_by_index_and_the_seq_alias(tmp_path):
    text = edited('initial_state = ["enc.h", "enc.c"]', 'initial_state = ["enc.1", "enc.2"]')
    text = text.replace('inputs = ["dec"]', 'inputs = ["dec.seq"]')
    model = load_spec(write(tmp_path, text, "ok.toml")).model
    dec, probs = model.nodes[1], model.nodes[2]
    assert [t.label for t in dec.inputs[1:]] == ["h", "c"] and probs.inputs[0].label == "y"


def test_a_shared_layer_is_called_twice_with_its_weights():
    data = {"model": {"kind": "graph", "seed": 0}, "outputs": ["sum"],
            "inputs": [{"name": "a", "shape": "(B, T, 3)"}, {"name": "b", "shape": "(B, T, 3)"}],
            "nodes": [{"name": "enc", "layer": {"kind": "gru", "units": 5}, "inputs": ["a"]},
                      {"name": "enc_b", "shares": "enc", "inputs": "b"},
                      {"name": "sum", "layer": {"kind": "add"}, "inputs": ["enc", "enc_b"]}],
            "expect": {"enc@1": "(B, 5)", "output": "(B, 5)"}}
    spec = build_spec(data)
    model = spec.model
    assert len(model.layers) == 2 and model.nodes[0].layer is model.nodes[1].layer
    assert model.count_params() == model.layers[0].count_params()
    trace = spec.trace()
    assert [r.path for r in trace.layers] == ["enc", "enc@1", "sum"]
    x = np.ones((2, 4, 3), np.float32)
    np.testing.assert_allclose(model([x, x]), 2 * model.layers[0](x), rtol=1e-6)


def test_one_to_many_through_repeat_vector_and_time_distributed():
    """Keras's addition_rnn decoder: a vector repeated over the steps, a per-step Dense."""
    data = {"model": {"kind": "graph", "seed": 0}, "mode": "one-to-many", "outputs": ["out"],
            "inputs": [{"name": "x", "shape": "(B, 6)"}],
            "nodes": [{"name": "rep", "layer": {"kind": "repeat_vector", "n": 4}, "inputs": ["x"]},
                      {"name": "dec", "layer": {"kind": "lstm", "units": 5, "return_sequences": True},
                       "inputs": ["rep"]},
                      {"name": "out", "layer": {"kind": "time_distributed",
                                                "layer": {"kind": "dense", "units": 3, "activation": "softmax"}},
                       "inputs": ["dec"]}],
            "expect": {"output": "(B, 4, 3)"}}
    spec = build_spec(data)
    assert spec.mode == "one-to-many"
    assert str(spec.trace().outputs["y"]) == "(B, 4, 3)"


def test_selection_and_reshaping_kinds_build():
    data = {"model": {"kind": "graph"}, "outputs": ["last", "flat", "some", "step", "picked", "swapped", "re", "act",
                                                     "stacked"],
            "inputs": [{"name": "x", "shape": "(B, T=6, 4)"}],
            "nodes": [{"name": "last", "layer": {"kind": "last_step"}, "inputs": ["x"]},
                      {"name": "flat", "layer": {"kind": "flatten"}, "inputs": ["x"]},
                      {"name": "some", "layer": {"kind": "steps", "start": 1, "stop": 3}, "inputs": ["x"]},
                      {"name": "step", "layer": {"kind": "take_step", "t": 2}, "inputs": ["x"]},
                      {"name": "picked", "layer": {"kind": "index", "key": "[:, 0]"}, "inputs": ["x"]},
                      {"name": "swapped", "layer": {"kind": "permute", "dims": [2, 1]}, "inputs": ["x"]},
                      {"name": "re", "layer": {"kind": "reshape", "target_shape": [12, -1]}, "inputs": ["x"]},
                      {"name": "act", "layer": {"kind": "activation", "activation": "tanh"}, "inputs": ["x"]},
                      {"name": "stacked", "layer": {"kind": "stack", "axis": 0}, "inputs": ["last", "step"]}]}
    spec = build_spec(data)
    shapes = [t.shape for t in spec.model.output_tensors]
    assert shapes == [(None, 4), (None, 24), (None, 2, 4), (None, 4), (None, 4), (None, 4, 6), (None, 12, 2),
                      (None, 6, 4), (2, None, 4)]
    spec.trace()


def test_graph_spec_in_json(tmp_path):
    text = json.dumps({"model": {"kind": "graph"}, "outputs": ["d"],
                       "inputs": [{"name": "x", "shape": "(B, T, 2)"}],
                       "nodes": [{"name": "r", "layer": {"kind": "gru", "units": 3}, "inputs": ["x"]},
                                 {"name": "d", "layer": {"kind": "dense", "units": 1}, "inputs": ["r.h"]}]},
                      indent=2)
    with pytest.raises(SpecError, match=r"^bad\.json:32: nodes\[1\]\.inputs\[0\]: node 'r' \(gru\) has no output 'h'; "
                                        r"its outputs are y .*outputs only with return_state = true$"):
        load_spec(write(tmp_path, text, "bad.json"))
    spec = load_spec(write(tmp_path, text.replace('"r.h"', '"r"'), "ok.json"))
    assert spec.mode == "many-to-one"


def test_cli_report_traces_the_graph_examples():
    for path in GRAPH_EXAMPLES:
        result = CliRunner().invoke(main, ["report", str(path)])
        assert result.exit_code == 0, result.output
        spec = load_spec(path)
        assert f"{spec.model.name} (functional): {spec.mode}" in result.output
        for node in spec.model.nodes:
            assert node.name in result.output


def test_cli_report_of_a_broken_graph_spec_exits_2(tmp_path):
    path = write(tmp_path, edited('inputs = ["dec"]', 'inputs = ["decc"]'))
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 2
    assert "no input or node is named 'decc' (did you mean 'dec'?)" in result.output


# -- bad input -------------------------------------------------------------------------------------
CASES = [
    # (old, new, pattern): the file, line, key path and what is wrong
    ('initial_state = ["enc.h", "enc.c"]', 'initial_state = ["encoder.h", "enc.c"]',
     r"^bad\.toml:25: nodes\[1\]\.initial_state\[0\]: no input or node is named 'encoder' \(did you mean 'enc'\?\); "
     r"the graph has the inputs source, target and the nodes enc, dec, probs$"),
    ('inputs = ["dec"]', 'inputs = ["decc"]',
     r"^bad\.toml:30: nodes\[2\]\.inputs\[0\]: no input or node is named 'decc' \(did you mean 'dec'\?\)"),
    ('outputs = ["probs"]', 'outputs = ["prob"]',
     r"^bad\.toml:2: outputs\[0\]: no input or node is named 'prob' \(did you mean 'probs'\?\)"),
    ('initial_state = ["enc.h", "enc.c"]', 'initial_state = ["enc.x", "enc.c"]',
     r"^bad\.toml:25: nodes\[1\]\.initial_state\[0\]: node 'enc' \(lstm\) has no output 'x'; its outputs are y, h, c "
     r"\(by name or index: 0 \(y\), 1 \(h\), 2 \(c\)\)$"),
    ("units = 8, return_state = true", "units = 8",
     r"^bad\.toml:25: nodes\[1\]\.initial_state\[0\]: node 'enc' \(lstm\) has no output 'h'; its outputs are y .*; a "
     r"recurrent layer's final states are outputs only with return_state = true$"),
    ('initial_state = ["enc.h", "enc.c"]', 'initial_state = ["enc.h", "enc.5"]',
     r"^bad\.toml:25: nodes\[1\]\.initial_state\[1\]: node 'enc' \(lstm\) has 3 outputs: 0 \(y\), 1 \(h\), 2 \(c\); "
     r"got 'enc\.5', whose index 5 is out of range$"),
    ('inputs = ["target"]', 'inputs = ["target.h"]',
     r"^bad\.toml:24: nodes\[1\]\.inputs\[0\]: 'target' is an input, which is one tensor: refer to it as 'target'"),
    ('inputs = ["source"]', 'inputs = ["probs"]',
     r"^bad\.toml:19: nodes\[0\]\.inputs\[0\]: the nodes form a cycle: 'enc' -> 'probs' -> 'dec' -> 'enc' \(each "
     r"reads the next one's output\); a graph has no cycles$"),
    ('inputs = ["dec"]', 'inputs = ["probs"]',
     r"^bad\.toml:30: nodes\[2\]\.inputs\[0\]: node 'probs' reads its own output 'probs': a graph has no cycles"),
    ('inputs = ["dec"]\n', 'inputs = ["dec"]\n' + EXTRA_NODE,
     r"^bad\.toml:32: nodes\[3\]: node 'extra' is never used: no node reads it and it is not in `outputs` \(which "
     r"lists probs\); add it to `outputs` or remove it$"),
    ('[[nodes]]\nname = "enc"', '[[inputs]]\nname = "spare"\nshape = "(B, 2)"\n\n[[nodes]]\nname = "enc"',
     r"^bad\.toml:17: inputs\[2\]\.name: the input 'spare' is never used: no node reads it and it is not in "
     r"`outputs`"),
    ('inputs = ["dec"]', 'inputs = ["dec", "target"]',
     r"^bad\.toml:30: nodes\[2\]\.inputs: node 'probs' \(dense\) reads one tensor, got 2 \(dec, target\); merge them "
     r"first in a node of kind concatenate, add, subtract, multiply, average, stack$"),
    ('inputs = ["dec"]', 'inputs = ["dec"]\ninitial_state = ["enc.h"]',
     r"^bad\.toml:31: nodes\[2\]\.initial_state: node 'probs' \(dense\) takes no initial_state: only a recurrent layer"),
    ("units = 8, return_sequences = true", "units = 6, return_sequences = true",
     r"(?s)^bad\.toml:25: nodes\[1\]\.initial_state: node 'dec' \(lstm\) cannot read what it is given: .*"
     r"'dec' initial_state 0 from 'enc' output 1 \(h\)"),
    ('shape = "(B, T_out, 4)"', 'shape = "(B, 4)"',
     r"(?s)^bad\.toml:24: nodes\[1\]\.inputs: node 'dec' \(lstm\) cannot read what it is given: .*rank 3.*"
     r"'dec' input 0 from input 'target'"),
    ('layer = { kind = "dense", units = 4, activation = "softmax" }', 'shares = "encc"',
     r"^bad\.toml:29: nodes\[2\]\.shares: no node is named 'encc' \(did you mean 'enc'\?\); 'shares' names a node "
     r"with a layer, one of: enc, dec$"),
    ('layer = { kind = "dense", units = 4, activation = "softmax" }',
     'layer = { kind = "dense", units = 4 }\nshares = "enc"',
     r"^bad\.toml:27: nodes\[2\]: a node needs either 'layer' .* or 'shares' .*, not both$"),
    ('layer = { kind = "dense", units = 4, activation = "softmax" }\n', '',
     r"^bad\.toml:27: nodes\[2\]: a node needs either 'layer' .* or 'shares' .*; got only: name, inputs$"),
    ('name = "probs"\nlayer = { kind = "dense", units = 4, activation = "softmax" }', 'shares = "enc"',
     r"^bad\.toml:27: nodes\[2\]: a node with 'shares' needs a 'name' of its own"),
    ('name = "probs"', 'name = "dec"',
     r"^bad\.toml:28: nodes\[2\]\.name: the name 'dec' is already used by nodes\[1\]\.name \(line 22\); node and "
     r"input names must be unique$"),
    ('name = "probs"', 'name = "target"',
     r"^bad\.toml:28: nodes\[2\]\.name: the name 'target' is already used by an input"),
    ('name = "probs"', 'name = "pro.bs"',
     r"^bad\.toml:28: nodes\[2\]\.name: a node name 'pro\.bs' cannot contain '\.': a dot separates a node from one "
     r"of its outputs"),
    ('name = "target"', 'name = "source"',
     r"^bad\.toml:13: inputs\[1\]\.name: the input name 'source' is already used by inputs\[0\]\.name \(line 9\)"),
    ('shape = "(B, T_out, 4)"', 'shape = "(B, T_out, 4)"\ndtype = "int8"',
     r"^bad\.toml:15: inputs\[1\]\.dtype: expected one of: float32, float64, int32, int64 \(an integer dtype for "
     r"token ids\), got string 'int8' \(did you mean 'int64'\?\)$"),
    ('shape = "(B, T_out, 4)"', 'shap = "(B, T_out, 4)"',
     r"^bad\.toml:14: inputs\[1\]\.shap: unknown key 'shap' for an input \(did you mean 'shape'\?\)"),
    ('units = 4, activation', 'units = 4, name = "p", activation',
     r"^bad\.toml:29: nodes\[2\]\.layer\.name: a node's layer takes its name from the node"),
    ('inputs = ["dec"]', 'input = ["dec"]',
     r"^bad\.toml:30: nodes\[2\]\.input: unknown key 'input' for a node \(did you mean 'inputs'\?\)"),
    ('inputs = ["dec"]', 'inputs = []',
     r"^bad\.toml:30: nodes\[2\]\.inputs: a node reads at least one tensor, got an empty array$"),
    ('inputs = ["dec"]', 'inputs = [3]',
     r"^bad\.toml:30: nodes\[2\]\.inputs\[0\]: expected a tensor reference such as \"source\" or \"enc\.h\" in "
     r"inputs, got integer 3$"),
    ('outputs = ["probs"]', 'outputs = []',
     r"^bad\.toml:2: outputs: a graph model needs at least one output, got an empty array$"),
    ('outputs = ["probs"]\n', '',
     r"^bad\.toml: a graph model needs the key 'outputs'$"),
    ('outputs = ["probs"]', 'outputs = ["probs"]\ninput = "(B, T, 3)"',
     r"^bad\.toml:3: input: a graph model declares each input as an \[\[inputs\]\] table"),
    ('outputs = ["probs"]', 'outputs = ["probs"]\nlayers = []',
     r"^bad\.toml:3: layers: a graph model takes inputs, nodes, outputs, not 'layers'$"),
    ('kind = "dense", units = 4', 'kind = "dens", units = 4',
     r"^bad\.toml:29: nodes\[2\]\.layer\.kind: unknown layer kind 'dens' \(did you mean 'dense'\?\)"),
    ('kind = "dense", units = 4', 'kind = "dense", units = -4',
     r"^bad\.toml:29: nodes\[2\]\.layer\.units: Dense 'probs': received an invalid value for `units`"),
    ('mode = "many-to-many"', 'mode = "many-to-one"',
     r"^bad\.toml:1: mode: the spec says 'many-to-one', but the model it describes is 'many-to-many'$"),
]


@pytest.mark.parametrize("old, new, pattern", CASES, ids=[(c[1].splitlines() or [f"no {c[0][:30]}"])[-1][:40] for c in CASES])
def test_bad_graph(tmp_path, old, new, pattern):
    with pytest.raises(SpecError, match=pattern):
        load_spec(write(tmp_path, edited(old, new)))


def test_a_merge_of_unequal_sizes_names_the_node_and_its_edges():
    data = {"model": {"kind": "graph"}, "outputs": ["both"],
            "inputs": [{"name": "a", "shape": "(B, 3)"}, {"name": "b", "shape": "(B, 4)"}],
            "nodes": [{"name": "both", "layer": {"kind": "add"}, "inputs": ["a", "b"]}]}
    with pytest.raises(SpecError, match=r"(?s)^<dict>: nodes\[0\]\.inputs: node 'both' \(add\) cannot read what it is "
                                        r"given: .*'both' input 0 from input 'a'; 'both' input 1 from input 'b'"):
        build_spec(data)


def test_a_cycle_through_shares_and_a_share_of_a_share():
    base = {"model": {"kind": "graph"}, "outputs": ["c"], "inputs": [{"name": "x", "shape": "(B, 3)"}]}
    ok = build_spec({**base, "nodes": [{"name": "a", "layer": {"kind": "dense", "units": 3}, "inputs": ["x"]},
                                       {"name": "b", "shares": "a", "inputs": ["a"]},
                                       {"name": "c", "shares": "b", "inputs": ["b"]}]})
    assert len(ok.model.layers) == 1 and [r.path for r in ok.trace().layers] == ["a", "a@1", "a@2"]
    with pytest.raises(SpecError, match=r"^<dict>: nodes\[1\]\.shares: 'shares' goes round in a circle through 'b'"):
        build_spec({**base, "nodes": [{"name": "b", "shares": "c", "inputs": ["x"]},
                                      {"name": "c", "shares": "b", "inputs": ["b"]}]})


def test_merge_kinds_only_in_a_graph():
    with pytest.raises(SpecError, match=r"^<dict>: layers\[0\]\.kind: a layer of kind 'concatenate' merges several "
                                        r"tensors: it is a node of a graph model \(\[model\] kind = \"graph\"\)"):
        build_spec({"model": {"kind": "sequential"}, "input": "(B, 3)", "layers": [{"kind": "concatenate"}]})
    with pytest.raises(SpecError, match=r"^<dict>: inputs: a sequential model takes layers, not 'inputs'; only a "
                                        r"graph model declares \[\[inputs\]\]"):
        build_spec({"model": {"kind": "sequential"}, "input": "(B, 3)", "layers": [{"kind": "dense", "units": 1}],
                    "inputs": []})


def test_sequential_specs_take_the_new_single_input_kinds():
    spec = build_spec({"model": {"kind": "sequential"}, "input": "(B, T, 3)",
                       "layers": [{"kind": "lstm", "units": 4, "return_sequences": True},
                                  {"kind": "global_max_pooling1d"}, {"kind": "dense", "units": 2},
                                  {"kind": "activation", "activation": "softmax"}]})
    assert str(spec.trace().outputs["y"]) == "(B, 2)"


def test_a_shape_error_at_trace_time_names_the_node(tmp_path):
    spec = load_spec(write(tmp_path, BASE + '\n[expect]\ndec = "(B, T_out, 9)"\n', "x.toml"))
    with pytest.raises(ShapeError, match=r"(?s)dec.*\(B, T_out, 9\)"):
        spec.trace()
