"""Declarative specs: every example loads and traces, every bad input gets its message."""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from shapeviz import ShapeError
from shapeviz.core.model import MODES
from shapeviz.errors import ConfigError
from shapeviz.frontends.spec import LAYER_KINDS, Spec, SpecError, build_spec, load_spec
from shapeviz.frontends.spec.lines import json_key_lines, line_of, toml_key_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli is the same parser, a dependency of shapeviz on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "examples" / "specs"
EXAMPLE_FILES = sorted(SPECS.glob("*.toml")) + sorted(SPECS.glob("*.json"))

# line numbers below refer to this text
BASE = """\
input = "(B, T, 2)"
mode = "many-to-one"

[model]
kind = "sequential"
seed = 0

[dims]
B = 4
T = 5

[[layers]]
kind = "lstm"
units = 8

[[layers]]
kind = "dense"
units = 1
"""


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Run in tmp_path, so a spec written there is loaded as ``bad.toml`` and messages start so."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    """Write ``text`` to tmp_path/name; returns the path relative to tmp_path (the working directory)."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    return Path(name)


def edited(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# -- the examples --------------------------------------------------------------------------------
def test_examples_cover_every_mode_and_both_seed_examples():
    names = {p.name for p in EXAMPLE_FILES}
    assert {"addition.toml", "imdb_lstm.toml", "imdb_lstm.json"} <= names
    assert {load_spec(p).mode for p in EXAMPLE_FILES} == set(MODES)
    assert any(p.suffix == ".json" for p in EXAMPLE_FILES)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_loads_and_traces(path):
    spec = load_spec(path)
    declared = (tomllib.loads if path.suffix == ".toml" else json.loads)(path.read_text(encoding="utf-8"))
    assert isinstance(spec, Spec)
    assert spec.source == str(path)
    assert spec.mode == spec.model.mode == declared["mode"]
    assert spec.expect, "every example states the shapes it expects"
    trace = spec.trace()
    assert trace.mode == spec.mode
    assert trace.grads, "the backward pass was traced"


def test_spec_trace_is_the_tracer_on_the_declarations():
    spec = load_spec(SPECS / "imdb_lstm.toml")
    from shapeviz import trace
    direct = trace(spec.model, spec.inputs, dims=spec.dims, expect=spec.expect, labels=spec.labels, mask=spec.mask)
    via = spec.trace()
    assert via.outputs == direct.outputs
    assert [r.path for r in via.layers] == [r.path for r in direct.layers] == ["embedding_1", "lstm_1", "dense_1"]
    assert via.labels == direct.labels and via.loss == "binary_crossentropy"


def test_imdb_spec_is_the_seed_example():
    spec = load_spec(SPECS / "imdb_lstm.toml")
    model = spec.model
    assert [type(l).__name__ for l in model.layers] == ["Embedding", "LSTM", "Dense"]
    emb, lstm, dense = model.layers
    assert (emb.input_dim, emb.output_dim) == (20000, 128)
    assert (lstm.units, lstm.dropout, lstm.recurrent_dropout, lstm.return_sequences) == (128, 0.2, 0.2, False)
    assert (dense.units, dense.activation) == (1, "sigmoid")
    assert spec.inputs == "(B, T)" and spec.dims == {"B": 32, "T": 80} and spec.labels == "(B,)"
    trace = spec.trace()
    assert str(trace.outputs["y"]) == "(B, 1)"
    assert trace.bindings["B"].value == 32 and trace.bindings["T"].value == 80


def _load_example_module(name):
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    module_spec = importlib.util.spec_from_file_location(f"spec_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    finally:  # the scripts set a thread count for themselves; leave the test process as it was
        if before is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = before
    return module


def _unnamed(config):
    """A layer config without its names (the Python examples' names depend on the process)."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    return config


@pytest.mark.parametrize("name", ["addition", "imdb_lstm"])
def test_seed_spec_builds_the_python_example(name):
    module = _load_example_module(name)
    python = module.build_model(seed=0, he_init=False) if name == "addition" else module.build_model(seed=0)
    spec = load_spec(SPECS / f"{name}.toml")
    assert [type(l) for l in spec.model.layers] == [type(l) for l in python.layers]
    assert [_unnamed(l.config()) for l in spec.model.layers] == [_unnamed(l.config()) for l in python.layers]


def test_addition_spec_has_the_mask_and_the_bidirectional_rnn():
    spec = load_spec(SPECS / "addition.toml")
    assert spec.mask == "(B, T)" and spec.inputs == "(B, T, 2)"
    bi = spec.model.layers[0]
    assert bi.kind == "bidirectional" and bi.merge_mode == "concat"
    assert bi.forward_layer.units == 100 and bi.forward_layer.activation == "tanh"
    trace = spec.trace()
    assert trace.layers[0].inputs["mask"] is not None
    assert str(trace.outputs["y"]) == "(B, 1)"


def test_toml_and_json_build_identical_models():
    a = load_spec(SPECS / "imdb_lstm.toml")
    b = load_spec(SPECS / "imdb_lstm.json")
    assert [l.config() for l in a.model.layers] == [l.config() for l in b.model.layers]
    assert (a.model.kind, a.model.dtype, a.model.seed, a.model.name) == (b.model.kind, b.model.dtype, b.model.seed,
                                                                         b.model.name)
    assert (a.inputs, a.dims, a.expect, a.labels, a.mask, a.mode, a.loss) == \
           (b.inputs, b.dims, b.expect, b.labels, b.mask, b.mode, b.loss)
    a.model.build((None, 80))
    b.model.build((None, 80))
    wa, wb = a.model.get_weights(), b.model.get_weights()
    assert len(wa) == len(wb) == 6
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def test_layers_are_named_within_the_spec(tmp_path):
    """Names count from 1 in every spec, whatever was built before, so [expect] can use them."""
    first = load_spec(SPECS / "many_to_one.toml")
    second = load_spec(SPECS / "many_to_one.toml")
    assert [l.name for l in first.model.layers] == [l.name for l in second.model.layers] == ["gru_1", "dense_1"]
    # a name the spec gives is not handed out again
    spec = build_spec({"model": {"kind": "sequential"}, "input": "(B, 3)",
                       "layers": [{"kind": "dense", "units": 2}, {"kind": "dense", "units": 1, "name": "dense_1"}]})
    assert [l.name for l in spec.model.layers] == ["dense_2", "dense_1"]


def test_build_spec_from_a_dict_and_optional_parts():
    spec = build_spec({"model": {"kind": "encoder_decoder", "dtype": "float64"},
                       "input": ["(B, S, 3)", "(B, U, 3)"],
                       "encoder": [{"kind": "gru", "units": 4}], "decoder": [{"kind": "gru", "units": 4}],
                       "head": {"kind": "dense", "units": 3},
                       "roles": {"S": "time", "U": "time"}})
    assert spec.source == "<dict>" and spec.mode == "many-to-many" and spec.inputs == ("(B, S, 3)", "(B, U, 3)")
    assert spec.model.dtype == np.float64 and spec.roles == {"S": "time", "U": "time"}
    assert spec.labels is None and spec.mask is None and spec.loss is None and spec.model.loss is None
    assert str(spec.trace().outputs["y"]) == "(B, U, 3)"


def test_loss_and_optimizer_compile_the_model():
    spec = load_spec(SPECS / "addition.toml")
    opt = spec.model.optimizer
    assert type(opt).__name__ == "Adagrad"
    assert (opt.learning_rate, opt.clipvalue) == (0.005, 100.0)
    one = load_spec(SPECS / "one_to_one.toml")
    assert one.model.loss.from_logits is True and one.loss == "sparse_categorical_crossentropy"


def test_bidirectional_merge_mode_none_and_dropout_noise_shape():
    spec = build_spec({"model": {"kind": "sequential"}, "input": "(B, T, 2)",
                       "layers": [{"kind": "dropout", "rate": 0.5, "noise_shape": ["none", 1, None]},
                                  {"kind": "bidirectional", "merge_mode": "none",
                                   "layer": {"kind": "gru", "units": 3, "name": "g"}}]})
    drop, bi = spec.model.layers
    assert drop.noise_shape == (None, 1, None)
    assert bi.merge_mode is None and bi.forward_layer.name == "forward_g"


def test_an_expectation_that_does_not_hold_is_a_shape_error_at_trace_time(tmp_path):
    spec = load_spec(write(tmp_path, BASE + '\n[expect]\n', "ok.toml"))
    spec = load_spec(write(tmp_path, BASE.replace('mode = "many-to-one"\n',
                                                  'mode = "many-to-one"\nexpect = { output = "(B, 2)" }\n'), "x.toml"))
    with pytest.raises(ShapeError, match=r"(?s)expected.*\(B, 2\)"):
        spec.trace()


def test_layer_table_matches_the_constructors():
    """A new constructor option shows up here until the spec's table (and docs/specs.md) know it."""
    import inspect
    from shapeviz.core.recurrent import Recurrent
    for kind, (cls, types, required) in LAYER_KINDS.items():
        params = dict(inspect.signature(cls.__init__).parameters)
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            params.update(inspect.signature(Recurrent.__init__).parameters)
        plain = {n: p for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        assert set(plain) - {"self", "name", "dtype"} == set(types), kind
        assert {n for n, p in plain.items() if p.default is p.empty} - {"self"} == set(required), kind
    docs = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
    for kind, (_, types, _) in LAYER_KINDS.items():
        assert f"`{kind}`" in docs
        for option in types:
            assert f"`{option}`" in docs, (kind, option)


def _doc_blocks():
    text = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(toml|json)\n(.*?)```", text, re.S)
    return [(lang, body) for lang, body in blocks if "[model]" in body or '"model"' in body]


@pytest.mark.parametrize("lang, body", _doc_blocks(), ids=lambda v: v if v in ("toml", "json") else "")
def test_docs_examples_load_and_trace(tmp_path, lang, body):
    spec = load_spec(write(tmp_path, body, f"doc.{lang}"))
    assert spec.trace().mode == spec.mode


def test_docs_cover_every_mode():
    assert {load_spec(write(Path.cwd(), body, f"d{i}.{lang}")).mode
            for i, (lang, body) in enumerate(_doc_blocks())} == set(MODES)


# -- bad input: TOML -----------------------------------------------------------------------------
TOML_CASES = [
    # (old, new, pattern): each pattern names the file, line, key path, what was expected and what was found
    ("units = 8", "units = -3",
     r"^bad\.toml:14: layers\[0\]\.units: LSTM 'lstm_1': .*expected a positive integer, got -3$"),
    ("units = 8", "units = 0", r"^bad\.toml:14: layers\[0\]\.units: .*expected a positive integer, got 0$"),
    ("units = 8", 'units = "8"', r"^bad\.toml:14: layers\[0\]\.units: expected an integer, got string '8'$"),
    ("units = 8", "units = 8.5", r"^bad\.toml:14: layers\[0\]\.units: expected an integer, got float 8\.5$"),
    ("units = 8", 'units = 8\nreturn_sequences = "yes"',
     r"^bad\.toml:15: layers\[0\]\.return_sequences: expected a boolean \(true or false\), got string 'yes'$"),
    ('kind = "lstm"', 'kind = "lstn"',
     r"^bad\.toml:13: layers\[0\]\.kind: unknown layer kind 'lstn' \(did you mean 'lstm'\?\); expected one of: "
     r"activation, add, .*, bidirectional, concatenate, dense, .*, gru, index, last_step, lstm, masking, .*, "
     r"simple_rnn, stack, steps, subtract, take_step, time_distributed$"),
    ('kind = "lstm"', 'kind = "transformer"',
     r"^bad\.toml:13: layers\[0\]\.kind: unknown layer kind 'transformer'; expected one of: activation, add, "),
    ("units = 8", "units = 8\nunit = 8",
     r"^bad\.toml:15: layers\[0\]\.unit: unknown key 'unit' for a layer of kind 'lstm' \(did you mean 'units'\?\); "
     r"expected one of: kind, name, units, unit_forget_bias, return_sequences, .*recurrent_dropout, "),
    ("units = 8\n", "",
     r"^bad\.toml:12: layers\[0\]: a layer of kind 'lstm' needs the key 'units', got only: kind$"),
    ('kind = "lstm"\n', "", r"^bad\.toml:12: layers\[0\]: a layer needs the key 'kind', one of: activation, add, "),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nlayer = []',
     r"^bad\.toml:3: layer: unknown key 'layer' for the top level of a spec \(did you mean 'layers'\?\); "
     r"expected one of: description, model, mode, input, "),
    ('input = "(B, T, 2)"', 'input = "(B, T, 2"',
     r"(?s)^bad\.toml:1: input: cannot parse the shape '\(B, T, 2': expected '\)' at column 9, found the end\n"),
    ('input = "(B, T, 2)"', 'input = "(B, T; 2)"',
     r"(?s)^bad\.toml:1: input: cannot parse the shape '\(B, T; 2\)': expected .* at column 6, found ';'"),
    ('input = "(B, T, 2)"', 'input = "(B, T, 0)"',
     r"^bad\.toml:1: input: in the shape '\(B, T, 0\)': every size must be positive, got 0 at column 8$"),
    ('input = "(B, T, 2)"', "input = 3", r"^bad\.toml:1: input: expected a shape string such as \"\(B, T, 2\)\", "
                                          r"got integer 3$"),
    ('input = "(B, T, 2)"', 'input = "(B=8, T, 2)"',
     r"^bad\.toml:9: dims\.B: the dim B is given twice with different sizes: 8 at input \(line 1\), and 4 here "
     r"\(B = 4\); one name is one size$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nlabels = "(B=3,)"\nloss = "mse"',
     r"^bad\.toml:11: dims\.B: the dim B is given twice with different sizes: 3 at labels \(line 3\), and 4 here "
     r"\(B = 4\); one name is one size$"),
    ("B = 4", "B = 0", r"^bad\.toml:9: dims\.B: expected a positive integer, got integer 0$"),
    ("B = 4", "B = -2", r"^bad\.toml:9: dims\.B: expected a positive integer, got integer -2$"),
    ("B = 4", "B = 4\nN = 3",
     r"^bad\.toml:10: dims\.N: no shape in this spec uses the dim 'N'; the dims used are: B, T$"),
    ('mode = "many-to-one"', 'mode = "many-to-few"',
     r"^bad\.toml:2: mode: unknown mode 'many-to-few' \(did you mean 'many-to-one'\?\); expected one of: "
     r"one-to-one, one-to-many, many-to-one, many-to-many, synced many-to-many$"),
    ('mode = "many-to-one"', 'mode = "synced many-to-many"',
     r"^bad\.toml:2: mode: the spec says 'synced many-to-many', but the model it describes is 'many-to-one'; "
     r"return_sequences of the last recurrent layer decides between the two$"),
    ('mode = "many-to-one"', 'mode = "one-to-many"',
     r"^bad\.toml:2: mode: the spec says 'one-to-many', but the model it describes is 'many-to-one'$"),
    ("units = 8", "units =",
     r"(?s)^bad\.toml:14:8: not valid TOML: Invalid value\n  units =\n         \^$"),
    ("B = 4", "B = 4\nB = 5", r"(?s)^bad\.toml:10:6: not valid TOML: Cannot overwrite a value \(a key or table "
                              r"given twice\)\n  B = 5"),
    ('kind = "sequential"', 'kind = "seq"',
     r"^bad\.toml:5: model\.kind: unknown model kind 'seq'; expected one of: sequential, one_to_many, "
     r"encoder_decoder, graph$"),
    ('kind = "sequential"', 'kind = "one_to_many"',
     r"^bad\.toml:4: model: a model of kind 'one_to_many' needs the key 'steps', got only: kind, seed$"),
    ("seed = 0", "seed = 0\nsteps = 3",
     r"^bad\.toml:7: model\.steps: unknown key 'steps' for a model of kind 'sequential'; expected one of: "
     r"kind, name, dtype, seed$"),
    ("seed = 0", 'seed = 0\ndtype = "float16"',
     r"^bad\.toml:7: model\.dtype: expected one of: float32, float64, got string 'float16'"),
    ("seed = 0", "seed = -1", r"^bad\.toml:6: model\.seed: expected a non-negative integer, got integer -1$"),
    ("seed = 0", "seed = true", r"^bad\.toml:6: model\.seed: expected an integer, got boolean true$"),
    ('kind = "dense"\nunits = 1', 'kind = "dense"\nunits = 1\n\n[head]\nkind = "dense"\nunits = 1',
     r"^bad\.toml:20: head: a sequential model takes layers, not 'head' \(its last layer is its head\)$"),
    ("units = 8", "units = 8\nreturn_state = true",
     r"^bad\.toml:12: layers\[0\]: Sequential 'bad': layer 'lstm_1' has return_state=True"),
    ('kind = "lstm"\nunits = 8', 'kind = "bidirectional"\nlayer = { kind = "dense", units = 4 }',
     r"^bad\.toml:14: layers\[0\]\.layer: Bidirectional 'bidirectional_1': received an invalid value for `layer`, "
     r"expected a recurrent layer \(SimpleRNN, LSTM, GRU\), got Dense$"),
    ('kind = "lstm"\nunits = 8', 'kind = "bidirectional"\nlayer = { kind = "lstm", units = -1 }',
     r"^bad\.toml:14: layers\[0\]\.layer\.units: LSTM 'lstm_1': received an invalid value for `units`, "
     r"expected a positive integer, got -1$"),
    ('kind = "lstm"\nunits = 8', 'kind = "bidirectional"\nlayer = "lstm"',
     r"^bad\.toml:14: layers\[0\]\.layer: expected a table describing a recurrent layer, .*got string 'lstm'$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nroles = { T = "temporal" }',
     r"^bad\.toml:3: roles\.T: expected a role, one of: batch, time, features, other, got string 'temporal'"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nroles = { X = "time" }',
     r"^bad\.toml:3: roles\.X: no shape in this spec uses the dim 'X'; the dims used are: B, T$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nexpect = { lstm_2 = "(B, 8)" }',
     r"^bad\.toml:3: expect\.lstm_2: the model has no layer 'lstm_2' \(did you mean 'lstm_1'\?\); expected "
     r"'output', 'labels' or a layer name: lstm_1, dense_1$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nexpect = { output = "(B, 1" }',
     r"^bad\.toml:3: expect\.output: cannot parse the shape '\(B, 1'"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nlabels = "(B,)"',
     r'^bad\.toml:3: labels: checking the labels needs a loss: add one, e.g\. loss = "mse"$'),
    ('mode = "many-to-one"', 'mode = "many-to-one"\noptimizer = "adam"',
     r'^bad\.toml:3: optimizer: an optimizer needs a loss'),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nloss = "hinge"',
     r"^bad\.toml:3: loss: received an invalid value for `loss`, expected one of \['binary_crossentropy', .*"
     r"got 'hinge'$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nloss = { name = "mse", from_logits = true }',
     r"^bad\.toml:3: loss\.from_logits: from_logits applies to binary_crossentropy, categorical_crossentropy, "
     r"sparse_categorical_crossentropy, not to 'mse'$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nloss = "mse"\noptimizer = { name = "adam", learning_rate = -1 }',
     r"^bad\.toml:4: optimizer\.learning_rate: Adam: received an invalid value for `learning_rate`, expected a "
     r"positive number, got -1$"),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nloss = "mse"\noptimizer = { name = "adam", lr = 0.1 }',
     r"^bad\.toml:4: optimizer: Adam got unknown option\(s\) \['lr'\]; it accepts \['learning_rate', "),
    ('mode = "many-to-one"', 'mode = "many-to-one"\nloss = "mse"\noptimizer = "adamw"',
     r"^bad\.toml:4: optimizer: received an invalid value for `optimizer`, expected one of \['adagrad', 'adam', "
     r"'rmsprop', 'sgd'\]"),
]


@pytest.mark.parametrize("old, new, pattern", TOML_CASES, ids=[(c[1].splitlines() or [f"no {c[0].split()[0]}"])[-1][:40] for c in TOML_CASES])
def test_bad_toml(tmp_path, old, new, pattern):
    path = write(tmp_path, edited(old, new))
    with pytest.raises(SpecError, match=pattern) as info:
        load_spec(path)
    assert info.value.source == str(path)
    assert isinstance(info.value, ConfigError)


def test_a_layer_name_used_twice(tmp_path):
    text = edited("units = 8", 'units = 8\nname = "x"').replace('kind = "dense"', 'kind = "dense"\nname = "x"')
    with pytest.raises(SpecError, match=r"^bad\.toml:19: layers\[1\]\.name: the layer name 'x' is already used by "
                                        r"layers\[0\] \(line 12\); names must be unique$"):
        load_spec(write(tmp_path, text))


def test_spec_error_attributes(tmp_path):
    path = write(tmp_path, edited("units = 8", "units = -3"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    error = info.value
    assert (error.key, error.line, error.column) == ("layers[0].units", 14, None)
    assert "expected a positive integer, got -3" in error.problem
    assert str(error) == f"{path}:14: layers[0].units: {error.problem}"


def test_line_of_a_key_inside_an_inline_table_is_the_key_that_holds_it(tmp_path):
    text = edited('kind = "lstm"\nunits = 8', 'kind = "bidirectional"\n\n\nlayer = { kind = "gru", units = 0 }')
    with pytest.raises(SpecError, match=r"^bad\.toml:16: layers\[0\]\.layer\.units: "):
        load_spec(write(tmp_path, text))


def test_one_to_many_and_encoder_decoder_errors(tmp_path):
    one = (SPECS / "one_to_many.toml").read_text(encoding="utf-8")
    with pytest.raises(SpecError, match=r"^bad\.toml:\d+: model\.steps: OneToMany .*`steps`, expected a positive "
                                        r"integer, got 0$"):
        load_spec(write(tmp_path, one.replace("steps = 6", "steps = 0")))
    with pytest.raises(SpecError, match=r"^bad\.toml:\d+: model\.feedback: OneToMany .*`feedback`.*got 'output'$"):
        load_spec(write(tmp_path, one.replace('feedback = "outputs"', 'feedback = "output"')))
    with pytest.raises(SpecError, match=r"^bad\.toml: a one_to_many model needs the key 'head'$"):
        load_spec(write(tmp_path, one[:one.index("[head]")]))
    many = (SPECS / "many_to_many.toml").read_text(encoding="utf-8")
    with pytest.raises(SpecError, match=r"^bad\.toml:\d+: input: expected an array of two shapes \(source, decoder "
                                        r"inputs\) such as .*got string '\(B, T_in, 3\)'$"):
        load_spec(write(tmp_path, many.replace('["(B, T_in, 3)", "(B, T_out, 3)"]', '"(B, T_in, 3)"')))
    with pytest.raises(SpecError, match=r"^bad\.toml:\d+: input\[1\]: cannot parse the shape"):
        load_spec(write(tmp_path, many.replace('"(B, T_out, 3)"]', '"(B, T_out, 3"]')))
    # the encoder and decoder state sizes must match: the constructor says so, at the model
    with pytest.raises(SpecError, match=r"^bad\.toml:\d+: encoder\[0\]: EncoderDecoder .*state sizes must match$"):
        load_spec(write(tmp_path, many.replace("[[decoder]]\nkind = \"lstm\"\nunits = 32",
                                               "[[decoder]]\nkind = \"lstm\"\nunits = 16")))


# -- bad input: files and JSON ---------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"nope\.toml: no such file$"):
        load_spec(tmp_path / "nope.toml")


def test_a_directory_or_another_extension(tmp_path):
    (tmp_path / "d.toml").mkdir()
    with pytest.raises(SpecError, match=r"d\.toml: expected a spec file, got a directory$"):
        load_spec(tmp_path / "d.toml")
    with pytest.raises(SpecError, match=r"m\.yaml: expected a \.toml or \.json spec file, got 'm\.yaml'$"):
        load_spec(write(tmp_path, "a: 1", "m.yaml"))


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, BASE, "locked.toml")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(SpecError, match=r"locked\.toml: cannot read the file: Permission denied$"):
        load_spec(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin\.toml: cannot read the file: it is not UTF-8 text \(invalid "
                                        r"continuation byte at byte 18\)$"):
        load_spec(path)


JSON_BASE = {"model": {"kind": "sequential"}, "input": "(B, T, 2)", "layers": [{"kind": "lstm", "units": 8}]}


def test_malformed_json(tmp_path):
    path = write(tmp_path, '{"model": {"kind": "sequential"},\n "input": "(B, T, 2)",,\n}', "bad.json")
    with pytest.raises(SpecError, match=r"(?s)^bad\.json:2:23: not valid JSON: Expecting property name enclosed in "
                                        r"double quotes\n   \"input\": \"\(B, T, 2\)\",,\n {24}\^$"):
        load_spec(path)


def test_json_top_level_must_be_an_object(tmp_path):
    with pytest.raises(SpecError, match=r"^bad\.json: expected a table \(a JSON object\) at the top of the spec, "
                                        r"got array of 2 items$"):
        load_spec(write(tmp_path, "[1, 2]", "bad.json"))


def test_json_errors_have_lines(tmp_path):
    text = json.dumps({**JSON_BASE, "layers": [{"kind": "lstm", "units": 8}, {"kind": "dense", "units": -1}]},
                      indent=2)
    line = text.splitlines().index('      "units": -1') + 1
    with pytest.raises(SpecError, match=rf"^bad\.json:{line}: layers\[1\]\.units: Dense 'dense_1': .*expected a "
                                        r"positive integer, got -1$"):
        load_spec(write(tmp_path, text, "bad.json"))


def test_json_dim_given_twice_with_different_values(tmp_path):
    text = '{"model": {"kind": "sequential"}, "input": "(B, T, 2)",\n "dims": {"B": 3,\n "B": 4},\n' \
           ' "layers": [{"kind": "lstm", "units": 8}]}'
    with pytest.raises(SpecError, match=r"^bad\.json:2: dims\.B: given twice with different values: integer 3 "
                                        r"and then integer 4$"):
        load_spec(write(tmp_path, text, "bad.json"))
    # the same value twice is harmless
    assert load_spec(write(tmp_path, text.replace('"B": 4', '"B": 3'), "ok.json")).dims == {"B": 3}


def test_json_wrong_type(tmp_path):
    text = json.dumps({**JSON_BASE, "layers": [{"kind": "lstm", "units": 8, "go_backwards": 1}]})
    with pytest.raises(SpecError, match=r"^bad\.json:1: layers\[0\]\.go_backwards: expected a boolean \(true or "
                                        r"false\), got integer 1$"):
        load_spec(write(tmp_path, text, "bad.json"))


def test_build_spec_errors_name_the_source_and_key():
    with pytest.raises(SpecError, match=r"^<dict>: layers\[0\]\.units: expected an integer, got null$"):
        build_spec({**JSON_BASE, "layers": [{"kind": "lstm", "units": None}]})
    with pytest.raises(SpecError, match=r"^mine: the top level of a spec needs the key 'input', got only: model, "
                                        r"layers$"):
        build_spec({"model": {"kind": "sequential"}, "layers": []}, source="mine")
    with pytest.raises(SpecError, match=r"^<dict>: layers: expected at least one layer, got an empty array$"):
        build_spec({**JSON_BASE, "layers": []})
    with pytest.raises(SpecError, match=r"^<dict>: expected a table \(a JSON object\) at the top of the spec, got "
                                        r"string 'x'$"):
        build_spec("x")  # type: ignore[arg-type]


# -- the line index --------------------------------------------------------------------------------
def test_toml_key_lines():
    text = ('a = 1\n"q.x" . y = 2\n[model]\nkind = "s"\n[[layers]]\nkind = "lstm"\n[layers.layer]\nunits = 3\n'
            '[[layers]]\nunits = 4\ns = """\nfake = 1\n"""\nlayer = { kind = \'x\' }\n')
    lines = toml_key_lines(text)
    assert lines[("q.x", "y")] == 2
    assert lines[("layers", 0, "layer", "units")] == 8
    assert lines[("layers", 1)] == 9 and lines[("layers", 1, "units")] == 10
    assert ("layers", 1, "fake") not in lines  # inside a multi-line string
    assert line_of(lines, ("layers", 1, "layer", "units")) == 14  # inside an inline table: its key's line
    assert line_of(lines, ("layers", 1, "missing")) == 9
    assert line_of(lines, ("nowhere",)) is None


def test_json_key_lines():
    text = '{\n "model": {"kind": "s",\n   "seed": 0},\n "layers": [\n  {"kind": "lstm"},\n  {"units": [1,\n 2]}\n ]\n}'
    lines = json_key_lines(text)
    assert lines[("model", "seed")] == 3
    assert lines[("layers", 1)] == 6 and lines[("layers", 1, "units", 1)] == 7
    assert json_key_lines("[" * 5000 + "]" * 5000)[(0,) * 4999] == 1
    assert json_key_lines("{not json") == {}


def test_spec_takes_the_cell_options_of_saved_keras_models():
    from shapeviz.frontends.spec import build_spec
    spec = build_spec({"model": {"kind": "sequential"}, "input": "(B, T, 3)", "layers": [
        {"kind": "lstm", "units": 4, "activation": "relu", "recurrent_activation": "hard_sigmoid_keras2",
         "unroll": True},
        {"kind": "gru", "units": 2, "reset_after": False, "recurrent_activation": "hard_sigmoid"}]})
    lstm, gru = spec.model.layers
    assert (lstm.activation, lstm.recurrent_activation) == ("relu", "hard_sigmoid_keras2")
    assert (gru.reset_after, gru.recurrent_activation) == (False, "hard_sigmoid")
