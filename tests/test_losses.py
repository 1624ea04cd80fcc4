"""Losses: values against hand formulas and Keras's documented examples, gradients by central
differences in float64 (masks, sparse and one-hot labels, logits and probabilities), errors."""

import numpy as np
import pytest

from shapeviz.core import losses
from shapeviz.core.gradcheck import numerical_grad, rel_error
from shapeviz.core.losses import BinaryCrossentropy, MeanSquaredError, SoftmaxCrossEntropy
from shapeviz.errors import ConfigError, InputError

rng = np.random.default_rng(0)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def grad_error(loss, y_pred, y_true, mask=None):
    """rel_error between backward() and the central difference of forward()'s mean loss."""
    _, cache = loss.forward(y_pred, y_true, mask)
    analytic = loss.backward(cache)
    assert analytic.shape == y_pred.shape and analytic.dtype == y_pred.dtype
    numeric = numerical_grad(lambda: loss.forward(y_pred, y_true, mask)[0], y_pred, 1e-6)
    assert np.any(numeric)
    return rel_error(analytic, numeric)


# -- values ---------------------------------------------------------------------------------
def test_keras_documented_values():
    # the examples of the Keras API docs for each loss
    mse, _ = MeanSquaredError().forward(np.array([[1.0, 1.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 0.0]]))
    assert mse == pytest.approx(0.5)
    bce, _ = BinaryCrossentropy().forward(np.array([[0.6, 0.4], [0.4, 0.6]]), np.array([[0, 1], [0, 0]]))
    assert bce == pytest.approx(0.8149, abs=1e-4)
    logits = np.array([[-18.6], [0.51], [2.94], [-12.8]])
    bce_l, _ = BinaryCrossentropy(from_logits=True).forward(logits, np.array([0, 1, 0, 0]))  # (B,) labels, (B, 1) out
    assert bce_l == pytest.approx(0.8654, abs=1e-4)
    probs = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    cce, _ = losses.get("categorical_crossentropy").forward(probs, np.array([[0, 1, 0], [0, 0, 1]]))
    scce, _ = losses.get("sparse_categorical_crossentropy").forward(probs, np.array([1, 2]))
    assert cce == pytest.approx(1.1769, abs=1e-4)
    assert scce == pytest.approx(cce)


def test_mse_hand_formula_with_mask_over_steps():
    y_pred = rng.normal(size=(2, 4, 3))
    y_true = rng.normal(size=(2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    loss, _ = MeanSquaredError().forward(y_pred, y_true, mask)
    per_step = ((y_pred - y_true) ** 2).mean(axis=-1)  # (2, 4)
    assert loss == pytest.approx(per_step[mask].mean(), rel=1e-12)
    full, _ = MeanSquaredError().forward(y_pred, y_true)
    assert full == pytest.approx(((y_pred - y_true) ** 2).mean(), rel=1e-12)


def test_bce_probabilities_clip_like_keras_and_logits_are_stable():
    loss = BinaryCrossentropy()
    # a certain wrong answer costs -log(1e-7), not inf
    value, cache = loss.forward(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]]))
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert np.all(loss.backward(cache) == 0.0)  # the clip is active: Keras's gradient there is 0
    logits = BinaryCrossentropy(from_logits=True)
    z = np.array([[500.0, -500.0, 0.0]])
    value, cache = logits.forward(z, np.array([[0.0, 1.0, 1.0]]))  # no overflow warning (filterwarnings=error)
    assert value == pytest.approx((500.0 + 500.0 + np.log(2.0)) / 3)
    np.testing.assert_allclose(logits.backward(cache), [[1 / 3, -1 / 3, -0.5 / 3]])
    # from logits equals from probabilities where nothing is clipped
    z = rng.normal(size=(3, 2, 4))
    y = rng.integers(0, 2, size=(3, 2, 4)).astype(float)
    a, _ = BinaryCrossentropy(from_logits=True).forward(z, y)
    b, _ = BinaryCrossentropy().forward(sigmoid(z), y)
    assert a == pytest.approx(b, rel=1e-9)


def test_softmax_crossentropy_sparse_onehot_logits_probabilities_agree():
    z = rng.normal(size=(3, 5, 4))
    ids = rng.integers(0, 4, size=(3, 5))
    onehot = np.eye(4)[ids]
    mask = rng.random((3, 5)) > 0.3
    hand = -np.log(softmax(z))[np.arange(3)[:, None], np.arange(5)[None], ids]  # (3, 5)
    for labels in (ids, onehot, ids[..., None]):
        value, _ = SoftmaxCrossEntropy().forward(z, labels, mask)
        assert value == pytest.approx(hand[mask].mean(), rel=1e-12)
        value, _ = SoftmaxCrossEntropy(from_logits=False).forward(softmax(z), labels, mask)
        assert value == pytest.approx(hand[mask].mean(), rel=1e-9)
    # probabilities are renormalised per row, as Keras does
    p = np.array([[0.2, 0.2]])
    assert SoftmaxCrossEntropy(from_logits=False).forward(p, np.array([0]))[0] == pytest.approx(np.log(2.0))


def test_extreme_logits_stay_finite():
    z = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    value, cache = SoftmaxCrossEntropy().forward(z, np.array([1]))
    assert value == pytest.approx(2000.0)
    np.testing.assert_allclose(SoftmaxCrossEntropy().backward(cache), [[1.0, -1.0, 0.0]], atol=1e-6)


def test_all_masked_batch_has_zero_loss_and_gradient():
    y_pred = rng.normal(size=(2, 3, 2))
    for loss, labels in ((MeanSquaredError(), rng.normal(size=(2, 3, 2))),
                         (SoftmaxCrossEntropy(), np.zeros((2, 3), dtype=int))):
        value, cache = loss.forward(y_pred, labels, np.zeros((2, 3), dtype=bool))
        assert value == 0.0 and loss.count(cache) == 0
        assert not np.any(loss.backward(cache))


def test_accuracy_metric():
    z = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 0.0]])
    assert SoftmaxCrossEntropy().metric(z, np.array([0, 1, 0])) == (2.0, 3)
    assert SoftmaxCrossEntropy().metric(z, np.eye(3)[[0, 2, 0]]) == (3.0, 3)
    seq = np.stack([z, z], axis=1)  # (3, 2, 3)
    mask = np.array([[1, 0], [1, 0], [0, 0]], bool)
    assert SoftmaxCrossEntropy().metric(seq, np.array([[0, 0], [1, 1], [0, 0]]), mask) == (1.0, 2.0)
    p = np.array([[0.9, 0.2], [0.4, 0.7]])
    assert BinaryCrossentropy().metric(p, np.array([[1, 1], [0, 1]])) == (1.5, 2)
    assert BinaryCrossentropy(from_logits=True).metric(p - 0.5, np.array([[1, 1], [0, 1]])) == (1.5, 2)


# -- gradients ------------------------------------------------------------------------------
MASK = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)


@pytest.mark.parametrize("mask", [None, MASK], ids=["plain", "masked"])
def test_mse_gradients(mask):
    assert grad_error(MeanSquaredError(), rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2)), mask) < 1e-7
    assert grad_error(MeanSquaredError(), rng.normal(size=(3, 1)), rng.normal(size=(3,))) < 1e-7


@pytest.mark.parametrize("mask", [None, MASK], ids=["plain", "masked"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_gradients(mask, from_logits):
    z = rng.normal(size=(3, 4, 2))
    y_pred = z if from_logits else sigmoid(z)
    y_true = rng.integers(0, 2, size=(3, 4, 2)).astype(float)
    y_true[0, 0, 0] = 0.3  # soft labels are allowed
    assert grad_error(BinaryCrossentropy(from_logits), y_pred, y_true, mask) < 1e-7


@pytest.mark.parametrize("mask", [None, MASK], ids=["plain", "masked"])
@pytest.mark.parametrize("sparse", [True, False], ids=["ids", "onehot"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_softmax_crossentropy_gradients_per_step(mask, sparse, from_logits):
    z = rng.normal(size=(3, 4, 5))
    # unnormalised probabilities exercise the gradient through Keras's renormalisation
    y_pred = z if from_logits else softmax(z) * rng.uniform(0.5, 1.5, size=(3, 4, 1))
    ids = rng.integers(0, 5, size=(3, 4))
    labels = ids if sparse else np.eye(5)[ids]
    assert grad_error(SoftmaxCrossEntropy(from_logits), y_pred, labels, mask) < 1e-7


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_softmax_crossentropy_gradients_many_to_one_soft_targets(from_logits):
    z = rng.normal(size=(4, 3))
    y_pred = z if from_logits else softmax(z)
    soft = softmax(rng.normal(size=(4, 3)))  # label smoothing style targets
    assert grad_error(SoftmaxCrossEntropy(from_logits), y_pred, soft) < 1e-7
    assert grad_error(SoftmaxCrossEntropy(from_logits), y_pred, np.array([0, 2, 1, 1])) < 1e-7


def test_float32_gradients_keep_dtype():
    z = rng.normal(size=(2, 3, 4)).astype(np.float32)
    _, cache = SoftmaxCrossEntropy().forward(z, np.array([[0, 1, 2], [3, 0, 1]]))
    assert SoftmaxCrossEntropy().backward(cache).dtype == np.float32
    _, cache = MeanSquaredError().forward(z, np.zeros((2, 3, 4), dtype=np.int64))  # int targets do not promote
    assert MeanSquaredError().backward(cache).dtype == np.float32


# -- errors ---------------------------------------------------------------------------------
def test_label_shape_errors_name_both_shapes():
    with pytest.raises(InputError, match=r"targets of shape \(4, 3\) do not fit predictions of shape \(4, 2\)"):
        MeanSquaredError().forward(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(InputError, match=r"\(4,\).*\(4, 3\).*sparse_categorical_crossentropy"):
        BinaryCrossentropy().forward(np.full((4, 3), 0.5), np.zeros(4))
    with pytest.raises(InputError, match=r"labels of shape \(4, 5\) do not fit predictions of shape \(4, 3\).*"
                                         r"one-hot with 5 classes, but the model outputs 3"):
        SoftmaxCrossEntropy().forward(np.zeros((4, 3)), np.eye(5)[[0, 1, 2, 3]])
    with pytest.raises(InputError, match=r"class ids must be in \[0, 3\).*got ids in \[0, 3\]"):
        SoftmaxCrossEntropy().forward(np.zeros((4, 3)), np.array([0, 1, 2, 3]))
    with pytest.raises(InputError, match=r"class ids must be in \[0, 3\).*\[-1, 1\]"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 5, 3)), np.array([[0, 1, 1, 1, 1], [-1, 0, 0, 0, 0]]))
    with pytest.raises(InputError, match="whole numbers"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(InputError, match=r"mask must have the shape of the prediction's positions \(2, 5\)"):
        MeanSquaredError().forward(np.zeros((2, 5, 1)), np.zeros((2, 5, 1)), np.ones((2, 4), bool))
    with pytest.raises(InputError, match=r"\(B, C\) or \(B, T, C\)"):
        MeanSquaredError().forward(np.zeros(3), np.zeros(3))
    with pytest.raises(InputError, match=r"targets must be in \[0, 1\]"):
        BinaryCrossentropy().forward(np.full((2, 1), 0.5), np.array([[0.0], [2.0]]))


def test_probability_losses_refuse_logits_with_a_hint():
    with pytest.raises(InputError, match=r"expects probabilities in \[0, 1\].*from_logits=True.*softmax"):
        losses.get("sparse_categorical_crossentropy").forward(np.array([[-1.0, 2.0]]), np.array([1]))
    with pytest.raises(InputError, match=r"from_logits=True.*sigmoid"):
        losses.get("binary_crossentropy").forward(np.array([[3.0]]), np.array([1]))


def test_get():
    assert isinstance(losses.get("mse"), MeanSquaredError)
    assert isinstance(losses.get("Mean_Squared_Error"), MeanSquaredError)
    bce = losses.get("binary_crossentropy")
    assert isinstance(bce, BinaryCrossentropy) and not bce.from_logits
    scce = losses.get("sparse_categorical_crossentropy")
    assert isinstance(scce, SoftmaxCrossEntropy) and not scce.from_logits  # Keras's meaning of the name
    assert SoftmaxCrossEntropy().from_logits
    inst = SoftmaxCrossEntropy()
    assert losses.get(inst) is inst
    with pytest.raises(ConfigError, match=r"expected one of \['binary_crossentropy', 'categorical_crossentropy', "
                                          r"'mean_squared_error', 'mse', 'negative_log_likelihood', 'nll', "
                                          r"'sparse_categorical_crossentropy'\].*'hinge'"):
        losses.get("hinge")
