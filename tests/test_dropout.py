"""Dropout: inverted scaling in training, identity at inference, noise_shape, errors."""

import numpy as np
import pytest
from helpers import check_layer_grads

from shapeviz.core import backend
from shapeviz.core.dropout import Dropout
from shapeviz.errors import ConfigError, InputError


@pytest.mark.parametrize("noise_shape", [None, (None, 1, None), (1, None, 1), (2, 4, 3)])
def test_gradients(noise_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3))
    layer = Dropout(0.4, noise_shape=noise_shape)

    def forward():
        return layer.forward(x, training=True, rng=np.random.default_rng(5))

    check_layer_grads(forward, layer.backward, layer, [("x", x)])


def test_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(3, 5, 2))
    layer = Dropout(0.5)
    y, cache = layer.forward(x)  # training=False: no rng needed
    assert y is x and cache.keep is None
    dy = np.ones_like(x)
    assert layer.backward(dy, cache) is dy
    y0, _ = Dropout(0.0).forward(x, training=True)  # rate 0 drops nothing, needs no rng
    assert y0 is x


def test_inverted_scaling():
    x = np.ones((200, 50, 4), dtype=np.float32)
    y, cache = Dropout(0.25).forward(x, training=True, rng=np.random.default_rng(1))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01  # 40000 draws
    assert abs(y.mean() - 1.0) < 0.02  # the expectation is kept
    dx = Dropout(0.25).backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx, y)
    assert dx.dtype == np.float32


def test_mask_comes_from_the_backend_hook():
    x = np.ones((2, 3, 4))
    y, _ = Dropout(0.5).forward(x, training=True, rng=np.random.default_rng(9))
    expected = backend.dropout_mask(np.random.default_rng(9), (2, 3, 4), 0.5, like=x)
    np.testing.assert_array_equal(y, expected)
    seen = []

    def fixed(rng, shape, rate, like):
        seen.append((shape, rate))
        return np.full(shape, 2.0)

    with backend.override(mask=fixed):
        y, _ = Dropout(0.5, noise_shape=(None, 1, None)).forward(x, training=True, rng=np.random.default_rng(0))
    assert seen == [((2, 1, 4), 0.5)]
    np.testing.assert_array_equal(y, 2.0)


def test_noise_shape_shares_the_mask_across_time():
    x = np.random.default_rng(0).normal(size=(4, 6, 5)) + 10.0  # no zeros of its own
    y, cache = Dropout(0.5, noise_shape=(None, 1, None)).forward(x, training=True, rng=np.random.default_rng(2))
    assert cache.keep.shape == (4, 1, 5)
    dropped = y == 0
    assert dropped.any() and not dropped.all()
    assert (dropped == dropped[:, :1, :]).all()  # the same units dropped at every timestep
    np.testing.assert_allclose(y, x * cache.keep)


@pytest.mark.parametrize("rate", [1.0, -0.1, "half", True])
def test_bad_rate(rate):
    with pytest.raises(ConfigError, match=r"invalid value for `rate`, expected a float in \[0, 1\), got"):
        Dropout(rate)


@pytest.mark.parametrize("noise_shape", [(0, 1), (1.5, None), "B1F", 3, (None, True)])
def test_bad_noise_shape(noise_shape):
    with pytest.raises(ConfigError, match=r"invalid value for `noise_shape`, expected a tuple of positive "
                                          r"integers or None, got"):
        Dropout(0.5, noise_shape=noise_shape)


def test_noise_shape_must_fit_the_input():
    x = np.ones((2, 3, 4))
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match=r"'drop' \(dropout\): noise_shape \(None, 1\) has 2 axes, "
                                         r"got input of rank 3 with shape \(2, 3, 4\)"):
        Dropout(0.5, noise_shape=(None, 1), name="drop").forward(x, training=True, rng=rng)
    with pytest.raises(InputError, match=r"noise_shape \(None, 2, None\) must broadcast to the input: expected each "
                                         r"axis to be None, 1 or the input's size, got input shape \(2, 3, 4\)"):
        Dropout(0.5, noise_shape=(None, 2, None), name="drop").forward(x, training=True, rng=rng)


def test_training_needs_rng():
    with pytest.raises(ConfigError, match=r"layer 'drop' \(dropout\) uses dropout in training: "
                                          r"pass rng=np.random.default_rng\(seed\)"):
        Dropout(0.5, name="drop").forward(np.ones((2, 3)), training=True)


def test_no_weights():
    layer = Dropout(0.3)
    layer.forward(np.ones((2, 3)))
    assert layer.count_params() == 0 and layer.get_weights() == []
    assert layer.output_mask("m") == "m"
    assert "noise_shape=None" in repr(layer)
