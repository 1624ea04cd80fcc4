"""The core options an exact Keras twin needs: merges' mask_mode="or" (Keras 3's mask rule),
GlobalMaxPooling1D(ignore_mask=True) (Keras's max ignores the mask) and Embedding(float_ids=True)
(Keras casts whole-number float ids): values, masks, errors and float64 gradient checks."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import KINKED, check_layer_grads
from test_functional import grad_check as graph_grad_check

from shapeviz import (LSTM, Add, Average, Concatenate, Dense, Embedding, GlobalMaxPooling1D, Input, Model,
                      Multiply, Subtract)
from shapeviz.errors import ConfigError, InputError

IDS_A = np.array([[1, 2, 0, 0], [0, 3, 1, 2], [5, 6, 2, 1]])
IDS_B = np.array([[1, 0, 3, 0], [4, 0, 1, 2], [0, 6, 2, 1]])


def two_masked_inputs(merge):
    a = Input("(B, T)", name="a", dtype="int64")
    b = Input("(B, T)", name="b", dtype="int64")
    seq_a = LSTM(3, return_sequences=True)(Embedding(7, 3, mask_zero=True)(a))
    seq_b = LSTM(3, return_sequences=True)(Embedding(7, 3, mask_zero=True)(b))
    merged = merge([seq_a, seq_b])
    model = Model(inputs=[a, b], outputs=LSTM(2)(merged), dtype="float64", seed=0)
    for layer in model.layers:  # embeddings of unit size, so the gradients are not tiny
        if layer.kind == "embedding":
            layer.params["embeddings"] *= 20.0
    return model, merged


@pytest.mark.parametrize("cls", [Add, Subtract, Multiply, Average, Concatenate])
def test_mask_mode_or_is_keras_3s_rule(cls):
    model, merged = two_masked_inputs(cls(mask_mode="or"))
    _, cache = model.forward({"a": IDS_A, "b": IDS_B})
    np.testing.assert_array_equal(cache.masks[id(merged)], (IDS_A != 0) | (IDS_B != 0))
    model_and, merged_and = two_masked_inputs(cls())
    _, cache = model_and.forward({"a": IDS_A, "b": IDS_B})
    np.testing.assert_array_equal(cache.masks[id(merged_and)], (IDS_A != 0) & (IDS_B != 0))


@pytest.mark.parametrize("cls", [Add, Concatenate])
def test_mask_mode_or_gradients(cls):
    model, _ = two_masked_inputs(cls(mask_mode="or"))
    graph_grad_check(model, {"a": IDS_A, "b": IDS_B}, dout_seed=2)


@pytest.mark.parametrize("cls", [Add, Concatenate])
def test_mask_mode_or_with_an_unmasked_input_gives_no_mask(cls):
    layer = cls(mask_mode="or")
    m = np.array([[True, False]])
    assert layer.output_mask([m, None]) is None
    np.testing.assert_array_equal(cls().output_mask([m, None]), m)  # "and": the masks present


def test_mask_mode_is_checked_and_reported():
    with pytest.raises(ConfigError, match=r"Add 'x': received an invalid value for `mask_mode`.*got 'xor'"):
        Add(name="x", mask_mode="xor")
    assert Concatenate(mask_mode="or", name="c").config() == {"axis": -1, "name": "c", "mask_mode": "or"}
    assert Add(name="a").config() == {"name": "a"}


def test_max_pooling_can_ignore_the_mask_as_keras_does():
    x = np.random.default_rng(1).normal(size=(2, 5, 3))
    x[0, 2] = 50.0  # a masked step that wins only when the mask is ignored
    mask = np.array([[True, True, False, True, False], [False, True, True, True, True]])
    layer = GlobalMaxPooling1D(ignore_mask=True)
    np.testing.assert_array_equal(layer(x, mask=mask), x.max(axis=1))
    assert layer.supports_masking is False and GlobalMaxPooling1D.supports_masking is True
    assert layer.config()["ignore_mask"] is True

    def forward():
        return layer.forward(x, mask=mask)

    check_layer_grads(forward, lambda dy, cache: layer.backward(dy, cache), layer, [("x", x)], **KINKED)


def test_a_graph_hands_an_ignoring_max_pooling_no_mask():
    ids = Input("(B, T)", name="ids", dtype="int64")
    seq = LSTM(3, return_sequences=True)(Embedding(7, 3, mask_zero=True)(ids))
    model = Model(inputs=ids, outputs=Dense(2)(GlobalMaxPooling1D(ignore_mask=True)(seq)), dtype="float64", seed=0)
    # one leading padded step per row: its output (the zero initial state) ties with no other step,
    # where trailing padding would repeat the last output and make the max a tie (a kink)
    ids_lead = np.array([[0, 1, 2, 3], [4, 1, 2, 6], [0, 5, 3, 1]])
    model.layers[0].params["embeddings"] *= 20.0  # outputs far apart next to the difference step
    y, cache = model.forward(ids_lead)
    seq_value = model.nodes[1].layer.forward(model.nodes[0].layer.forward(ids_lead)[0], mask=ids_lead != 0)[0]
    dense = model.nodes[-1].layer
    np.testing.assert_allclose(y, seq_value.max(axis=1) @ dense.params["kernel"] + dense.params["bias"])
    graph_grad_check(model, {"ids": ids_lead}, dout_seed=3)


def test_float_ids_are_ids_when_whole():
    layer = Embedding(7, 2, mask_zero=True, float_ids=True)
    ids = IDS_A.astype("float32")
    y = layer(ids)
    np.testing.assert_array_equal(y, layer(IDS_A))
    np.testing.assert_array_equal(layer.compute_mask(ids), IDS_A != 0)
    layer.zero_grad()
    _, cache = layer.forward(ids)
    layer.backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(layer.grads["embeddings"][:, 0], np.bincount(IDS_A.ravel(), minlength=7))
    bad = ids.copy()
    bad[1, 2] = 2.5
    with pytest.raises(InputError, match=r"takes whole-number float ids \(as Keras casts them\), got 2\.5 at \(1, 2\)"):
        layer(bad)
    with pytest.raises(InputError, match="expects integer token ids, got dtype float32"):
        Embedding(7, 2)(ids)


def test_a_deep_copy_of_a_graph_model_runs():
    """The deep checks run a float64 deep copy of the model (checks.common.float64_twin): its nodes
    are new objects, so the graph must not look their layouts up by the original nodes' ids."""
    import copy

    ids = Input("(B, T)", name="ids", dtype="int64")
    model = Model(inputs=ids, outputs=LSTM(2)(Embedding(7, 3, mask_zero=True)(ids)), seed=0)
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.forward(IDS_A)[0], model.forward(IDS_A)[0])
