"""Merges (Add, Subtract, Multiply, Average, Concatenate, Stack): gradients of every input, masks,
reference values (torch where installed), errors, and symbolic runs equal to real ones."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_layer_grads
from symbolic_layers import compare_symbolic

import shapeviz
from shapeviz import Add, Average, Concatenate, Multiply, Stack, Subtract
from shapeviz.core.layer import Layer
from shapeviz.errors import ConfigError, InputError, ShapeError
from shapeviz.tracing.tracer import symbolic_input

ELEMENTWISE = [Add, Multiply, Average]


def normals(rng, *shapes):
    return [rng.normal(size=s) for s in shapes]


def grad_check(layer, xs, mask=None):
    def forward():
        return layer.forward(xs, mask=mask)

    return check_layer_grads(forward, lambda dy, cache: layer.backward(dy, cache), layer,
                             [(f"x{i}", x) for i, x in enumerate(xs)])


# -- gradients -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("shapes", [[(3, 4)], [(2, 5, 3), (2, 5, 3)], [(2, 5, 3), (2, 5, 3), (2, 5, 3)],
                                    [(2, 5, 3), (2, 1, 3)], [(2, 1, 3), (2, 5, 1), (2, 5, 3)]],
                         ids=["one", "two", "three", "broadcast time", "broadcast both"])
def test_elementwise_gradients(cls, shapes):
    xs = normals(np.random.default_rng(0), *shapes)
    grad_check(cls(), xs)


def test_subtract_gradients_and_values():
    a, b = normals(np.random.default_rng(1), (2, 5, 3), (2, 5, 3))
    layer = Subtract()
    np.testing.assert_array_equal(layer([a, b]), a - b)
    grad_check(layer, [a, b])
    grad_check(Subtract(), normals(np.random.default_rng(2), (2, 5, 3), (2, 1, 3)))


def test_elementwise_values():
    a, b, c = normals(np.random.default_rng(3), (2, 4), (2, 4), (2, 4))
    np.testing.assert_allclose(Add()([a, b, c]), a + b + c)
    np.testing.assert_allclose(Multiply()([a, b, c]), a * b * c)
    np.testing.assert_allclose(Average()([a, b, c]), (a + b + c) / 3)
    assert Average()([a.astype(np.float32), b.astype(np.float32)]).dtype == np.float32


def test_multiply_gradient_with_a_zero_input():
    # the product of the others, not y / x_i: a zero input still gets its gradient
    a, b = normals(np.random.default_rng(4), (2, 3), (2, 3))
    b[0, 0] = 0.0
    layer = Multiply()
    y, cache = layer.forward([a, b])
    da, db = layer.backward(np.ones_like(y), cache)
    np.testing.assert_allclose(da, b)
    np.testing.assert_allclose(db, a)


@pytest.mark.parametrize("axis, shapes", [(-1, [(2, 5, 3), (2, 5, 4)]), (2, [(2, 5, 3), (2, 5, 1), (2, 5, 2)]),
                                          (1, [(2, 5, 3), (2, 2, 3)]), (0, [(2, 3), (1, 3)]), (-2, [(2, 4, 3), (2, 1, 3)])])
def test_concatenate_gradients(axis, shapes):
    xs = normals(np.random.default_rng(5), *shapes)
    layer = Concatenate(axis=axis)
    np.testing.assert_array_equal(layer(xs), np.concatenate(xs, axis=axis))
    grad_check(layer, xs)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack_gradients(axis):
    xs = normals(np.random.default_rng(6), (2, 3), (2, 3), (2, 3))
    layer = Stack(axis=axis)
    np.testing.assert_array_equal(layer(xs), np.stack(xs, axis=axis))
    grad_check(layer, xs)


# -- masks -----------------------------------------------------------------------------------------
M1 = np.array([[True, True, False], [True, False, False]])
M2 = np.array([[True, False, True], [True, True, False]])


@pytest.mark.parametrize("cls", [Add, Subtract, Multiply, Average, Concatenate])
def test_masks_are_anded(cls):
    layer = cls()
    np.testing.assert_array_equal(layer.output_mask([M1, M2]), M1 & M2)
    np.testing.assert_array_equal(layer.output_mask([M1, None]), M1)  # a missing mask counts as all-True
    np.testing.assert_array_equal(layer.output_mask([None, M2]), M2)
    assert layer.output_mask([None, None]) is None
    assert layer.output_mask(None) is None
    assert layer.supports_masking and layer.multi_input


def test_masks_do_not_change_the_values():
    a, b = normals(np.random.default_rng(7), (2, 3, 4), (2, 3, 4))
    np.testing.assert_array_equal(Add()([a, b], mask=[M1, M2]), a + b)


def test_concatenate_along_time_joins_the_masks():
    a, b = normals(np.random.default_rng(8), (2, 3, 4), (2, 2, 4))
    layer = Concatenate(axis=1)
    m2 = np.array([[True, False], [False, True]])
    y = layer([a, b], mask=[M1, m2])
    assert y.shape == (2, 5, 4)
    np.testing.assert_array_equal(layer.output_mask([M1, m2]), np.concatenate([M1, m2], axis=1))
    with pytest.raises(InputError, match="give every input a mask, or none"):
        layer.forward([a, b], mask=[M1, None])


def test_concatenate_along_time_refuses_time_major_masks():
    a, b = normals(np.random.default_rng(9), (3, 2, 4), (2, 2, 4))  # (T, B, F)
    with pytest.raises(InputError, match=r"batch-first inputs \(B, T, \.\.\.\) with \(B, T\) masks"):
        Concatenate(axis=0).forward([a, b], mask=[np.ones((2, 3), bool), np.ones((2, 2), bool)])


def test_stack_drops_masks():
    assert Stack.supports_masking is False
    assert Stack().output_mask([M1, M2]) is None


# -- torch -----------------------------------------------------------------------------------------
def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    xs = normals(rng, (2, 5, 3), (2, 5, 3), (2, 5, 3))
    for layer, fn in [(Concatenate(axis=-1), lambda ts: torch.cat(ts, dim=-1)),
                      (Concatenate(axis=1), lambda ts: torch.cat(ts, dim=1)),
                      (Stack(axis=0), lambda ts: torch.stack(ts, dim=0)),
                      (Stack(axis=2), lambda ts: torch.stack(ts, dim=2)),
                      (Add(), lambda ts: ts[0] + ts[1] + ts[2]),
                      (Multiply(), lambda ts: ts[0] * ts[1] * ts[2]),
                      (Average(), lambda ts: (ts[0] + ts[1] + ts[2]) / 3)]:
        ts = [torch.tensor(x, requires_grad=True) for x in xs]
        yt = fn(ts)
        y, cache = layer.forward(xs)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
        dy = rng.normal(size=y.shape)
        yt.backward(torch.tensor(dy))
        for d, t in zip(layer.backward(dy, cache), ts):
            np.testing.assert_allclose(d, t.grad.numpy(), rtol=1e-12)


# -- errors ----------------------------------------------------------------------------------------
def test_unequal_sizes_name_the_layer_and_the_axis():
    a, b = normals(np.random.default_rng(11), (2, 5, 4), (2, 5, 3))
    with pytest.raises(InputError, match=r"layer 'plus' \(add\) expects inputs of one shape .*axis 2 is 4 in one "
                                         r"and 3 in input 1"):
        Add(name="plus")([a, b])
    with pytest.raises(InputError, match="the batch sizes differ"):
        Multiply()([a, a[:1]])
    with pytest.raises(InputError, match=r"expects inputs of one rank, got \(2, 5, 4\) for input 0, \(2, 4\)"):
        Average()([a, a[:, 0]])
    with pytest.raises(InputError, match=r"'cat' \(concatenate\) expects inputs of one shape except along axis -1, "
                                         r"got .*axis 1 is 5 in input 0 and 2 in input 1"):
        Concatenate(name="cat")([a, b[:, :2]])
    with pytest.raises(InputError, match=r"axis 3 is out of range for inputs of rank 3"):
        Concatenate(axis=3)([a, b])
    with pytest.raises(InputError, match="expects inputs of one shape"):
        Stack()([a, b])
    with pytest.raises(InputError, match="axis 4 is out of range for stacking inputs of rank 3"):
        Stack(axis=4)([a, a])


def test_input_count_and_kind():
    a = np.zeros((2, 3))
    with pytest.raises(InputError, match=r"'sub' \(subtract\) expects exactly 2 inputs, got 3"):
        Subtract(name="sub")([a, a, a])
    with pytest.raises(InputError, match="expects at least 1 inputs, got 0"):
        Add()([])
    with pytest.raises(InputError, match="expects a list of arrays, got ndarray"):
        Add()(a)
    with pytest.raises(InputError, match=r"takes a list of 2 masks .*got 1 masks"):
        Add().forward([a, a], mask=[np.ones((2, 3), bool)])
    with pytest.raises(InputError, match="masks must have one shape"):
        Add().forward([a, a], mask=[np.ones((2, 3), bool), np.ones((2, 2), bool)])
    with pytest.raises(InputError, match="was built for inputs of rank 2"):
        layer = Concatenate()
        layer([a, a])
        layer([a[None], a[None]])


@pytest.mark.parametrize("cls", [Concatenate, Stack])
def test_axis_must_be_an_int(cls):
    with pytest.raises(ConfigError, match=r"invalid value for `axis`, expected an integer, got 'x'"):
        cls(axis="x")
    with pytest.raises(ConfigError, match="expected an integer, got True"):
        cls(axis=True)


def test_config_kind_and_exports():
    for cls, kind in [(Add, "add"), (Subtract, "subtract"), (Multiply, "multiply"), (Average, "average"),
                      (Concatenate, "concatenate"), (Stack, "stack")]:
        assert cls.kind == kind and issubclass(cls, Layer) and cls.multi_input
        assert cls.__name__ in shapeviz.__all__ and getattr(shapeviz, cls.__name__) is cls
    assert Concatenate(axis=1, name="c").config() == {"axis": 1, "name": "c"}
    assert Stack(name="s").config() == {"axis": 0, "name": "s"}
    assert Add(name="a").config() == {"name": "a"}
    assert repr(Concatenate(axis=1, name="c")) == "Concatenate(axis=1, name='c')"
    assert Layer.multi_input is False and Layer.supports_masking is True


def test_model_dtype_is_checked():
    layer = Add(name="a")
    layer.ensure_built([np.zeros((2, 3)), np.zeros((2, 3))], dtype="float64")
    with pytest.raises(ConfigError, match="was built with dtype float64, but the model computes in float32"):
        layer.ensure_built([np.zeros((2, 3)), np.zeros((2, 3))], dtype="float32")


# -- symbolic runs ---------------------------------------------------------------------------------
SIZES = {"B": 2, "T": 5, "T_in": 4, "T_out": 3, "H": 3}


@pytest.mark.parametrize("make, decls, masks", [
    (Add, ["(B, T, 4)", "(B, T, 4)"], None),
    (Add, ["(B, T, 4)", "(B, 1, 4)"], ["(B, T)", None]),
    (Subtract, ["(B, T, 4)", "(B, T, 4)"], ["(B, T)", "(B, T)"]),
    (Multiply, ["(B, T, 4)", "(B, T, 1)", "(B, T, 4)"], None),
    (Average, ["(B, 4)", "(B, 4)"], None),
    (lambda: Concatenate(), ["(B, T, 4)", "(B, T, 2)"], [None, "(B, T)"]),
    (lambda: Concatenate(axis=1), ["(B, T_in, 4)", "(B, T_out, 4)"], ["(B, T_in)", "(B, T_out)"]),
    (lambda: Concatenate(axis=0), ["(B, 4)", "(3, 4)"], None),
    (lambda: Stack(), ["(B, H)", "(B, H)"], None),
    (lambda: Stack(axis=-1), ["(B, T, H)", "(B, T, H)"], None),
], ids=["add", "add broadcast", "subtract", "multiply", "average", "concat", "concat time", "concat batch",
        "stack", "stack last"])
def test_symbolic_equals_real(make, decls, masks):
    compare_symbolic(make(), decls, SIZES, mask=masks)
    compare_symbolic(make(), decls, SIZES, mask=masks, dtype=np.float32)


def test_symbolic_mismatch_names_the_time_dims():
    a, b = symbolic_input("(B, T_in, 4)"), symbolic_input("(B, T_out, 4)")
    with pytest.raises(InputError, match=r"axis 1 is T_in in input 0 and T_out in input 1"):
        Concatenate(name="join")([a, b])
    with pytest.raises(InputError, match=r"axis 1 is T_in in one and T_out in input 1"):
        Add(name="plus")([a, b])
    ok = Concatenate(axis=1)([a, b])
    assert str(ok.shape[1]) == "T_in+T_out"
    with pytest.raises((InputError, ShapeError)):
        Stack()([a, b])
