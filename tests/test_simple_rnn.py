"""SimpleRNN: BPTT gradients for every option, per-step reference values, masks, errors, weights."""

import math

import numpy as np
import pytest
from helpers import check_layer_grads

from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import CheckpointError, ConfigError

B, T, F, H = 3, 5, 4, 3

# sample 0 full length, sample 1 right-padded to length 3, sample 2 with holes (and a masked first step)
MASK = np.array([
    [1, 1, 1, 1, 1],
    [1, 1, 1, 0, 0],
    [0, 1, 0, 1, 1],
], dtype=bool)

OPTIONS = {
    "tanh_last": {},
    "relu_last": {"activation": "relu"},
    "tanh_seq": {"return_sequences": True},
    "relu_seq": {"activation": "relu", "return_sequences": True},
    "state_last": {"return_state": True},
    "state_seq": {"return_state": True, "return_sequences": True},
    "backwards_last": {"go_backwards": True},
    "backwards_seq": {"go_backwards": True, "return_sequences": True},
    "time_major_seq": {"time_major": True, "return_sequences": True},
    "time_major_state_backwards": {"time_major": True, "return_state": True, "go_backwards": True},
    "dropout_seq": {"dropout": 0.3, "recurrent_dropout": 0.4, "return_sequences": True},
    "dropout_relu_state": {"dropout": 0.3, "recurrent_dropout": 0.4, "activation": "relu", "return_state": True},
    "no_bias_seq": {"use_bias": False, "return_sequences": True},
}


def make_layer(rng, **options):
    layer = SimpleRNN(H, dtype="float64", **options)
    layer.build((B, T, F), rng)
    if layer.use_bias:
        layer.params["bias"][:] = rng.normal(scale=0.5, size=H)  # nonzero, so a wrong bias grad shows
    return layer


def make_x(rng, time_major=False):
    x = rng.normal(size=(B, T, F))
    return np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_gradients(name, masked):
    """dx, dh0 and every weight against central differences (float64, eps 1e-5, rel error < 1e-6)."""
    options = OPTIONS[name]
    rng = np.random.default_rng(1)
    layer = make_layer(rng, **options)
    x = make_x(rng, layer.time_major)
    h0 = rng.normal(scale=0.5, size=(B, H))
    mask = MASK if masked else None
    training = layer.dropout > 0

    def forward():
        # a fresh generator each call: every call draws the same dropout masks
        return layer.forward(x, mask=mask, initial_state=[h0], training=training, rng=np.random.default_rng(7))

    def backward(dout, cache):
        dx, (dh0,) = layer.backward_with_state(dout, cache)
        return [dx, dh0]

    check_layer_grads(forward, backward, layer, [("x", x), ("h0", h0)])


def test_gradients_without_initial_state():
    """``backward`` (no states) on the default zero initial state."""
    rng = np.random.default_rng(2)
    layer = make_layer(rng, return_sequences=True)
    x = make_x(rng)
    check_layer_grads(lambda: layer.forward(x, mask=MASK), layer.backward, layer, [("x", x)])


def test_gradient_of_final_state_only():
    """With return_state, a gradient on h_T alone (None for y) still reaches every weight."""
    rng = np.random.default_rng(3)
    layer = make_layer(rng, return_state=True, return_sequences=True)
    x = make_x(rng)

    def forward():
        (y, h_T), cache = layer.forward(x)
        return h_T, cache  # the loss reads only h_T

    def backward(dh_T, cache):
        return layer.backward((None, dh_T), cache)

    check_layer_grads(forward, backward, layer, [("x", x)])


# -- reference values --------------------------------------------------------------

def reference_rnn(x, kernel, recurrent_kernel, bias, h0, activation, mask=None, go_backwards=False,
                  dp=None, rdp=None):
    """An independent per-step Elman RNN. Args: x (B, T, F) batch-first; mask (B, T).
    Returns the outputs in processing order (B, T, H) and the final state (B, H)."""
    act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    h = h0
    outs = []
    for t in steps:
        x_t = x[:, t] if dp is None else x[:, t] * dp
        h_in = h if rdp is None else h * rdp
        h_new = act(x_t @ kernel + h_in @ recurrent_kernel + bias)
        if mask is not None:
            keep = mask[:, t][:, None]
            h_new = np.where(keep, h_new, h)
        outs.append(h_new)
        h = h_new
    return np.stack(outs, axis=1), h


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_per_step_formula(activation, go_backwards, time_major, masked):
    rng = np.random.default_rng(4)
    layer = make_layer(rng, activation=activation, go_backwards=go_backwards, time_major=time_major,
                       return_sequences=True, return_state=True)
    x = rng.normal(size=(B, T, F))
    h0 = rng.normal(size=(B, H))
    mask = MASK if masked else None
    (y, h_T), _ = layer.forward(x.transpose(1, 0, 2) if time_major else x, mask=mask, initial_state=[h0])
    outs, h_ref = reference_rnn(x, *layer.get_weights(), h0, activation, mask, go_backwards)
    if time_major:
        y = y.transpose(1, 0, 2)
    np.testing.assert_allclose(y, outs, rtol=1e-12, atol=1e-14)  # sequence in processing order, as Keras
    np.testing.assert_allclose(h_T, h_ref, rtol=1e-12, atol=1e-14)
    last = SimpleRNN(H, activation=activation, go_backwards=go_backwards, dtype="float64")
    last.build((B, T, F))
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(x, mask=mask, initial_state=h0), h_ref, rtol=1e-12, atol=1e-14)


def test_matches_per_step_formula_with_dropout():
    rng = np.random.default_rng(5)
    layer = make_layer(rng, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    x = rng.normal(size=(B, T, F))
    y, cache = layer.forward(x, mask=MASK, training=True, rng=np.random.default_rng(0))
    assert cache.dp.shape == (B, F) and cache.rdp.shape == (B, H)
    assert set(np.unique(cache.dp)) <= {0.0, 2.0} and set(np.unique(cache.rdp)) <= {0.0, 2.0}
    outs, _ = reference_rnn(x, *layer.get_weights(), np.zeros((B, H)), "tanh", MASK, dp=cache.dp, rdp=cache.rdp)
    np.testing.assert_allclose(y, outs, rtol=1e-12, atol=1e-14)
    # inference ignores dropout, and needs no rng
    y_inf = layer(x, mask=MASK)
    outs_inf, _ = reference_rnn(x, *layer.get_weights(), np.zeros((B, H)), "tanh", MASK)
    np.testing.assert_allclose(y_inf, outs_inf, rtol=1e-12, atol=1e-14)


def test_hardcoded_values():
    """One unit, one feature: h1 = tanh(0.5*1 + 0.1), h2 = tanh(0.5*2 + 0.25*h1 + 0.1), by hand."""
    layer = SimpleRNN(1, return_sequences=True, dtype="float64")
    layer.build((1, 2, 1))
    layer.set_weights([np.array([[0.5]]), np.array([[0.25]]), np.array([0.1])])
    y = layer(np.array([[[1.0], [2.0]]]))
    h1 = math.tanh(0.6)
    h2 = math.tanh(1.1 + 0.25 * h1)
    np.testing.assert_allclose(y[0, :, 0], [h1, h2], rtol=1e-14)
    np.testing.assert_allclose(y[0, :, 0], [0.5370495669980353, 0.843811243576277], rtol=1e-12)


def test_masked_steps_carry_state_and_repeat_output():
    rng = np.random.default_rng(6)
    layer = make_layer(rng, return_sequences=True, return_state=True)
    x = rng.normal(size=(B, T, F))
    h0 = rng.normal(size=(B, H))
    (y, h_T), _ = layer.forward(x, mask=MASK, initial_state=[h0])
    # sample 1 (length 3): steps 3 and 4 repeat step 2's output; the final state is h_2
    np.testing.assert_array_equal(y[1, 3], y[1, 2])
    np.testing.assert_array_equal(y[1, 4], y[1, 2])
    np.testing.assert_array_equal(h_T[1], y[1, 2])
    # sample 2: the masked first step keeps h0, the masked step 2 repeats step 1
    np.testing.assert_array_equal(y[2, 0], h0[2])
    np.testing.assert_array_equal(y[2, 2], y[2, 1])
    # the padded values themselves do not matter
    x2 = x.copy()
    x2[~MASK] = 1e3
    (y2, h2), _ = layer.forward(x2, mask=MASK, initial_state=[h0])
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(h2, h_T)


def test_float32_default_and_input_cast():
    layer = SimpleRNN(H)
    y = layer(np.ones((B, T, F)))  # float64 input into a float32 layer
    assert y.dtype == np.float32 and y.shape == (B, H)


# -- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, r"`units`, expected a positive integer, got 0"),
    ({"units": 3, "activation": "gelu"}, r"`activation`, expected one of \['tanh', 'sigmoid', 'hard_sigmoid', "
                                         r"'hard_sigmoid_keras2', 'relu', 'linear', 'softsign'\], got 'gelu'"),
    ({"units": 3, "dropout": 1.0}, r"`dropout`, expected a float in \[0, 1\), got 1.0"),
    ({"units": 3, "recurrent_dropout": -0.1}, r"`recurrent_dropout`, expected a float in \[0, 1\), got -0.1"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SimpleRNN(**kwargs)


# -- weights -----------------------------------------------------------------------

def test_weights_in_keras_order():
    layer = SimpleRNN(H, name="rnn")
    layer.build((B, T, F), np.random.default_rng(0))
    kernel, recurrent_kernel, bias = layer.get_weights()
    assert (kernel.shape, recurrent_kernel.shape, bias.shape) == ((F, H), (H, H), (H,))
    assert layer.count_params() == F * H + H * H + H
    # the recurrent kernel is orthogonal, the bias zeros (Keras's defaults)
    np.testing.assert_allclose(recurrent_kernel @ recurrent_kernel.T, np.eye(H), atol=1e-6)
    np.testing.assert_array_equal(bias, 0.0)
    new = [np.full((F, H), 0.5), np.full((H, H), 0.25), np.full((H,), -0.75)]  # exact in float32
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    weights = layer.get_weights()
    weights[0][:] = 9.0  # get_weights returns copies
    assert layer.params["kernel"][0, 0] == 0.5
    assert len(SimpleRNN(H, use_bias=False).make_params((B, T, F), np.random.default_rng(0))) == 2


def test_set_weights_wrong_shape():
    layer = SimpleRNN(H, name="rnn")
    layer.build((B, T, F))
    with pytest.raises(CheckpointError, match=r"'rnn' \(simple_rnn\) weight 'recurrent_kernel' has shape \(3, 3\), "
                                              r"got an array of shape \(4, 3\)"):
        layer.set_weights([np.zeros((F, H)), np.zeros((F, H)), np.zeros(H)])
    with pytest.raises(CheckpointError, match=r"has 3 weights \['kernel', 'recurrent_kernel', 'bias'\], got 2"):
        layer.set_weights([np.zeros((F, H)), np.zeros((H, H))])
    with pytest.raises(ConfigError, match=r"'unbuilt' is not built yet"):
        SimpleRNN(H, name="unbuilt").set_weights([])
