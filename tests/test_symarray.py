"""SymArray: numpy's operations on shapes without values, and the errors they raise.

Unit tests on symbolic shapes, then a differential test: random operations on random shapes,
concrete and symbolic (names bound to sizes inside a trace context), give numpy's result shape
and dtype, or a ShapeError exactly where numpy raises (a TypeError where numpy refuses a dtype).
"""

from __future__ import annotations

import operator
import re
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapeviz.core import backend
from shapeviz.errors import ShapeError
from shapeviz.tracing.context import TraceContext, activate
from shapeviz.tracing.dims import Dim
from shapeviz.tracing.symarray import HANDLED, SymArray, broadcast_shapes

B, T, F, H = (Dim.sym(n) for n in "BTFH")


def sym(*shape: Any, dtype: Any = np.float32, name: str | None = None) -> SymArray:
    return SymArray(shape, dtype, name=name)


def bound(**sizes: int) -> TraceContext:
    ctx = TraceContext()
    for n, v in sizes.items():
        ctx.bind(n, v, "the test")
    return ctx


# -- elementwise and broadcasting ------------------------------------------------------------------------
def test_broadcasting() -> None:
    assert (sym(B, 1, H) + sym(T, 1)).shape == (B, T, H)
    assert (sym(B, H) * 2.0).shape == (B, H) and (2.0 * sym(B, H)).shape == (B, H)
    assert np.tanh(sym(T, B, 4 * H)).shape == (T, B, 4 * H)
    assert (sym(B, 4) + np.zeros(4, np.float32)).shape == (B, 4)  # a real bias
    assert np.maximum(sym(B, 1), sym(1, H)).shape == (B, H)
    assert (sym(B, H) > 0).dtype == np.bool_


def test_a_name_bound_to_one_keeps_its_name() -> None:
    with activate(bound(B=1)):  # shapes compared as text: with B = 1, (1, 16) == (B, 16)
        assert repr(broadcast_shapes("add", [sym(B, 16), np.zeros(16)])) == "(B, 16)"  # a bias on (B, U), B = 1
        assert repr(broadcast_shapes("add", [np.zeros(16), sym(B, 16)])) == "(B, 16)"
        assert repr(broadcast_shapes("maximum", [sym(B, 1), sym(1, H)])) == "(B, H)"
        assert repr(broadcast_shapes("add", [sym(B, 1), sym(1, 3)])) == "(B, 3)"
        assert repr(broadcast_shapes("add", [sym(1, 3), sym(T, 3)])) == "(T, 3)"
        assert repr(broadcast_shapes("add", [sym(1, 3), sym(B, 3), sym(1, 3)])) == "(B, 3)"  # equal ranks


def test_dtypes_follow_numpy() -> None:
    assert (sym(B, H) * 0.5).dtype == np.float32  # a Python float is weak (NEP 50)
    assert (sym(B, H) + sym(B, H, dtype=np.float64)).dtype == np.float64
    assert (sym(B, dtype=np.int64) / 2).dtype == np.float64
    assert np.add(sym(B, H), sym(B, H), dtype=np.float64).dtype == np.float64
    assert sym(B, H).astype(np.float64).dtype == np.float64


def test_a_broadcast_clash_names_both_operands() -> None:
    with pytest.raises(ShapeError, match=r"cannot broadcast h \(B, H\) with x_t \(T, H\): axis -2 is B in one and "
                                         r"T in the other") as info:
        sym(B, H, name="h") + sym(T, H, name="x_t")
    error = info.value
    assert error.op == "add" and error.operands == [("h", "(B, H)"), ("x_t", "(T, H)")]
    assert (error.expected, error.actual, error.dim) == ("B", "T", "axis -2")


def test_a_name_meeting_a_size_is_bound_with_where() -> None:
    ctx = TraceContext()
    ctx.declare("B")
    with activate(ctx):
        assert (sym(B, 3) + np.zeros((2, 3))).shape == (B, 3)
    assert ctx.bindings["B"].value == 2 and "(add, axis -2)" in ctx.bindings["B"].where
    with pytest.raises(ShapeError, match="axis -2 is B in one and 2 in the other"):
        sym(B, 3) + np.zeros((2, 3))  # outside a trace a name has no size to bind


@pytest.mark.parametrize("use, op", [
    (lambda x, y: x + y, "add"), (lambda x, y: y + x, "add"), (lambda x, y: x - y, "subtract"),
    (lambda x, y: y * x, "multiply"), (lambda x, y: x / y, "divide"), (operator.iadd, "add"), (np.add, "add"),
    (lambda x, y: np.multiply(y, x, out=y), "multiply"), (lambda x, y: np.where(x > 0, x, y), "where"),
], ids=["a + b", "b + a", "a - b", "b * a", "a / b", "a += b", "np.add", "multiply out=", "where"])
@pytest.mark.parametrize("real", [(2, 3), (4, 2, 3)], ids=["equal ranks", "a trailing block"])
def test_an_operator_binds_a_free_name_as_np_add_does(use: Callable, op: str, real: tuple) -> None:
    """The operators' fast paths return early only when the sizes agree without binding anything:
    B meeting a 2 is bound, with where, as np.add binds it."""
    ctx = TraceContext()
    ctx.declare("B")
    with activate(ctx):
        try:
            use(sym(B, 3, name="x"), np.zeros(real, np.float32))
        except ShapeError:
            assert use is operator.iadd and len(real) == 3  # (4, 2, 3) into x: B was bound on the way
    assert ctx.bindings["B"].value == 2 and ctx.bindings["B"].where == f"forward ({op}, axis -2)"
    ctx = TraceContext()
    ctx.declare("B")
    with activate(ctx):
        S = sym(B, 3, name="S")
        S[...] = np.zeros((2, 3))
        S[0] = np.zeros(3)
    assert ctx.bindings["B"].value == 2 and ctx.bindings["B"].where == "forward (assignment)"


@pytest.mark.parametrize("use", [
    lambda x, y: x + y, lambda x, y: y * x, np.add, lambda x, y: np.where(True, x, y), lambda x, y: np.maximum(y, x),
], ids=["a + b", "b * a", "np.add", "where", "np.maximum"])
def test_a_name_bound_to_one_keeps_it_through_the_fast_paths(use: Callable) -> None:
    with activate(bound(B=1)):  # shapes compared as text: with B = 1, (1, 16) == (B, 16)
        assert repr(use(sym(B, 16), sym(1, 16)).shape) == "(B, 16)"  # equal ranks
        assert repr(use(sym(1, 16), sym(B, 16)).shape) == "(B, 16)"
        assert repr(use(sym(2, 1), sym(B)).shape) == "(2, B)"  # a trailing block of (2, 1)
        assert repr(use(sym(B), sym(2, 1)).shape) == "(2, B)"


def test_in_place_and_out_refuse_a_dtype_numpy_cannot_cast_into() -> None:
    ints = sym(B, 3, dtype=np.int64, name="counts")
    with pytest.raises(TypeError, match=r"add cannot write its float64 result into counts of dtype int64 \(casting "
                                        r"rule 'same_kind'\)"):
        ints += 0.5
    with pytest.raises(TypeError, match="divide cannot write its float64 result"):
        ints /= 2
    with pytest.raises(TypeError, match="add cannot write its int64 result into .* of dtype bool"):
        np.add(sym(B, 3, dtype=np.bool_), 1, out=sym(B, 3, dtype=np.bool_))
    with pytest.raises(TypeError, match="tanh cannot write its float64 result"):
        np.tanh(ints, out=ints)
    with pytest.raises(TypeError, match="matmul cannot write its float32 result"):
        np.matmul(sym(B, 3), sym(3, 3), out=sym(B, 3, dtype=np.int64))
    with pytest.raises(TypeError, match="multiply cannot write"):  # numpy names the dtype before the shapes
        np.multiply(ints, sym(B, 5), out=ints)
    h = sym(B, 3)
    h += sym(B, 3, dtype=np.float64)  # float64 into float32: the same kind, as numpy allows
    h *= ints
    assert h.dtype == np.float32 and np.add(ints, 1.5, out=sym(B, 3, dtype=np.float64)).dtype == np.float64


def test_matmul_into_an_out_without_the_leading_axes_of_1() -> None:
    assert np.matmul(sym(1, 2), sym(2, H), out=sym(H)).shape == (H,)  # numpy pads out= with axes of 1
    assert np.matmul(sym(1, 1, 2), sym(2, H), out=sym(H)).shape == (H,)
    assert np.matmul(sym(B, 2), sym(2, H), out=sym(1, B, H)).shape == (1, B, H)
    with pytest.raises(ShapeError, match=r"matmul writes a result of shape \(2, H\) into an intermediate \(H,\)"):
        np.matmul(sym(2, 2), sym(2, H), out=sym(H))


# -- matmul -----------------------------------------------------------------------------------------
def test_matmul() -> None:
    assert (sym(B, T, F) @ sym(F, H)).shape == (B, T, H)
    with activate(bound(F=3)):
        assert (sym(B * T, F) @ np.zeros((3, 8), np.float32)).shape == (B * T, 8)  # a real kernel
    assert np.matmul(sym(B, H), sym(H, 4 * H)).shape == (B, 4 * H)
    assert (sym(H) @ sym(H, 3)).shape == (3,) and (sym(B, H) @ sym(H)).shape == (B,)
    assert (np.zeros((2, 3), np.float32) @ sym(3, H)).shape == (2, H)  # a real left operand dispatches too


def test_matmul_inner_sizes() -> None:
    with pytest.raises(ShapeError, match=r"matmul of x \(B\*T, 5\) @ kernel \(3, 16\): the inner sizes differ, 5 "
                                         r"\(last axis of the left\) and 3 \(first axis of the right\)"):
        sym(B * T, 5, name="x") @ sym(3, 16, name="kernel")
    with pytest.raises(ShapeError, match="matmul needs arrays of rank 1 or more"):
        np.matmul(sym(), sym(3))


def test_dot() -> None:
    assert np.dot(sym(B, F), sym(F, H)).shape == (B, H)
    assert np.dot(sym(2, B, F), sym(3, F, H)).shape == (2, B, 3, H)  # not matmul: every pair
    assert np.dot(sym(), sym(B, H)).shape == (B, H)


# -- reshape, transpose ------------------------------------------------------------------------------
def test_reshape_keeps_names() -> None:
    x = sym(T, B, F)
    assert x.reshape(T * B, F).shape == (B * T, F)
    assert x.reshape(-1, F).shape == (B * T, F)
    assert x.reshape((T * B, -1)).shape == (B * T, F)
    assert np.reshape(x, (-1,)).shape == (B * T * F,)
    assert sym(B, T, 4 * H).reshape(B, T, 4, H).shape == (B, T, 4, H)
    assert sym(B, T, 4 * H).reshape(B, T, 4, -1).shape == (B, T, 4, H)


def test_reshape_with_sizes_bound_in_a_trace() -> None:
    with activate(bound(B=2, T=3)):
        assert sym(B, T).reshape(-1, 2).shape == (3, 2)  # B*T = 6, not a whole multiple of 2 by names


@pytest.mark.parametrize("x, new, message", [
    (sym(B, 3), (-1, 2), r"cannot reshape \(B, 3\) into \(-1, 2\): 3\*B elements are not a whole multiple of 2"),
    (sym(B, T), (B, H), r"cannot reshape \(B, T\) \(B\*T elements\) into \(B, H\) \(B\*H elements\)"),
    (sym(B, T), (-1, -1), "reshape can infer only one axis"),
])
def test_reshape_errors(x: SymArray, new: tuple, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        x.reshape(new)


def test_transpose() -> None:
    x = sym(B, T, F)
    assert x.transpose(1, 0, 2).shape == (T, B, F) and x.transpose((1, 0, 2)).shape == (T, B, F)
    assert x.T.shape == (F, T, B) and np.transpose(x, (2, 0, 1)).shape == (F, B, T)
    with pytest.raises(ShapeError, match=r"transpose axes \(0, 0, 1\) do not match an array of rank 3"):
        x.transpose(0, 0, 1)


# -- indexing ---------------------------------------------------------------------------------------------
def test_slicing_symbolic_axes() -> None:
    x = sym(B, T, F)
    assert x[:, 1:].shape == (B, T - 1, F) and x[:, :-1].shape == (B, T - 1, F)
    assert x[:, ::-1].shape == (B, T, F) and x[::-1].shape == (B, T, F)
    assert x[:, 2:T].shape == (B, T - 2, F)
    assert x[:, 1:-1].shape == (B, T - 2, F)
    assert x[0].shape == (T, F) and x[:, T - 1].shape == (B, F)
    assert x[None].shape == (1, B, T, F) and x[..., 0].shape == (B, T) and x[:, :, None].shape == (B, T, 1, F)
    assert x[:, :, :2].shape == (B, T, 2)
    assert x[np.array([0, 1, 1])].shape == (3, T, F)


def test_slicing_a_bound_axis_clamps_as_numpy() -> None:
    x = sym(B, T, F)
    with activate(bound(T=3)):
        assert x[:, 1:].shape == (B, T - 1, F)  # the names stay where numpy agrees
        assert x[:, :5].shape == (B, 3, F) and x[:, 5:].shape == (B, 0, F)
        assert x[:, ::2].shape == (B, 2, F) and x[:, 2:0:-1].shape == (B, 2, F)


def test_a_symbolic_index_outside_its_axis() -> None:
    S = sym(T + 1, B, H, name="S")
    assert S[T].shape == (B, H) and S[-T - 1].shape == (B, H) and sym(T, B)[T - 1].shape == (B,)
    for x, t in [(S, T + 1), (S, -T - 2), (sym(T, B), T), (sym(T, B), -T - 1)]:
        with pytest.raises(ShapeError, match=re.escape(f"index {t} is out of bounds for axis 0 of size")):
            x[t]  # out of bounds whatever T is
        with pytest.raises(ShapeError, match="out of bounds"):
            x[t] = 0.0
    x = sym(5, B, name="x")
    with activate(bound(T=5)):
        assert x[T - 1].shape == (B,) and x[-T].shape == (B,)
        for t in (T, -T - 1):
            with pytest.raises(ShapeError, match=re.escape(f"index {t} is out of bounds for axis 0 of size 5")):
                x[t]  # x[5] with T = 5
            with pytest.raises(ShapeError, match="out of bounds"):
                x[t] = sym(B)
            with pytest.raises(ShapeError, match="out of bounds"):
                x[t, 0]


def test_rows_and_blocks_are_shared_views_counted_once() -> None:
    from shapeviz.tracing.session import _cache_bytes
    buf = sym(4, 3, 8, name="buf")  # (T, B, 4H) pre-activations, B = 3 and H = 2 concrete
    rows = [buf[t] for t in range(-4, 4)]
    assert all(r is rows[0] and r.base is buf for r in rows) and rows[0].shape == (3, 8)
    gates = rows[0][:, 2:4]
    assert rows[0][:, 2:4] is gates and gates.shape == (3, 2) and gates.base is buf
    assert rows[0][:, ::-3].shape == (3, 3) and rows[0][:, 6:].shape == (3, 2) and rows[0][:, -9:9:2].shape == (3, 4)
    assert buf[:, ::2].base is buf and buf[:, ::2].shape == (4, 2, 8)
    cache = {"rows": rows, "blocks": [gates, buf[:, ::2]], "again": buf, "other": sym(B, 8)}
    assert _cache_bytes(cache, set()) == buf.nbytes + 32 * B  # views count through their base, once


@pytest.mark.parametrize("key, message", [
    ((slice(None), slice(None, None, 2)), "slicing a symbolic axis of size T with step 2 is not supported"),
    ((slice(None), slice(3, 1, -1)), "slicing a symbolic axis of size T backwards with bounds is not supported"),
    ((0, 0, 0, 0), r"too many indices \(4\) for x \(B, T, 3\) of rank 3"),
    ((0, 0, 3), "index 3 is out of bounds for axis 2 of size 3"),
    ((np.array([True, False]),), "boolean-mask indexing has a value-dependent size"),
    ((np.array([0]), np.array([0])), "the tracer supports one integer index array per indexing"),
])
def test_indexing_errors(key: tuple, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        sym(B, T, 3, name="x")[key]


def test_assignment_checks_the_value_s_shape() -> None:
    S = sym(T + 1, B, H, name="S")
    S[0] = 0.0
    S[T] = sym(B, H)
    S[1] = sym(1, 1, H)  # numpy drops extra leading axes of 1 and broadcasts
    S[:, 0] = sym(T + 1, 1)
    with pytest.raises(ShapeError, match=r"cannot assign h \(B, 5\) into \(B, H\) \(a part of S \(T\+1, B, H\)\): "
                                         r"axis -1 is 5, expected H"):
        S[0] = sym(B, 5, name="h")
    with pytest.raises(ShapeError, match=r"cannot assign h \(2, B, H\) into \(B, H\)"):
        S[0] = sym(2, B, H, name="h")


# -- concatenate, stack, split ------------------------------------------------------------------------------
def test_concatenate_stack_split() -> None:
    H1, H2 = Dim.sym("H1"), Dim.sym("H2")
    assert np.concatenate([sym(B, T, H1), sym(B, T, H2)], axis=-1).shape == (B, T, H1 + H2)
    assert np.concatenate([sym(1, B, H), sym(T, B, H)]).shape == (T + 1, B, H)
    assert np.stack([sym(B, H)] * 3).shape == (3, B, H) and np.stack([sym(B, H)] * 2, axis=-1).shape == (B, H, 2)
    assert [p.shape for p in np.split(sym(B, 4 * H), 4, axis=1)] == [(B, H)] * 4
    assert [p.shape for p in np.split(sym(B, 4 * H), [H, 3 * H], axis=-1)] == [(B, H), (B, 2 * H), (B, H)]


def test_concatenate_stack_split_errors() -> None:
    with pytest.raises(ShapeError, match="concatenate along axis -1: axis 0 is B in the first array and N in y"):
        np.concatenate([sym(B, T, H), sym(Dim.sym("N"), T, H, name="y")], axis=-1)
    with pytest.raises(ShapeError, match=r"concatenate along axis 0: y \(B, H\) has rank 2, the first array \(T, B, H\) "
                                         r"rank 3"):
        np.concatenate([sym(T, B, H), sym(B, H, name="y")])
    with pytest.raises(ShapeError, match=r"stack needs arrays of one shape, got \(B, H\) and \(B, 5\)"):
        np.stack([sym(B, H), sym(B, 5)])
    with pytest.raises(ShapeError, match="cannot split axis 1 of size 4\\*H into 3 equal parts"):
        np.split(sym(B, 4 * H), 3, axis=1)


# -- reductions and where --------------------------------------------------------------------------------
def test_reductions() -> None:
    x = sym(T, B, 4 * H)
    assert x.sum(axis=(0, 1)).shape == (4 * H,) and np.sum(x, axis=(0, 1)).shape == (4 * H,)
    assert x.sum(axis=-1, keepdims=True).shape == (T, B, 1)
    assert np.mean(x).shape == () and x.max(axis=0).shape == (B, 4 * H)
    assert np.mean(sym(B, dtype=np.int64)).dtype == np.float64 and sym(B, dtype=np.bool_).sum().dtype == np.int64
    assert np.any(x > 0, axis=-1).dtype == np.bool_ and np.argmax(x, axis=-1).shape == (T, B)
    assert np.add.reduce(x, axis=0).shape == (B, 4 * H)
    with pytest.raises(ShapeError, match="axis 3 is out of bounds for an array of rank 3"):
        x.sum(axis=3)
    with pytest.raises(ShapeError, match=r"sum over axes \(0, 0\): an axis is given twice"):
        x.sum(axis=(0, 0))


def test_where() -> None:
    m = sym(T, B, 1, dtype=np.bool_)
    assert np.where(m[0], sym(B, H), sym(B, H)).shape == (B, H)
    assert np.where(m, sym(B, H), 0.0).shape == (T, B, H)
    assert np.where(m, sym(B, H), 0.0).dtype == np.float32
    with pytest.raises(ShapeError, match="cannot broadcast"):
        np.where(sym(B, T, dtype=np.bool_), sym(B, H), 0.0)
    with pytest.raises(ShapeError, match=r"np.where\(cond\) returns value-dependent indices"):
        np.where(m)


# -- embedding lookups: take, add.at -----------------------------------------------------------------------
def test_take_into_a_symbolic_out() -> None:
    table = np.zeros((10, 4), np.float32)  # real embeddings (V, E)
    ids = sym(B, T, dtype=np.int64)
    y = backend.empty((B, T, 4), like=ids, dtype=table.dtype)  # np.take dispatches on its out=, not on the ids
    assert np.take(table, ids, axis=0, out=y) is y
    assert np.take(sym(10, 4), ids, axis=0).shape == (B, T, 4)
    with pytest.raises(ShapeError, match=r"take writes \(B, T, 4\) into \(B, T, 5\)"):
        np.take(table, ids, axis=0, out=sym(B, T, 5))
    with pytest.raises(ShapeError, match="take needs integer indices, got ids of dtype float32"):
        np.take(sym(10, 4), sym(B, T, name="ids"), axis=0)


def test_add_at_checks_the_rows() -> None:
    grads = np.zeros((10, 4), np.float32)
    assert np.add.at(grads, sym(B * T, dtype=np.int64), sym(B * T, 4)) is None
    assert not grads.any()  # no values were written
    with pytest.raises(ShapeError, match="cannot broadcast"):
        np.add.at(grads, sym(B * T, dtype=np.int64), sym(B * T, 5))


# -- creation and out= --------------------------------------------------------------------------------------
def test_creation_like_a_symbolic_array() -> None:
    like = sym(T, B, 4 * H)
    S = backend.empty((T + 1, B, H), like=like)
    assert isinstance(S, SymArray) and S.shape == (T + 1, B, H) and S.dtype == np.float32
    assert backend.zeros((B, H), like=like, dtype=np.bool_).dtype == np.bool_
    assert np.zeros_like(like).shape == like.shape and np.ones_like(like, dtype=np.int64).dtype == np.int64
    assert np.full_like(like, 2.0, shape=(B,)).shape == (B,)
    assert isinstance(backend.empty((2, 3), like=np.zeros(1)), np.ndarray)  # a real like= makes a real array


def test_out_into_a_real_array() -> None:
    out = np.full((2, 4), 7.0, np.float32)
    with activate(bound(B=2, H=4)):
        assert np.multiply(sym(B, H), sym(B, H), out=out) is out
        with pytest.raises(ShapeError, match=r"multiply writes a result of shape \(B, H\) into an array \(2, 5\)"):
            np.multiply(sym(B, H), sym(B, H), out=np.empty((2, 5), np.float32))
    assert (out == 7.0).all()  # shapes only: the real array keeps its values


def test_out_into_a_symbolic_array() -> None:
    out = sym(B, H)
    assert np.add(sym(B, H), 1.0, out=out) is out
    with pytest.raises(ShapeError, match=r"add writes a result of shape \(B, T\) into o \(B, 1\)"):
        np.add(sym(B, T), 1.0, out=sym(B, 1, name="o"))


# -- values ----------------------------------------------------------------------------------------------
ADVICE = r"put value checks behind an isinstance\(x, np.ndarray\) test"


@pytest.mark.parametrize("use, what", [
    (bool, "the truth value"), (float, r"float\(\)"), (int, r"int\(\)"), (np.asarray, "converting to a numpy array"),
    (list, "iterating over the values"), (lambda x: [0, 1][x], "using as an index"), (lambda x: x.item(), r"item\(\)"),
    (lambda x: x.tolist(), r"tolist\(\)"), (lambda x: np.array(x), "converting to a numpy array"),
])
def test_a_symbolic_array_has_no_values(use: Callable, what: str) -> None:
    with pytest.raises(TypeError, match=f"{what} of a symbolic array \\(B, H\\): it has a shape but no values; "
                                        f"code run by the tracer must not branch on array values \\({ADVICE}\\)"):
        use(sym(B, H))


def test_branching_on_a_value_says_why() -> None:
    x = sym(B, H)
    with pytest.raises(TypeError, match=f"the truth value of a symbolic array \\(\\): .*{ADVICE}"):
        if x.sum() > 0:
            pass


def test_len_and_attributes() -> None:
    x = sym(B, T, 3, dtype=np.float32, name="x")
    with pytest.raises(TypeError, match="len\\(\\) of a symbolic axis of size B"):
        len(x)
    assert len(sym(3, B)) == 3
    assert x.ndim == 3 and x.size == 3 * B * T and x.nbytes == 12 * B * T and x.itemsize == 4
    assert repr(x) == "SymArray(x (B, T, 3), float32)"
    assert np.shape(x) == (B, T, 3) and np.ndim(x) == 3


def test_an_unsupported_numpy_function_says_so() -> None:
    assert np.cumsum not in HANDLED
    with pytest.raises(TypeError, match="the tracer does not support np.cumsum yet"):
        np.cumsum(sym(B, T))


# -- differential: numpy's shapes, or a ShapeError where numpy raises ----------------------------------------
NAMES = ["B", "T", "H"]
NUMPY_ERRORS = (ValueError, IndexError)  # numpy's AxisError is both


@st.composite
def shapes(draw: st.DrawFn, min_rank: int = 0, max_rank: int = 3, symbolic: bool = False) -> tuple:
    """A shape of small sizes; with ``symbolic`` some axes are names (bound to sizes by the test)."""
    rank = draw(st.integers(min_rank, max_rank))
    axis = st.one_of(st.integers(1, 4), st.sampled_from(NAMES)) if symbolic else st.integers(1, 4)
    return tuple(draw(axis) for _ in range(rank))


axes_arg = st.one_of(st.none(), st.integers(-4, 3), st.tuples(st.integers(-3, 2)),
                     st.tuples(st.integers(-3, 2), st.integers(-3, 2)))
slices = st.builds(slice, st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.integers(-5, 5)),
                   st.sampled_from([None, 1, 2, -1, -2]))
index_item = st.one_of(slices, st.integers(-4, 4), st.none(), st.just(Ellipsis))

DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.bool_])
SCALARS = st.sampled_from([0, 1, 3, -2, 1.5, -0.5, True, False])  # weak in promotion (NEP 50)
BINARY = st.sampled_from([operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, np.maximum,
                          operator.gt])
INPLACE = st.sampled_from([operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv])


def _into(ufunc: Callable, da: Any, db: Any) -> Callable:
    """``ufunc(a, b, out=a)`` with ``a`` and ``b`` cast to ``da`` and ``db`` first."""
    def f(a: Any, b: Any) -> Any:
        a = a.astype(da)
        return ufunc(a, b.astype(db), out=a)
    return f


def _add_into_row(a: Any, t: int, b: Any) -> None:
    a[t] += b  # __getitem__, __iadd__ on the row, __setitem__


def _where(x: Any, y: Any) -> Callable:
    """``np.where(a > 0, x, y)``, each of x, y an operand (``"a"``, ``"b"``) or a Python scalar."""
    return lambda a, b: np.where(a > 0, *({"a": a, "b": b}.get(v, v) if isinstance(v, str) else v for v in (x, y)))


OPS: dict[str, tuple[int, Callable]] = {  # name: (operand count, strategy of f(*arrays))
    "add": (2, st.just(np.add)),
    "multiply out=": (2, st.just(lambda a, b: np.multiply(a, b, out=a))),
    "a -= b": (2, st.just(operator.isub)),  # the operators take a fast path for equal and trailing shapes
    "a * b": (2, st.just(operator.mul)),
    "real float64 b + a": (2, st.just(lambda a, b: np.ones(tuple(int(d) for d in np.shape(b))) + a)),
    "scalar ops": (1, st.sampled_from([lambda a: 1.0 - a, lambda a: a * 2, lambda a: 2 / (a - 1.0),
                                       lambda a: operator.itruediv(a, 3.0)])),
    "subtract out=": (2, st.just(lambda a, b: np.subtract(b, a, out=a))),
    "matmul out=": (2, st.just(lambda a, b: np.matmul(a, b, out=a))),
    "where": (2, st.just(lambda a, b: np.where(a > 0, a, b))),
    "matmul": (2, st.just(np.matmul)),
    "dot": (2, st.just(np.dot)),
    "concatenate": (2, st.integers(-3, 3).map(lambda ax: lambda a, b: np.concatenate([a, b], axis=ax))),
    "stack": (2, st.integers(-4, 3).map(lambda ax: lambda a, b: np.stack([a, b], axis=ax))),
    "copyto": (2, st.just(lambda a, b: np.copyto(a, b))),
    "broadcast_to": (2, st.just(lambda a, b: np.broadcast_to(a, np.shape(b)))),
    "setitem": (2, st.lists(index_item, max_size=3).map(lambda k: lambda a, b: a.__setitem__(tuple(k), b))),
    "getitem": (1, st.lists(index_item, max_size=4).map(lambda k: lambda a: a[tuple(k)])),
    "getitem x[t]": (1, st.integers(-5, 5).map(lambda t: lambda a: a[t])),
    "getitem x[:, block]": (1, slices.map(lambda k: lambda a: a[:, k])),
    "reshape": (1, st.lists(st.integers(-1, 6), max_size=3).map(lambda s: lambda a: a.reshape(tuple(s)))),
    "transpose": (1, st.permutations(range(3)).map(lambda p: lambda a: a.transpose(p[:a.ndim]) if a.ndim < 3
                                                    else a.transpose(p))),
    "sum": (1, st.tuples(axes_arg, st.booleans()).map(lambda ak: lambda a: a.sum(axis=ak[0], keepdims=ak[1]))),
    "max": (1, st.tuples(axes_arg, st.booleans()).map(lambda ak: lambda a: np.max(a, axis=ak[0], keepdims=ak[1]))),
    "expand_dims": (1, st.integers(-4, 3).map(lambda ax: lambda a: np.expand_dims(a, ax))),
    "squeeze": (1, st.one_of(st.none(), st.integers(-3, 2)).map(lambda ax: lambda a: np.squeeze(a, ax))),
    "split": (1, st.tuples(st.one_of(st.integers(1, 4), st.lists(st.integers(0, 5), max_size=2)),
                           st.integers(-2, 1)).map(lambda ia: lambda a: np.split(a, ia[0], axis=ia[1]))),
    # dtypes: the fast paths read them from a cache keyed by dtype (or Python scalar type)
    "a op b, mixed dtypes": (2, st.tuples(DTYPES, DTYPES, BINARY).map(
        lambda t: lambda a, b: t[2](a.astype(t[0]), b.astype(t[1])))),
    "a op Python scalar": (1, st.tuples(DTYPES, SCALARS, BINARY, st.booleans()).map(
        lambda t: lambda a: t[2](a.astype(t[0]), t[1]) if t[3] else t[2](t[1], a.astype(t[0])))),
    "a op= b, mixed dtypes": (2, st.tuples(DTYPES, DTYPES, INPLACE).map(
        lambda t: lambda a, b: t[2](a.astype(t[0]), b.astype(t[1])))),  # ints += floats: numpy's TypeError
    "a op= Python scalar": (1, st.tuples(DTYPES, SCALARS, INPLACE).map(lambda t: lambda a: t[2](a.astype(t[0]), t[1]))),
    "ufunc out=, mixed dtypes": (2, st.tuples(st.sampled_from([np.add, np.multiply, np.true_divide, np.maximum]),
                                              DTYPES, DTYPES).map(lambda t: _into(*t))),
    "matmul out=, mixed dtypes": (2, st.tuples(DTYPES, DTYPES).map(lambda t: _into(np.matmul, *t))),
    "tanh out=, mixed dtypes": (1, st.tuples(DTYPES, DTYPES).map(
        lambda t: lambda a: np.tanh(a.astype(t[0]), out=a.astype(t[1])))),
    "where with scalars": (2, st.tuples(*[st.sampled_from(["a", "b", 0, 2, 1.5, True])] * 2).map(lambda t: _where(*t))),
    "where, mixed dtypes": (2, st.tuples(DTYPES, DTYPES).map(
        lambda t: lambda a, b: np.where(a > 0, a.astype(t[0]), b.astype(t[1])))),
    # x[t] returns one shared row view, x[:, a:b] cached column views
    "x[t] * x[u]": (1, st.tuples(st.integers(-5, 5), st.integers(-5, 5)).map(lambda tu: lambda a: a[tu[0]] * a[tu[1]])),
    "x[t] += b": (2, st.integers(-5, 5).map(lambda t: lambda a, b: _add_into_row(a, t, b))),
    "x[t] = b": (2, st.integers(-5, 5).map(lambda t: lambda a, b: a.__setitem__(t, b))),
    "x[t] = Python scalar": (1, st.tuples(st.integers(-5, 5), SCALARS).map(lambda t: lambda a: a.__setitem__(*t))),
    "x[:, block] = b": (2, slices.map(lambda k: lambda a, b: a.__setitem__((slice(None), k), b))),
    "x[:, block] - x[:, block]": (1, st.tuples(slices, slices).map(lambda kk: lambda a: a[:, kk[0]] - a[:, kk[1]])),
}


def outcome(f: Callable, arrays: list) -> tuple:
    """("ok", shapes, dtype) or ("error",) — numpy's error types, the tracer's ShapeError — or
    ("type error",): numpy's refusals of a dtype (``bool - bool``, ``ints += 0.5``), the tracer's alike."""
    symbolic = any(isinstance(a, SymArray) for a in arrays)
    try:
        with np.errstate(all="ignore"):  # the real arrays are zeros: 0 / 0
            result = f(*arrays)
    except ShapeError:
        return ("error",)
    except NUMPY_ERRORS:
        if symbolic:
            raise  # a symbolic array must answer with a ShapeError
        return ("error",)
    except TypeError:
        return ("type error",)
    except DeprecationWarning:  # x[0] = (1,)-array: deprecated by numpy (an error to come), refused by the tracer
        if symbolic:
            raise
        return ("error",)
    results = result if isinstance(result, list) else [arrays[0] if result is None else result]
    return ("ok", [tuple(np.shape(r)) for r in results], [r.dtype for r in results])


def numpy_quirk(name: str, shapes_: list) -> bool:
    """Cases where the tracer is deliberately stricter than numpy: a reduction or squeeze of a 0-d
    array along axis 0 or -1 (numpy accepts that); matmul of a 0-d array into an out= of a dtype
    it cannot take (numpy names the dtype first, the tracer the rank)."""
    return (name in ("sum", "max", "squeeze") or name == "matmul out=, mixed dtypes") and () in shapes_[:2]


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("symbolic", [False, True], ids=["concrete", "symbolic"])
def test_operations_match_numpy(name: str, symbolic: bool) -> None:
    count, fns = OPS[name]

    @settings(max_examples=40, deadline=None)
    @given(st.lists(shapes(symbolic=symbolic), min_size=count, max_size=count),
           st.fixed_dictionaries({n: st.integers(1, 3) for n in NAMES}), fns)
    def check(shape_list: list, sizes: dict, f: Callable) -> None:
        if numpy_quirk(name, shape_list):
            return
        real = [np.zeros(tuple(sizes.get(d, d) for d in s), np.float32) for s in shape_list]
        want = outcome(f, real)
        ctx = bound(**sizes)
        with activate(ctx):
            syms = [SymArray([Dim.sym(d) if isinstance(d, str) else d for d in s], np.float32) for s in shape_list]
            got = outcome(f, syms)
            if got[0] == "ok":  # the names, bound, give numpy's sizes
                got = ("ok", [tuple(int(Dim.of(d)) for d in s) for s in got[1]], got[2])
        assert got == want, (shape_list, sizes)

    check()
