"""Fuzzing the spec loader: whatever the file or dict, the result is a Spec or a shapeviz error.

Four sources of input: arbitrary text as a .toml or .json file; the example specs with random
edits (mostly still decodable, so the schema checks run); random spec-shaped dicts with wrong
types, missing keys, unknown kinds and options; and those same dicts written as JSON, which
must give the same answer as the dict. A spec that loads is traced too: the tracer must then
return a Trace or raise a ShapeVizError. Sizes stay small, so every trace is quick.

The suite runs a few hundred cases (about 8 s); ``SHAPEVIZ_FUZZ_SCALE=50 pytest
tests/test_spec_fuzz.py`` runs fifty times as many.
"""

import atexit
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shapeviz.core.model import MODES
from shapeviz.errors import ShapeVizError
from shapeviz.frontends.spec import LAYER_KINDS, MODEL_KINDS, TOP_LEVEL, Spec, SpecError, build_spec, load_spec

SPECS = Path(__file__).resolve().parents[1] / "examples" / "specs"
# the seed examples shrunk: initialising their weights (an orthogonal 128 x 512 matrix, a 20000 x 128
# table) would take most of the run
SHRINK = [("20000", "50"), ("128", "8"), ("units = 100", "units = 10"), ("(B, 200)", "(B, 20)")]


def _shrunk(text: str) -> str:
    for big, small in SHRINK:
        text = text.replace(big, small)
    return text


EXAMPLES = {p.name: _shrunk(p.read_text(encoding="utf-8")) for p in sorted(SPECS.iterdir())
            if p.suffix in (".toml", ".json")}
SCALE = int(os.environ.get("SHAPEVIZ_FUZZ_SCALE", "1"))
FUZZ = settings(deadline=None, max_examples=60 * SCALE, suppress_health_check=[HealthCheck.too_slow])
DIR = Path(tempfile.mkdtemp(prefix="shapeviz-spec-fuzz-"))  # one file, rewritten by every case
atexit.register(shutil.rmtree, DIR, ignore_errors=True)

OPTION_NAMES = sorted({o for _, types, _ in LAYER_KINDS.values() for o in types} | {"name", "unit", "foo"})
SHAPES = ["(B, T, 2)", "(B, T)", "(B,)", "(B, 2)", "B T 1", "(B=3, T, 2)", "(B, T=4, 2)", "(B, 1)", "(B, T, 1)",
          "(B, 2*H)", "(", "(B, T, 0)", "", "()", "(B, T, -1)", "(B; T)"]
WORDS = ["lstm", "dense", "tanh", "relu", "sigmoid", "concat", "none", "sum", "float64", "float32", "time",
         "batch", "adam", "sgd", "mse", "zeros", "outputs", "glorot_uniform", "orthogonal", "many-to-one", "x"]

scalars = (st.none() | st.booleans() | st.integers(-2, 6) | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=6) | st.sampled_from(SHAPES + WORDS))
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5) | st.sampled_from(OPTION_NAMES), inner, max_size=3),
                    max_leaves=8)
small = st.integers(-1, 5) | st.sampled_from([8, 16])
option_value = st.one_of(small, st.booleans(), st.sampled_from(WORDS + SHAPES), st.floats(-0.5, 1.5), st.none(),
                         st.lists(st.one_of(st.none(), small, st.just("none")), max_size=3), junk)


RECURRENT = ["lstm", "gru", "simple_rnn"]


@st.composite
def recurrent_layer(draw: st.DrawFn, units: int | None = None, sequences: bool | None = None) -> dict:
    table = {"kind": draw(st.sampled_from(RECURRENT)), "units": units or draw(st.integers(1, 4))}
    table.update(draw(st.fixed_dictionaries({}, optional={
        "go_backwards": st.booleans(), "dropout": st.sampled_from([0.0, 0.2]), "use_bias": st.booleans(),
        "recurrent_dropout": st.sampled_from([0.0, 0.5]), "time_major": st.just(False)})))
    if sequences is not None:
        table["return_sequences"] = sequences
    elif draw(st.booleans()):
        table["return_sequences"] = draw(st.booleans())
    return table


@st.composite
def stack_layer(draw: st.DrawFn) -> dict:
    """A layer for a Sequential (valid on its own; the stack may still not fit together)."""
    choice = draw(st.sampled_from(["recurrent", "recurrent", "dense", "dropout", "masking", "bidirectional"]))
    if choice == "recurrent":
        return draw(recurrent_layer())
    if choice == "dense":
        return {"kind": "dense", "units": draw(st.integers(1, 4)),
                "activation": draw(st.sampled_from(["linear", "tanh", "sigmoid", "relu", "softmax"]))}
    if choice == "dropout":
        return {"kind": "dropout", "rate": draw(st.sampled_from([0.0, 0.5]))}
    if choice == "masking":
        return {"kind": "masking", "mask_value": 0.0}
    return {"kind": "bidirectional", "layer": draw(recurrent_layer()),
            "merge_mode": draw(st.sampled_from(["concat", "sum", "mul", "ave"]))}


@st.composite
def graph_parts(draw: st.DrawFn, F: int) -> dict:
    """``inputs``, ``nodes`` and ``outputs`` of a small graph: mostly well wired, now and then with a read
    of an unknown name, of a later node (which may close a cycle), of a state that is not there, or a
    node that nobody reads."""
    inputs = [{"name": f"in{i}", "shape": f"(B, T, {F})"} for i in range(draw(st.integers(1, 2)))]
    names = [i["name"] for i in inputs]
    nodes: list = []
    count = draw(st.integers(1, 4))
    for j in range(count):
        readable = names + [n["name"] for n in nodes]
        stray = draw(st.integers(0, 5)) == 0
        ref = st.sampled_from(readable + ([f"n{count - 1}", "ghost", f"n{j}.h", "in0.1"] if stray else []))
        choice = draw(st.sampled_from(["recurrent", "recurrent", "dense", "merge", "pool", "shares"]))
        node: dict = {"name": f"n{j}", "inputs": [draw(ref)]}
        if choice == "recurrent":
            layer = draw(recurrent_layer(units=F))
            layer["return_state"] = draw(st.booleans())
            node["layer"] = layer
            if draw(st.booleans()):
                node["initial_state"] = [draw(ref)]
        elif choice == "dense":
            node["layer"] = {"kind": "dense", "units": F}
        elif choice == "merge":
            node["layer"] = {"kind": draw(st.sampled_from(["add", "concatenate", "average", "multiply"]))}
            node["inputs"] = draw(st.lists(ref, min_size=1, max_size=3))
        elif choice == "pool":
            node["layer"] = {"kind": draw(st.sampled_from(["global_average_pooling1d", "global_max_pooling1d"]))}
        elif nodes and any("layer" in n for n in nodes):
            node["shares"] = draw(st.sampled_from([n["name"] for n in nodes if "layer" in n] + ["ghost"]))
        else:
            node["layer"] = {"kind": "dense", "units": F}
        nodes.append(node)
    read = {r.split(".")[0] for n in nodes for r in n["inputs"] + n.get("initial_state", [])}
    sinks = [n["name"] for n in nodes if n["name"] not in read]
    outputs = sinks if draw(st.integers(0, 4)) else [nodes[-1]["name"]]
    return {"inputs": inputs, "nodes": nodes, "outputs": outputs or [nodes[-1]["name"]]}


@st.composite
def valid_specs(draw: st.DrawFn) -> dict:
    """A spec of small sizes that is likely (not certain) to load: the material for mutations."""
    kind = draw(st.sampled_from(list(MODEL_KINDS)))
    F = draw(st.integers(1, 3))
    data: dict = {"model": {"kind": kind, "seed": draw(st.integers(0, 3))}}
    if draw(st.booleans()):
        data["model"]["dtype"] = draw(st.sampled_from(["float32", "float64"]))
    if kind == "sequential":
        layers = draw(st.lists(stack_layer(), min_size=1, max_size=3))
        if draw(st.integers(0, 3)) == 0:
            layers.insert(0, {"kind": "embedding", "input_dim": draw(st.integers(1, 9)), "output_dim": F,
                              "mask_zero": draw(st.booleans())})
            data["input"] = "(B, T)"
        else:
            data["input"] = draw(st.sampled_from([f"(B, T, {F})", f"(B, {F})", f"B T {F}"]))
        data["layers"] = layers
    elif kind == "graph":
        data.update(draw(graph_parts(F)))
    elif kind == "one_to_many":
        data["model"].update(steps=draw(st.integers(1, 3)), feedback=draw(st.sampled_from(["zeros", "outputs"])))
        data["layers"] = draw(st.lists(recurrent_layer(sequences=False), min_size=1, max_size=2))
        data["head"] = {"kind": "dense", "units": F}
        data["input"] = f"(B, {F})"
    else:
        units = draw(st.integers(1, 4))
        cell = draw(st.sampled_from(RECURRENT))
        data["encoder"] = [{"kind": cell, "units": units}]
        data["decoder"] = [{"kind": cell, "units": units, "return_sequences": True}]
        data["head"] = {"kind": "dense", "units": F}
        data["input"] = [f"(B, T_in, {F})", f"(B, T_out, {F})"]
    if draw(st.booleans()):
        data["dims"] = {"B": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        data["mode"] = draw(st.sampled_from(MODES))
    if draw(st.booleans()):
        data["expect"] = {"output": draw(st.sampled_from(["(B, 1)", f"(B, {F})", "(B, T, 1)"]))}
    if draw(st.integers(0, 3)) == 0:
        data["loss"] = "mse"
        data["labels"] = draw(st.sampled_from(["(B, 1)", f"(B, {F})", "(B,)"]))
    if kind == "sequential" and data["input"].startswith("(B, T") and draw(st.integers(0, 3)) == 0:
        data["mask"] = "(B, T)"
    return data


def _paths(value: object, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, path + (i,))
    return out


@st.composite
def spec_dicts(draw: st.DrawFn) -> object:
    """A small spec with 0-2 mistakes: a value replaced by junk, a key dropped, an unknown key added,
    a kind or an option renamed; now and then plain junk instead of a spec."""
    if draw(st.integers(0, 19)) == 0:
        return draw(junk)
    data = draw(valid_specs())
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["junk", "junk", "drop", "add", "kind"]))
        if action == "junk":
            parent[path[-1]] = draw(option_value)
        elif action == "drop":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(OPTION_NAMES + list(TOP_LEVEL)))] = draw(option_value)
        elif isinstance(parent, dict):
            parent["kind"] = draw(st.sampled_from([*LAYER_KINDS, *MODEL_KINDS, "lstn"]))
    return data


def check_outcome(load) -> Spec | None:
    """Run ``load``; a Spec is traced. Anything but a Spec, a Trace or a ShapeVizError fails."""
    try:
        spec = load()
    except SpecError as error:
        assert str(error) and error.problem
        event(f"SpecError at {re.sub(r'[0-9]+', 'N', error.key or '(file)')}")
        return None
    assert isinstance(spec, Spec)
    try:
        spec.trace()
        event("loaded and traced")
    except ShapeVizError as error:
        event(f"loaded, then {type(error).__name__}")
    return spec


def write(text: str, suffix: str) -> Path:
    path = DIR / f"fuzz{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@FUZZ
@given(text=st.text(max_size=200), suffix=st.sampled_from([".toml", ".json"]))
def test_arbitrary_text(text, suffix):
    check_outcome(lambda: load_spec(write(text, suffix)))


VALUES = ['-1', '0', '1', '3.5', 'true', '"x"', '[]', '{}', '"(B, T"', '"(B, T, 2)"', '"(B=7, T)"', '"lstm"',
          '"none"', '"dense"', '"bidirectional"', '{ kind = "gru", units = 2 }', '[1, "none"]', 'nan', '1e400']


@FUZZ
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data())
def test_edited_examples(name, data):
    """Random character edits (which mostly break the syntax) and value swaps on ``key = value``
    lines (which keep it, so the schema checks and the constructors get to see them)."""
    text = EXAMPLES[name]
    for _ in range(data.draw(st.integers(1, 3))):
        if name.endswith(".toml") and data.draw(st.booleans()):
            lines = text.splitlines()
            candidates = [i for i, line in enumerate(lines) if " = " in line and not line.startswith("#")]
            i = data.draw(st.sampled_from(candidates))
            lines[i] = lines[i].split(" = ")[0] + " = " + data.draw(st.sampled_from(VALUES))
            text = "\n".join(lines) + "\n"
        else:
            at = int(data.draw(st.floats(0, 1)) * len(text))
            cut = data.draw(st.integers(0, 12))
            insert = data.draw(st.text(alphabet=' \n"=[]{},.#-_0123456789abfglnrstuxBT()', max_size=8))
            text = text[:at] + insert + text[at + cut:]
    check_outcome(lambda: load_spec(write(text, Path(name).suffix)))


@settings(FUZZ, max_examples=150 * SCALE)
@given(data=spec_dicts())
def test_random_spec_dicts(data):
    check_outcome(lambda: build_spec(data))


@FUZZ
@given(data=spec_dicts())
def test_json_file_says_what_the_dict_says(data):
    """The same structure from a dict and from a JSON file: both load, or both fail with one problem."""
    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError):
        return
    try:
        from_dict = build_spec(json.loads(text))
    except SpecError as error:
        from_dict = error
    try:
        from_file = load_spec(write(text, ".json"))
    except SpecError as error:
        from_file = error
    assert type(from_dict) is type(from_file)
    if isinstance(from_dict, SpecError):
        # a model without a name is named after the file, or by shapeviz's counter from a dict
        unnamed = re.compile(r"'(?:sequential|one_to_many|encoder_decoder|functional)_\d+'|'fuzz'")
        assert from_dict.key == from_file.key
        assert unnamed.sub("'M'", from_dict.problem) == unnamed.sub("'M'", from_file.problem)
        assert from_file.line == (1 if from_file.key else None)  # json.dumps writes one line
    else:
        assert [l.config() for l in from_dict.model.layers] == [l.config() for l in from_file.model.layers]
