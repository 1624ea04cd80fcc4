"""Declarative model specs: a TOML or JSON file that describes a model, its input and the shapes to expect.

A spec is data only: layers come from a fixed table of kinds (:data:`LAYER_KINDS`), built
through their public constructors; nothing is imported or evaluated by name. The format is
documented in ``docs/specs.md``; a short one::

    mode = "many-to-one"
    input = "(B, T)"
    labels = "(B,)"
    loss = "binary_crossentropy"

    [model]
    kind = "sequential"
    seed = 0

    [dims]
    B = 32
    T = 80

    [[layers]]
    kind = "embedding"
    input_dim = 20000
    output_dim = 128

    [[layers]]
    kind = "lstm"
    units = 128

    [[layers]]
    kind = "dense"
    units = 1
    activation = "sigmoid"

Every schema error is a :class:`SpecError` that names the file, the key path
(``layers[1].units``), the line for TOML and JSON where it can be found, what was
expected and what was found.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from shapeviz.core import losses as _losses
from shapeviz.core import optimizers as _optimizers
from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.dense import Dense
from shapeviz.core.dropout import Dropout
from shapeviz.core.embedding import Embedding
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.gru import GRU
from shapeviz.core.layer import Layer
from shapeviz.core.lstm import LSTM
from shapeviz.core.masking import Masking
from shapeviz.core.model import MODES, Model
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import ConfigError
from shapeviz.spec_lines import KeyPath, json_key_lines, line_of, toml_key_lines
from shapeviz.tracing.context import ROLES
from shapeviz.tracing.parse import ShapeSyntaxError, parse_shape


class SpecError(ConfigError):
    """A spec file that cannot be read or does not describe a valid model.

    ``str()`` reads ``FILE:LINE: KEY: problem`` (the line and the key when known).

    Attributes:
        source: the file (or ``"<dict>"``).
        key: the key path, e.g. ``"layers[1].units"``, or None for the whole file.
        line: the line where the key is written (TOML and JSON files), or None.
        column: the column, for a file that does not decode.
        problem: the message without its location.
    """

    def __init__(self, problem: str, *, source: str, key: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        self.line = line
        self.column = column
        where = source + (f":{line}" if line else "") + (f":{column}" if line and column else "")
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


# -- the schema -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Type:
    """A value type of the schema: its name in messages and its test."""

    name: str
    test: Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


INT = _Type("an integer", _is_int)
NUMBER = _Type("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
BOOL = _Type("a boolean (true or false)", lambda v: isinstance(v, bool))
STRING = _Type("a string", lambda v: isinstance(v, str))
TABLE = _Type("a table", lambda v: isinstance(v, dict))
ARRAY = _Type("an array", lambda v: isinstance(v, list))
SHAPE = _Type('a shape string such as "(B, T, 2)"', lambda v: isinstance(v, str))
# merge_mode None (a list of both directions' outputs) is null in JSON and "none" in TOML
MERGE = _Type('a string ("concat", "sum", "mul", "ave", "none") or null', lambda v: v is None or isinstance(v, str))
LAYER = _Type("a table describing a recurrent layer, e.g. {kind = \"lstm\", units = 64}", lambda v: isinstance(v, dict))

_RECURRENT = {
    "units": INT, "return_sequences": BOOL, "return_state": BOOL, "go_backwards": BOOL,
    "dropout": NUMBER, "recurrent_dropout": NUMBER, "time_major": BOOL, "use_bias": BOOL,
    "kernel_initializer": STRING, "recurrent_initializer": STRING, "bias_initializer": STRING,
}

#: Every layer kind a spec can name: its class, its options (besides ``kind`` and ``name``) and
#: their types, and the options it requires. Values are checked by the constructors.
LAYER_KINDS: dict[str, tuple[type[Layer], dict[str, _Type], tuple[str, ...]]] = {
    "dense": (Dense, {"units": INT, "activation": STRING, "use_bias": BOOL, "kernel_initializer": STRING},
              ("units",)),
    "embedding": (Embedding, {"input_dim": INT, "output_dim": INT, "mask_zero": BOOL,
                              "embeddings_initializer": STRING}, ("input_dim", "output_dim")),
    "dropout": (Dropout, {"rate": NUMBER, "noise_shape": ARRAY}, ("rate",)),
    "masking": (Masking, {"mask_value": NUMBER}, ()),
    "simple_rnn": (SimpleRNN, {"units": INT, "activation": STRING, **_RECURRENT}, ("units",)),
    "lstm": (LSTM, {"units": INT, "unit_forget_bias": BOOL, **_RECURRENT}, ("units",)),
    "gru": (GRU, {"units": INT, "reset_after": BOOL, **_RECURRENT}, ("units",)),
    "bidirectional": (Bidirectional, {"layer": LAYER, "merge_mode": MERGE, "backward_layer": LAYER}, ("layer",)),
}

_MODEL_COMMON = {"kind": STRING, "name": STRING, "dtype": STRING, "seed": INT}
#: Every model kind: its class, its options in ``[model]``, and the top-level keys holding its layers.
MODEL_KINDS: dict[str, tuple[type[Model], dict[str, _Type], tuple[str, ...]]] = {
    "sequential": (Sequential, _MODEL_COMMON, ("layers",)),
    "one_to_many": (OneToMany, {**_MODEL_COMMON, "steps": INT, "feedback": STRING}, ("layers", "head")),
    "encoder_decoder": (EncoderDecoder, _MODEL_COMMON, ("encoder", "decoder", "head")),
}
_REQUIRED_MODEL_OPTIONS = {"one_to_many": ("steps",)}
DTYPES = ("float32", "float64")

#: The top-level keys of a spec.
TOP_LEVEL = ("description", "model", "mode", "input", "dims", "roles", "expect", "labels", "mask", "loss",
             "optimizer", "layers", "encoder", "decoder", "head")
_CROSSENTROPY = {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}


# -- the result -------------------------------------------------------------------------------
@dataclass
class Spec:
    """A loaded spec: the model, built, and everything needed to trace it.

    Attributes:
        model: the model, built through the public constructors (compiled when the spec has a loss).
        inputs: the input declaration, ``"(B, T, 2)"``, or (source, decoder inputs) for an
            encoder_decoder model.
        dims: sizes given in ``[dims]``, ``{"B": 32}``.
        expect: expected shapes, ``{"output": "(B, 1)", "lstm_1": "(B, 128)"}``.
        labels: the labels' shape, or None.
        mask: the mask's shape, or None.
        mode: the model's sequence mode (checked against the spec's ``mode`` when it gives one).
        source: the file the spec came from, or ``"<dict>"``.
        roles: roles given in ``[roles]``, ``{"T_in": "time"}`` (see :meth:`trace`).
        loss: the loss name, or None.
        description: the spec's free-text description, or None.
    """

    model: Model
    inputs: str | tuple[str, str]
    dims: dict[str, int] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)
    labels: str | None = None
    mask: str | None = None
    mode: str = ""
    source: str = "<dict>"
    roles: dict[str, str] = field(default_factory=dict)
    loss: str | None = None
    description: str | None = None

    def trace(self) -> Any:
        """Trace the model on the spec's declarations: ``trace(model, inputs, dims=, expect=,
        labels=, mask=)``. Returns a :class:`~shapeviz.tracing.Trace`; raises ShapeError.

        ``roles`` are not passed: the tracer reads a dim's role from its name (``B`` batch,
        ``T``/``T_in``/``seq_len`` time, ``F``/``H`` features) and takes no roles argument yet.
        """
        from shapeviz.tracing.tracer import trace
        return trace(self.model, self.inputs, dims=self.dims, expect=self.expect, labels=self.labels,
                     mask=self.mask, roles=self.roles)


# -- reading ----------------------------------------------------------------------------------
def load_spec(path: str | Path) -> Spec:
    """Read a ``.toml`` or ``.json`` spec file and build its model.

    Args:
        path: the spec file.

    Returns:
        The :class:`Spec`. Raises :class:`SpecError` for a file that cannot be read or decoded,
        or that does not describe a valid model.
    """
    source = str(path)
    suffix = Path(source).suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"expected a .toml or .json spec file, got {Path(source).name!r}", source=source)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", source=source) from None
    except IsADirectoryError:
        raise SpecError("expected a spec file, got a directory", source=source) from None
    except UnicodeDecodeError as error:
        raise SpecError(f"cannot read the file: it is not UTF-8 text ({error.reason} at byte {error.start})",
                        source=source) from None
    except OSError as error:
        raise SpecError(f"cannot read the file: {error.strerror or error}", source=source) from None
    data = _decode_toml(text, source) if suffix == ".toml" else _decode_json(text, source)
    return _Builder(source, text, suffix).build(data)


def build_spec(data: dict[str, Any], source: str = "<dict>") -> Spec:
    """Build a spec from its decoded form (what ``tomllib.loads`` or ``json.loads`` returns).

    Args:
        data: the spec as a dict.
        source: the name to show in messages.
    """
    return _Builder(source, None, None).build(data)


def _decode_toml(text: str, source: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI (a dependency on Python 3.10)
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if m is not None:
            line, column = int(m.group(1)), int(m.group(2))
            message = message[:m.start()]
            if message.startswith(("Cannot overwrite", "Cannot declare")):
                message += " (a key or table given twice)"
        else:
            line, column = max(1, text.count("\n") + (0 if text.endswith("\n") else 1)), None
            message = re.sub(r"\s*\(at end of document\)$", " (at the end of the file)", message)
        raise SpecError(f"not valid TOML: {message}{_show(text, line, column)}", source=source, line=line,
                        column=column) from None
    except RecursionError:
        raise SpecError("not valid TOML: nested too deeply", source=source) from None


def _decode_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_JSONObject)
    except json.JSONDecodeError as error:
        raise SpecError(f"not valid JSON: {error.msg}{_show(text, error.lineno, error.colno)}", source=source,
                        line=error.lineno, column=error.colno) from None
    except RecursionError:
        raise SpecError("not valid JSON: nested too deeply", source=source) from None


def _show(text: str, line: int, column: int | None) -> str:
    """The offending line, with a caret under the column."""
    rows = text.splitlines()
    if not 1 <= line <= len(rows):
        return ""
    row = rows[line - 1]
    if len(row) > 120:
        return ""
    caret = f"\n  {' ' * (column - 1)}^" if column else ""
    return f"\n  {row}{caret}"


class _JSONObject(dict):
    """A JSON object that remembers the keys it was given twice (``json`` keeps the last silently)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.repeated: list[tuple[str, Any, Any]] = []
        for key, value in pairs:
            if key in self:
                self.repeated.append((key, self[key], value))
            self[key] = value


# -- building ---------------------------------------------------------------------------------
def _describe(value: Any) -> str:
    """A value as the file wrote it: ``string 'abc'``, ``integer -3``, ``table {kind, units}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        text = str(value) if abs(value) < 10 ** 30 else f"{str(value)[:12]}... ({len(str(abs(value)))} digits)"
        return f"integer {text}"
    if isinstance(value, float):
        return f"float {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"string {text!r}"
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in list(value)[:6]) + (", ..." if len(value) > 6 else "")
        return f"table {{{keys}}}"
    if isinstance(value, list):
        return f"array of {len(value)} item{'s' if len(value) != 1 else ''}"
    return f"{type(value).__name__} {str(value)[:60]!r}"


def _key(path: KeyPath) -> str:
    """``("layers", 1, "units")`` as ``layers[1].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part) else json.dumps(part)
            out += ("." if out else "") + text
    return out or "(top level)"


def _closest(word: Any, choices: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower().replace("-", "_").replace(" ", "_"), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(choices: Sequence[str]) -> str:
    return ", ".join(choices)


def _given_names(sections: list[Any]) -> set[str]:
    """Every layer name a spec gives, in its sections and in the layers they wrap."""
    names: set[str] = set()
    todo = [item for section in sections for item in (section if isinstance(section, list) else [section])]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if isinstance(item.get("name"), str):
                names.add(item["name"])
            todo.extend(item.get(key) for key in ("layer", "backward_layer"))
    return names


class _Builder:
    """One spec being built: the source for messages, and the layers it has made so far."""

    def __init__(self, source: str, text: str | None, suffix: str | None) -> None:
        self.source = source
        self.text = text
        self.suffix = suffix
        self._lines: dict[KeyPath, int] | None = None
        self.names: dict[str, KeyPath] = {}  # name of every layer made (inner ones too) -> its path
        self.counters: dict[str, int] = {}
        self.sizes: dict[str, tuple[int, KeyPath]] = {}  # dim name -> (size, where it was given)
        self.used_dims: dict[str, KeyPath] = {}  # dim names the shapes use -> where first
        self.given_names: set[str] = set()  # names the spec gives its layers (not to be auto-assigned)

    # -- messages -----------------------------------------------------------------------------
    def line(self, path: KeyPath) -> int | None:
        if self.text is None:
            return None
        if self._lines is None:
            try:
                self._lines = toml_key_lines(self.text) if self.suffix == ".toml" else json_key_lines(self.text)
            except RecursionError:  # pragma: no cover - the scanners do not recurse
                self._lines = {}
        return line_of(self._lines, path)

    def error(self, path: KeyPath, problem: str) -> SpecError:
        return SpecError(problem, source=self.source, key=_key(path) if path else None, line=self.line(path))

    def where(self, path: KeyPath) -> str:
        """``input (line 3)``: another place, named in a message."""
        line = self.line(path)
        return _key(path) + (f" (line {line})" if line else "")

    # -- checks -------------------------------------------------------------------------------
    def typed(self, value: Any, path: KeyPath, kind: _Type) -> Any:
        if not kind.test(value):
            raise self.error(path, f"expected {kind.name}, got {_describe(value)}")
        return value

    def table(self, value: Any, path: KeyPath, allowed: Sequence[str], what: str,
              required: Sequence[str] = ()) -> dict[str, Any]:
        """``value`` as a table whose keys are all in ``allowed`` and include ``required``."""
        self.typed(value, path, TABLE)
        for key, first, second in getattr(value, "repeated", []):
            if first != second:
                raise self.error(path + (key,), f"given twice with different values: {_describe(first)} "
                                                f"and then {_describe(second)}")
        for key in value:
            if key not in allowed:
                raise self.error(path + (key,), f"unknown key {key!r} for {what}{_closest(key, allowed)}; "
                                                f"expected one of: {_one_of(allowed)}")
        for key in required:
            if key not in value:
                raise self.error(path, f"{what} needs the key {key!r}, got only: {_one_of(list(value)) or 'nothing'}")
        return value

    def options(self, table: dict[str, Any], path: KeyPath, types: dict[str, _Type]) -> dict[str, Any]:
        return {k: self.typed(v, path + (k,), types[k]) for k, v in table.items() if k in types}

    def shape(self, value: Any, path: KeyPath) -> str:
        """A shape string that parses; its names are recorded, its ``name=size`` checked against the others."""
        self.typed(value, path, SHAPE)
        try:
            specs = parse_shape(value)
        except ShapeSyntaxError as error:
            raise self.error(path, str(error)) from None
        for spec in specs:
            for name in sorted(spec.dim.names):
                self.used_dims.setdefault(name, path)
            if spec.value is not None and spec.name is not None:
                self.size(spec.name, spec.value, path, f"{spec.name}={spec.value} in {value!r}")
        return value

    def size(self, name: str, value: int, path: KeyPath, said: str) -> None:
        if name in self.sizes and self.sizes[name][0] != value:
            first, where = self.sizes[name]
            raise self.error(path, f"the dim {name} is given twice with different sizes: {first} at "
                                   f"{self.where(where)}, and {value} here ({said}); one name is one size")
        self.sizes.setdefault(name, (value, path))

    def construct(self, make: Callable[[], Any], path: KeyPath, table: dict[str, Any],
                  scope: KeyPath | None = None) -> Any:
        """Call a constructor; its ConfigError comes back with a key path: the option it names in
        backticks (``layers[1].units``), else the layer under ``scope`` (default ``path``) it names
        by name, else ``path``."""
        try:
            return make()
        except ConfigError as error:
            message = str(error)
            where = path
            scope = path if scope is None else scope
            option = re.search(r"`(\w+)`", message)
            if option is not None and option.group(1) in table:
                where = path + (option.group(1),)
            else:
                for name, layer_path in self.names.items():
                    if f"{name!r}" in message and layer_path[:len(scope)] == scope and layer_path != path:
                        where = layer_path
                        break
            raise self.error(where, message) from None

    # -- layers -------------------------------------------------------------------------------
    def auto_name(self, kind: str) -> str:
        """``lstm_1``, ``lstm_2``... counted within this spec, so expectations can name them."""
        while True:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            name = f"{kind}_{self.counters[kind]}"
            if name not in self.names and name not in self.given_names:
                return name

    def layer(self, value: Any, path: KeyPath, inner: bool = False) -> Layer:
        self.typed(value, path, LAYER if inner else TABLE)
        if "kind" not in value:
            raise self.error(path, f"a layer needs the key 'kind', one of: {_one_of(sorted(LAYER_KINDS))}; "
                                   f"got only: {_one_of(list(value)) or 'nothing'}")
        kind = self.typed(value["kind"], path + ("kind",), STRING)
        if kind not in LAYER_KINDS:
            raise self.error(path + ("kind",), f"unknown layer kind {kind!r}{_closest(kind, sorted(LAYER_KINDS))}; "
                                               f"expected one of: {_one_of(sorted(LAYER_KINDS))}")
        cls, types, required = LAYER_KINDS[kind]
        self.table(value, path, ["kind", "name", *types], f"a layer of kind {kind!r}", required)
        options = self.options(value, path, types)
        name = value.get("name")
        if name is not None:
            self.typed(name, path + ("name",), STRING)
            if not name:
                raise self.error(path + ("name",), "expected a non-empty string, got string ''")
            if not inner and name in self.names:
                raise self.error(path + ("name",), f"the layer name {name!r} is already used by "
                                                   f"{self.where(self.names[name])}; names must be unique")
        else:
            name = self.auto_name(kind)
        if kind == "bidirectional":
            options["layer"] = self.layer(value["layer"], path + ("layer",), inner=True)
            if "backward_layer" in value:
                options["backward_layer"] = self.layer(value["backward_layer"], path + ("backward_layer",),
                                                       inner=True)
            if isinstance(options.get("merge_mode"), str) and options["merge_mode"].lower() == "none":
                options["merge_mode"] = None
        if kind == "dropout" and "noise_shape" in options:  # TOML has no null: "none" stands for None
            options["noise_shape"] = [None if isinstance(d, str) and d.lower() == "none" else d
                                      for d in options["noise_shape"]]
        layer = self.construct(lambda: cls(**options, name=name), path, value)
        self.names[layer.name] = path
        for sub in layer.sublayers():
            self.names.setdefault(sub.name, path)
        return layer

    def layers(self, value: Any, path: KeyPath) -> list[Layer]:
        self.typed(value, path, ARRAY)
        if not value:
            raise self.error(path, "expected at least one layer, got an empty array")
        return [self.layer(item, path + (i,)) for i, item in enumerate(value)]

    # -- the whole spec -----------------------------------------------------------------------
    def build(self, data: Any) -> Spec:
        if not isinstance(data, dict):
            raise self.error((), f"expected a table (a JSON object) at the top of the spec, got {_describe(data)}")
        self.table(data, (), TOP_LEVEL, "the top level of a spec", required=("model", "input"))
        model_table = self.typed(data["model"], ("model",), TABLE)
        if "kind" not in model_table:
            raise self.error(("model",), f"the model needs the key 'kind', one of: {_one_of(MODEL_KINDS)}")
        kind = self.typed(model_table["kind"], ("model", "kind"), STRING)
        if kind not in MODEL_KINDS:
            raise self.error(("model", "kind"), f"unknown model kind {kind!r}{_closest(kind, list(MODEL_KINDS))}; "
                                                f"expected one of: {_one_of(MODEL_KINDS)}")
        cls, model_types, sections = MODEL_KINDS[kind]
        self.table(model_table, ("model",), list(model_types), f"a model of kind {kind!r}",
                   _REQUIRED_MODEL_OPTIONS.get(kind, ()))
        for key in ("layers", "encoder", "decoder", "head"):
            if key in data and key not in sections:
                raise self.error((key,), f"a {kind} model takes {_one_of(sections)}, not {key!r}"
                                         + (" (its last layer is its head)" if kind == "sequential" else ""))
        for key in sections:
            if key not in data:
                raise self.error((), f"a {kind} model needs the key {key!r}")
        self.given_names = _given_names([data[key] for key in sections])

        model = self.model(cls, kind, data, model_table, sections)
        inputs = self.inputs(data.get("input"), kind)
        labels = self.shape(data["labels"], ("labels",)) if "labels" in data else None
        mask = self.shape(data["mask"], ("mask",)) if "mask" in data else None
        expect = self.expect(data.get("expect", {}))
        dims = self.dims(data.get("dims", {}))
        roles = self.roles(data.get("roles", {}))
        loss = self.compile(model, data)
        if ("labels" in data or "labels" in expect) and loss is None:
            key = ("labels",) if "labels" in data else ("expect", "labels")
            raise self.error(key, 'checking the labels needs a loss: add one, e.g. loss = "mse"')
        mode = self.mode(data, model, kind)
        description = self.typed(data["description"], ("description",), STRING) if "description" in data else None
        return Spec(model=model, inputs=inputs, dims=dims, expect=expect, labels=labels, mask=mask, mode=mode,
                    source=self.source, roles=roles, loss=loss, description=description)

    def model(self, cls: type[Model], kind: str, data: dict, table: dict, sections: Sequence[str]) -> Model:
        options = self.options(table, ("model",), MODEL_KINDS[kind][1])
        options.pop("kind")
        if "dtype" in options and options["dtype"] not in DTYPES:
            raise self.error(("model", "dtype"), f"expected one of: {_one_of(DTYPES)}, got "
                                                 f"{_describe(options['dtype'])}{_closest(options['dtype'], DTYPES)}")
        if options.get("seed", 0) < 0:
            raise self.error(("model", "seed"), f"expected a non-negative integer, got {_describe(options['seed'])}")
        if "name" not in options and self.suffix is not None:
            options["name"] = Path(self.source).stem
        if kind == "sequential":
            parts: dict[str, Any] = {"layers": self.layers(data["layers"], ("layers",))}
        elif kind == "one_to_many":
            parts = {"layers": self.layers(data["layers"], ("layers",)), "head": self.layer(data["head"], ("head",))}
        else:
            parts = {"encoder": self.layers(data["encoder"], ("encoder",)),
                     "decoder": self.layers(data["decoder"], ("decoder",)), "head": self.layer(data["head"], ("head",))}
        return self.construct(lambda: cls(**parts, **options), ("model",), table, scope=())

    def inputs(self, value: Any, kind: str) -> str | tuple[str, str]:
        if kind != "encoder_decoder":
            return self.shape(value, ("input",))
        if not (isinstance(value, list) and len(value) == 2):
            raise self.error(("input",), 'expected an array of two shapes (source, decoder inputs) such as '
                                         f'["(B, T_in, F)", "(B, T_out, V)"], got {_describe(value)}')
        return (self.shape(value[0], ("input", 0)), self.shape(value[1], ("input", 1)))

    def expect(self, value: Any) -> dict[str, str]:
        known = ["output", "labels", *self.names]
        self.typed(value, ("expect",), TABLE)
        for key in value:
            if key not in known and key not in ("y", "outputs") and not self._is_path(key):
                raise self.error(("expect", key), f"the model has no layer {key!r}{_closest(key, known)}; "
                                                  f"expected 'output', 'labels' or a layer name: "
                                                  f"{_one_of(list(self.names))}")
        return {key: self.shape(text, ("expect", key)) for key, text in self.table(value, ("expect",), list(value),
                                                                                    "expect").items()}

    def _is_path(self, key: str) -> bool:
        """``bidirectional_1/forward_simple_rnn_1``: a layer path as the tracer writes it."""
        parts = key.split("/")
        return len(parts) > 1 and all(p in self.names for p in parts)

    def dims(self, value: Any) -> dict[str, int]:
        self.table(value, ("dims",), list(value) if isinstance(value, dict) else [], "dims")
        out = {}
        for name, size in value.items():
            path = ("dims", name)
            self.typed(size, path, INT)
            if size <= 0:
                raise self.error(path, f"expected a positive integer, got {_describe(size)}")
            if name not in self.used_dims:
                raise self.error(path, f"no shape in this spec uses the dim {name!r}"
                                       f"{_closest(name, list(self.used_dims))}; the dims used are: "
                                       f"{_one_of(sorted(self.used_dims)) or 'none'}")
            self.size(name, size, path, f"{name} = {size}")
            out[name] = size
        return out

    def roles(self, value: Any) -> dict[str, str]:
        self.table(value, ("roles",), list(value) if isinstance(value, dict) else [], "roles")
        for name, role in value.items():
            path = ("roles", name)
            self.typed(role, path, STRING)
            if role not in ROLES:
                raise self.error(path, f"expected a role, one of: {_one_of(ROLES)}, got {_describe(role)}"
                                       f"{_closest(role, ROLES)}")
            if name not in self.used_dims:
                raise self.error(path, f"no shape in this spec uses the dim {name!r}"
                                       f"{_closest(name, list(self.used_dims))}; the dims used are: "
                                       f"{_one_of(sorted(self.used_dims)) or 'none'}")
        return dict(value)

    def compile(self, model: Model, data: dict) -> str | None:
        """Compile the model when the spec has a loss; returns the loss name."""
        if "loss" not in data:
            if "optimizer" in data:
                raise self.error(("optimizer",), 'an optimizer needs a loss: add one, e.g. loss = "mse"')
            return None
        loss = self.loss(data["loss"])
        optimizer, options = self.optimizer(data.get("optimizer", "adam"))
        self.construct(lambda: model.compile(loss, optimizer, **options), ("optimizer",),
                       data["optimizer"] if isinstance(data.get("optimizer"), dict) else {})
        return getattr(model.loss, "name", None)

    def loss(self, value: Any) -> Any:
        path = ("loss",)
        if isinstance(value, dict):
            self.table(value, path, ["name", "from_logits"], "a loss", ("name",))
            name = self.typed(value["name"], path + ("name",), STRING)
            if "from_logits" not in value:
                return self.construct(lambda: _losses.get(name), path + ("name",), {})
            from_logits = self.typed(value["from_logits"], path + ("from_logits",), BOOL)
            if name.lower() not in _CROSSENTROPY:
                raise self.error(path + ("from_logits",), f"from_logits applies to {_one_of(sorted(_CROSSENTROPY))}, "
                                                          f"not to {name!r}")
            if name.lower() == "binary_crossentropy":
                return _losses.BinaryCrossentropy(from_logits=from_logits)
            return _losses.SoftmaxCrossEntropy(from_logits=from_logits, name=name.lower())
        if not isinstance(value, str):
            raise self.error(path, f"expected a loss name such as \"mse\" or a table {{name = ..., from_logits = ...}}, "
                                   f"got {_describe(value)}")
        return self.construct(lambda: _losses.get(value), path, {})

    def optimizer(self, value: Any) -> tuple[str, dict[str, Any]]:
        path = ("optimizer",)
        if isinstance(value, dict):
            self.table(value, path, list(value), "an optimizer", ("name",))
            name = self.typed(value["name"], path + ("name",), STRING)
            options = {k: v for k, v in value.items() if k != "name"}
            for key, option in options.items():
                if not (NUMBER.test(option) or BOOL.test(option) or option is None):
                    raise self.error(path + (key,), f"expected a number or a boolean, got {_describe(option)}")
            return name, options
        if not isinstance(value, str):
            raise self.error(path, f"expected an optimizer name such as \"adam\" or a table "
                                   f"{{name = ..., learning_rate = ...}}, got {_describe(value)}")
        return value, {}

    def mode(self, data: dict, model: Model, kind: str) -> str:
        actual = model.mode
        if "mode" not in data:
            return actual
        mode = self.typed(data["mode"], ("mode",), STRING)
        if mode not in MODES:
            raise self.error(("mode",), f"unknown mode {mode!r}{_closest(mode, MODES)}; expected one of: "
                                        f"{_one_of(MODES)}")
        if mode != actual:
            hint = ""
            if kind == "sequential" and {mode, actual} == {"many-to-one", "synced many-to-many"}:
                hint = "; return_sequences of the last recurrent layer decides between the two"
            raise self.error(("mode",), f"the spec says {mode!r}, but the model it describes is {actual!r}{hint}")
        return mode
