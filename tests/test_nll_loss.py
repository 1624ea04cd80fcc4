"""The nll loss (PyTorch's NLLLoss): values against torch, float64 gradients by central
differences, target errors, and the deep checks picking it for a log_softmax head."""

import numpy as np
import pytest

from shapeviz import Dense, SimpleRNN, Sequential
from shapeviz.checks.common import loss_kind, make_problem, pick_loss
from shapeviz.core import losses
from shapeviz.core.activation import Activation
from shapeviz.core.gradcheck import numerical_grad, rel_error
from shapeviz.core.losses import NLLLoss
from shapeviz.errors import InputError

rng = np.random.default_rng(0)
MASK = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)  # (B, T)


def log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def test_names_and_value_by_hand():
    assert isinstance(losses.get("nll"), NLLLoss) and isinstance(losses.get("Negative_Log_Likelihood"), NLLLoss)
    assert losses.get("nll").metric_name == "accuracy"
    y_pred = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))  # (B, C)
    loss, _ = NLLLoss().forward(y_pred, np.array([0, 1]))
    assert loss == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)
    loss, _ = NLLLoss().forward(y_pred, np.array([[2], [1]]))  # a trailing axis of 1
    assert loss == pytest.approx(-(np.log(0.25) + np.log(0.8)) / 2)


@pytest.mark.parametrize("mask", [None, MASK], ids=["plain", "masked"])
def test_gradients_per_step_float64(mask):
    y_pred = log_softmax(rng.normal(size=(3, 4, 5)))  # (B, T, C)
    ids = rng.integers(0, 5, size=(3, 4))  # (B, T)
    loss = NLLLoss()
    _, cache = loss.forward(y_pred, ids, mask)
    analytic = loss.backward(cache)
    assert analytic.shape == y_pred.shape and analytic.dtype == np.float64
    numeric = numerical_grad(lambda: loss.forward(y_pred, ids, mask)[0], y_pred, 1e-6)
    assert np.any(numeric) and rel_error(analytic, numeric) < 1e-6


def test_gradients_many_to_one_float64_and_float32_dtype():
    y_pred = log_softmax(rng.normal(size=(4, 3)))  # (B, C)
    ids = np.array([0, 2, 1, 1])
    _, cache = NLLLoss().forward(y_pred, ids)
    numeric = numerical_grad(lambda: NLLLoss().forward(y_pred, ids)[0], y_pred, 1e-6)
    assert rel_error(NLLLoss().backward(cache), numeric) < 1e-6
    _, cache = NLLLoss().forward(y_pred.astype(np.float32), ids)
    assert NLLLoss().backward(cache).dtype == np.float32


@pytest.mark.parametrize("shape, mask", [((5, 4), None), ((5, 4), np.array([1, 0, 1, 1, 0], dtype=bool)),
                                         ((3, 4, 6), None), ((3, 4, 6), MASK)],
                         ids=["BC", "BC-masked", "BTC", "BTC-masked"])
def test_matches_torch_nllloss(shape, mask):
    torch = pytest.importorskip("torch")
    y_pred = log_softmax(rng.normal(size=shape))
    ids = rng.integers(0, shape[-1], size=shape[:-1])
    loss, cache = NLLLoss().forward(y_pred, ids, mask)
    grad = NLLLoss().backward(cache)
    t_pred = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    t_ids = torch.tensor(ids, dtype=torch.long)
    if mask is not None:  # torch masks positions with ignore_index
        t_ids[torch.tensor(~mask)] = -100
    t_in = t_pred if len(shape) == 2 else t_pred.permute(0, 2, 1)  # torch wants (B, C, T)
    ref = torch.nn.NLLLoss()(t_in, t_ids)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t_pred.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_accuracy_metric_with_mask():
    y_pred = log_softmax(np.array([[[3.0, 0, 0], [0, 3, 0]], [[0, 0, 3], [3, 0, 0]]]))  # (2, 2, 3)
    ids = np.array([[0, 2], [2, 1]])
    assert NLLLoss().metric(y_pred, ids) == (2.0, 4)
    assert NLLLoss().metric(y_pred, ids, np.array([[1, 0], [1, 0]], dtype=bool)) == (2.0, 2.0)


def test_target_errors():
    y_pred = log_softmax(rng.normal(size=(2, 3, 4)))  # (B, T, C)
    with pytest.raises(InputError, match=r"nll: class ids must be in \[0, 4\).*got ids in \[0, 4\]"):
        NLLLoss().forward(y_pred, np.array([[0, 1, 4], [0, 0, 0]]))
    with pytest.raises(InputError, match=r"class ids must be in \[0, 4\).*\[-1, 2\]"):
        NLLLoss().forward(y_pred, np.array([[0, 1, 2], [-1, 0, 0]]))
    with pytest.raises(InputError, match="class ids must be whole numbers"):
        NLLLoss().forward(y_pred, np.array([[0, 1.5, 2], [0, 0, 0]]))
    with pytest.raises(InputError, match="class ids must be integers, got dtype <U1"):
        NLLLoss().forward(y_pred, np.array([["a", "b", "c"], ["a", "b", "c"]]))
    with pytest.raises(InputError, match=r"labels of shape \(2, 3, 4\) .* expected integer class ids of shape "
                                         r"\(2, 3\); hint: these look like one-hot"):
        NLLLoss().forward(y_pred, np.eye(4)[np.zeros((2, 3), dtype=int)])
    with pytest.raises(InputError, match="return_sequences=False"):
        NLLLoss().forward(y_pred, np.array([0, 1]))
    with pytest.raises(InputError, match=r"the mask must have the shape .* \(2, 3\)"):
        NLLLoss().forward(y_pred, np.zeros((2, 3), dtype=int), np.ones((2,), dtype=bool))


def test_checks_pick_nll_for_a_log_softmax_head():
    model = Sequential([SimpleRNN(6, return_sequences=True), Dense(5), Activation("log_softmax")],
                       seed=0).build((None, None, 3))
    lo = pick_loss(model)
    assert isinstance(lo, NLLLoss) and loss_kind(lo) == "softmax"
    p = make_problem(model, B=2, T=4)
    assert p.y.shape == (2, 4) and p.y.dtype.kind == "i" and p.y.max() < 5
    loss, _ = lo.forward(model.forward(p.x, training=False)[0], p.y)
    assert loss == pytest.approx(np.log(5), rel=0.2)  # about uniform at init
