"""Bidirectional: gradients for every merge mode and option, per-step reference values,
Keras's structure (copies, names, weight order), errors."""

import importlib
import math

import numpy as np
import pytest
from helpers import check_layer_grads

from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.dense import Dense
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import CheckpointError, ConfigError, InputError

B, T, F, H = 2, 4, 3, 3
MASK = np.array([
    [1, 1, 1, 0],  # right-padded
    [0, 1, 1, 1],  # left-padded
], dtype=bool)
MERGE_MODES = ["concat", "sum", "mul", "ave", None]


def make_bi(rng, merge_mode="concat", cls=SimpleRNN, units=H, backward_layer=None, **options):
    bi = Bidirectional(cls(units, **options), merge_mode=merge_mode, backward_layer=backward_layer)
    bi.build((B, T, F), rng, "float64")
    for layer in bi.sublayers():
        if "bias" in layer.params:
            layer.params["bias"][:] = rng.normal(scale=0.5, size=layer.params["bias"].shape)
    return bi


def grad_check(bi, rng, mask=None, training=False, with_states=True):
    x = rng.normal(size=(T, B, F) if bi.time_major else (B, T, F))
    names = [f"fw_{s}" for s in bi.forward_layer.state_names] + [f"bw_{s}" for s in bi.backward_layer.state_names]
    units = [bi.forward_layer.units] * len(bi.forward_layer.state_names) + \
            [bi.backward_layer.units] * len(bi.backward_layer.state_names)
    states = [rng.normal(scale=0.5, size=(B, u)) for u in units] if with_states else None

    def forward():
        return bi.forward(x, mask=mask, initial_state=states, training=training, rng=np.random.default_rng(3))

    def backward(dout, cache):
        dx, dstates = bi.backward_with_state(dout, cache)
        return [dx, *dstates] if with_states else dx

    inputs = [("x", x)] + (list(zip(names, states)) if with_states else [])
    return check_layer_grads(forward, backward, bi, inputs)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("return_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_gradients(merge_mode, return_sequences, return_state, masked):
    rng = np.random.default_rng(0)
    bi = make_bi(rng, merge_mode, return_sequences=return_sequences, return_state=return_state)
    errors = grad_check(bi, rng, MASK if masked else None)
    assert len(errors) == 1 + 2 + 2 * 3  # x, two initial states, three weights per direction


@pytest.mark.parametrize("options", [
    {"time_major": True, "return_sequences": True},
    {"time_major": True, "return_state": True},
    {"dropout": 0.3, "recurrent_dropout": 0.3, "return_sequences": True},
    {"dropout": 0.2, "recurrent_dropout": 0.2, "return_state": True, "activation": "relu"},
    {"go_backwards": True, "return_sequences": True},
    {"use_bias": False, "return_sequences": True, "return_state": True},
], ids=["time_major_seq", "time_major_state", "dropout_seq", "dropout_relu_state", "backwards_template", "no_bias"])
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_gradients_more_options(options, merge_mode, masked):
    rng = np.random.default_rng(1)
    bi = make_bi(rng, merge_mode, **options)
    grad_check(bi, rng, MASK if masked else None, training=bi.forward_layer.dropout > 0)


def test_gradients_without_initial_states():
    rng = np.random.default_rng(2)
    grad_check(make_bi(rng, "ave", return_sequences=True), rng, MASK, with_states=False)


def test_gradients_custom_backward_layer():
    """A backward layer of another size and activation (concat needs no common size)."""
    rng = np.random.default_rng(3)
    backward = SimpleRNN(2, activation="relu", go_backwards=True, return_sequences=True, return_state=True,
                         name="bw")
    bi = make_bi(rng, "concat", return_sequences=True, return_state=True, backward_layer=backward)
    assert bi.backward_layer is backward
    grad_check(bi, rng, MASK)


def test_gradient_of_states_only():
    """With return_state, gradients on the final states alone (None for the output)."""
    rng = np.random.default_rng(4)
    bi = make_bi(rng, "concat", return_sequences=True, return_state=True)
    x = rng.normal(size=(B, T, F))

    def forward():
        out, cache = bi.forward(x, mask=MASK)
        return list(out[1:]), cache

    check_layer_grads(forward, lambda d, cache: bi.backward((None, *d), cache), bi, [("x", x)])


@pytest.mark.parametrize("module, cls_name", [("shapeviz.core.lstm", "LSTM"), ("shapeviz.core.gru", "GRU")])
@pytest.mark.parametrize("merge_mode, options", [
    ("concat", {"return_sequences": True, "return_state": True}),
    ("sum", {"return_state": True, "dropout": 0.2, "recurrent_dropout": 0.2}),
    (None, {"return_sequences": True, "time_major": True}),
], ids=["concat_seq_state", "sum_state_dropout", "none_seq_time_major"])
def test_gradients_other_cells(module, cls_name, merge_mode, options):
    """Bidirectional codes only against Recurrent, so LSTM (two states) and GRU work the same."""
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except (ImportError, AttributeError):
        pytest.skip(f"{module}.{cls_name} is not available")
    rng = np.random.default_rng(5)
    bi = make_bi(rng, merge_mode, cls=cls, units=2, **options)
    grad_check(bi, rng, MASK, training=bi.forward_layer.dropout > 0)


# -- reference values --------------------------------------------------------------

def rnn_steps(x, kernel, recurrent_kernel, bias, h0, mask, steps):
    """Independent per-step tanh RNN over ``steps`` (timestep indices, in processing order).
    Returns {t: output at t} and the final state; masked steps carry h."""
    h, outs = h0, {}
    for t in steps:
        h_new = np.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias)
        h = np.where(mask[:, t][:, None], h_new, h) if mask is not None else h_new
        outs[t] = h
    return outs, h


def reference_bidirectional(bi, x, mask, h0_fw, h0_bw):
    """Keras's Bidirectional, written out: both directions in input order, masked steps zeroed."""
    w = bi.get_weights()
    fw, h_fw = rnn_steps(x, *w[:3], h0_fw, mask, range(T))
    bw, h_bw = rnn_steps(x, *w[3:], h0_bw, mask, range(T - 1, -1, -1))
    y_fw = np.stack([fw[t] for t in range(T)], axis=1)
    y_bw = np.stack([bw[t] for t in range(T)], axis=1)  # input order
    if mask is not None:
        y_fw = y_fw * mask[..., None]
        y_bw = y_bw * mask[..., None]
    return y_fw, y_bw, h_fw, h_bw


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
def test_matches_per_step_formula(time_major, masked):
    rng = np.random.default_rng(6)
    bi = make_bi(rng, None, return_sequences=True, return_state=True, time_major=time_major)
    x = rng.normal(size=(B, T, F))
    h0 = [rng.normal(size=(B, H)), rng.normal(size=(B, H))]
    mask = MASK if masked else None
    y_fw, y_bw, h_fw, h_bw = reference_bidirectional(bi, x, mask, *h0)
    (got_fw, got_bw, got_h_fw, got_h_bw), _ = bi.forward(x.transpose(1, 0, 2) if time_major else x, mask=mask,
                                                           initial_state=h0)
    if time_major:
        got_fw, got_bw = got_fw.transpose(1, 0, 2), got_bw.transpose(1, 0, 2)
    np.testing.assert_allclose(got_fw, y_fw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_bw, y_bw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_h_fw, h_fw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_h_bw, h_bw, rtol=1e-12, atol=1e-14)
    # every merge mode, from the same weights
    merged = {"concat": np.concatenate([y_fw, y_bw], -1), "sum": y_fw + y_bw, "mul": y_fw * y_bw,
              "ave": (y_fw + y_bw) / 2}
    for mode, expected in merged.items():
        other = make_bi(rng, mode, return_sequences=True, time_major=time_major)
        other.set_weights(bi.get_weights())
        y = other(x.transpose(1, 0, 2) if time_major else x, mask=mask, initial_state=h0)
        np.testing.assert_allclose(y.transpose(1, 0, 2) if time_major else y, expected, rtol=1e-12, atol=1e-14)
    # without return_sequences: the final states, merged
    last = make_bi(rng, "concat")
    last.set_weights(bi.get_weights())
    np.testing.assert_allclose(last(x, mask=mask, initial_state=h0), np.concatenate([h_fw, h_bw], -1), rtol=1e-12)


def test_hardcoded_values():
    """One unit, one feature, two steps, worked by hand. Forward: h1 = tanh(0.5*1 + 0.1),
    h2 = tanh(0.5*2 + 0.25*h1 + 0.1). Backward (reads x2 first): g2 = tanh(0.5*2 + 0.1),
    g1 = tanh(0.5*1 + 0.25*g2 + 0.1). Output at t is [h_t, g_t]."""
    bi = Bidirectional(SimpleRNN(1, return_sequences=True, dtype="float64"))
    bi.build((1, 2, 1))
    bi.set_weights([np.array([[0.5]]), np.array([[0.25]]), np.array([0.1])] * 2)
    y = bi(np.array([[[1.0], [2.0]]]))
    h1 = math.tanh(0.6)
    h2 = math.tanh(1.1 + 0.25 * h1)
    g2 = math.tanh(1.1)
    g1 = math.tanh(0.6 + 0.25 * g2)
    np.testing.assert_allclose(y[0], [[h1, g1], [h2, g2]], rtol=1e-14)
    np.testing.assert_allclose(y[0], [[0.5370495669980353, 0.6641065096636449],
                                      [0.843811243576277, 0.8004990217606297]], rtol=1e-12)


def test_go_backwards_template_reverses_the_merged_sequence():
    """Wrapping a go_backwards layer swaps the roles: its forward copy reads the sequence in
    reverse and the backward copy in order, and both outputs come out reversed in time, as
    that layer's own sequence output would (Keras flips the backward copy's output regardless)."""
    rng = np.random.default_rng(7)
    plain = make_bi(rng, None, return_sequences=True)
    flipped = make_bi(rng, None, return_sequences=True, go_backwards=True)
    assert flipped.forward_layer.go_backwards and not flipped.backward_layer.go_backwards
    w = plain.get_weights()
    flipped.set_weights(w[3:] + w[:3])  # flipped's forward copy computes plain's backward direction
    x = rng.normal(size=(B, T, F))
    y_fw, y_bw = plain(x, mask=MASK)
    f_fw, f_bw = flipped(x, mask=MASK)
    np.testing.assert_allclose(f_fw, y_bw[:, ::-1], rtol=1e-12)
    np.testing.assert_allclose(f_bw, y_fw[:, ::-1], rtol=1e-12)


# -- structure -----------------------------------------------------------------------

def test_copies_names_and_config():
    template = SimpleRNN(4, activation="relu", return_sequences=True, dropout=0.1, kernel_initializer="zeros",
                         name="enc")
    bi = Bidirectional(template, merge_mode="sum", name="bi")
    fw, bw = bi.sublayers()
    assert (fw.name, bw.name) == ("forward_enc", "backward_enc")
    assert fw is not template and bw is not template and not template.built
    assert (fw.go_backwards, bw.go_backwards) == (False, True)
    for layer in (fw, bw):
        assert isinstance(layer, SimpleRNN)
        config = layer.config()
        assert config["activation"] == "relu" and config["dropout"] == 0.1
        assert config["kernel_initializer"] == "zeros" and config["return_sequences"]
    assert Bidirectional(SimpleRNN(2, name="forward_x")).forward_layer.name == "forward_x"  # no double prefix
    assert bi.config()["merge_mode"] == "sum" and bi.config()["layer"]["class_name"] == "SimpleRNN"
    assert bi.return_sequences and not bi.return_state and not bi.time_major and bi.units == 4
    assert Bidirectional(SimpleRNN(4)).units == 8


def test_fresh_weights_and_keras_weight_order():
    rng = np.random.default_rng(8)
    template = SimpleRNN(H, dtype="float64")
    template.build((B, T, F), rng)
    bi = Bidirectional(template)
    assert bi.count_params() == 0 and bi.get_weights() == []  # not built yet
    bi.build((B, T, F), rng)
    assert bi.params == {} and bi.dtype == np.float64
    weights = bi.get_weights()
    assert [w.shape for w in weights] == [(F, H), (H, H), (H,)] * 2
    assert not np.array_equal(weights[0], template.params["kernel"])  # built afresh, as Keras
    assert not np.array_equal(weights[0], weights[3])  # the two directions differ
    assert bi.count_params() == 2 * (F * H + H * H + H)
    new = [np.full(w.shape, i + 1.0) for i, w in enumerate(weights)]
    bi.set_weights(new)
    assert bi.forward_layer.params["bias"][0] == 3.0 and bi.backward_layer.params["kernel"][0, 0] == 4.0


def test_set_weights_errors_change_nothing():
    bi = Bidirectional(SimpleRNN(H, name="r"), name="bi")
    with pytest.raises(ConfigError, match=r"'bi' is not built yet"):
        bi.set_weights([])
    bi.build((B, T, F))
    before = bi.get_weights()
    with pytest.raises(CheckpointError, match=r"'bi' \(bidirectional\) has 6 weights \['forward_r/kernel', "
                                              r"'forward_r/recurrent_kernel', 'forward_r/bias', 'backward_r/kernel'"
                                              r".*got 3 arrays"):
        bi.set_weights(before[:3])
    bad = [np.zeros(w.shape) for w in before]
    bad[4] = np.zeros((H, H + 1))
    with pytest.raises(CheckpointError, match=r"weight backward_r/recurrent_kernel has shape \(3, 3\), "
                                              r"got an array of shape \(3, 4\)"):
        bi.set_weights(bad)
    for got, want in zip(bi.get_weights(), before):  # the forward layer was not half-loaded
        np.testing.assert_array_equal(got, want)


def test_zero_grad_and_accumulation():
    rng = np.random.default_rng(9)
    bi = make_bi(rng, "concat", return_sequences=True)
    x = rng.normal(size=(B, T, F))
    y, cache = bi.forward(x)
    bi.backward(np.ones_like(y), cache)
    first = [g.copy() for layer in bi.sublayers() for g in layer.grads.values()]
    assert all(g.any() for g in first)
    bi.backward(np.ones_like(y), cache)
    for g, g1 in zip((g for layer in bi.sublayers() for g in layer.grads.values()), first):
        np.testing.assert_allclose(g, 2 * g1)
    bi.zero_grad()
    assert not any(g.any() for layer in bi.sublayers() for g in layer.grads.values())


def test_output_shapes_and_mask():
    x = np.zeros((B, T, F), dtype=np.float32)
    cases = [
        ({"merge_mode": "concat"}, {}, (B, 2 * H)),
        ({"merge_mode": "concat"}, {"return_sequences": True}, (B, T, 2 * H)),
        ({"merge_mode": "ave"}, {"return_sequences": True}, (B, T, H)),
        ({"merge_mode": "mul"}, {}, (B, H)),
    ]
    for bi_kwargs, rnn_kwargs, shape in cases:
        bi = Bidirectional(SimpleRNN(H, **rnn_kwargs), **bi_kwargs)
        y = bi(x)
        assert y.shape == shape and y.dtype == np.float32
        assert bi.output_mask(MASK) is (MASK if bi.return_sequences else None)
    out = Bidirectional(SimpleRNN(H, return_state=True), merge_mode=None)(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(B, H)] * 4  # y_fw, y_bw, h_fw, h_bw
    out = Bidirectional(SimpleRNN(H, return_sequences=True), merge_mode=None)(x)
    assert isinstance(out, list) and [o.shape for o in out] == [(B, T, H)] * 2
    tm = Bidirectional(SimpleRNN(H, return_sequences=True, time_major=True))
    assert tm(np.zeros((T, B, F), dtype=np.float32), mask=MASK).shape == (T, B, 2 * H)


def test_in_a_sequential():
    from shapeviz.core.sequential import Sequential

    rng = np.random.default_rng(10)
    bi = Bidirectional(SimpleRNN(H, return_sequences=True))
    model = Sequential([bi, Dense(2)], dtype="float64", seed=0)
    x = rng.normal(size=(B, T, F))
    y, cache = model.forward(x, mask=MASK)
    assert y.shape == (B, T, 2) and model.mode == "synced many-to-many"
    assert list(model.leaf_layers())[:2] == bi.sublayers()
    np.testing.assert_array_equal(cache.masks[0], MASK)
    dx = model.backward(np.ones_like(y), cache)
    assert dx.shape == x.shape
    assert len(model.get_weights()) == 6 + 2


# -- errors ------------------------------------------------------------------------

def test_bad_layers():
    with pytest.raises(ConfigError, match=r"invalid value for `layer`, expected a recurrent layer "
                                          r"\(SimpleRNN, LSTM, GRU\), got Dense"):
        Bidirectional(Dense(3))
    with pytest.raises(ConfigError, match=r"invalid value for `backward_layer`, expected a recurrent layer"):
        Bidirectional(SimpleRNN(3), backward_layer=Dense(3))
    with pytest.raises(ConfigError, match=r"invalid value for `merge_mode`, expected one of "
                                          r"\['concat', 'sum', 'mul', 'ave', None\], got 'max'"):
        Bidirectional(SimpleRNN(3), merge_mode="max")


def test_backward_layer_must_fit():
    with pytest.raises(ConfigError, match=r"must differ in `go_backwards`, got False for both"):
        Bidirectional(SimpleRNN(3), backward_layer=SimpleRNN(3))
    with pytest.raises(ConfigError, match=r"must agree in `return_sequences`, got True for 'forward_a' "
                                          r"and False for 'b'"):
        Bidirectional(SimpleRNN(3, return_sequences=True, name="a"),
                      backward_layer=SimpleRNN(3, go_backwards=True, name="b"))
    with pytest.raises(ConfigError, match=r"must agree in `time_major`"):
        Bidirectional(SimpleRNN(3), backward_layer=SimpleRNN(3, go_backwards=True, time_major=True))
    with pytest.raises(ConfigError, match=r"merge_mode 'sum' needs the same units in both directions, got 3 for "
                                          r"'forward_a' and 2 for 'b'"):
        Bidirectional(SimpleRNN(3, name="a"), merge_mode="sum", backward_layer=SimpleRNN(2, go_backwards=True,
                                                                                         name="b"))


def test_initial_state_errors():
    bi = Bidirectional(SimpleRNN(H, name="r"), name="bi")
    x = np.zeros((B, T, F), dtype=np.float32)
    h = np.zeros((B, H), dtype=np.float32)
    with pytest.raises(InputError, match=r"'bi' \(bidirectional\) takes a list of 2 initial states "
                                         r"\['forward h', 'backward h'\] \(the forward layer's, then the backward "
                                         r"layer's\), got 1"):
        bi.forward(x, initial_state=[h])
    with pytest.raises(InputError, match=r"takes a list of 2 initial states .* got a ndarray"):
        bi.forward(x, initial_state=h)
    with pytest.raises(InputError, match=r"'backward_r' \(simple_rnn\): initial state 'h' must have shape "
                                         r"\(B, H\) = \(2, 3\), got \(2, 4\)"):
        bi.forward(x, initial_state=[h, np.zeros((B, H + 1), dtype=np.float32)])


def test_input_errors_name_the_direction():
    bi = Bidirectional(SimpleRNN(H, name="r"))
    with pytest.raises(InputError, match=r"'forward_r' \(simple_rnn\) expects input of rank 3 \(B, T, F\), got rank 2"):
        bi.forward(np.zeros((B, F), dtype=np.float32))
    bi(np.zeros((B, T, F), dtype=np.float32))
    with pytest.raises(InputError, match=r"'forward_r' \(simple_rnn\) was built for 3 input features"):
        bi.forward(np.zeros((B, T, F + 1), dtype=np.float32))
    with pytest.raises(InputError, match=r"the mask must have shape \(B, T\) = \(2, 4\), got \(2, 3\)"):
        bi.forward(np.zeros((B, T, F), dtype=np.float32), mask=np.ones((B, T - 1), dtype=bool))


def test_dropout_in_training_needs_rng():
    bi = Bidirectional(SimpleRNN(H, dropout=0.5, name="r"))
    with pytest.raises(ConfigError, match=r"'forward_r' \(simple_rnn\) uses dropout in training: pass rng="):
        bi.forward(np.zeros((B, T, F), dtype=np.float32), training=True)


def test_errors_name_the_wrapper_the_user_named():
    bi = Bidirectional(SimpleRNN(3), name="bi")
    bi.build((2, 4, 2), np.random.default_rng(0))
    with pytest.raises(InputError, match=r"^in Bidirectional 'bi': layer 'forward_.*' \(simple_rnn\): the mask must "
                                         r"have shape \(B, T\) = \(2, 4\), got \(2, 5\)"):
        bi.forward(np.zeros((2, 4, 2), np.float32), mask=np.ones((2, 5), bool))
