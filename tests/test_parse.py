"""The shape strings users write: ``"(B, T, 2)"``, ``"B T 2"``, ``"batch=32, seq_len=80, features=2"``."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from shapeviz.errors import ConfigError
from shapeviz.tracing.dims import Dim
from shapeviz.tracing.parse import DimSpec, ShapeSyntaxError, parse_dims, parse_shape

B, T, H = Dim.sym("B"), Dim.sym("T"), Dim.sym("H")


def axes(text: str) -> list[tuple[object, int | None]]:
    return [(spec.dim, spec.value) for spec in parse_shape(text)]


# -- what parses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["(B, T, 2)", "B T 2", "[B, T, 2]", "B, T, 2", "  ( B ,T,2 )  ", "(B, T, 2,)",
                                  "B\tT\n2", "(B T, 2)"])
def test_the_ways_to_write_a_shape(text: str) -> None:
    assert axes(text) == [(B, None), (T, None), (2, None)]


def test_names_with_sizes() -> None:
    assert axes("batch=32, seq_len=80, features=2") == [(Dim.sym("batch"), 32), (Dim.sym("seq_len"), 80),
                                                        (Dim.sym("features"), 2)]
    assert axes("B=3 T = 4 2") == [(B, 3), (T, 4), (2, None)]
    assert axes("(B=3, B=3)") == [(B, 3), (B, 3)]  # a square: the same name twice with one size
    spec = parse_shape("B=007")[0]
    assert spec == DimSpec(B, 7) and spec.name == "B"


def test_products_sums_and_differences() -> None:
    assert axes("(B, 4*H)") == [(B, None), (4 * H, None)]
    assert axes("(H1+H2,)") == [(Dim.sym("H1") + Dim.sym("H2"), None)]
    assert axes("(B, T-1, 2*H + 1)") == [(B, None), (T - 1, None), (2 * H + 1, None)]
    assert axes("B*T*2") == [(2 * B * T, None)]
    assert axes("2*3 B - 1") == [(6, None), (B - 1, None)]
    assert parse_shape("(B, 4*H)")[1].name is None


@pytest.mark.parametrize("text", ["()", "", "   ", "[]"])
def test_a_scalar_has_no_axes(text: str) -> None:
    assert parse_shape(text) == []


# -- what does not, and where it stopped --------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("(B, T, 2", r"expected '\)' at column 9, found the end"),
    ("(B, T))", r"expected the end of the shape at column 7, found '\)'"),
    ("(B, T]", r"expected ',' or the next axis at column 6, found '\]'"),
    ("B,,T", r"expected a name or a number at column 3, found ','"),
    (",B", r"expected a name or a number at column 1, found ','"),
    ("(B, -1)", r"expected a name or a number at column 5, found '-'"),
    ("B**2", r"expected a name or a number at column 3, found '\*'"),
    ("B*", r"expected a name or a number at column 3, found the end"),
    ("B=", r"expected a name or a number at column 3, found the end"),
    ("=3", r"expected a name or a number at column 1, found '='"),
    ("B=T", r"expected a number after '=' at column 3, found 'T'"),
    ("4*H=3", r"expected ',' \(only a plain name takes '=size'\) at column 4, found '='"),
    ("(B, T, é)", r"expected a name, a number, ',', '=', '\*', '\+', '-' or a bracket at column 8, found 'é'"),
    ("((B))", r"expected a name or a number at column 2, found '\('"),
    ("1e3", r"expected ',', a space or '\*' between two axes \(write 2\*B for a product\) at column 2, found 'e'"),
    ("(32B, T)", r"between two axes .* at column 4, found 'B'"),
    ("(B, T, 0)", r"every size must be positive, got 0 at column 8"),
    ("(B, T-T)", r"every size must be positive, the axis at column 5 is 0"),
    ("(B, 2-3)", r"every size must be positive, the axis at column 5 is -1"),
    ("(B=3, B=4)", r"B is given two sizes, \[3, 4\]"),
    ("9" * 30, r"the size at column 1 has 30 digits; a size has at most 18"),
])
def test_a_bad_shape_says_where_parsing_stopped(text: str, message: str) -> None:
    with pytest.raises(ShapeSyntaxError, match=message) as info:
        parse_shape(text)
    assert repr(text) in str(info.value)


def test_the_caret_points_at_the_column() -> None:
    with pytest.raises(ShapeSyntaxError) as info:
        parse_shape("(B, T; 2)")
    lines = str(info.value).splitlines()
    assert lines[0] == ("cannot parse the shape '(B, T; 2)': expected a name, a number, ',', '=', '*', '+', '-' or "
                        "a bracket at column 6, found ';'")
    assert lines[1] == "  (B, T; 2)" and lines[2] == "       ^"
    assert lines[3] == '  write it like "(B, T, 2)", "B T 2" or "batch=32, seq_len=80, features=2"'


@pytest.mark.parametrize("bad", [None, 3, ("B", "T"), b"(B, T)"])
def test_a_shape_is_a_string(bad: object) -> None:
    with pytest.raises(ShapeSyntaxError, match=r"a shape must be a string such as \"\(B, T, 2\)\", got"):
        parse_shape(bad)  # type: ignore[arg-type]


def test_a_syntax_error_is_a_config_error() -> None:
    assert issubclass(ShapeSyntaxError, ConfigError) and issubclass(ShapeSyntaxError, ValueError)


# -- parse_dims ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("items", [["B=32", "T=80"], ["B = 32", " T=80 "], {"B": 32, "T": 80}, "B=32, T=80",
                                   "B = 32 T = 80", {"B": np.int64(32), "T": 80}, ["B=32", "T=80", "B=32"]])
def test_parse_dims(items: object) -> None:
    assert parse_dims(items) == {"B": 32, "T": 80}  # type: ignore[arg-type]
    assert all(type(v) is int for v in parse_dims(items).values())  # type: ignore[arg-type]


def test_parse_dims_of_nothing() -> None:
    assert parse_dims(None) == {} and parse_dims([]) == {} and parse_dims({}) == {} and parse_dims("") == {}


@pytest.mark.parametrize("items, message", [
    (["B=2", "B=3"], "dim B is given twice with different sizes, 2 and 3"),
    ("B=2 B=3", "dim B is given twice with different sizes, 2 and 3"),
    (["B"], "a dim must be written NAME=SIZE such as B=32, got 'B'"),
    (["B=x"], "a dim must be written NAME=SIZE such as B=32, got 'B=x'"),
    (["2=3"], "a dim must be written NAME=SIZE"),
    (["B=" + "9" * 30], "a dim must be written NAME=SIZE"),
    (["B=0"], "dim B must be a positive whole number, got 0"),
    (["B=-1"], "dim B must be a positive whole number, got -1"),
    ({"B": True}, "dim B must be a positive whole number, got True"),
    ({"B": 2.0}, "dim B must be a positive whole number, got 2.0"),
    ({"B": "2"}, "dim B must be a positive whole number, got '2'"),
    ({1: 2}, "a dim name is a word such as B or seq_len, got 1"),
    ({"B T": 2}, "a dim name is a word such as B or seq_len, got 'B T'"),
])
def test_parse_dims_refuses(items: object, message: str) -> None:
    with pytest.raises(ShapeSyntaxError, match=re.escape(message)):
        parse_dims(items)  # type: ignore[arg-type]


# -- fuzzing --------------------------------------------------------------------------------------------
COLUMN = re.compile(r"at column (\d+)")


def parses_or_says_why(text: str) -> list[DimSpec] | None:
    """Either a list of DimSpec or a ShapeSyntaxError; any other exception fails the test. A
    message that gives a column gives one inside the text (or just past its end), with the
    caret under it."""
    try:
        specs = parse_shape(text)
    except ShapeSyntaxError as error:
        message = str(error)
        m = COLUMN.search(message)
        if m and "cannot parse" in message:
            column = int(m.group(1))
            assert 1 <= column <= len(text) + 1, (text, message)
            caret = message.splitlines()[2]
            assert caret == "  " + " " * (column - 1) + "^", (text, message)
        return None
    assert isinstance(specs, list) and all(isinstance(s, DimSpec) for s in specs)
    for s in specs:
        assert isinstance(s.dim, Dim) and (s.value is None or (type(s.value) is int and s.value > 0))
        assert not (s.dim.is_const and s.dim.value <= 0)  # type: ignore[operator]
    return specs


GRAMMAR = list("BTH_x19 0=*+-,()[]\t") + ["é", ";", ".", "\n"]


@settings(max_examples=300, deadline=None)
@given(st.text())
@example("9" * 5000)  # int() refuses strings over 4300 digits
@example("1e3")
@example("B=" + "1" * 40)
def test_fuzz_any_text(text: str) -> None:
    parses_or_says_why(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=GRAMMAR, max_size=30))
def test_fuzz_the_grammar_s_characters(text: str) -> None:
    parses_or_says_why(text)


NAMES = ["B", "T", "H", "seq_len", "x1"]
SIZES = {"B": 3, "T": 7, "H": 2, "seq_len": 11, "x1": 5}


@st.composite
def axis(draw: st.DrawFn) -> tuple[str, Dim, int | None]:
    """One axis as text, the dim it means (built independently of the parser), and its size."""
    if draw(st.integers(0, 4)) == 0:  # name=size
        name = draw(st.sampled_from(NAMES))
        eq = draw(st.sampled_from(["=", " = ", "= "]))
        return f"{name}{eq}{SIZES[name]}", Dim.sym(name), SIZES[name]
    text, dim = "", Dim.const(0)
    for k in range(draw(st.integers(1, 3))):
        sign = "+" if k == 0 else draw(st.sampled_from(["+", "-"]))
        factors = draw(st.lists(st.one_of(st.sampled_from(NAMES), st.integers(1, 999).map(str)), min_size=1,
                                max_size=3))
        term = product_of(factors)
        text += ("" if k == 0 else draw(st.sampled_from(["", " "])) + sign + draw(st.sampled_from(["", " "])))
        text += draw(st.sampled_from(["*", " * "])).join(factors)
        dim = dim + term if sign == "+" else dim - term
    return text, dim, None


def product_of(factors: list[str]) -> Dim:
    out = Dim.const(1)
    for f in factors:
        out = out * (Dim.const(int(f)) if f.isdigit() else Dim.sym(f))
    return out


@st.composite
def shapes(draw: st.DrawFn) -> tuple[str, list[tuple[Dim, int | None]]]:
    items = draw(st.lists(axis(), max_size=4))
    assume(all(not (d.is_const and d.value <= 0) for _, d, _ in items))  # type: ignore[operator]
    sep = draw(st.sampled_from([", ", ",", " ", "  "]))
    body = sep.join(t for t, _, _ in items)
    if sep.strip() == "," and items and draw(st.booleans()):
        body += ","
    open_, close = draw(st.sampled_from([("(", ")"), ("[", "]"), ("", "")]))
    assume(open_ or body.strip())
    return f"{open_}{body}{close}", [(d, v) for _, d, v in items]


@settings(max_examples=100, deadline=None)
@given(shapes())
def test_fuzz_well_formed_shapes_parse_to_what_they_say(case: tuple) -> None:
    text, expected = case
    specs = parse_shape(text)
    assert [(s.dim, s.value) for s in specs] == expected, text
    for spec, (dim, _) in zip(specs, expected):  # and evaluate alike
        assert spec.dim.substitute(SIZES).value == dim.substitute(SIZES).value


@settings(max_examples=150, deadline=None)
@given(shapes(), st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["insert", "delete", "replace"]),
                                    st.sampled_from(GRAMMAR)), min_size=1, max_size=3))
def test_fuzz_damaged_shapes_parse_or_say_why(case: tuple, edits: list) -> None:
    text = case[0]
    for pos, op, ch in edits:
        pos = pos % (len(text) + 1)
        if op == "insert":
            text = text[:pos] + ch + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1:]
        else:
            text = text[:pos] + ch + text[pos + 1:]
    parses_or_says_why(text)
