"""One spec being built: where each key is written, its messages, and the checks every part of a spec uses.

The parts of a spec are built by plain functions over one :class:`Builder` (layers in
:mod:`.layers`, models, losses and optimizers in :mod:`.models`, inputs, dims and roles in
:mod:`.inputs`, expectations in :mod:`.expect`); the builder keeps what they share: the layer
names made so far, the dim names and sizes the shapes use, and the line of every key.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Callable, Sequence

from shapeviz.errors import ConfigError
from shapeviz.frontends.spec.lines import KeyPath, json_key_lines, line_of, toml_key_lines
from shapeviz.frontends.spec.schema import SHAPE, TABLE, SpecError, ValueType
from shapeviz.tracing.parse import ShapeSyntaxError, parse_shape


def describe(value: Any) -> str:
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


def key_text(path: KeyPath) -> str:
    """``("layers", 1, "units")`` as ``layers[1].units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part) else json.dumps(part)
            out += ("." if out else "") + text
    return out or "(top level)"


def closest(word: Any, choices: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower().replace("-", "_").replace(" ", "_"), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(choices: Sequence[str]) -> str:
    return ", ".join(choices)


class Builder:
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
        return SpecError(problem, source=self.source, key=key_text(path) if path else None, line=self.line(path))

    def where(self, path: KeyPath) -> str:
        """``input (line 3)``: another place, named in a message."""
        line = self.line(path)
        return key_text(path) + (f" (line {line})" if line else "")

    # -- checks -------------------------------------------------------------------------------
    def typed(self, value: Any, path: KeyPath, kind: ValueType) -> Any:
        if not kind.test(value):
            raise self.error(path, f"expected {kind.name}, got {describe(value)}")
        return value

    def table(self, value: Any, path: KeyPath, allowed: Sequence[str], what: str,
              required: Sequence[str] = ()) -> dict[str, Any]:
        """``value`` as a table whose keys are all in ``allowed`` and include ``required``."""
        self.typed(value, path, TABLE)
        for key, first, second in getattr(value, "repeated", []):
            if first != second:
                raise self.error(path + (key,), f"given twice with different values: {describe(first)} "
                                                f"and then {describe(second)}")
        for key in value:
            if key not in allowed:
                raise self.error(path + (key,), f"unknown key {key!r} for {what}{closest(key, allowed)}; "
                                                f"expected one of: {one_of(allowed)}")
        for key in required:
            if key not in value:
                raise self.error(path, f"{what} needs the key {key!r}, got only: {one_of(list(value)) or 'nothing'}")
        return value

    def options(self, table: dict[str, Any], path: KeyPath, types: dict[str, ValueType]) -> dict[str, Any]:
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
