"""Selection (Index, TakeStep, LastStep, Steps): values, gradients, masks, keys as text, errors,
torch references, and symbolic runs equal to real ones."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_layer_grads
from symbolic_layers import compare_symbolic

import shapeviz
from shapeviz import GRU, LSTM, Dense, Index, LastStep, Sequential, Stack, Steps, TakeStep
from shapeviz.errors import ConfigError, InputError, ShapeError
from shapeviz.tracing.tracer import symbolic_input

X = np.random.default_rng(0).normal(size=(2, 5, 3))
MASK = np.array([[True, True, False, True, False], [False, True, True, True, True]])


def grad_check(layer, x):
    return check_layer_grads(lambda: layer.forward(x), lambda dy, cache: layer.backward(dy, cache), layer, [("x", x)])


@pytest.mark.parametrize("layer, expected", [
    (lambda: Index((slice(None), -1)), X[:, -1]),
    (lambda: Index("[:, -1, :]"), X[:, -1, :]),
    (lambda: Index(-1), X[-1]),
    (lambda: Index("[1:3]"), X[1:3]),
    (lambda: Index((slice(None), slice(None, None, -1))), X[:, ::-1]),
    (lambda: Index("[:, ::2, 1]"), X[:, ::2, 1]),
    (lambda: LastStep(), X[:, -1]),
    (lambda: LastStep(time_major=True), X[-1]),
    (lambda: TakeStep(1), X[:, 1]),
    (lambda: TakeStep(-2, time_major=True), X[-2]),
    (lambda: Steps(1, 4), X[:, 1:4]),
    (lambda: Steps(None, -1), X[:, :-1]),
    (lambda: Steps(1, time_major=True), X[1:]),
], ids=["[:, -1]", "text", "[-1]", "[1:3]", "reversed", "every other", "last", "last time_major", "take 1",
        "take -2 time_major", "steps 1:4", "steps :-1", "steps 1: time_major"])
def test_values_and_gradients(layer, expected):
    layer = layer()
    np.testing.assert_array_equal(layer(X), expected)
    grad_check(layer, X.copy())


def test_gradient_scatters_into_zeros():
    layer = LastStep()
    y, cache = layer.forward(X)
    dx = layer.backward(np.ones_like(y), cache)
    assert dx.shape == X.shape and dx.dtype == X.dtype
    np.testing.assert_array_equal(dx[:, -1], 1.0)
    assert not dx[:, :-1].any()


def test_the_mask_follows_the_time_axis():
    assert LastStep().output_mask(MASK) is None  # an int picks a step: no time axis left
    assert TakeStep(2, time_major=True).output_mask(MASK) is None
    np.testing.assert_array_equal(Steps(1, 4).output_mask(MASK), MASK[:, 1:4])
    np.testing.assert_array_equal(Steps(1, 4, time_major=True).output_mask(MASK), MASK[:, 1:4])
    np.testing.assert_array_equal(Index((slice(None), slice(None, None, -1))).output_mask(MASK), MASK[:, ::-1])
    np.testing.assert_array_equal(Index("[:1]").output_mask(MASK), MASK[:1])  # a batch slice slices the rows
    np.testing.assert_array_equal(Index("[:, :, 0]").output_mask(MASK), MASK)  # a feature pick keeps it
    assert Index("[0]").output_mask(MASK) is None  # one sample: no batch axis left
    assert Index("[0]").output_mask(None) is None


def test_in_a_model_a_sliced_mask_reaches_the_next_layer():
    model = Sequential([LSTM(4, return_sequences=True), Steps(1, 4), GRU(3, return_sequences=True), LastStep(),
                        Dense(2)], seed=0)
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
    y, cache = model.forward(x, mask=MASK)
    assert y.shape == (2, 2)
    np.testing.assert_array_equal(cache.masks[1], MASK[:, 1:4])
    assert cache.masks[3] is None


def test_one_state_out_of_a_stack():
    # torch's h_n[-1]: the last layer's state out of the (L, B, H) stack
    h1, h2 = np.random.default_rng(2).normal(size=(2, 2, 4))
    stacked = Stack()([h1, h2])
    np.testing.assert_array_equal(Index((-1,))(stacked), h2)
    np.testing.assert_array_equal(Index((-2,))(stacked), h1)


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for layer, fn in [(LastStep(), lambda t: t[:, -1, :]), (TakeStep(2), lambda t: t[:, 2]),
                      (Steps(1, -1), lambda t: t[:, 1:-1]), (LastStep(time_major=True), lambda t: t[-1]),
                      (Index("[:, 1:, 0]"), lambda t: t[:, 1:, 0])]:
        xt = torch.tensor(X, requires_grad=True)
        yt = fn(xt)
        y, cache = layer.forward(X)
        np.testing.assert_array_equal(y, yt.detach().numpy())
        dy = rng.normal(size=y.shape)
        yt.backward(torch.tensor(dy))
        np.testing.assert_array_equal(layer.backward(dy, cache), xt.grad.numpy())


def test_keys_as_text_and_config():
    assert Index("[:, -1]").key == (slice(None), -1)
    assert Index(" [ 1:3 , ::-1 ,0 ] ").key == (slice(1, 3), slice(None, None, -1), 0)
    assert Index(slice(2, None)).key == (slice(2, None),)
    assert Index([np.int64(1), slice(None)]).key == (1, slice(None))
    assert Index("[:, 1:-1:2]", name="i").config() == {"key": "[:, 1:-1:2]", "time_major": False, "name": "i"}
    assert repr(Index("[:, -1]", name="i")) == "Index(key='[:, -1]', time_major=False, name='i')"
    assert LastStep(name="l").config() == {"time_major": False, "name": "l"}
    assert TakeStep(3, True, name="t").config() == {"t": 3, "time_major": True, "name": "t"}
    assert Steps(1, None, name="s").config() == {"start": 1, "stop": None, "time_major": False, "name": "s"}
    for cls, kind in [(Index, "index"), (TakeStep, "take_step"), (LastStep, "last_step"), (Steps, "steps")]:
        assert cls.kind == kind and cls.__name__ in shapeviz.__all__ and getattr(shapeviz, cls.__name__) is cls
        assert cls.supports_masking and not cls.multi_input
    rebuilt = Index(**Index("[:, 2:]", name="i").config())
    assert rebuilt.key == (slice(None), slice(2, None))


def test_config_errors():
    for bad in ["[:, x]", "[1.5]", "", (), (1.5,), (True,), ([1, 2],), (None,), (slice(0, 2, 0),), "[::0]",
                (slice("a", None),)]:
        with pytest.raises(ConfigError, match=r"Index 'i': received an invalid value for `key`"):
            Index(bad, name="i")
    with pytest.raises(ConfigError, match=r"invalid value for `t`, expected an integer .*got 1.0"):
        TakeStep(1.0)
    with pytest.raises(ConfigError, match=r"invalid value for `stop`, expected an integer or None, got '3'"):
        Steps(0, "3")


def test_input_errors():
    with pytest.raises(InputError, match=r"layer 'i' \(index\) takes \[:, :, :, 0\], which indexes 4 axes: it "
                                         r"expects input of rank 4 or more, got rank 3 with shape \(2, 5, 3\)"):
        Index("[:, :, :, 0]", name="i")(X)
    with pytest.raises(InputError, match=r"layer 't' \(take_step\) cannot take \[:, 7\] of input shape \(2, 5, 3\): "
                                         r"index 7 is out of bounds for axis 1 with size 5"):
        TakeStep(7, name="t")(X)
    with pytest.raises(InputError, match="expects input of rank 2 or more"):
        LastStep()(np.zeros(3))


# -- symbolic runs ---------------------------------------------------------------------------------
SIZES = {"B": 2, "T": 5, "F": 3, "L": 2, "H": 4}


@pytest.mark.parametrize("make, decl, mask", [
    (lambda: LastStep(), "(B, T, F)", "(B, T)"),
    (lambda: LastStep(time_major=True), "(T, B, F)", "(B, T)"),
    (lambda: TakeStep(0), "(B, T, F)", None),
    (lambda: TakeStep(1, time_major=True), "(T, B, F)", "(B, T)"),
    (lambda: Steps(1, -1), "(B, T, F)", "(B, T)"),
    (lambda: Steps(None, 2, time_major=True), "(T, B, F)", "(B, T)"),
    (lambda: Index((-1,)), "(L, B, H)", None),
    (lambda: Index("[:, ::-1]"), "(B, T, F)", "(B, T)"),
    (lambda: Index("[:, :, 1:]"), "(B, T, F)", "(B, T)"),
], ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symbolic_equals_real(make, decl, mask, dtype):
    compare_symbolic(make(), decl, SIZES, mask=mask, dtype=dtype)


def test_symbolic_step_out_of_range():
    with pytest.raises((ShapeError, InputError), match="out of bounds"):
        TakeStep(3)(symbolic_input("(B, 2, 4)"))


def test_traced_model_equals_real_run():
    from test_trace_concrete import B, F, T, a_mask, check, normal
    rng = np.random.default_rng(4)
    model = Sequential([LSTM(4, return_sequences=True), Steps(1, -1), GRU(3, return_sequences=True), LastStep(),
                        Dense(2)], seed=0)
    check(model, {"inputs": "(B, T, 3)", "dims": {"B": B, "T": T}, "mask": "(B, T)"},
          {"inputs": normal(rng, B, T, F), "mask": a_mask(rng)}, training=True)
    model = Sequential([GRU(4, time_major=True, return_sequences=True), TakeStep(1, time_major=True), Dense(2)],
                       seed=0)
    check(model, {"inputs": "(T, B, 3)", "dims": {"B": B, "T": T}}, {"inputs": normal(rng, T, B, F)})


def test_trace_error_names_the_layer():
    from shapeviz import ShapeError, trace
    model = Sequential([LSTM(4, return_sequences=True), TakeStep(7, name="pick"), Dense(2)])
    with pytest.raises(ShapeError, match=r"layer 'pick', forward: index 7 is out of bounds for axis 1 of size T"):
        trace(model, "(B, T, 3)", dims={"B": 2, "T": 5})
