"""The layers the torch front end maps onto: Transpose, ReshapeAxes, Reduce (whole-tensor axis ops),
PackSequence/PadPacked (lengths as a mask), the log_softmax activation and Embedding's padding_idx:
float64 gradient checks, values, errors, symbolic runs equal to real ones."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_layer_grads
from symbolic_layers import compare_symbolic

from shapeviz import LSTM, Activation, ConfigError, Embedding, InputError
from shapeviz.core.axes import Reduce, ReshapeAxes, Transpose
from shapeviz.core.lengths import PackSequence, PadPacked, lengths_mask

SIZES = {"B": 2, "T": 5, "F": 3}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("layer, shape", [
    (Transpose((1, 0, 2)), (5, 2, 3)),
    (Transpose((2, 0, 1)), (2, 5, 3)),
    (ReshapeAxes([("axis", 0), ("merge", (1, 2))], 3), (2, 5, 3)),
    (ReshapeAxes([("merge", (0, 1)), 3], 3), (2, 5, 3)),
    (ReshapeAxes([1, ("axis", 0), ("axis", 1)], 2), (2, 3)),
    (Reduce("mean", 1), (2, 5, 3)),
    (Reduce("sum", 0, keepdims=True), (2, 5, 3)),
    (Reduce("max", -2), (2, 5, 3)),
    (Activation("log_softmax"), (2, 5, 3)),
], ids=lambda v: getattr(v, "kind", None))
def test_gradients(layer, shape):
    x = rand(*shape)
    layer.build(x.shape, dtype="float64")

    def forward():
        return layer.forward(x)
    check_layer_grads(forward, lambda dy, cache: [layer.backward(dy, cache)], layer, inputs=[("x", x)])


def test_values():
    x = rand(2, 5, 3)
    assert np.array_equal(Transpose((1, 0, 2)).forward(x)[0], x.transpose(1, 0, 2))
    assert np.array_equal(ReshapeAxes([("axis", 0), ("merge", (1, 2))], 3).forward(x)[0], x.reshape(2, 15))
    assert np.allclose(Reduce("mean", 1).forward(x)[0], x.mean(1))
    assert np.array_equal(Reduce("max", 1, keepdims=True).forward(x)[0], x.max(1, keepdims=True))
    y = Activation("log_softmax").forward(x)[0]
    assert np.allclose(np.exp(y).sum(-1), 1.0) and np.allclose(y, np.log(np.exp(x) / np.exp(x).sum(-1, keepdims=True)))
    assert not np.any(np.isinf(Activation("log_softmax").forward(np.array([[1000.0, -1000.0]]))[0]))


def test_errors():
    with pytest.raises(ConfigError, match=r"Transpose 't': .*expected a permutation of 0\.\.k-1, got \(0, 0\)"):
        Transpose((0, 0), name="t")
    with pytest.raises(ConfigError, match=r"ReshapeAxes 'r': .*got \('axis', 3\)"):
        ReshapeAxes([("axis", 3)], 3, name="r")
    with pytest.raises(InputError, match=r"layer 'r' \(reshape_axes\) cannot reshape \(2, 5, 3\) \(30 elements\) into "
                                         r"\(2, 4\)"):
        ReshapeAxes([("axis", 0), 4], 3, name="r").forward(rand(2, 5, 3))
    with pytest.raises(ConfigError, match=r"Reduce 'm': .*`op`, expected one of \['mean', 'sum', 'max'\], got 'min'"):
        Reduce("min", 1, name="m")
    with pytest.raises(InputError, match=r"layer 'm' \(reduce\) reduces axis 3, got input of rank 3"):
        Reduce("sum", 3, name="m").forward(rand(2, 5, 3))
    with pytest.raises(InputError, match=r"expects integer lengths \(B,\) = \(2,\) beside x \(2, 5, 3\) \(B, T, F\), "
                                         r"got int64 of shape \(3,\)"):
        PackSequence(name="p").forward([rand(2, 5, 3), np.array([1, 2, 3])])
    with pytest.raises(ConfigError, match=r"`padding_idx`, expected None or an id in \[0, 4\), got 4"):
        Embedding(4, 2, padding_idx=4)


def test_lengths_make_the_mask_and_pad_packed_zeroes_the_padding():
    x, lengths = rand(3, 4, 2), np.array([4, 1, 2])
    pack = PackSequence()
    y, _ = pack.forward([x, lengths])
    assert y is x
    mask = pack.compute_mask([x, lengths])
    assert mask.tolist() == [[True] * 4, [True, False, False, False], [True, True, False, False]]
    assert lengths_mask(lengths, 4).tolist() == mask.tolist()
    assert PackSequence(time_major=True).compute_mask([x.transpose(1, 0, 2), lengths]).tolist() == mask.tolist()
    pad = PadPacked()
    z, cache = pad.forward(x, mask=mask)
    assert np.array_equal(z, x * mask[:, :, None]) and pad.output_mask(mask) is None
    check_layer_grads(lambda: pad.forward(x, mask=mask), lambda dy, c: [pad.backward(dy, c)], None,
                      inputs=[("x", x)])
    zt, _ = PadPacked(time_major=True).forward(x.transpose(1, 0, 2), mask=mask)
    assert np.array_equal(zt, z.transpose(1, 0, 2))


def test_a_lengths_mask_stops_each_sequence_at_its_length():
    """The LSTM's final state on padded data with lengths is the state after each sequence's last real step."""
    x, lengths = rand(3, 5, 2), np.array([5, 2, 3])
    lstm = LSTM(4, return_state=True, dtype="float64")
    lstm.build(x.shape, np.random.default_rng(0))
    mask = PackSequence().compute_mask([x, lengths])
    _, h, _ = lstm.forward(x, mask=mask)[0]
    for b, n in enumerate(lengths):
        _, hb, _ = lstm.forward(x[b:b + 1, :n])[0]
        assert np.allclose(h[b], hb[0])


def test_embedding_padding_idx_gets_no_gradient():
    ids = np.array([[0, 1, 2, 0], [3, 0, 1, 1]])
    emb = Embedding(4, 3, padding_idx=0, dtype="float64")
    emb.build(ids.shape, np.random.default_rng(0))
    y, cache = emb.forward(ids)
    emb.zero_grad()
    emb.backward(np.ones_like(y), cache)
    assert np.all(emb.grads["embeddings"][0] == 0) and np.all(emb.grads["embeddings"][1] == 3)
    assert emb.config()["padding_idx"] == 0 and "padding_idx" not in Embedding(4, 3).config()


@pytest.mark.parametrize("make, decl, mask", [
    (lambda: Transpose((1, 0, 2)), "(T, B, F)", None),
    (lambda: ReshapeAxes([("axis", 0), ("merge", (1, 2))], 3), "(B, T, F)", None),
    (lambda: ReshapeAxes([("merge", (0, 1)), ("axis", 2)], 3), "(B, T, F)", None),
    (lambda: Reduce("max", 1), "(B, T, F)", None),
    (lambda: Reduce("mean", 1, keepdims=True), "(B, T, F)", None),
    (lambda: Activation("log_softmax"), "(B, T, F)", None),
    (lambda: PadPacked(), "(B, T, F)", "(B, T)"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_symbolic_equals_real(make, decl, mask):
    compare_symbolic(make(), decl, SIZES, mask=mask)
