"""Dense: gradients for every activation, reference values, input and option errors."""

import math

import numpy as np
import pytest
from helpers import check_layer_grads

from shapeviz.core.dense import Dense
from shapeviz.errors import CheckpointError, ConfigError, InputError

ACTIVATIONS = ["linear", "tanh", "sigmoid", "relu", "softmax", "hard_sigmoid", "hard_sigmoid_keras2", "softsign"]


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)], ids=["BF", "BTF"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients(activation, use_bias, shape):
    rng = np.random.default_rng(0)
    layer = Dense(5, activation=activation, use_bias=use_bias, dtype="float64")
    x = rng.normal(size=shape)
    layer.build(x.shape, rng)
    if use_bias:
        layer.params["bias"][:] = rng.normal(size=5)  # nonzero, so a wrong bias grad shows

    def forward():
        return layer.forward(x)

    y, _ = forward()
    assert y.shape == shape[:-1] + (5,)
    check_layer_grads(forward, lambda dy, cache: layer.backward(dy, cache), layer, [("x", x)])


def _fixed_layer(activation):
    layer = Dense(2, activation=activation, dtype="float64")
    layer.build((None, 2))
    layer.set_weights([np.array([[1.0, -1.0], [2.0, 0.5]]), np.array([0.5, -0.25])])
    return layer


X_FIXED = np.array([[1.0, 2.0], [-1.0, 0.0]])
# z = x @ kernel + bias, worked by hand: [[1+4+0.5, -1+1-0.25], [-1+0+0.5, 1+0-0.25]]
Z_FIXED = [[5.5, -0.25], [-0.5, 0.75]]


def _softmax_row(a, b):
    ea, eb = math.exp(a), math.exp(b)
    return [ea / (ea + eb), eb / (ea + eb)]


@pytest.mark.parametrize("activation, expected", [
    ("linear", Z_FIXED),
    ("relu", [[5.5, 0.0], [0.0, 0.75]]),
    ("tanh", [[math.tanh(5.5), math.tanh(-0.25)], [math.tanh(-0.5), math.tanh(0.75)]]),
    ("sigmoid", [[1 / (1 + math.exp(-5.5)), 1 / (1 + math.exp(0.25))],
                 [1 / (1 + math.exp(0.5)), 1 / (1 + math.exp(-0.75))]]),
    ("softmax", [_softmax_row(5.5, -0.25), _softmax_row(-0.5, 0.75)]),
])
def test_reference_values(activation, expected):
    layer = _fixed_layer(activation)
    np.testing.assert_allclose(layer(X_FIXED), expected, rtol=1e-12, atol=1e-15)
    # the same numbers on every timestep of a (B, T, F) input
    seq = np.stack([X_FIXED, X_FIXED[::-1]], axis=1)  # (2, 2, 2)
    y = layer(seq)
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-12)
    np.testing.assert_allclose(y[:, 1], np.asarray(expected)[::-1], rtol=1e-12)


def test_reference_values_hardcoded():
    """A few digits typed in, independent of ``math``: tanh(0.75) and softmax([5.5, -0.25])."""
    np.testing.assert_allclose(_fixed_layer("tanh")(X_FIXED)[1, 1], 0.6351489523872873, rtol=1e-12)
    np.testing.assert_allclose(_fixed_layer("softmax")(X_FIXED)[0], [0.9968273171575148, 0.0031726828424851893],
                               rtol=1e-12)


def test_dtype_and_weight_order():
    layer = Dense(3, dtype="float32")
    y = layer(np.ones((2, 4), dtype=np.float32))
    assert y.dtype == np.float32
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 3) and bias.shape == (3,)
    assert Dense(3, use_bias=False).count_params() == 0  # unbuilt: no weights yet
    with pytest.raises(CheckpointError, match=r"weight 'kernel' has shape \(4, 3\), got an array of shape \(3, 4\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(CheckpointError, match=r"has 2 weights \['kernel', 'bias'\], got 1 arrays"):
        layer.set_weights([np.zeros((4, 3))])


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4, 5)])
def test_wrong_rank(shape):
    layer = Dense(3, name="head")
    with pytest.raises(InputError, match=rf"layer 'head' \(dense\) expects input of rank 2 or 3 "
                                         rf"\(B, F\) or \(B, T, F\), got rank {len(shape)}"):
        layer.forward(np.zeros(shape, dtype=np.float32))


def test_wrong_features_after_build():
    layer = Dense(3, name="head")
    layer(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(InputError, match=r"'head' \(dense\) was built for 4 input features \(kernel shape \(4, 3\)\), "
                                         r"got input of shape \(2, 7, 5\) whose last axis is 5"):
        layer.forward(np.zeros((2, 7, 5), dtype=np.float32))


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "8"])
def test_bad_units(units):
    with pytest.raises(ConfigError, match=r"invalid value for `units`, expected a positive integer, got"):
        Dense(units)


def test_bad_activation():
    with pytest.raises(ConfigError, match=r"invalid value for `activation`, expected one of .*'softmax'.*, got 'gelu'"):
        Dense(3, activation="gelu")


def test_bad_initializer():
    with pytest.raises(ConfigError, match=r"Dense '.*': received an invalid value for `kernel_initializer`, expected one of .*, got 'he_normal'"):
        Dense(3, kernel_initializer="he_normal")
