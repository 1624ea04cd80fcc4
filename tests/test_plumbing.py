"""Sequence plumbing: RepeatVector, TimeDistributed, the global poolings, Activation, Flatten, Reshape,
Permute — gradients, masks, reference values (torch where installed), errors, symbolic runs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import KINKED, check_layer_grads
from symbolic_layers import compare_symbolic

import shapeviz
from shapeviz import (GRU, LSTM, Activation, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                      GlobalMaxPooling1D, Permute, RepeatVector, Reshape, Sequential, TimeDistributed)
from shapeviz.errors import CheckpointError, ConfigError, InputError
from shapeviz.core.merge import Add

SIZES = {"B": 2, "T": 5, "F": 3}


def grad_check(layer, x, mask=None, training=False, **kw):
    def forward():
        return layer.forward(x, mask=mask, training=training, rng=np.random.default_rng(3))

    return check_layer_grads(forward, lambda dy, cache: layer.backward(dy, cache), layer, [("x", x)], **kw)


def a_mask():
    return np.array([[True, True, False, True, False], [False, True, True, True, True]])


# -- RepeatVector ----------------------------------------------------------------------------------
def test_repeat_vector():
    x = np.random.default_rng(0).normal(size=(2, 3))
    layer = RepeatVector(4)
    y = layer(x)
    assert y.shape == (2, 4, 3) and y.flags.writeable
    np.testing.assert_array_equal(y, np.repeat(x[:, None], 4, axis=1))
    grad_check(layer, x)
    assert layer.output_mask(np.ones((2, 5), bool)) is None and RepeatVector.supports_masking is False
    assert layer.config() == {"n": 4, "name": layer.name}


def test_repeat_vector_errors():
    with pytest.raises(ConfigError, match=r"RepeatVector 'r': received an invalid value for `n`, expected a "
                                          r"positive integer, got 0"):
        RepeatVector(0, name="r")
    with pytest.raises(InputError, match=r"layer 'r' \(repeat_vector\) expects input of rank 2 \(B, F\), got rank 3"):
        RepeatVector(2, name="r")(np.zeros((2, 3, 4)))


# -- TimeDistributed -------------------------------------------------------------------------------
@pytest.mark.parametrize("inner", [lambda: Dense(4, activation="tanh"), lambda: Dense(2, use_bias=False),
                                   lambda: Activation("softmax"), lambda: LSTM(3)],
                         ids=["dense", "dense no bias", "activation", "lstm on (B, T, T2, F)"])
def test_time_distributed_gradients(inner):
    rng = np.random.default_rng(1)
    layer = TimeDistributed(inner())
    x = rng.normal(size=(2, 3, 4, 3) if isinstance(layer.layer, LSTM) else (2, 5, 3))
    layer.build(x.shape, rng, "float64")
    grad_check(layer, x)


def test_time_distributed_dropout_in_training():
    x = np.random.default_rng(2).normal(size=(2, 5, 3))
    layer = TimeDistributed(Dropout(0.5))
    layer.build(x.shape, None, "float64")
    y, _ = layer.forward(x, training=True, rng=np.random.default_rng(0))
    assert y.shape == x.shape and (y == 0).any()
    grad_check(layer, x, training=True)


def test_time_distributed_equals_the_layer_on_each_step():
    rng = np.random.default_rng(3)
    dense = Dense(4, activation="tanh", dtype="float64")
    layer = TimeDistributed(dense)
    x = rng.normal(size=(2, 5, 3))
    y = layer(x)
    for t in range(5):
        np.testing.assert_allclose(y[:, t], dense(x[:, t]), rtol=1e-12)
    # the wrapped layer itself, not a copy: its weights are the wrapper's
    assert layer.sublayers() == [dense] and layer.params == {}
    assert [w.shape for w in layer.get_weights()] == [(3, 4), (4,)]
    layer.set_weights([np.ones((3, 4)), np.zeros(4)])
    np.testing.assert_array_equal(dense.params["kernel"], np.ones((3, 4)))
    with pytest.raises(CheckpointError, match=r"in TimeDistributed .*has 2 weights"):
        layer.set_weights([np.ones((3, 4))])
    assert layer.count_params() == 16


def test_time_distributed_in_a_model_shares_its_parameters():
    dense = Dense(2)
    model = Sequential([LSTM(4, return_sequences=True), TimeDistributed(dense, name="td")], seed=0)
    model.build((None, 5, 3))
    assert [p for p, _, _ in model.parameters()][-2:] == [f"{dense.name}/kernel", f"{dense.name}/bias"]
    assert model.count_params() == sum(w.size for w in model.get_weights())
    x = np.random.default_rng(4).normal(size=(2, 5, 3)).astype(np.float32)
    y, cache = model.forward(x, mask=a_mask())
    assert y.shape == (2, 5, 2)
    np.testing.assert_array_equal(model.output_mask(cache), a_mask())  # the mask passes through
    model.zero_grad()
    model.backward(np.ones_like(y), cache)
    assert np.abs(dense.grads["kernel"]).sum() > 0
    model.zero_grad()
    assert not dense.grads["kernel"].any()


def test_time_distributed_errors():
    with pytest.raises(ConfigError, match="expected a layer, got int"):
        TimeDistributed(3)
    with pytest.raises(ConfigError, match="expected a layer with one input, got Add"):
        TimeDistributed(Add())
    with pytest.raises(ConfigError, match="expected a layer with one output, got LSTM"):
        TimeDistributed(LSTM(3, return_state=True))
    with pytest.raises(InputError, match=r"layer 'td' \(time_distributed\) expects input of rank 3 or more \(B, T, "
                                         r"\.\.\.\), got rank 2"):
        TimeDistributed(Dense(2), name="td")(np.zeros((2, 3)))
    layer = TimeDistributed(Dense(2), name="td")
    layer(np.zeros((2, 5, 3)))
    with pytest.raises(InputError, match=r"in TimeDistributed 'td' \(each step of input \(2, 5, 4\)\): layer .* was "
                                         r"built for 3 input features"):
        layer(np.zeros((2, 5, 4)))
    assert layer.config()["layer"]["class_name"] == "Dense"


def test_time_distributed_embedding_gives_no_input_gradient():
    layer = TimeDistributed(Embedding(7, 2))
    ids = np.random.default_rng(5).integers(0, 7, (2, 5, 3))
    y, cache = layer.forward(ids)
    assert y.shape == (2, 5, 3, 2)
    assert layer.backward(np.ones(y.shape, np.float32), cache) is None


def test_time_distributed_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    dense = Dense(4, dtype="float64")
    layer = TimeDistributed(dense)
    x = rng.normal(size=(2, 5, 3))
    y, cache = layer.forward(x)
    lin = torch.nn.Linear(3, 4).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(dense.params["kernel"].T))
        lin.bias.copy_(torch.tensor(dense.params["bias"]))
    xt = torch.tensor(x, requires_grad=True)
    yt = lin(xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    dy = rng.normal(size=y.shape)
    yt.backward(torch.tensor(dy))
    layer.zero_grad()
    np.testing.assert_allclose(layer.backward(dy, cache), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dense.grads["kernel"], lin.weight.grad.numpy().T, rtol=1e-12)


# -- pooling ---------------------------------------------------------------------------------------
POOLS = [GlobalAveragePooling1D, GlobalMaxPooling1D]
LAYOUTS = {"BTF": ({}, (2, 5, 3)), "BFT": ({"data_format": "channels_first"}, (2, 3, 5)),
           "TBF": ({"time_major": True}, (5, 2, 3))}


@pytest.mark.parametrize("cls", POOLS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("masked", [False, True], ids=["no mask", "mask"])
@pytest.mark.parametrize("keepdims", [False, True], ids=["", "keepdims"])
def test_pooling_gradients(cls, layout, masked, keepdims):
    opts, shape = LAYOUTS[layout]
    layer = cls(keepdims=keepdims, **opts)
    x = np.random.default_rng(7).normal(size=shape)
    y = layer(x, mask=a_mask() if masked else None)
    assert y.shape == ((2, 1, 3) if layout == "BTF" else (2, 3, 1) if layout == "BFT" else (1, 2, 3)) \
        if keepdims else (2, 3)
    kinked = KINKED if cls is GlobalMaxPooling1D else {}
    grad_check(layer, x, mask=a_mask() if masked else None, **kinked)


def test_pooling_with_a_mask_by_hand():
    x = np.arange(2 * 4 * 2, dtype=np.float64).reshape(2, 4, 2)
    x[1, 3] = [100.0, -100.0]  # a masked step that would win the max and shift the mean
    mask = np.array([[True, True, True, True], [True, False, True, False]])
    avg = GlobalAveragePooling1D()(x, mask=mask)
    mx = GlobalMaxPooling1D()(x, mask=mask)
    # row 0: steps 0..3 -> [0,1],[2,3],[4,5],[6,7]; row 1 keeps steps 0 and 2 -> [8,9],[12,13]
    np.testing.assert_array_equal(avg, [[3.0, 4.0], [10.0, 11.0]])
    np.testing.assert_array_equal(mx, [[6.0, 7.0], [12.0, 13.0]])
    np.testing.assert_array_equal(GlobalAveragePooling1D()(x), x.mean(axis=1))
    np.testing.assert_array_equal(GlobalMaxPooling1D()(x), x.max(axis=1))


def test_pooling_a_row_with_every_step_masked_gives_zeros():
    x = np.random.default_rng(8).normal(size=(2, 3, 2))
    mask = np.array([[True, False, True], [False, False, False]])
    for cls in POOLS:
        layer = cls()
        y, cache = layer.forward(x, mask=mask)
        np.testing.assert_array_equal(y[1], 0.0)
        dx = layer.backward(np.ones_like(y), cache)
        np.testing.assert_array_equal(dx[1], 0.0)
        assert not dx[0, 1].any()  # nothing flows to a masked step


def test_max_pooling_ties_go_to_the_first_step():
    x = np.zeros((1, 3, 2))
    x[0, 1, 1] = x[0, 2, 1] = 5.0
    layer = GlobalMaxPooling1D()
    y, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx[0], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])


def test_pooling_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = np.maximum(rng.normal(size=(3, 6, 4)), 0.0)  # relu'd: ties at 0 across steps
    x[:, 2] = x[:, 4]  # and exact ties between two steps
    mask = np.ones((3, 6), bool)
    mask[1, 3:] = False
    keep = torch.tensor(mask[:, :, None])
    for layer, m, fn in [
        (GlobalMaxPooling1D(), None, lambda t: t.max(dim=1).values),
        (GlobalMaxPooling1D(), mask, lambda t: t.masked_fill(~keep, float("-inf")).max(dim=1).values),
        (GlobalAveragePooling1D(), None, lambda t: t.mean(dim=1)),
        (GlobalAveragePooling1D(), mask, lambda t: (t * keep).sum(dim=1) / keep.sum(dim=1)),
    ]:
        xt = torch.tensor(x, requires_grad=True)
        yt = fn(xt)
        y, cache = layer.forward(x, mask=m)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
        dy = rng.normal(size=y.shape)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(layer.backward(dy, cache), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_pooling_consumes_the_mask_in_a_model():
    model = Sequential([GRU(4, return_sequences=True), GlobalAveragePooling1D(), Dense(2)], seed=0)
    x = np.random.default_rng(10).normal(size=(2, 5, 3)).astype(np.float32)
    y, cache = model.forward(x, mask=a_mask())
    assert y.shape == (2, 2) and model.output_mask(cache) is None


def test_pooling_errors():
    with pytest.raises(ConfigError, match=r"invalid value for `data_format`, expected one of \['channels_last', "
                                          r"'channels_first'\], got 'nhwc'"):
        GlobalAveragePooling1D(data_format="nhwc")
    with pytest.raises(ConfigError, match="time_major=True reads"):
        GlobalMaxPooling1D(data_format="channels_first", time_major=True)
    with pytest.raises(InputError, match=r"layer 'p' \(global_average_pooling1d\) expects input of rank 3 \(T, B, F\), "
                                         r"got rank 2"):
        GlobalAveragePooling1D(time_major=True, name="p")(np.zeros((2, 3)))
    with pytest.raises(InputError, match=r"layer 'p' \(global_max_pooling1d\): the mask must have shape \(B, T\) = "
                                         r"\(2, 5\), got \(5, 2\)"):
        GlobalMaxPooling1D(name="p")(np.zeros((2, 5, 3)), mask=np.ones((5, 2), bool))


# -- Activation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["linear", "tanh", "sigmoid", "relu", "softmax"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 3)], ids=["BF", "BTF"])
def test_activation_gradients(name, shape):
    x = np.random.default_rng(11).normal(size=shape)
    layer = Activation(name)
    grad_check(layer, x, **(KINKED if name == "relu" else {}))
    m = a_mask()
    assert layer.output_mask(m) is m  # the mask passes through


def test_activation_values_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(12).normal(size=(2, 5, 3))
    xt = torch.tensor(x)
    for name, fn in [("tanh", torch.tanh), ("sigmoid", torch.sigmoid), ("relu", torch.relu),
                     ("softmax", lambda t: torch.softmax(t, dim=-1))]:
        np.testing.assert_allclose(Activation(name)(x), fn(xt).numpy(), rtol=1e-12, atol=1e-15)


def test_activation_errors():
    with pytest.raises(ConfigError, match=r"Activation 'a': received an invalid value for `activation`, expected "
                                          r"one of .*got 'gelu'"):
        Activation("gelu", name="a")
    with pytest.raises(InputError, match=r"'a' \(activation\) expects input of rank 1 or more"):
        Activation("tanh", name="a")(np.float64(1.0).reshape(()))
    assert Activation("relu", name="a").config() == {"activation": "relu", "name": "a"}


# -- Flatten, Reshape, Permute ---------------------------------------------------------------------
@pytest.mark.parametrize("layer, shape, out", [
    (lambda: Flatten(), (2, 5, 3), (2, 15)), (lambda: Flatten(), (2,), (2, 1)), (lambda: Flatten(), (2, 3), (2, 3)),
    (lambda: Reshape((3, 5)), (2, 5, 3), (2, 3, 5)), (lambda: Reshape((-1, 5)), (2, 15), (2, 3, 5)),
    (lambda: Reshape(15), (2, 5, 3), (2, 15)), (lambda: Reshape((5, -1, 1)), (2, 5, 3), (2, 5, 3, 1)),
    (lambda: Permute((2, 1)), (2, 5, 3), (2, 3, 5)), (lambda: Permute((1, 2)), (2, 5, 3), (2, 5, 3)),
    (lambda: Permute((3, 1, 2)), (2, 5, 3, 4), (2, 4, 5, 3)),
])
def test_per_sample_shapes_values_and_gradients(layer, shape, out):
    layer = layer()
    x = np.random.default_rng(13).normal(size=shape)
    y = layer(x)
    assert y.shape == out
    if layer.kind == "permute":
        np.testing.assert_array_equal(y, np.transpose(x, (0, *layer.dims)))
    else:
        np.testing.assert_array_equal(y.ravel(), x.ravel())
    grad_check(layer, x)
    assert layer.output_mask(a_mask()) is None and layer.supports_masking is False


def test_per_sample_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(14).normal(size=(2, 5, 3, 4))
    xt = torch.tensor(x)
    np.testing.assert_array_equal(Flatten()(x), torch.flatten(xt, 1).numpy())
    np.testing.assert_array_equal(Permute((3, 1, 2))(x), xt.permute(0, 3, 1, 2).numpy())
    np.testing.assert_array_equal(Reshape((-1, 6))(x), xt.reshape(2, -1, 6).numpy())


def test_per_sample_errors():
    for bad in [(), (0, 3), (-1, -1), (2.5,), "3", (True, 2)]:
        with pytest.raises(ConfigError, match=r"Reshape 'r': received an invalid value for `target_shape`"):
            Reshape(bad, name="r")
    with pytest.raises(InputError, match=r"layer 'r' \(reshape\) expects samples of 12 elements to reshape into "
                                         r"\(3, 4\), got input of shape \(2, 5, 3\) \(15 elements per sample\)"):
        Reshape((3, 4), name="r")(np.zeros((2, 5, 3)))
    with pytest.raises(InputError, match=r"cannot reshape samples of shape \(5, 3\) \(15 elements\) into \(-1, 4\): "
                                         r"15 is not a multiple of 4"):
        Reshape((-1, 4), name="r")(np.zeros((2, 5, 3)))
    for bad in [(1, 1), (0, 1), (2, 3), (), "21", (1.0, 2)]:
        with pytest.raises(ConfigError, match=r"Permute 'p': received an invalid value for `dims`, expected a "
                                              r"permutation of 1..k"):
            Permute(bad, name="p")
    with pytest.raises(InputError, match=r"layer 'p' \(permute\) with dims \(2, 1\) expects input of rank 3"):
        Permute((2, 1), name="p")(np.zeros((2, 3)))
    with pytest.raises(InputError, match=r"'f' \(flatten\) expects input of rank 1 or more"):
        Flatten(name="f")(np.float64(1.0).reshape(()))
    assert Reshape([3, -1], name="r").config() == {"target_shape": (3, -1), "name": "r"}
    assert Permute([2, 1], name="p").config() == {"dims": (2, 1), "name": "p"}


def test_exports_and_kinds():
    for cls, kind in [(RepeatVector, "repeat_vector"), (TimeDistributed, "time_distributed"),
                      (GlobalAveragePooling1D, "global_average_pooling1d"),
                      (GlobalMaxPooling1D, "global_max_pooling1d"), (Activation, "activation"), (Flatten, "flatten"),
                      (Reshape, "reshape"), (Permute, "permute")]:
        assert cls.kind == kind and cls.__name__ in shapeviz.__all__ and getattr(shapeviz, cls.__name__) is cls
        assert cls.multi_input is False


# -- symbolic runs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make, decl, mask", [
    (lambda: RepeatVector(4), "(B, F)", None),
    (lambda: TimeDistributed(Dense(4)), "(B, T, F)", "(B, T)"),
    (lambda: TimeDistributed(Activation("softmax")), "(B, T, 2, F)", None),
    (lambda: GlobalAveragePooling1D(), "(B, T, F)", None),
    (lambda: GlobalAveragePooling1D(), "(B, T, F)", "(B, T)"),
    (lambda: GlobalAveragePooling1D(data_format="channels_first", keepdims=True), "(B, F, T)", "(B, T)"),
    (lambda: GlobalMaxPooling1D(), "(B, T, F)", None),
    (lambda: GlobalMaxPooling1D(time_major=True), "(T, B, F)", "(B, T)"),
    (lambda: GlobalMaxPooling1D(keepdims=True), "(B, T, F)", "(B, T)"),
    (lambda: Activation("softmax"), "(B, T, F)", "(B, T)"),
    (lambda: Flatten(), "(B, T, F)", None),
    (lambda: Reshape((-1, 3)), "(B, T, F)", None),
    (lambda: Reshape((3, 5)), "(B, 5, F)", None),
    (lambda: Permute((2, 1)), "(B, T, F)", "(B, T)"),
], ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symbolic_equals_real(make, decl, mask, dtype):
    compare_symbolic(make(), decl, SIZES, mask=mask, dtype=dtype)


def test_traced_models_equal_real_runs():
    from test_trace_concrete import B, F, T, a_mask as mask_for, check, normal
    rng = np.random.default_rng(15)
    cases = [
        (Sequential([Dense(4), RepeatVector(5), LSTM(3, return_sequences=True), TimeDistributed(Dense(2))], seed=0),
         {"inputs": "(B, 3)", "dims": {"B": B}}, {"inputs": normal(rng, B, F)}),
        (Sequential([GRU(4, return_sequences=True), GlobalMaxPooling1D(), Activation("relu"), Dense(2)], seed=0),
         {"inputs": "(B, T, 3)", "dims": {"B": B, "T": T}, "mask": "(B, T)"},
         {"inputs": normal(rng, B, T, F), "mask": mask_for(rng)}),
        (Sequential([LSTM(4, return_sequences=True, time_major=True), GlobalAveragePooling1D(time_major=True)], seed=0),
         {"inputs": "(T, B, 3)", "dims": {"B": B, "T": T}, "mask": "(B, T)"},
         {"inputs": normal(rng, T, B, F), "mask": mask_for(rng)}),
        (Sequential([Permute((2, 1)), Dense(4), Permute((2, 1)), LSTM(3, return_sequences=True), Flatten(),
                     Reshape((-1, 3)), GRU(2)], seed=0),
         {"inputs": "(B, T, 3)", "dims": {"B": B, "T": T}}, {"inputs": normal(rng, B, T, F)}),
    ]
    for model, sym, real in cases:
        check(model, sym, real, training=True)


def test_trace_errors_name_the_layer():
    from shapeviz import ShapeError, trace
    model = Sequential([LSTM(4, return_sequences=True), Reshape((3, 4), name="fold"), GRU(2)])
    with pytest.raises(ShapeError, match=r"layer 'fold', forward: layer 'fold' \(reshape\) expects samples of 12 "
                                         r"elements to reshape into \(3, 4\), got input of shape \(B, T, 4\)"):
        trace(model, "(B, T, 3)", dims={"B": 2, "T": 5})
    model = Sequential([GRU(4), RepeatVector(3, name="rep"), GlobalMaxPooling1D(name="pool"), RepeatVector(2)])
    assert tuple(map(str, trace(model, "(B, T, 3)").outputs["y"])) == ("B", "2", "4")
    model = Sequential([LSTM(4, return_sequences=True), TimeDistributed(Dense(2), name="td")])
    records = {r.path: (r.inputs["x"], r.outputs["y"]) for r in trace(model, "(B, T, 3)").layers}
    assert {k: tuple(map(str, v)) for k, v in records.items() if k.startswith("td")} == {
        "td": ("(B, T, 4)", "(B, T, 2)"), f"td/{model.layers[1].layer.name}": ("(B*T, 4)", "(B*T, 2)")}


@pytest.mark.parametrize("layers, mode", [
    (lambda: [LSTM(4), RepeatVector(3), LSTM(4, return_sequences=True), TimeDistributed(Dense(2))], "many-to-many"),
    (lambda: [LSTM(4, return_sequences=True), GlobalMaxPooling1D(), Dense(1)], "many-to-one"),
    (lambda: [LSTM(4, return_sequences=True), GlobalAveragePooling1D(), Dense(1)], "many-to-one"),
    (lambda: [Dense(4), RepeatVector(5), LSTM(4, return_sequences=True), Dense(2)], "one-to-many"),
    (lambda: [Dense(4), Dense(2)], "one-to-one"),
    (lambda: [LSTM(4, return_sequences=True), Dense(2)], "synced many-to-many"),
], ids=["addition_rnn", "max_pool", "avg_pool", "repeat_decoder", "dense", "synced"])
def test_sequential_mode_reads_the_plumbing_layers(layers, mode):
    from shapeviz import Sequential
    assert Sequential(layers()).mode == mode
