"""Keras-layout <-> torch state_dict conversion: round trips, layouts, errors, and nn.RNN parity."""

from __future__ import annotations

import numpy as np
import pytest

from shapeviz.core.convert import from_torch_weights, to_torch_weights
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import CheckpointError, ConfigError

F, H = 3, 2


def _weights(kind, k, use_bias=True, seed=0):
    rng = np.random.default_rng(seed)
    w = [rng.normal(size=(F, k * H)), rng.normal(size=(H, k * H))]
    if use_bias:
        w.append(rng.normal(size=(2, 3 * H) if kind == "gru" else (k * H,)))
    return w


@pytest.mark.parametrize("kind, k", [("simple_rnn", 1), ("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_round_trip(kind, k, use_bias):
    w = _weights(kind, k, use_bias)
    sd = to_torch_weights(kind, w, suffix="_l1_reverse")
    expected_keys = {"weight_ih_l1_reverse", "weight_hh_l1_reverse"}
    if use_bias:
        expected_keys |= {"bias_ih_l1_reverse", "bias_hh_l1_reverse"}
    assert set(sd) == expected_keys
    assert sd["weight_ih_l1_reverse"].shape == (k * H, F)
    assert sd["weight_hh_l1_reverse"].shape == (k * H, H)
    back = from_torch_weights(kind, sd, suffix="_l1_reverse")
    assert len(back) == len(w)
    for a, b in zip(back, w):
        np.testing.assert_array_equal(a, b)


def test_lstm_layout_is_a_transpose_with_the_bias_on_the_input_side():
    w = _weights("lstm", 4)
    sd = to_torch_weights("lstm", w)
    np.testing.assert_array_equal(sd["weight_ih_l0"], w[0].T)
    np.testing.assert_array_equal(sd["weight_hh_l0"], w[1].T)
    np.testing.assert_array_equal(sd["bias_ih_l0"], w[2])
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.zeros(4 * H))
    # torch's two biases fold into Keras's one
    sd["bias_hh_l0"] = np.ones(4 * H)
    np.testing.assert_array_equal(from_torch_weights("lstm", sd)[2], w[2] + 1)


def test_gru_swaps_the_z_and_r_blocks():
    w = _weights("gru", 3)
    sd = to_torch_weights("gru", w)
    kernel_t = w[0].T  # rows z, r, h
    np.testing.assert_array_equal(sd["weight_ih_l0"][:H], kernel_t[H:2 * H])  # torch r
    np.testing.assert_array_equal(sd["weight_ih_l0"][H:2 * H], kernel_t[:H])  # torch z
    np.testing.assert_array_equal(sd["weight_ih_l0"][2 * H:], kernel_t[2 * H:])  # torch n
    np.testing.assert_array_equal(sd["bias_hh_l0"][:H], w[2][1, H:2 * H])


def test_bad_inputs():
    with pytest.raises(ConfigError, match=r"no torch conversion for layer kind 'conv'"):
        to_torch_weights("conv", _weights("lstm", 4))
    with pytest.raises(CheckpointError, match=r"a lstm recurrent_kernel must have shape \(H, 4\*H\), got \(2, 6\)"):
        to_torch_weights("lstm", _weights("gru", 3, use_bias=False))
    with pytest.raises(CheckpointError, match=r"a gru bias \(reset_after=True\) must have shape \(2, 6\), got \(6,\)"):
        to_torch_weights("gru", _weights("gru", 3, use_bias=False) + [np.zeros(6)])
    with pytest.raises(CheckpointError, match=r"torch lstm state has no 'weight_hh_l0'"):
        from_torch_weights("lstm", {"weight_ih_l0": np.zeros((8, 3))})
    with pytest.raises(CheckpointError, match=r"torch gru weights must be weight_ih \(3\*H, F\)"):
        from_torch_weights("gru", to_torch_weights("lstm", _weights("lstm", 4)))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_matches_torch_rnn(activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    layer = SimpleRNN(H, activation=activation, return_sequences=True, dtype="float64")
    x = rng.normal(size=(2, 4, F))
    layer.build(x.shape, rng)
    layer.set_weights(_weights("simple_rnn", 1, seed=2))
    module = torch.nn.RNN(F, H, nonlinearity=activation, batch_first=True).double()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_weights("simple_rnn", layer.get_weights()).items()})
    yt, _ = module(torch.from_numpy(x))
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=0, atol=1e-12)
    # and back: a torch module's weights load into the layer unchanged
    sd = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    for a, b in zip(from_torch_weights("simple_rnn", sd), layer.get_weights()):
        np.testing.assert_array_equal(a, b)
