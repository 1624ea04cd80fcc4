"""Models: gradient checks through whole stacks, the five modes, structure errors."""

import numpy as np
import pytest

from shapeviz.core.dense import Dense
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.gradcheck import numerical_grad, rel_error
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import CheckpointError, ConfigError, InputError

TOL = 1e-6


def model_grad_errors(model, inputs, run, seed=0):
    """Central-difference check of every input array and parameter of ``model``.

    ``run(inputs)`` returns ``(y, cache)``; the scalar is ``sum(y * w)`` for a fixed random ``w``.
    Returns ``{name: rel_error}``."""
    rng = np.random.default_rng(seed)
    y, _ = run(inputs)
    w = rng.normal(size=y.shape)

    def f():
        return float(np.sum(run(inputs)[0] * w))

    y, cache = run(inputs)
    model.zero_grad()
    dx = model.backward(w, cache)
    arrays = inputs if isinstance(inputs, tuple) else (inputs,)
    dxs = dx if isinstance(dx, tuple) else (dx,)
    errors = {f"input{i}": rel_error(d, numerical_grad(f, a, 1e-5)) for i, (a, d) in enumerate(zip(arrays, dxs))}
    for path, layer, key in model.parameters():
        errors[path] = rel_error(layer.grads[key], numerical_grad(f, layer.params[key], 1e-5))
    return errors


def assert_grads(errors):
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"gradient check failed: {bad}"


def test_sequential_stack_many_to_one_gradients():
    rng = np.random.default_rng(1)
    model = Sequential([SimpleRNN(4, return_sequences=True), SimpleRNN(3), Dense(2)], dtype="float64", seed=0)
    x = rng.normal(size=(3, 5, 2))
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    assert_grads(model_grad_errors(model, x, lambda x: model.forward(x, mask=mask)))
    assert model.mode == "many-to-one"


def test_sequential_synced_gradients_and_output_mask():
    rng = np.random.default_rng(2)
    model = Sequential([SimpleRNN(4, return_sequences=True), Dense(3, activation="softmax")], dtype="float64")
    x = rng.normal(size=(2, 4, 3))
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    assert_grads(model_grad_errors(model, x, lambda x: model.forward(x, mask=mask)))
    _, cache = model.forward(x, mask=mask)
    np.testing.assert_array_equal(model.output_mask(cache), mask)
    assert model.mode == "synced many-to-many"


def test_sequential_one_to_one():
    model = Sequential([Dense(4, activation="relu"), Dense(2)], dtype="float64")
    x = np.random.default_rng(3).normal(size=(5, 3))
    assert_grads(model_grad_errors(model, x, lambda x: model.forward(x)))
    assert model.mode == "one-to-one"
    assert model(x).shape == (5, 2)


@pytest.mark.parametrize("feedback", ["zeros", "outputs"])
def test_one_to_many_gradients(feedback):
    model = OneToMany([SimpleRNN(4), SimpleRNN(3)], Dense(3, activation="tanh"), steps=4, feedback=feedback,
                      dtype="float64", seed=1)
    x = np.random.default_rng(4).normal(size=(2, 3))
    assert_grads(model_grad_errors(model, x, lambda x: model.forward(x)))
    y, _ = model.forward(x)
    assert y.shape == (2, 4, 3)
    assert model.mode == "one-to-many"


def test_one_to_many_inputs_after_step_zero():
    """With zero inputs, step t>0 sees only its state; with feedback it sees the previous output."""
    rnn, head = SimpleRNN(3), Dense(3)
    model = OneToMany([rnn], head, steps=3, feedback="outputs", dtype="float64", seed=2)
    x = np.random.default_rng(5).normal(size=(2, 3))
    y = model(x)
    # replay by hand with the layer's own forward and explicit initial states
    h = None
    inp = x
    for t in range(3):
        out, _ = rnn.forward(inp[:, None], initial_state=None if h is None else [h])
        h = out
        yt = head(h)
        np.testing.assert_allclose(y[:, t], yt, rtol=1e-12)
        inp = yt


def test_one_to_many_feedback_needs_matching_features():
    model = OneToMany([SimpleRNN(3)], Dense(5), steps=3, feedback="outputs")
    with pytest.raises(ConfigError, match=r"5 output features to equal the 2 input features"):
        model(np.zeros((1, 2), np.float32))


def test_encoder_decoder_teacher_forcing_gradients():
    rng = np.random.default_rng(6)
    model = EncoderDecoder([SimpleRNN(4), SimpleRNN(3)], [SimpleRNN(4), SimpleRNN(3)], Dense(2),
                           dtype="float64", seed=3)
    x = (rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4, 2)))  # T_in = 5, T_out = 4
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    assert_grads(model_grad_errors(model, x, lambda x: model.forward(x, mask=mask)))
    assert model(x, mask=mask).shape == (2, 4, 2)
    assert model.mode == "many-to-many"


def test_encoder_decoder_generate_gradients():
    rng = np.random.default_rng(7)
    model = EncoderDecoder([SimpleRNN(4)], [SimpleRNN(4)], Dense(2), dtype="float64", seed=4)
    model.build(((None, None, 3), (None, None, 2)))
    x = rng.normal(size=(2, 5, 3))
    assert_grads(model_grad_errors(model, x, lambda x: model.generate(x, 6)))
    assert model.generate(x, 6)[0].shape == (2, 6, 2)


def test_encoder_decoder_generate_equals_teacher_forcing_on_its_own_outputs():
    rng = np.random.default_rng(8)
    model = EncoderDecoder([SimpleRNN(4)], [SimpleRNN(4)], Dense(2), dtype="float64", seed=5)
    model.build(((None, None, 3), (None, None, 2)))
    x = rng.normal(size=(2, 5, 3))
    y_gen, _ = model.generate(x, 4)
    y_tf = model((x, EncoderDecoder.teacher_inputs(y_gen)))
    np.testing.assert_allclose(y_tf, y_gen, rtol=1e-12)


def test_encoder_decoder_state_mismatch_is_named():
    with pytest.raises(ConfigError, match=r"state sizes must match"):
        EncoderDecoder([SimpleRNN(4, name="enc")], [SimpleRNN(5, name="dec")], Dense(2))
    with pytest.raises(ConfigError, match=r"encoder has 2 layers and the decoder 1"):
        EncoderDecoder([SimpleRNN(4), SimpleRNN(4)], [SimpleRNN(4)], Dense(2))


def test_encoder_decoder_bad_inputs():
    model = EncoderDecoder([SimpleRNN(4)], [SimpleRNN(4)], Dense(2))
    with pytest.raises(InputError, match=r"takes \(source, decoder_inputs\)"):
        model(np.zeros((1, 3, 2), np.float32))
    with pytest.raises(InputError, match=r"source mask must be \(B, T_in\) = \(1, 3\)"):
        model((np.zeros((1, 3, 2), np.float32), np.zeros((1, 2, 2), np.float32)), mask=np.ones((1, 4), bool))


def test_sequential_structure_errors():
    with pytest.raises(ConfigError, match="at least one layer"):
        Sequential([])
    with pytest.raises(ConfigError, match="return_state=True"):
        Sequential([SimpleRNN(3, return_state=True)])
    with pytest.raises(ConfigError, match="two layers are named 'a'"):
        Sequential([Dense(2, name="a"), Dense(2, name="a")])
    with pytest.raises(ConfigError, match="item 0 is str"):
        Sequential(["dense"])
    with pytest.raises(ConfigError, match="dtype must be float32 or float64"):
        Sequential([Dense(2)], dtype="int8")


def test_build_runs_the_real_code_and_weights_round_trip():
    model = Sequential([SimpleRNN(4), Dense(2)], seed=0).build((None, None, 3))
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4, 4), (4,), (4, 2), (2,)]
    assert model.count_params() == 3 * 4 + 4 * 4 + 4 + 4 * 2 + 2
    other = Sequential([SimpleRNN(4), Dense(2)], seed=1).build((None, None, 3))
    other.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(model(x), other(x))
    with pytest.raises(CheckpointError, match="has 5 weight arrays, got 4"):
        other.set_weights(model.get_weights()[:4])


def test_same_seed_same_weights():
    a = Sequential([SimpleRNN(4), Dense(2)], seed=7).build((None, None, 3))
    b = Sequential([SimpleRNN(4), Dense(2)], seed=7).build((None, None, 3))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
