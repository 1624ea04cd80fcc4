"""Symbolic dims: arithmetic, equality, text, exact division, substitution, sizes inside a trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapeviz.tracing.context import TraceContext, activate
from shapeviz.tracing.dims import Dim, product, shape_str
from shapeviz.tracing.parse import parse_shape
from shapeviz.tracing.symarray import SymArray

B, T, H = Dim.sym("B"), Dim.sym("T"), Dim.sym("H")


# -- construction ---------------------------------------------------------------------------------
def test_of_takes_ints_numpy_ints_and_dims() -> None:
    assert Dim.of(3) == Dim.const(3) == 3
    assert Dim.of(np.int64(4)).value == 4
    assert Dim.of(B) is B
    assert Dim.sym("seq_len").symbol == "seq_len"


@pytest.mark.parametrize("bad, error", [(True, "a bool is not a dimension"), (2.0, "cannot use float 2.0"),
                                        ("B", "cannot use str 'B'"), (None, "cannot use NoneType")])
def test_of_refuses_what_is_not_a_size(bad: object, error: str) -> None:
    with pytest.raises(TypeError, match=error):
        Dim.of(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", 3, None])
def test_a_name_is_a_non_empty_string(bad: object) -> None:
    with pytest.raises(ValueError, match="a dim name must be a non-empty string"):
        Dim.sym(bad)  # type: ignore[arg-type]


def test_structure() -> None:
    d = 4 * H + 2
    assert not d.is_const and d.value is None and d.names == {"H"}
    assert d.terms == {("H",): 4, (): 2}
    assert not d.is_symbol and H.is_symbol and not (2 * H).is_symbol and not (B * T).is_symbol
    with pytest.raises(ValueError, match="4\\*H\\+2 is not a single name"):
        d.symbol  # noqa: B018
    assert Dim.const(0).is_const and Dim.const(0).value == 0 and Dim.const(0).terms == {}
    assert (B * T).names == {"B", "T"}


# -- arithmetic -----------------------------------------------------------------------------------
def test_arithmetic_is_polynomial() -> None:
    assert B + B == 2 * B
    assert (B + 1) * (B - 1) == B * B - 1
    assert B * T == T * B
    assert (H + H + H + H) == 4 * H == H * 4
    assert B - B == 0 and (B - B).is_const
    assert -(2 * H) == -2 * H and 3 - B == -B + 3
    assert 2 * (H + 1) == 2 * H + 2
    assert product([B, T, 2]) == 2 * B * T and product([]) == 1
    assert Dim.of(np.int64(2)) * H == 2 * H


def test_float_arithmetic_gives_numbers() -> None:
    """A size in float arithmetic (``1.0 / B`` in a mean): a float when known, a 0-d float64
    symbolic array when not."""
    assert Dim.const(4) / 2 == 2.0 and 1.0 / Dim.const(4) == 0.25
    assert Dim.const(2) - 0.5 == 1.5 and 1.0 - Dim.const(2) == -1.0 and Dim.const(2) + 0.5 == 2.5
    for value in (B / 2, 1.0 / B, B + 0.5, B - 0.5, 1.0 - B, B * 0.5):
        assert isinstance(value, SymArray) and value.shape == () and value.dtype == np.float64


@pytest.mark.parametrize("num, den, quotient", [
    (4 * H, H, 4), (4 * H, 4, H), (4 * H, 2, 2 * H), (2 * H + 2, 2, H + 1), (B * T, T, B), (2 * B * T, 2 * B, T),
    (H + B, H + B, 1), (Dim.const(0), B, 0), (Dim.const(6), 3, 2),
])
def test_exact_div(num: Dim, den: object, quotient: object) -> None:
    assert num.exact_div(den) == quotient  # type: ignore[arg-type]
    assert num // den == quotient  # type: ignore[operator]


@pytest.mark.parametrize("num, den", [(4 * H, 8), (H, B), (H + 1, H), (B, 0), (2 * H + 1, 2),
                                      (2 * H + 2 * B, H + B), (Dim.const(5), 2)])
def test_exact_div_says_none_when_it_is_not_exact(num: Dim, den: object) -> None:
    assert num.exact_div(den) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not a whole multiple of"):
        num // den  # type: ignore[operator]


def test_substitute() -> None:
    d = 2 * B * T + H
    assert d.substitute({"B": 3}) == 6 * T + H
    assert d.substitute({"B": 3, "T": 2, "H": 1}).value == 13
    assert d.substitute({}) == d and d.substitute({"X": 5}) == d
    assert (B - B).substitute({"B": 2}).value == 0


# -- equality, hashing, ordering, sizes -------------------------------------------------------------
def test_a_constant_dim_is_its_int() -> None:
    assert Dim.const(3) == 3 and 3 == Dim.const(3) and Dim.const(3) != 4
    assert hash(Dim.const(3)) == hash(3)
    assert {Dim.const(3), 3} == {3}
    assert [0, 1, 2, 3][Dim.const(2)] == 2 and int(Dim.const(7)) == 7


def test_equality_with_other_things() -> None:
    assert B != 2 and not (B == 2)
    assert Dim.const(1) != True  # noqa: E712 - a bool is not a size
    assert B != "B" and B == Dim.sym("B") and hash(B) == hash(Dim.sym("B"))
    assert 2 * H + 1 != 2 * H


def test_a_name_has_no_size_outside_a_trace() -> None:
    with pytest.raises(TypeError, match="dimension B has no size yet: bind B to a number"):
        int(B)
    with pytest.raises(TypeError, match="cannot decide B < 2 without sizes for B"):
        B < 2  # noqa: B015
    assert T - 1 < T and T + 1 > T and T <= T and T >= T - 3


def test_a_bound_name_is_its_size_inside_a_trace() -> None:
    ctx = TraceContext()
    ctx.bind("B", 2, "a test")
    with activate(ctx):
        assert B == 2 and int(B) == 2 and B < 3 and 2 * B == 4
        assert (B * T).resolved() == 2 * T
        with pytest.raises(TypeError, match="dimension T has no size yet"):
            int(T)
    assert B != 2  # the binding ends with the trace


# -- text -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim, text", [
    (2 * H + 1, "2*H+1"), (T - 1, "T-1"), (B * T, "B*T"), (3 - B, "-B+3"), (B - B, "0"), (B * B, "B*B"),
    (T * 2 * B, "2*B*T"), (-2 * H, "-2*H"), (Dim.const(-3), "-3"), (H + B + 1, "B+H+1"), (B * T + H, "B*T+H"),
])
def test_str(dim: Dim, text: str) -> None:
    assert str(dim) == text
    assert repr(dim) == text  # shapes print as users write them: (B, T, 3)


def test_shape_str() -> None:
    assert shape_str((B, T, 3)) == "(B, T, 3)"
    assert shape_str((B,)) == "(B,)" and shape_str(()) == "()"
    assert str((B, T, 3)) == "(B, T, 3)"  # a core message's tuple(x.shape)


# -- properties -----------------------------------------------------------------------------------
NAMES = ["B", "T", "H", "seq_len"]


@st.composite
def dims(draw: st.DrawFn, depth: int = 3) -> Dim:
    """A random polynomial dim from names and small ints with +, - and *."""
    if depth == 0 or draw(st.booleans()):
        return Dim.sym(draw(st.sampled_from(NAMES))) if draw(st.booleans()) else Dim.const(draw(st.integers(-3, 5)))
    a, b = draw(dims(depth - 1)), draw(dims(depth - 1))
    return draw(st.sampled_from([a + b, a - b, a * b]))


values = st.fixed_dictionaries({n: st.integers(1, 50) for n in NAMES})


@settings(max_examples=100, deadline=None)
@given(dims(), dims(), dims(), values)
def test_dims_form_a_ring_and_substitution_evaluates_it(a: Dim, b: Dim, c: Dim, v: dict) -> None:
    assert a + b == b + a and a * b == b * a
    assert (a + b) + c == a + (b + c) and (a * b) * c == a * (b * c)
    assert a * (b + c) == a * b + a * c
    assert a - a == 0 and a + 0 == a and a * 1 == a and a * 0 == 0
    if a == b:
        assert hash(a) == hash(b)
    ev = lambda d: d.substitute(v).value  # noqa: E731
    assert ev(a + b) == ev(a) + ev(b) and ev(a * b) == ev(a) * ev(b) and ev(a - b) == ev(a) - ev(b)


@settings(max_examples=150, deadline=None)
@given(dims(), st.sampled_from(NAMES + [None]), st.integers(1, 6))
def test_exact_div_inverts_multiplication_by_a_term(a: Dim, name: str | None, k: int) -> None:
    term = k * Dim.sym(name) if name else Dim.const(k)
    assert (a * term).exact_div(term) == a


@settings(max_examples=150, deadline=None)
@given(dims())
def test_what_a_dim_prints_parses_back(d: Dim) -> None:
    text = str(d)
    if text.startswith("-") or (d.is_const and d.value <= 0):  # type: ignore[operator]
        return  # not a size: the parser refuses it
    (spec,) = parse_shape(text)
    assert spec.dim == d and str(spec.dim) == text
