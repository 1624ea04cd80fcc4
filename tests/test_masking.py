"""Masking: Keras's output and mask, gradient through kept timesteps, errors; before time-major layers."""

import numpy as np
import pytest
from helpers import check_grads, check_layer_grads
from test_trace_concrete import check

from shapeviz import GRU, LSTM, Bidirectional, Dense, Embedding, Sequential
from shapeviz.core.masking import Masking
from shapeviz.core.sequential import time_major_inputs
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import ConfigError, InputError
from shapeviz.tracing.dims import Dim


def padded_batch(mask_value, rng):
    """(3, 4, 2) with padded timesteps (all features == mask_value) and one kept step that
    has a single feature equal to mask_value."""
    x = rng.normal(size=(3, 4, 2))
    x[0, 3] = mask_value  # right padding
    x[1, 0] = mask_value  # left padding
    x[1, 2] = mask_value  # a hole
    x[2, 1, 0] = mask_value  # only one feature: still a real step
    expected_mask = np.array([[1, 1, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], dtype=bool)
    return x, expected_mask


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_output_and_mask(mask_value):
    x, expected_mask = padded_batch(mask_value, np.random.default_rng(0))
    layer = Masking(mask_value)
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(layer.compute_mask(x), expected_mask)
    np.testing.assert_array_equal(y, np.where(expected_mask[..., None], x, 0.0))  # Keras: x * mask
    assert y[2, 1, 0] == mask_value  # a kept step keeps its mask_value feature
    assert cache.keep.shape == (3, 4, 1)


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_gradients_through_kept_timesteps(mask_value):
    """Where a timestep is padding the output jumps as soon as a feature moves off mask_value,
    so the derivative exists only on kept timesteps: check those, with padding held fixed."""
    x, expected_mask = padded_batch(mask_value, np.random.default_rng(1))
    layer = Masking(mask_value)
    kept = np.broadcast_to(expected_mask[..., None], x.shape)
    values = x[kept].copy()  # the entries the check perturbs

    def forward():
        z = x.copy()
        z[kept] = values
        return layer.forward(z)

    def backward(dy, cache):
        dx = layer.backward(dy, cache)
        assert not dx[~kept].any()  # no gradient into padding
        return dx[kept]

    check_layer_grads(forward, backward, layer, [("x_kept", values)])


def test_mask_drives_a_recurrent_layer():
    """Masking + SimpleRNN: padding at the end changes nothing, as if the sequence were shorter."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 5, 3))
    padded = x.copy()
    padded[0, 3:] = 0.0
    masking = Masking()
    rnn = SimpleRNN(4, dtype="float64")
    rnn.build(x.shape, rng)
    y, _ = masking.forward(padded)
    h = rnn(y, mask=masking.compute_mask(padded))
    np.testing.assert_allclose(h, rnn(x[:, :3]), rtol=1e-12)


def test_backward_is_dy_times_keep():
    x, expected_mask = padded_batch(0.0, np.random.default_rng(3))
    layer = Masking()
    _, cache = layer.forward(x)
    dy = np.random.default_rng(4).normal(size=x.shape)
    np.testing.assert_array_equal(layer.backward(dy, cache), dy * expected_mask[..., None])


def test_float32_and_no_weights():
    layer = Masking()
    x = np.zeros((2, 3, 4), dtype=np.float32)
    x[0, 0, 0] = 1.0
    y, _ = layer.forward(x)
    assert y.dtype == np.float32
    assert layer.count_params() == 0 and layer.get_weights() == []
    assert repr(layer) == f"Masking(mask_value=0.0, name={layer.name!r})"


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5)])
def test_wrong_rank(shape):
    layer = Masking(name="pad")
    match = rf"layer 'pad' \(masking\) expects input of rank 3 \(B, T, F\), got rank {len(shape)}"
    with pytest.raises(InputError, match=match):
        layer.forward(np.zeros(shape))
    with pytest.raises(InputError, match=match):
        layer.compute_mask(np.zeros(shape))


def test_bad_mask_value():
    with pytest.raises(ConfigError, match=r"invalid value for `mask_value`, expected a number, got 'pad'"):
        Masking("pad")


def test_mask_reaches_the_recurrent_layer_in_a_sequential():
    from shapeviz.core.sequential import Sequential

    x = np.random.default_rng(5).normal(size=(2, 5, 3))
    x[1, 2:] = 0.0
    model = Sequential([Masking(), SimpleRNN(4, return_sequences=True)], dtype="float64", seed=0)
    y, cache = model.forward(x)
    np.testing.assert_array_equal(cache.masks[0], [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(y[1, 2:], np.broadcast_to(y[1, 1], (3, 4)))  # carried over padding


# -- Masking before time-major layers: the data is (T, B, F), the mask stays (B, T) --------------------
CELLS = [SimpleRNN, LSTM, GRU]
# B != T, so a (T, B) mask where (B, T) belongs is an error rather than a silent mix-up
PADDED_MASK = np.array([[1, 1, 1, 0, 0],  # right padding
                        [0, 1, 0, 1, 1],  # left padding and a hole
                        [1, 1, 1, 1, 1]], dtype=bool)  # (B, T) = (3, 5)


def padded_sequences(rng):
    """(B, T, F) = (3, 5, 2) float64 batch-first data, zero (Masking's default mask_value) on the
    steps PADDED_MASK marks False; one kept step has a single zero feature."""
    x = rng.normal(size=(3, 5, 2)) * PADDED_MASK[..., None]  # (B, T, F)
    x[2, 1, 0] = 0.0
    return x


LAYOUTS = {  # layers of a model with the given time_major, Masking first
    "stacked, go_backwards": lambda cell, tm: [
        Masking(), cell(4, time_major=tm, return_sequences=True),
        cell(3, time_major=tm, return_sequences=True, go_backwards=True), Dense(2, activation="tanh")],
    "Dense between": lambda cell, tm: [Masking(), Dense(3, activation="tanh"), cell(4, time_major=tm), Dense(1)],
    "Bidirectional": lambda cell, tm: [
        Masking(), Bidirectional(cell(4, time_major=tm, return_sequences=True)), cell(3, time_major=tm)],
}


def twin_models(cell, layout):
    """The time-major model and a batch-first one with the same weights, both float64."""
    tm = Sequential(LAYOUTS[layout](cell, True), dtype="float64", seed=0)
    bf = Sequential(LAYOUTS[layout](cell, False), dtype="float64", seed=1)
    tm.build((5, 3, 2))
    bf.build((3, 5, 2))
    rng = np.random.default_rng(7)
    tm.set_weights([w + rng.normal(scale=0.3, size=w.shape) for w in tm.get_weights()])  # non-zero biases too
    bf.set_weights(tm.get_weights())
    return tm, bf


def to_batch_first(a):
    return a.transpose(1, 0, 2) if a.ndim == 3 else a  # (T, B, ...) -> (B, T, ...); (B, H) unchanged


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("cell", CELLS)
def test_time_major_masked_model_equals_batch_first(cell, layout):
    """The bug: Masking made its mask from the first two axes, (T, B) for time-major data, and the
    recurrent layer after it refused it. Now every layer gets the (B, T) mask and the model computes
    what the batch-first model computes on the transposed data, forward and backward."""
    tm, bf = twin_models(cell, layout)
    x = padded_sequences(np.random.default_rng(0))  # (B, T, F)
    y_tm, c_tm = tm.forward(x.transpose(1, 0, 2))  # (T, B, F) in
    y_bf, c_bf = bf.forward(x)
    np.testing.assert_allclose(to_batch_first(y_tm), y_bf, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(c_tm.masks[0], PADDED_MASK)  # Masking hands on (B, T)
    for m_tm, m_bf in zip(c_tm.masks, c_bf.masks, strict=True):  # go_backwards reverses it alike
        assert (m_tm is None) == (m_bf is None)
        if m_tm is not None:
            np.testing.assert_array_equal(m_tm, m_bf)
    dy = np.random.default_rng(1).normal(size=y_bf.shape)
    tm.zero_grad()
    bf.zero_grad()
    dx_tm = tm.backward(dy.transpose(1, 0, 2) if dy.ndim == 3 else dy, c_tm)
    dx_bf = bf.backward(dy, c_bf)
    np.testing.assert_allclose(dx_tm.transpose(1, 0, 2), dx_bf, rtol=1e-12, atol=1e-14)
    for (path, a, k), (_, b, kb) in zip(tm.parameters(), bf.parameters(), strict=True):
        np.testing.assert_allclose(a.grads[k], b.grads[kb], rtol=1e-10, atol=1e-13, err_msg=path)


@pytest.mark.parametrize("cell", CELLS)
def test_time_major_padding_is_a_shorter_sequence(cell):
    """Independently of the batch-first model: a right-padded sample gives what its unpadded
    prefix gives, and the padded steps' values do not matter."""
    tm, _ = twin_models(cell, "Dense between")
    x = padded_sequences(np.random.default_rng(2)).transpose(1, 0, 2)  # (T, B, F)
    y = tm(x)  # (B, 1)
    np.testing.assert_allclose(y[0], tm(x[:3, :1])[0], rtol=1e-12)  # sample 0 has 3 real steps
    unmasked = Sequential(LAYOUTS["Dense between"](cell, True)[1:], dtype="float64", seed=0)
    unmasked.build((5, 3, 2))
    unmasked.set_weights(tm.get_weights())
    assert not np.allclose(y[0], unmasked(x)[0])  # without Masking the padding counts


@pytest.mark.parametrize("layout", ["stacked, go_backwards", "Bidirectional"])
@pytest.mark.parametrize("cell", CELLS)
def test_time_major_masked_model_gradients(cell, layout):
    """Central differences in float64 on every parameter and on the input's kept entries (where
    a step is padding the output jumps as soon as a feature leaves mask_value: padding held fixed)."""
    model, _ = twin_models(cell, layout)
    x = padded_sequences(np.random.default_rng(3)).transpose(1, 0, 2)  # (T, B, F)
    kept = np.broadcast_to(PADDED_MASK.T[..., None], x.shape)  # (T, B, F)
    values = x[kept].copy()

    def run():
        z = x.copy()
        z[kept] = values
        return model.forward(z)

    y, cache = run()
    w = np.random.default_rng(4).normal(size=y.shape)
    model.zero_grad()
    dx = model.backward(w, cache)
    assert not dx[~kept].any()  # no gradient into padding
    checks = [("x_kept", values, dx[kept])]
    checks += [(path, layer.params[key], layer.grads[key].copy()) for path, layer, key in model.parameters()]
    check_grads(lambda: float(np.sum(run()[0] * w)), checks)


def test_a_given_mask_is_combined_with_masking_on_time_major_data():
    model = Sequential([Masking(name="pad"), LSTM(3, time_major=True, return_sequences=True)],
                       dtype="float64", seed=0)
    x = padded_sequences(np.random.default_rng(5)).transpose(1, 0, 2)  # (T, B, F)
    given = np.ones((3, 5), bool)  # (B, T)
    given[2, 3:] = False
    _, cache = model.forward(x, mask=given)
    np.testing.assert_array_equal(cache.masks[-1], PADDED_MASK & given)  # (B, T) between layers
    np.testing.assert_array_equal(model.output_mask(cache), (PADDED_MASK & given).T)  # the output's (T, B)
    y, _ = model.forward(x, mask=given)
    np.testing.assert_array_equal(y[3:, 2], np.broadcast_to(y[2, 2], (2, 3)))  # steps 3, 4 of sample 2 skipped
    with pytest.raises(InputError, match=r"layer 'pad' \(masking\): the mask must have shape \(B, T\) = "
                                         r"\(3, 5\), got \(5, 3\)"):
        model.forward(x, mask=given.T)  # a mask is (B, T) whatever the data's layout


def test_embedding_mask_zero_into_a_time_major_layer():
    """The same holds for the mask an Embedding makes from (T, B) ids."""
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 7, 8]]).T  # (T, B) = (5, 2), 0 is padding
    tm = Sequential([Embedding(10, 3, mask_zero=True), GRU(2, time_major=True)], dtype="float64", seed=0)
    bf = Sequential([Embedding(10, 3, mask_zero=True), GRU(2)], dtype="float64", seed=0)
    tm.build((5, 2))
    bf.build((2, 5))
    bf.set_weights(tm.get_weights())
    y, cache = tm.forward(ids)
    np.testing.assert_array_equal(cache.masks[0], ids.T != 0)  # (B, T)
    np.testing.assert_allclose(y, bf(ids.T), rtol=1e-12)


def test_time_major_inputs_follow_the_recurrent_layers():
    """Masking, Dense and Embedding take the layout of the recurrent layer they feed, else of the
    one they read from."""
    assert time_major_inputs([Masking(), Dense(3), LSTM(2, time_major=True), Dense(1)]) == [True] * 3 + [False]
    assert time_major_inputs([Masking(), LSTM(2)]) == [False, False]
    assert time_major_inputs([Masking(), Bidirectional(GRU(2, time_major=True))]) == [True, True]
    assert time_major_inputs([LSTM(2, time_major=True, return_sequences=True), Masking(), Dense(1)]) == [True] * 3
    assert time_major_inputs([LSTM(2, time_major=True), Dense(1)]) == [True, False]  # (B, H) out
    assert time_major_inputs([Masking(), Dense(1)]) == [False, False]


# the tracer runs the same code: its symbolic shapes equal a concrete run's
@pytest.mark.parametrize("given_mask", [False, True], ids=["masking", "masking and a given mask"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("cell", CELLS)
def test_trace_of_a_time_major_masked_model(cell, layout, given_mask):
    model = Sequential(LAYOUTS[layout](cell, True), seed=0)
    x = padded_sequences(np.random.default_rng(6)).transpose(1, 0, 2).astype(np.float32)  # (T, B, F)
    sym = {"inputs": "(T, B, 2)", "dims": {"B": 3, "T": 5}}
    real = {"inputs": x}
    if given_mask:
        sym["mask"], real["mask"] = "(B, T)", np.ones((3, 5), bool)
    symbolic, concrete = check(model, sym, real)
    rec = next(r for r in symbolic.layers if r.kind in ("simple_rnn", "lstm", "gru", "bidirectional"))
    assert rec.inputs["x"] == (Dim.sym("T"), Dim.sym("B"), rec.inputs["x"][2])
    assert rec.inputs["mask"] == (Dim.sym("B"), Dim.sym("T"))  # the mask Masking made, as (B, T)
    assert concrete.layers[0].outputs == {"y": (5, 3, 2)}
