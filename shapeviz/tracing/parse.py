"""Parsing the shapes users write: ``"(B, T, 2)"``, ``"B T 2"``, ``"batch=32, seq_len=80, features=2"``."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from shapeviz.errors import ConfigError
from shapeviz.tracing.dims import Dim

_TOKEN = re.compile(r"\s*(?:(?P<int>[0-9]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[()\[\],=*+-]))")
_MAX_DIGITS = 18  # a size beyond 10^18 is a typo (and int() refuses strings over 4300 digits)


class ShapeSyntaxError(ConfigError):
    """A shape string that does not parse; the message shows where parsing stopped."""


@dataclass(frozen=True)
class DimSpec:
    """One axis as written: its dim (``B``, ``2``, ``4*H``) and a size given with it (``batch=32``)."""

    dim: Dim
    value: int | None = None

    @property
    def name(self) -> str | None:
        return self.dim.symbol if self.dim.is_symbol else None


def _error(text: str, pos: int, expected: str) -> ShapeSyntaxError:
    found = repr(text[pos]) if pos < len(text) else "the end"
    # one character shown per character of the text, so that the caret stays under the column
    shown = "".join(" " if c.isspace() else c if c.isprintable() else "?" for c in text)
    return ShapeSyntaxError(
        f"cannot parse the shape {text!r}: expected {expected} at column {pos + 1}, found {found}\n"
        f"  {shown}\n  {' ' * pos}^\n"
        "  write it like \"(B, T, 2)\", \"B T 2\" or \"batch=32, seq_len=80, features=2\""
    )


def parse_shape(text: str) -> list[DimSpec]:
    """The axes of a shape string.

    Axes are separated by commas or spaces, optionally inside ``()`` or ``[]``. An axis is a
    number, a name, ``name=number`` (a name with its size) or a product/sum/difference of
    those (``4*H``, ``H1+H2``, ``T-1``: what the tracer prints parses back). An empty ``()``
    is a scalar.
    """
    if not isinstance(text, str):
        raise ShapeSyntaxError(f"a shape must be a string such as \"(B, T, 2)\", got {type(text).__name__} {text!r}")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise _error(text, start, "a name, a number, ',', '=', '*', '+', '-' or a bracket")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    i = 0
    close = None
    if tokens and tokens[0][1] in "([":
        close = ")" if tokens[0][1] == "(" else "]"
        i = 1
    specs: list[DimSpec] = []

    def peek() -> tuple[str, str, int] | None:
        return tokens[i] if i < len(tokens) else None

    def end_pos() -> int:
        return len(text.rstrip())

    def atom() -> Dim:
        nonlocal i
        tok = peek()
        if tok is None or tok[0] not in ("int", "name"):
            raise _error(text, tok[2] if tok else end_pos(), "a name or a number")
        i += 1
        if tok[0] == "int":
            if len(tok[1].lstrip("0")) > _MAX_DIGITS:
                raise ShapeSyntaxError(f"in the shape {text!r}: the size at column {tok[2] + 1} has "
                                       f"{len(tok[1])} digits; a size has at most {_MAX_DIGITS}")
            value = int(tok[1])
            if value <= 0:
                raise ShapeSyntaxError(
                    f"in the shape {text!r}: every size must be positive, got {value} at column {tok[2] + 1}"
                )
            return Dim.const(value)
        return Dim.sym(tok[1])

    def expr() -> Dim:
        nonlocal i
        out = term()
        while (tok := peek()) is not None and tok[1] in "+-":
            i += 1
            out = out + term() if tok[1] == "+" else out - term()
        return out

    def term() -> Dim:
        nonlocal i
        out = atom()
        while (tok := peek()) is not None and tok[1] == "*":
            i += 1
            out = out * atom()
        return out

    while True:
        tok = peek()
        if tok is None or tok[1] == close:
            break
        start = tok
        dim = expr()
        if dim.is_const and dim.value <= 0:  # type: ignore[operator]
            raise ShapeSyntaxError(f"in the shape {text!r}: every size must be positive, the axis at column "
                                   f"{start[2] + 1} is {dim}")
        value = None
        tok = peek()
        if tok is not None and tok[1] == "=":
            if not dim.is_symbol:
                raise _error(text, tok[2], "',' (only a plain name takes '=size')")
            i += 1
            size = atom()
            if not size.is_const:
                raise _error(text, tokens[i - 1][2], "a number after '='")
            value = size.value
        specs.append(DimSpec(dim, value))
        tok = peek()
        if tok is not None and tok[1] == ",":
            i += 1
        elif tok is not None and tok[0] in ("int", "name"):
            if not text[tok[2] - 1].isspace():  # "2B", "1e3": one token run into the next
                raise _error(text, tok[2], "',', a space or '*' between two axes (write 2*B for a product)")
            continue  # space-separated
        elif tok is not None and tok[1] != close:
            raise _error(text, tok[2], "',' or the next axis")
        del start
    if close is not None:
        tok = peek()
        if tok is None or tok[1] != close:
            raise _error(text, tok[2] if tok else end_pos(), f"{close!r}")
        i += 1
    if i < len(tokens):
        raise _error(text, tokens[i][2], "the end of the shape")
    names = [s.name for s in specs if s.name]
    for n in set(names):
        sizes = {s.value for s in specs if s.name == n and s.value is not None}
        if len(sizes) > 1:
            raise ShapeSyntaxError(f"in the shape {text!r}: {n} is given two sizes, {sorted(sizes)}")
    return specs


def parse_dims(items: list[str] | dict[str, int] | None) -> dict[str, int]:
    """``["B=32", "T=80"]`` or ``{"B": 32}`` as a dict; a name given twice with two sizes is an error."""
    if items is None:
        return {}
    if isinstance(items, str):  # "B=32, T=80" or "B = 32 T = 80"
        items = [part for part in re.split(r"[,\s]+", re.sub(r"\s*=\s*", "=", items)) if part]
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(-?[0-9]{1,18})\s*", str(item))
            if m is None:
                raise ShapeSyntaxError(f"a dim must be written NAME=SIZE such as B=32, got {item!r}")
            pairs.append((m.group(1), int(m.group(2))))
    out: dict[str, int] = {}
    for name, given in pairs:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ShapeSyntaxError(f"a dim name is a word such as B or seq_len, got {name!r}")
        try:  # ints and numpy ints, not floats or bools
            value = -1 if isinstance(given, bool) else operator.index(given)
        except TypeError:
            value = -1
        if value <= 0:
            raise ShapeSyntaxError(f"dim {name} must be a positive whole number, got {given!r}")
        if name in out and out[name] != value:
            raise ShapeSyntaxError(f"dim {name} is given twice with different sizes, {out[name]} and {value}")
        out[name] = value
    return out
