"""Masking: Keras's output and mask, gradient through kept timesteps, errors."""

import numpy as np
import pytest
from helpers import check_layer_grads

from shapeviz.core.masking import Masking
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import ConfigError, InputError


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
