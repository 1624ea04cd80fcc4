"""The functional graph model: construction, validation, mode, forward/backward and float64
gradient checks of whole graphs (two inputs, state handover, fan-out, shared layers, masks)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from graph_layers import Concat, Repeat, Sum
from helpers import check_grads, project, random_cotangent
from shapeviz import (GRU, LSTM, Bidirectional, ConfigError, Dense, Dropout, Embedding, Functional, Input,
                      InputError, Masking, Model, Sequential, SimpleRNN)

B, T = 3, 4


def grad_check(model: Functional, feed: dict, *, mask: Any = None, dout_seed: int = 0,
               training: bool = False) -> dict[str, float]:
    """Gradient-check a graph model's inputs (float ones) and every parameter in float64."""
    def run() -> tuple[Any, Any]:
        return model.forward(feed, mask=mask, training=training, rng=np.random.default_rng(5))

    y, cache = run()
    dout = random_cotangent(y, np.random.default_rng(dout_seed))
    model.zero_grad()
    dxs = model.backward(dout, cache)
    dxs = [dxs] if model.single_input else dxs
    checks = [(name, feed[name], dx) for name, dx in zip(model.input_names, dxs) if feed[name].dtype == np.float64]
    checks += [(path, layer.params[key], layer.grads[key]) for path, layer, key in model.parameters()]
    return check_grads(lambda: project(run()[0], dout), checks)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# -- construction ----------------------------------------------------------------------------
def test_model_with_inputs_and_outputs_is_functional():
    x = Input("(B, T, 5)", name="x")
    y = Dense(3)(LSTM(4)(x))
    model = Model(inputs=x, outputs=y)
    assert isinstance(model, Functional)
    assert model.input_tensors == [x]
    assert y.shape == (None, 3)
    assert model.built and model.count_params() == 4 * (5 + 4 + 1) * 4 + 4 * 3 + 3


def test_input_shapes_and_names():
    t = Input("(B, T, 5)", name="a")
    assert t.shape == (None, None, 5) and t.name == "a" and t.node.axis_names == ("B", "T", None)
    tm = Input("(T, B, 5)", name="tm")
    assert tm.node.batch_axis == 1
    ids = Input((None, None), name="ids", dtype="int64")
    assert ids.dtype == np.int64
    with pytest.raises(ConfigError, match=r"Input 'bad': cannot read the axis '\?'"):
        Input("(B, ?, 5)", name="bad")
    with pytest.raises(ConfigError, match="every size must be positive, got 0"):
        Input((None, 0), name="zero")


def test_return_state_unpacks_and_shapes_come_from_the_real_layers():
    x = Input("(B, T, 5)")
    seq, h, c = LSTM(6, return_sequences=True, return_state=True)(x)
    assert (seq.shape, h.shape, c.shape) == ((None, None, 6), (None, 6), (None, 6))
    assert (seq.label, h.label, c.label) == ("y", "h", "c")
    out, *states = Bidirectional(GRU(3, return_state=True))(x)
    assert out.shape == (None, 6) and [s.label for s in states] == ["forward_h", "backward_h"]
    cat = Concat()([seq, Dense(2)(seq)])
    assert cat.shape == (None, None, 8)


def test_the_user_layers_are_built_by_the_model_with_its_seed_and_dtype():
    def make(seed: int) -> Functional:
        x = Input("(B, T, 5)")
        return Model(inputs=x, outputs=Dense(2)(GRU(3)(x)), dtype="float64", seed=seed)
    a, b, c = make(1), make(1), make(2)
    assert all(w.dtype == np.float64 for w in a.get_weights())
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_validation_errors_name_what_is_wrong():
    a, b = Input("(B, T, 5)", name="a"), Input("(B, T, 5)", name="b")
    y = LSTM(3)(a)
    with pytest.raises(ConfigError, match=r"input 'b' is never used on the way to the outputs"):
        Model(inputs=[a, b], outputs=y)
    z = Sum()([LSTM(3)(a), LSTM(3)(b)])
    with pytest.raises(ConfigError, match=r"not reachable from the inputs \['a'\] alone: "
                                         r"'lstm_\d+' input 0 from input 'b', "
                                         r"an input not in `inputs`; add 'b' there"):
        Model(inputs=a, outputs=z)
    with pytest.raises(ConfigError, match=r"outputs\[0\] is ndarray"):
        Model(inputs=a, outputs=np.zeros(3))
    with pytest.raises(ConfigError, match=r"two different layers are named 'same'"):
        Model(inputs=a, outputs=Dense(2, name="same")(LSTM(3, name="same")(a)))
    with pytest.raises(ConfigError, match=r"two inputs are named 'a'"):
        Model(inputs=[a, Input("(B, 5)", name="a")], outputs=y)
    with pytest.raises(ConfigError, match=r"inputs\[0\] \('lstm_\d+' output 0 \(y\)\) is a layer's output"):
        Model(inputs=y, outputs=Dense(2)(y))
    with pytest.raises(ConfigError, match="reads one tensor, got a list of 2"):
        LSTM(3)([a, b])
    with pytest.raises(ConfigError, match=r"call it on a list"):
        Sum()(a)


def test_a_shared_layer_called_on_inputs_its_weights_do_not_fit():
    a, b = Input("(B, T, 3)", name="a"), Input("(B, T, 4)", name="b")
    shared = LSTM(2, name="shared")
    shared(a)
    with pytest.raises(InputError, match=r"'shared' \(lstm\) was built for 3 input features .* last axis is 4\n"
                                         r"  through: 'shared@1' input 0 from input 'b'"):
        shared(b)


def test_a_shape_mistake_at_construction_names_the_node_and_edge():
    src, tgt = Input("(B, T_in, 5)", name="source"), Input("(B, T_out, 7)", name="target")
    _, h, c = LSTM(16, return_state=True, name="enc")(src)
    with pytest.raises(InputError, match=r"initial state 'h' must have shape \(B, H\) = \(2, 32\), got \(2, 16\)"
                                         r"\n  through: 'dec' initial_state 0 from 'enc' output 1 \(h\)$"):
        LSTM(32, name="dec")(tgt, initial_state=[h, c])


def test_mode_is_read_off_the_graph():
    def mode(build: Callable[[], tuple]) -> str:
        ins, outs = build()
        return Model(inputs=ins, outputs=outs).mode
    x = Input("(B, T, 5)")
    assert mode(lambda: (x, Dense(2)(LSTM(3)(x)))) == "many-to-one"
    assert mode(lambda: (x, Dense(2)(LSTM(3, return_sequences=True)(x)))) == "synced many-to-many"
    v = Input("(B, 5)")
    assert mode(lambda: (v, Dense(2)(Dense(3)(v)))) == "one-to-one"
    src, tgt = Input("(B, T_in, 5)"), Input("(B, T_out, 7)")
    _, h, c = LSTM(4, return_state=True)(src)
    dec = LSTM(4, return_sequences=True)(tgt, initial_state=[h, c])
    assert Model(inputs=[src, tgt], outputs=Dense(7)(dec)).mode == "many-to-many"
    # one-to-many through RepeatVector; addition_rnn's sequence -> vector -> RepeatVector -> sequence
    assert mode(lambda: (v, Dense(3)(LSTM(4, return_sequences=True)(Repeat(6)(v))))) == "one-to-many"
    assert mode(lambda: (x, LSTM(4, return_sequences=True)(Repeat(3)(LSTM(4)(x))))) == "many-to-many"
    # the same time input handed states (a stacked encoder) stays synced
    _, h = GRU(4, return_state=True)(x)
    assert mode(lambda: (x, GRU(4, return_sequences=True)(x, initial_state=[h]))) == "synced many-to-many"


def test_one_to_many_graph_gradients():
    v = Input("(B, 5)", name="v")
    out = Dense(3)(LSTM(4, return_sequences=True)(Repeat(3)(Dense(4)(v))))
    grad_check(Model(inputs=v, outputs=out, dtype="float64", seed=0), {"v": rand(B, 5)})


def test_forward_takes_one_array_a_list_or_a_dict():
    a, b = Input("(B, T, 2)", name="a"), Input("(B, T, 2)", name="b")
    model = Model(inputs=[a, b], outputs=[Sum()([a, b]), Dense(1)(a)], dtype="float64")
    xa, xb = rand(B, T, 2), rand(B, T, 2, seed=1)
    y_list, _ = model.forward([xa, xb])
    y_dict, _ = model.forward({"b": xb, "a": xa})
    assert isinstance(y_list, list) and len(y_list) == 2
    np.testing.assert_array_equal(y_list[0], xa + xb)
    np.testing.assert_array_equal(y_dict[1], y_list[1])
    with pytest.raises(InputError, match=r"keys must be the input names \['a', 'b'\]; unknown: \['c'\]"):
        model.forward({"a": xa, "c": xb})
    with pytest.raises(InputError, match=r"takes 2 inputs \(a, b\), got 3"):
        model.forward([xa, xb, xb])
    with pytest.raises(InputError, match=r"takes 2 inputs \(a, b\): pass a list or a dict"):
        model.forward(xa)
    dx = model.backward([np.ones((B, T, 2)), None], model.forward([xa, xb])[1])
    np.testing.assert_array_equal(dx[0], np.ones((B, T, 2)))  # only the sum's gradient reached a
    np.testing.assert_array_equal(dx[1], np.ones((B, T, 2)))


# -- gradient checks of whole graphs ---------------------------------------------------------
@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_two_inputs_merged(cell):
    a, b = Input("(B, T, 3)", name="a"), Input("(B, T, 2)", name="b")
    ya = cell(4, return_sequences=True)(a)
    yb = cell(4, return_sequences=True)(b)
    out = Dense(2)(Concat()([Sum()([ya, yb]), Dense(3)(b)]))
    model = Model(inputs=[a, b], outputs=out, dtype="float64", seed=0)
    grad_check(model, {"a": rand(B, T, 3), "b": rand(B, T, 2, seed=1)})


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_encoder_states_start_the_decoder(cell):
    """Keras's lstm_seq2seq: the encoder's return_state feeds the decoder's initial_state."""
    src, tgt = Input("(B, T_in, 3)", name="source"), Input("(B, T_out, 4)", name="target")
    _, *states = cell(5, return_state=True, name="enc")(src)
    dec = cell(5, return_sequences=True, name="dec")(tgt, initial_state=states)
    model = Model(inputs=[src, tgt], outputs=Dense(4, name="head")(dec), dtype="float64", seed=0)
    assert model.mode == "many-to-many"
    grad_check(model, {"source": rand(B, 5, 3), "target": rand(B, 3, 4, seed=1)})


def test_state_outputs_as_model_outputs_and_bidirectional_states():
    x = Input("(B, T, 3)", name="x")
    seq, *states = Bidirectional(LSTM(3, return_sequences=True, return_state=True))(x)
    dec_in = Input("(B, T2, 2)", name="y")
    dec = Bidirectional(LSTM(3, return_sequences=True))(dec_in, initial_state=states)
    model = Model(inputs=[x, dec_in], outputs=[dec, states[1], seq], dtype="float64", seed=0)
    grad_check(model, {"x": rand(B, T, 3), "y": rand(B, 2, 2, seed=1)})


def test_fan_out_sums_the_gradients():
    x = Input("(B, T, 3)", name="x")
    h = LSTM(4, return_sequences=True)(x)
    model = Model(inputs=x, outputs=[Dense(2)(h), GRU(3)(h), Dense(1)(x), Sum()([h, h])], dtype="float64", seed=0)
    grad_check(model, {"x": rand(B, T, 3)})


def test_shared_layer_gradient_is_the_sum_over_its_calls():
    a, b = Input("(B, T, 3)", name="a"), Input("(B, T, 3)", name="b")
    shared = LSTM(4, return_sequences=True, name="shared")
    out = Sum()([shared(a), shared(Dense(3)(b))])
    model = Model(inputs=[a, b], outputs=GRU(2)(out), dtype="float64", seed=0)
    assert [layer.name for layer in model.layers].count("shared") == 1
    assert {"shared", "shared@1"} <= {n.name for n in model.nodes}
    grad_check(model, {"a": rand(B, T, 3), "b": rand(B, T, 3, seed=1)})


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_shared_recurrent_layer_does_not_share_workspace_buffers_between_calls(cell):
    """Big enough for the workspace to recycle buffers (>= 64 KiB): a second call of one layer in one
    pass must not overwrite what the first call's cache and output still hold."""
    Bb, Tb, H = 8, 40, 32
    a, b = Input((None, None, 6), name="a"), Input((None, None, 6), name="b")
    shared = cell(H, return_sequences=True, name="shared")
    model = Model(inputs=[a, b], outputs=[shared(a), shared(b)], dtype="float64", seed=0)
    twin_a = cell(H, return_sequences=True, dtype="float64")
    twin_a.build((Bb, Tb, 6))
    twin_a.set_weights(shared.get_weights())
    xa, xb = rand(Bb, Tb, 6), rand(Bb, Tb, 6, seed=1)
    for _ in range(3):  # a training loop: the previous step's buffers come back to the pool
        (ya, yb), cache = model.forward([xa, xb])
        ra, ca = twin_a.forward(xa)
        rb, cb = twin_a.forward(xb)
        np.testing.assert_array_equal(ya, ra)
        np.testing.assert_array_equal(yb, rb)
        da, db = rand(Bb, Tb, H, seed=2), rand(Bb, Tb, H, seed=3)
        model.zero_grad()
        twin_a.zero_grad()
        dxa, dxb = model.backward([da, db], cache)
        np.testing.assert_allclose(dxa, twin_a.backward(da, ca), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dxb, twin_a.backward(db, cb), rtol=1e-12, atol=1e-12)
        for key in shared.grads:
            np.testing.assert_allclose(shared.grads[key], twin_a.grads[key], rtol=1e-10, atol=1e-12)


def test_masks_of_two_inputs_combine_at_a_merge():
    ids = Input("(B, T)", name="ids", dtype="int64")
    feats = Input("(B, T, 2)", name="feats")
    emb = Embedding(7, 3, mask_zero=True)(ids)
    seq = LSTM(4, return_sequences=True)(emb)
    merged = Concat()([seq, Masking()(feats)])
    model = Model(inputs=[ids, feats], outputs=LSTM(3)(merged), dtype="float64", seed=0)
    x_ids = np.array([[1, 2, 0, 0], [3, 1, 4, 0], [5, 6, 2, 1]])
    x_feats = rand(B, T, 2)
    x_feats[2, 3] = 0.0  # Masking(0.0) masks this step of sample 2
    _, cache = model.forward({"ids": x_ids, "feats": x_feats})
    seq_mask = cache.masks[id(merged)]
    np.testing.assert_array_equal(seq_mask, (x_ids != 0) & np.any(x_feats != 0, axis=-1))
    assert model.output_mask(cache) is None  # an LSTM without return_sequences outputs no mask


def test_masked_embedding_into_lstm_in_a_graph_gradients():
    ids = Input("(B, T)", name="ids", dtype="int64")
    feats = Input("(B, T, 2)", name="feats")
    seq = LSTM(4, return_sequences=True)(Embedding(7, 3, mask_zero=True)(ids))
    merged = Sum()([seq, Dense(4)(feats)])  # carries the ids' mask on
    model = Model(inputs=[ids, feats], outputs=LSTM(3)(merged), dtype="float64", seed=0)
    x_ids = np.array([[1, 2, 0, 0], [3, 1, 4, 0], [5, 6, 2, 1]])
    _, cache = model.forward({"ids": x_ids, "feats": rand(B, T, 2)})
    np.testing.assert_array_equal(cache.masks[id(merged)], x_ids != 0)
    grad_check(model, {"ids": x_ids, "feats": rand(B, T, 2)}, dout_seed=1)


def test_a_mask_stops_at_a_layer_that_does_not_support_masking():
    class NoMask(Dense):
        supports_masking = False
    ids = Input("(B, T)", name="ids", dtype="int64")
    seq = LSTM(3, return_sequences=True)(Embedding(5, 2, mask_zero=True)(ids))
    out = NoMask(2)(seq)
    model = Model(inputs=ids, outputs=[seq, out], dtype="float64")
    x = np.array([[1, 0], [2, 3]])
    _, cache = model.forward(x)
    assert model.output_masks(cache)[0] is not None and model.output_masks(cache)[1] is None


def test_dropout_in_training_and_a_fixed_training_flag():
    x = Input("(B, T, 3)", name="x")
    h = GRU(4, return_sequences=True, dropout=0.3, recurrent_dropout=0.2)(x)
    out = Dropout(0.5)(h, training=False)  # fixed at the call: never drops
    model = Model(inputs=x, outputs=Dense(2)(out), dtype="float64", seed=0)
    grad_check(model, {"x": rand(B, T, 3)}, training=True)


# -- equivalence with Sequential -------------------------------------------------------------
@pytest.mark.parametrize("time_major", [False, True])
def test_sequential_and_the_same_layers_as_a_graph_agree(time_major):
    def layers() -> list:
        return [Masking(), Bidirectional(LSTM(4, return_sequences=True, time_major=time_major)),
                GRU(3, return_sequences=True, time_major=time_major), Dense(2)]
    seq_layers, graph_layers = layers(), layers()
    seq = Sequential(seq_layers, dtype="float64", seed=0)
    x = Input("(T, B, 3)" if time_major else "(B, T, 3)", name="x")
    t = x
    for layer in graph_layers:
        t = layer(t)
    graph = Model(inputs=x, outputs=t, dtype="float64", seed=0)
    seq.build((None, None, 3))
    graph.set_weights(seq.get_weights())
    xv = rand(B, 5, 3)
    xv[1, 3:] = 0.0  # masked steps
    if time_major:
        xv = np.ascontiguousarray(xv.transpose(1, 0, 2))  # (T, B, F)
    y1, c1 = seq.forward(xv)
    y2, c2 = graph.forward(xv)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(seq.output_mask(c1), graph.output_mask(c2))  # (T, B) when time-major
    dy = rand(*y1.shape, seed=3)
    seq.zero_grad()
    graph.zero_grad()
    np.testing.assert_array_equal(seq.backward(dy, c1), graph.backward(dy, c2))
    for (p1, l1, k1), (p2, l2, k2) in zip(seq.parameters(), graph.parameters()):
        assert p1.split("/")[-1] == p2.split("/")[-1]
        np.testing.assert_array_equal(l1.grads[k1], l2.grads[k2])
