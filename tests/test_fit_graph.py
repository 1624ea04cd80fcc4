"""Training graph models: several inputs and outputs, a loss per output with weights, per-output
masks and logs, truncated BPTT over a graph (and its refusals), checkpoints and the NaN stop."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import check_grads
from shapeviz import (GRU, LSTM, Add, Bidirectional, Concatenate, ConfigError, Dense, GlobalAveragePooling1D,
                      InputError, Input, Model, NonFiniteError, SimpleRNN)
from shapeviz.core.losses import BinaryCrossentropy, MeanSquaredError, SoftmaxCrossEntropy
from shapeviz.core.output_losses import OutputLosses
from shapeviz.train.step import loss_mask

B, T = 3, 5


def two_in_two_out(dtype: str = "float64", seed: int = 0) -> Model:
    """a (B, T, 3) (masked by the caller), b (B, T, 2); outputs: 'tags' per step (3 classes), 'flag' per sequence."""
    a = Input("(B, T, 3)", name="a")
    b = Input("(B, T, 2)", name="b")
    seq, h, c = LSTM(4, return_sequences=True, return_state=True, name="enc")(a)
    g = GRU(4, return_sequences=True, name="side")(b, initial_state=[h])
    tags = Dense(3, name="tags")(Concatenate()([seq, g]))
    flag = Dense(1, activation="sigmoid", name="flag")(Add()([h, GRU(4, name="last")(g)]))
    return Model(inputs=[a, b], outputs=[tags, flag], dtype=dtype, seed=seed)


def mask_of(n: int) -> dict:
    m = np.ones((n, T), dtype=bool)
    m[1, 3:] = False  # padded steps of 'a': left out of 'tags' (its mask) and of 'enc'
    return {"a": m, "b": None}


def data(n: int = B, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, T, 3))
    b = rng.standard_normal((n, T, 2))
    y = {"tags": rng.integers(0, 3, size=(n, T)), "flag": rng.integers(0, 2, size=(n, 1)).astype(float)}
    return {"a": a, "b": b}, y


def test_compile_makes_a_loss_per_output_with_weights_and_refuses_bad_ones():
    model = two_in_two_out()
    model.compile({"tags": SoftmaxCrossEntropy(), "flag": "binary_crossentropy"}, "adam",
                  loss_weights={"tags": 0.5, "flag": 2.0})
    assert isinstance(model.loss, OutputLosses) and model.loss.weights == [0.5, 2.0]
    model.compile(["mse", "mse"], "sgd")
    assert model.loss.names == ["tags", "flag"] and model.loss.weights == [1.0, 1.0]
    with pytest.raises(ConfigError, match=r"loss keys must be output names \['tags', 'flag'\], got unknown \['dec'\]"):
        model.compile({"dec": "mse"})
    with pytest.raises(ConfigError, match=r"loss_weights must have one entry per output"):
        model.compile("mse", loss_weights=[1.0])
    with pytest.raises(ConfigError, match=r"loss_weights\['flag'\] must be a number >= 0, got -1"):
        model.compile("mse", loss_weights={"flag": -1})
    x = Input("(B, T, 2)")
    single = Model(inputs=x, outputs=Dense(1)(LSTM(2)(x)))
    with pytest.raises(ConfigError, match="has one output: give one loss"):
        single.compile({"dense": "mse"})


def test_training_step_gradients_two_inputs_two_outputs_loss_weights_float64():
    """The gradient the trainer applies is the gradient of sum_i w_i * L_i, per-output masks included."""
    model = two_in_two_out(seed=1)  # (seed 0 has a recurrent-kernel gradient entry of 3e-8, below the differences' noise)
    model.compile({"tags": SoftmaxCrossEntropy(), "flag": BinaryCrossentropy()}, "sgd",
                  loss_weights={"tags": 0.5, "flag": 2.0})
    x, y = data()

    mask = mask_of(B)

    def total() -> float:
        pred, cache = model.forward(x, mask=mask)
        return model.loss.forward(pred, y, mask=loss_mask(model, cache))[0]

    pred, cache = model.forward(x, mask=mask)
    masks = loss_mask(model, cache)
    assert masks[0].shape == (B, T) and not masks[0][1, 3:].any() and masks[1] is None
    loss, lcache = model.loss.forward(pred, y, mask=masks)
    model.zero_grad()
    da, db = model.backward(model.loss.backward(lcache), cache)
    checks = [("a", x["a"], da), ("b", x["b"], db)]
    checks += [(p, layer.params[k], layer.grads[k]) for p, layer, k in model.parameters()]
    errors = check_grads(total, checks)
    assert max(errors.values()) < 1e-6
    # the weighted sum really is the sum of each output's own loss times its weight
    l_tags = SoftmaxCrossEntropy().forward(pred[0], y["tags"], mask=masks[0])[0]
    l_flag = BinaryCrossentropy().forward(pred[1], y["flag"])[0]
    assert loss == pytest.approx(0.5 * l_tags + 2.0 * l_flag, rel=1e-12)


def test_fit_evaluate_predict_with_dicts_and_lists_log_per_output():
    model = two_in_two_out("float32")
    model.compile({"tags": SoftmaxCrossEntropy(), "flag": "binary_crossentropy"}, "adam",
                  loss_weights=[1.0, 0.5], learning_rate=0.01)
    x, y = data(12)
    val = data(6, seed=1)
    history = model.fit(x, y, batch_size=4, epochs=2, seed=0, verbose=0, mask=mask_of(12),
                        validation_data=(*val, mask_of(6)))
    keys = set(history.history)
    assert {"loss", "tags_loss", "flag_loss", "tags_accuracy", "flag_accuracy", "val_loss", "val_tags_loss",
            "val_flag_loss", "val_tags_accuracy", "val_flag_accuracy"} <= keys
    m = mask_of(12)
    logs = model.evaluate([x["a"], x["b"]], [y["tags"], y["flag"]], batch_size=5, mask=[m["a"], None])
    again = model.evaluate(x, y, batch_size=12, mask=m)
    for key in ("loss", "tags_loss", "flag_loss", "tags_accuracy"):
        assert logs[key] == pytest.approx(again[key], rel=1e-5)  # exact means: the batch size does not matter
    # the epoch loss is the weighted sum of the per-output means (one batch: exactly)
    assert again["loss"] == pytest.approx(again["tags_loss"] + 0.5 * again["flag_loss"], rel=1e-6)
    assert logs["loss"] == pytest.approx(logs["tags_loss"] + 0.5 * logs["flag_loss"], rel=1e-6)
    out = model.predict(x, batch_size=5)
    assert isinstance(out, list) and out[0].shape == (12, T, 3) and out[1].shape == (12, 1)
    direct = model.forward([x["a"], x["b"]])[0]
    np.testing.assert_allclose(out[0], direct[0], rtol=1e-5, atol=1e-6)


def test_bad_multi_input_data_is_named():
    model = two_in_two_out("float32")
    model.compile("mse", "sgd")
    x, y = data(6)
    with pytest.raises(InputError, match=r"x keys must be the input names \['a', 'b'\].*missing: \['b'\]"):
        model.fit({"a": x["a"]}, y, verbose=0)
    with pytest.raises(InputError, match=r"takes 2 inputs \['a', 'b'\]: give x as a list"):
        model.fit(x["a"], y, verbose=0)
    with pytest.raises(InputError, match=r"y keys must be the output names \['tags', 'flag'\].*unknown: \['dec'\]"):
        model.fit(x, {"tags": y["tags"], "flag": y["flag"], "dec": y["flag"]}, verbose=0)
    with pytest.raises(InputError, match=r"x\['a'\] has 6 samples .* but x\['b'\] has 5"):
        model.fit({"a": x["a"], "b": x["b"][:5]}, y, verbose=0)
    with pytest.raises(InputError, match=r"validation x\['b'\] \(shape \(6, 5, 2\)\) contains 1 NaN"):
        bad = dict(x)
        bad["b"] = x["b"].copy()
        bad["b"][0, 0, 0] = np.nan
        model.fit(x, y, verbose=0, validation_data=(bad, y))


def test_an_output_without_a_loss_gets_no_gradient_and_no_log():
    model = two_in_two_out("float32")
    model.compile({"flag": "binary_crossentropy"}, "adam")
    x, y = data(6)
    history = model.fit(x, {"flag": y["flag"]}, batch_size=3, epochs=1, verbose=0)
    assert "flag_loss" in history.history and "tags_loss" not in history.history
    assert model.get_weights()  # trained without targets for 'tags'


def test_seq2seq_graph_learns_a_toy_task():
    """Keras's lstm_seq2seq shape: the encoder's states start the decoder; the decoder must output
    the class of the source's first step at every step (only the handed-over state carries it)."""
    rng = np.random.default_rng(0)
    n, t_in, t_out, k = 64, 6, 4, 3
    cls = rng.integers(0, k, size=n)
    source = rng.standard_normal((n, t_in, k)) * 0.3
    source[np.arange(n), 0, cls] += 2.0
    target = np.repeat(cls[:, None], t_out, axis=1)  # (N, T_out)
    dec_in = np.zeros((n, t_out, k))
    dec_in[:, 1:] = np.eye(k)[target[:, :-1]]  # teacher forcing: the previous target
    src = Input("(B, T_in, 3)", name="source")
    tgt = Input("(B, T_out, 3)", name="target")
    _, h, c = LSTM(16, return_state=True, name="enc")(src)
    dec = LSTM(16, return_sequences=True, name="dec")(tgt, initial_state=[h, c])
    model = Model(inputs=[src, tgt], outputs=Dense(k, name="out")(dec), seed=0)
    model.compile(SoftmaxCrossEntropy(), "adam", learning_rate=0.02)
    first = model.evaluate({"source": source, "target": dec_in}, target)["loss"]
    history = model.fit({"source": source, "target": dec_in}, target, batch_size=16, epochs=25, seed=0, verbose=0)
    assert history.history["loss"][-1] < 0.3 * first
    assert history.history["accuracy"][-1] > 0.9


# -- truncated BPTT -------------------------------------------------------------------------------
def windowable(seed: int = 0) -> Model:
    """Two inputs of one time axis, step-by-step layers between two recurrent layers and the outputs."""
    x1 = Input("(B, T, 3)", name="x1")
    x2 = Input("(B, T, 2)", name="x2")
    s1 = LSTM(4, return_sequences=True, name="l1")(x1)
    s2 = GRU(3, return_sequences=True, name="g2")(Concatenate()([x2, Dense(2, name="proj")(s1)]))
    per_step = Dense(2, name="y")(Concatenate()([s1, s2]))
    other = Dense(1, name="z")(s2)
    return Model(inputs=[x1, x2], outputs=[per_step, other], dtype="float64", seed=seed)


def test_graph_windows_with_carried_states_equal_one_pass():
    model = windowable()
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((B, 7, 3)), rng.standard_normal((B, 7, 2))
    full, _ = model.forward([x1, x2])
    states = None
    parts = []
    for s, e in ((0, 3), (3, 6), (6, 7)):
        out, cache = model.forward([x1[:, s:e], x2[:, s:e]], initial_states=states)
        parts.append(out)
        states = model.final_states(cache)
    assert set(states) == {"l1", "g2"}
    for i in range(2):
        np.testing.assert_allclose(np.concatenate([p[i] for p in parts], axis=1), full[i], rtol=1e-12, atol=1e-12)


def test_graph_tbptt_with_k_at_least_T_is_full_bptt_and_shorter_windows_train():
    rng = np.random.default_rng(1)
    x = {"x1": rng.standard_normal((6, 7, 3)), "x2": rng.standard_normal((6, 7, 2))}
    y = [rng.standard_normal((6, 7, 2)), rng.standard_normal((6, 7, 1))]
    a, b = windowable(), windowable()
    for m in (a, b):
        m.compile("mse", "adam", loss_weights=[1.0, 0.3], learning_rate=0.01)
    ha = a.fit(x, y, batch_size=3, epochs=2, seed=0, tbptt=7, verbose=0)
    hb = b.fit(x, y, batch_size=3, epochs=2, seed=0, verbose=0)
    assert ha.history.keys() == hb.history.keys()
    for key in ha.history:
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-10)
    c = windowable()
    c.compile("mse", "adam", learning_rate=0.01)
    hc = c.fit(x, y, batch_size=3, epochs=30, seed=0, tbptt=3, verbose=0)
    assert hc.history["loss"][-1] < 0.8 * hc.history["loss"][0]


def test_graph_tbptt_many_to_one_reads_the_last_window():
    def build() -> Model:
        x = Input("(B, T, 2)", name="x")
        return Model(inputs=x, outputs=Dense(1)(LSTM(4)(Dense(3)(x))), dtype="float64", seed=0)
    model, twin = build(), build()
    model.compile("mse", "sgd")
    twin.compile("mse", "sgd")
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((4, 6, 2)), rng.standard_normal((4, 1))
    ha = model.fit(xs, ys, batch_size=4, epochs=1, tbptt=6, verbose=0, shuffle=False)
    hb = twin.fit(xs, ys, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"], rel=1e-12)
    model.fit(xs, ys, batch_size=4, epochs=1, tbptt=2, verbose=0)  # three windows, one update


def _refused(model: Model, x: dict | np.ndarray, y: object, match: str) -> None:
    model.compile("mse", "sgd")
    with pytest.raises(ConfigError, match=match):
        model.fit(x, y, tbptt=2, verbose=0)


def test_graph_tbptt_refusals_name_the_node():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 6, 2))
    src, tgt = Input("(B, T, 2)", name="src"), Input("(B, T, 2)", name="tgt")
    _, h = GRU(3, return_state=True, name="enc")(src)
    handover = Model(inputs=[src, tgt], outputs=Dense(1)(GRU(3, return_sequences=True, name="dec")(tgt, initial_state=[h])))
    _refused(handover, [xs, xs], rng.standard_normal((4, 6, 1)),
             r"node 'dec' \(gru\) starts from a state handed over in the graph \('dec' initial_state 0 from 'enc' "
             r"output 1 \(h\)\)")
    x = Input("(B, T, 2)", name="x")
    shared = SimpleRNN(3, return_sequences=True, name="shared")
    twice = Model(inputs=x, outputs=Dense(1)(shared(shared(Dense(3)(x)))))
    _refused(twice, xs, rng.standard_normal((4, 6, 1)),
             r"layer 'shared' \(simple_rnn\) is called 2 times \('shared', 'shared@1'\)")
    pooled = Model(inputs=x, outputs=Dense(1)(GlobalAveragePooling1D(name="pool")(LSTM(3, return_sequences=True)(x))))
    _refused(pooled, xs, rng.standard_normal((4, 1)),
             r"node 'pool' \(global_average_pooling1d\) reads the whole sequence \('pool' input 0 from")
    bi = Model(inputs=x, outputs=Dense(1)(Bidirectional(GRU(2), name="bi")(x)))
    _refused(bi, xs, rng.standard_normal((4, 1)), r"node 'bi' \(bidirectional\) reads the sequence in both directions")
    seq = GRU(3, return_sequences=True, name="g")(x)
    mixed = Model(inputs=x, outputs=[Dense(1, name="per_step")(seq), Dense(1, name="per_seq")(GRU(2)(seq))])
    _refused(mixed, xs, [rng.standard_normal((4, 6, 1)), rng.standard_normal((4, 1))],
             r"output 'per_step' is per step but output 'per_seq' is per sequence")


# -- checkpoints and the NaN stop ------------------------------------------------------------------
def test_graph_checkpoint_round_trip_and_resume(tmp_path):
    path = tmp_path / "graph.npz"
    x, y = data(6)
    a = two_in_two_out("float32", seed=0)
    a.compile({"tags": SoftmaxCrossEntropy(), "flag": "binary_crossentropy"}, "adam", loss_weights=[1.0, 0.5])
    ha = a.fit(x, y, batch_size=3, epochs=2, seed=0, verbose=0, checkpoint=path)
    b = two_in_two_out("float32", seed=7)  # other weights, same architecture
    b.load_weights(path)
    for u, v in zip(a.predict(x), b.predict(x)):
        np.testing.assert_array_equal(u, v)
    c = two_in_two_out("float32", seed=3)
    c.compile({"tags": SoftmaxCrossEntropy(), "flag": "binary_crossentropy"}, "adam", loss_weights=[1.0, 0.5])
    hc = c.fit(x, y, batch_size=3, epochs=3, seed=0, verbose=0, checkpoint=path, resume=True)
    assert hc.epoch == [0, 1, 2] and hc.history["flag_loss"][:2] == ha.history["flag_loss"]
    full = two_in_two_out("float32", seed=0)
    full.compile({"tags": SoftmaxCrossEntropy(), "flag": "binary_crossentropy"}, "adam", loss_weights=[1.0, 0.5])
    hf = full.fit(x, y, batch_size=3, epochs=3, seed=0, verbose=0)
    assert len(hf.history["loss"]) == 3  # (the resumed run's third epoch shuffles with a fresh generator)


def test_nan_stop_names_the_graph_node():
    src, tgt = Input("(B, T, 2)", name="src"), Input("(B, T, 2)", name="tgt")
    _, h, c = LSTM(3, return_state=True, name="enc")(src)
    dec = LSTM(3, return_sequences=True, name="dec")(tgt, initial_state=[h, c])
    model = Model(inputs=[src, tgt], outputs=Dense(1, name="out")(dec), seed=0)
    model.compile(MeanSquaredError(), "sgd")
    dec_layer = model.layers[1]
    dec_layer.params["recurrent_kernel"][0, 0] = np.nan
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 5, 2)), rng.standard_normal((4, 5, 2))]
    with pytest.raises(NonFiniteError, match=r"(?s)the loss is nan at epoch 1/1, step 1/1.*first non-finite value: "
                                             r"output 0 \(y\) of node 'dec' \(lstm, call 0\), reading input 'tgt', "
                                             r"'enc' output 1 \(h\), 'enc' output 2 \(c\)"):
        model.fit(xs, rng.standard_normal((4, 5, 1)), batch_size=4, verbose=0)


def test_shape_errors_on_several_inputs_are_explained_per_input():
    src, tgt = Input("(B, T_in, 3)", name="source"), Input("(B, T_out, 2)", name="target")
    _, h, c = LSTM(4, return_state=True, name="enc")(src)
    dec = LSTM(4, return_sequences=True, name="dec")(tgt, initial_state=[h, c])
    model = Model(inputs=[src, tgt], outputs=Dense(2, name="out")(dec), seed=0)
    model.compile("mse", "sgd")
    rng = np.random.default_rng(0)
    x = {"source": rng.standard_normal((6, 5, 4)), "target": rng.standard_normal((6, 4, 2))}
    from shapeviz import ShapeError
    with pytest.raises(ShapeError) as info:
        model.fit(x, rng.standard_normal((6, 4, 2)), verbose=0)
    text = str(info.value)
    assert "'enc' (lstm) was built for 3 input features" in text and "through: 'enc' input 0 from input 'source'" in text
    assert "source has shape (6, 5, 4): read axis 0 as the samples (6), axis 1 as the time of source (5)" in text
    assert "target has shape (6, 4, 2): read axis 0 as the samples (6), axis 1 as the time of target (4)" in text
    clone = __import__("copy").deepcopy(model)  # a copy runs on its own graph (the explanation traces one)
    np.testing.assert_array_equal(clone.forward([x["source"][..., :3], x["target"]])[0],
                                  model.forward([x["source"][..., :3], x["target"]])[0])
