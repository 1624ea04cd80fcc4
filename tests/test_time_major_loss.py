"""A time-major model with a mask and per-step labels: the loss reads the mask in the output's
layout, (T, B), so it computes what the batch-first model computes on the transposed data, with
the right gradients, and the tracer accepts it (it used to raise a false ShapeError about the mask)."""

import numpy as np
import pytest
from helpers import check_grads

from shapeviz import GRU, LSTM, Bidirectional, Dense, Sequential
from shapeviz.core.losses import MeanSquaredError, SoftmaxCrossEntropy
from shapeviz.core.masking import Masking
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import ShapeError
from shapeviz.tracing.tracer import trace

MASK = np.array([[1, 1, 1, 0, 0],
                 [0, 1, 0, 1, 1],
                 [1, 1, 1, 1, 1]], dtype=bool)  # (B, T) = (3, 5): B != T, so a swapped mask cannot pass
LAYOUTS = {
    "stacked, go_backwards": lambda cell, tm: [
        cell(4, time_major=tm, return_sequences=True),
        cell(3, time_major=tm, return_sequences=True, go_backwards=True), Dense(3)],
    "Bidirectional": lambda cell, tm: [Bidirectional(cell(4, time_major=tm, return_sequences=True)), Dense(3)],
    "Masking first": lambda cell, tm: [Masking(), cell(4, time_major=tm, return_sequences=True), Dense(3)],
}
LOSSES = {
    "mse": (MeanSquaredError, lambda rng: rng.normal(size=(3, 5, 3))),  # (B, T, C) batch-first
    "sparse ids": (lambda: SoftmaxCrossEntropy(from_logits=True), lambda rng: rng.integers(0, 3, size=(3, 5))),
}


def twins(cell, layout):
    tm = Sequential(LAYOUTS[layout](cell, True), dtype="float64", seed=0)
    bf = Sequential(LAYOUTS[layout](cell, False), dtype="float64", seed=1)
    tm.build((5, 3, 2))
    bf.build((3, 5, 2))
    rng = np.random.default_rng(7)
    tm.set_weights([w + rng.normal(scale=0.3, size=w.shape) for w in tm.get_weights()])
    bf.set_weights(tm.get_weights())
    return tm, bf


def _swap(a):
    return np.swapaxes(a, 0, 1)  # (B, T, ...) <-> (T, B, ...)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_time_major_masked_per_step_loss_equals_batch_first(cell, layout, loss_name):
    make_loss, make_labels = LOSSES[loss_name]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)) * MASK[..., None]  # (B, T, F), zero on padded steps (Masking's value)
    labels = make_labels(rng)  # (B, T, C) or ids (B, T)
    tm, bf = twins(cell, layout)
    loss = make_loss()
    mask = None if layout == "Masking first" else MASK

    def value(model, xin, yin):
        y, cache = model.forward(xin, mask=mask)
        out, lcache = loss.forward(y, yin, mask=model.output_mask(cache))
        model.zero_grad()
        model.backward(loss.backward(lcache), cache)
        return out

    v_tm = value(tm, _swap(x), _swap(labels))  # (T, B, F) data, (T, B, ...) labels, the (B, T) mask
    grads_tm = [layer.grads[key].copy() for _, layer, key in tm.parameters()]
    v_bf = value(bf, x, labels)
    np.testing.assert_allclose(v_tm, v_bf, rtol=1e-12)
    for g, (path, layer, key) in zip(grads_tm, bf.parameters(), strict=True):
        np.testing.assert_allclose(g, layer.grads[key], rtol=1e-10, atol=1e-13, err_msg=path)
    # and the masked steps do not count: changing their labels changes nothing
    if loss_name == "mse":
        _, cache = bf.forward(x, mask=mask)
        kept = bf.output_mask(cache)  # (B, T): reversed after a go_backwards layer
        assert kept is not None and not kept.all()
        other = labels.copy()
        other[~kept] += 5.0
        np.testing.assert_allclose(value(tm, _swap(x), _swap(other)), v_tm, rtol=1e-12)


@pytest.mark.parametrize("layout", ["stacked, go_backwards", "Bidirectional"])
def test_time_major_masked_per_step_loss_gradients(layout):
    model, _ = twins(LSTM, layout)
    rng = np.random.default_rng(3)
    x = _swap(rng.normal(size=(3, 5, 2)))  # (T, B, F)
    labels = _swap(rng.normal(size=(3, 5, 3)))  # (T, B, C)
    loss = MeanSquaredError()

    def run():
        y, cache = model.forward(x, mask=MASK)
        return loss.forward(y, labels, mask=model.output_mask(cache)), cache

    (_, lcache), cache = run()
    model.zero_grad()
    dx = model.backward(loss.backward(lcache), cache)
    checks = [("x", x, dx)] + [(path, layer.params[key], layer.grads[key].copy())
                               for path, layer, key in model.parameters()]
    check_grads(lambda: float(run()[0][0]), checks)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_tracer_takes_a_time_major_model_with_a_mask_and_per_step_labels(layout):
    model, _ = twins(LSTM, layout)
    mask = None if layout == "Masking first" else "(B, T)"
    tr = trace(model, "(T, B, 2)", mask=mask, labels="(T, B, 3)", loss="mse")
    assert tr.labels == tr.outputs["y"]
    rng = np.random.default_rng(0)
    concrete = trace(model, _swap(rng.normal(size=(3, 5, 2))), mask=MASK if mask else None,
                     labels=rng.normal(size=(5, 3, 3)), loss="mse")
    assert concrete.outputs["y"] == (5, 3, 3)
    with pytest.raises(ShapeError, match=r"labels are batch-first \(B, T, 3\) but the model outputs time-major "
                                         r"\(T, B, 3\): transpose them to its layout"):
        trace(model, "(T, B, 2)", mask=mask, labels="(B, T, 3)", loss="mse")
