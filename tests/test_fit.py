"""fit / evaluate / predict: every mode learns a tiny batch, data checks, NaN/inf stops with a
named weight, Ctrl-C keeps the last epoch, checkpoints resume, truncated BPTT against its
own definition, progress output."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shapeviz.core.dense import Dense
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.gradcheck import numerical_grad, rel_error
from shapeviz.core.losses import BinaryCrossentropy, MeanSquaredError, SoftmaxCrossEntropy
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.optimizers import SGD
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import ConfigError, InputError, NonFiniteError, ShapeError
from shapeviz.train.data import prepare
from shapeviz.train.fit import History, train_step
from shapeviz.train.progress import Progress
from shapeviz.train.tbptt import tbptt_step

rng = np.random.default_rng(0)
X = rng.normal(size=(8, 5, 3))
IDS = rng.integers(0, 3, size=8)
SEQ_IDS = rng.integers(0, 3, size=(8, 5))
MASK = rng.random((8, 5)) > 0.3
MASK[:, 0] = True


def cell(kind):
    """SimpleRNN always; LSTM and GRU when their modules are there (another engineer's work)."""
    if kind == "simple_rnn":
        return SimpleRNN
    module = pytest.importorskip(f"shapeviz.core.{kind}")
    return getattr(module, kind.upper())


# -- every mode learns a tiny batch ------------------------------------------------------------
def many_to_one(kind):
    model = Sequential([cell(kind)(16), Dense(3)], seed=0)
    return model, SoftmaxCrossEntropy(), X, IDS, {}


def synced(kind):
    model = Sequential([cell(kind)(16, return_sequences=True), Dense(3)], seed=0)
    return model, SoftmaxCrossEntropy(), X, SEQ_IDS, {"mask": MASK}


def synced_bce(kind):
    model = Sequential([cell(kind)(16, return_sequences=True), Dense(2)], seed=0)
    return model, BinaryCrossentropy(from_logits=True), X, rng.integers(0, 2, size=(8, 5, 2)), {}


def one_to_one(kind):
    model = Sequential([Dense(16, activation="tanh"), Dense(1)], seed=0)
    return model, "mse", rng.normal(size=(8, 4)), rng.normal(size=8), {}


def one_to_many(kind):
    model = OneToMany([cell(kind)(16)], Dense(3, activation="tanh"), steps=4, feedback="outputs", seed=0)
    return model, "mse", rng.normal(size=(8, 3)), np.tanh(rng.normal(size=(8, 4, 3))), {}


def encoder_decoder(kind):
    y = 0.5 * rng.normal(size=(8, 4, 2))
    model = EncoderDecoder([cell(kind)(16)], [cell(kind)(16)], Dense(2), seed=0)
    return model, "mse", (X, EncoderDecoder.teacher_inputs(y)), y, {}


LEARN = [(many_to_one, "simple_rnn", 150, 0.01), (synced, "simple_rnn", 200, 0.02),
         (synced_bce, "simple_rnn", 200, 0.02), (one_to_one, "simple_rnn", 300, 1e-4),
         (one_to_many, "simple_rnn", 300, 0.01), (encoder_decoder, "simple_rnn", 300, 1e-4),
         (many_to_one, "lstm", 150, 0.01), (synced, "lstm", 200, 0.02), (encoder_decoder, "lstm", 300, 1e-3),
         (many_to_one, "gru", 150, 0.01), (synced, "gru", 200, 0.02), (encoder_decoder, "gru", 300, 1e-3)]


@pytest.mark.parametrize("build, kind, epochs, target", LEARN,
                         ids=[f"{b.__name__}-{k}" for b, k, _, _ in LEARN])
def test_each_mode_overfits_a_tiny_batch(build, kind, epochs, target):
    model, loss, x, y, kw = build(kind)
    model.compile(loss, "adam", learning_rate=0.02)
    history = model.fit(x, y, batch_size=8, epochs=epochs, seed=0, verbose=0, **kw)
    losses = history.history["loss"]
    assert len(losses) == epochs and losses[-1] < target < losses[0]
    final = model.evaluate(x, y, **kw)
    assert final["loss"] < target
    if model.loss.metric_name:
        assert final["accuracy"] == 1.0 and history.history["accuracy"][-1] == 1.0


# -- one step ---------------------------------------------------------------------------------------
def test_train_step_returns_the_loss_before_the_update_and_zeroes_the_gradients():
    model = Sequential([SimpleRNN(4), Dense(3)], dtype="float64", seed=0)
    model.compile(SoftmaxCrossEntropy(), SGD(0.1))
    expected = model.loss.forward(model(X), IDS)[0]
    before = model.get_weights()
    loss = train_step(model, X, IDS, None, None)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert all(not layer.grads[key].any() for _, layer, key in model.parameters())
    assert model.loss.forward(model(X), IDS)[0] < expected


def test_seeded_fit_is_reproducible_and_the_seed_drives_dropout():
    def run(seed):
        model = Sequential([SimpleRNN(8, dropout=0.3, recurrent_dropout=0.3), Dense(3)], dtype="float64", seed=0)
        model.compile(SoftmaxCrossEntropy(), "adam")
        return model.fit(X, IDS, batch_size=3, epochs=3, seed=seed, verbose=0).history["loss"]
    assert run(1) == run(1)
    assert run(1) != run(2)


def test_evaluate_is_an_exact_mean_over_unmasked_steps_whatever_the_batch_size():
    model = Sequential([SimpleRNN(4, return_sequences=True), Dense(3)], dtype="float64", seed=0)
    model.compile(SoftmaxCrossEntropy(), "adam")
    whole = model.loss.forward(model(X, mask=MASK), SEQ_IDS, MASK)[0]
    for batch_size in (1, 3, 8):
        result = model.evaluate(X, SEQ_IDS, mask=MASK, batch_size=batch_size)
        assert result["loss"] == pytest.approx(whole, rel=1e-12)
    hits = (np.argmax(model(X, mask=MASK), -1) == SEQ_IDS)[MASK].mean()
    assert result["accuracy"] == pytest.approx(hits)


def test_predict_batches_and_encoder_decoder_generates_with_steps():
    model = Sequential([SimpleRNN(4), Dense(3)], dtype="float64", seed=0)
    np.testing.assert_allclose(model.predict(X, batch_size=3), model(X), rtol=1e-12)
    with pytest.raises(ConfigError, match="steps= applies to an EncoderDecoder"):
        model.predict(X, steps=3)
    ed = EncoderDecoder([SimpleRNN(4)], [SimpleRNN(4)], Dense(2), dtype="float64", seed=0)
    ed.build(((None, 5, 3), (None, 4, 2)))
    out = ed.predict(X, steps=6, batch_size=3)
    assert out.shape == (8, 6, 2)
    np.testing.assert_allclose(out, ed.generate(X, 6)[0], rtol=1e-12)
    with pytest.raises(ConfigError, match="pass steps=T_out"):
        ed.predict(X)
    teacher = ed.predict((X, np.zeros((8, 4, 2))))
    assert teacher.shape == (8, 4, 2)


# -- data checks ------------------------------------------------------------------------------------
def compiled(dtype="float32"):
    model = Sequential([SimpleRNN(4), Dense(3)], dtype=dtype, seed=0)
    return model.compile(SoftmaxCrossEntropy(), "adam")


def test_data_errors_name_the_array_and_its_shape():
    model = compiled()
    with pytest.raises(InputError, match=r"x is empty: shape \(0, 5, 3\) has no samples"):
        model.fit(np.zeros((0, 5, 3)), np.zeros(0, int))
    bad = X.copy()
    bad[2, 3, 1] = np.nan
    with pytest.raises(InputError, match=r"x \(shape \(8, 5, 3\)\) contains 1 NaN/inf values, the first nan at "
                                         r"index \(2, 3, 1\)"):
        model.fit(bad, IDS)
    y = np.zeros((8, 2))
    y[5, 1] = -np.inf
    with pytest.raises(InputError, match=r"y \(shape \(8, 2\)\) contains 1 NaN/inf values, the first -inf at "
                                         r"index \(5, 1\)"):
        Sequential([SimpleRNN(4), Dense(2)]).compile("mse").fit(X, y)
    with pytest.raises(InputError, match=r"x has 8 samples \(shape \(8, 5, 3\)\) but y has 6 \(shape \(6,\)\)"):
        model.fit(X, IDS[:6])
    with pytest.raises(InputError, match=r"x has 8 samples .* but mask has 7 \(shape \(7, 5\)\)"):
        model.fit(X, IDS, mask=MASK[:7])
    with pytest.raises(InputError, match=r"mask must be \(N, T\) with T = 5 steps of x \(shape \(8, 5, 3\)\), "
                                         r"got shape \(8, 4\)"):
        model.fit(X, IDS, mask=MASK[:, :4])
    with pytest.raises(InputError, match=r"validation x has 8 samples .* but validation y has 3"):
        model.fit(X, IDS, validation_data=(X, IDS[:3]))
    ed = EncoderDecoder([SimpleRNN(4)], [SimpleRNN(4)], Dense(2)).compile("mse")
    with pytest.raises(InputError, match=r"x\[0\] has 8 samples .* but x\[1\] has 2 \(shape \(2, 4, 2\)\)"):
        ed.fit((X, np.zeros((2, 4, 2))), np.zeros((8, 4, 2)))
    with pytest.raises(InputError, match=r"x must hold numbers, got dtype <U1"):
        model.fit(np.array([["a"]]), IDS)
    # the loss's own shape check names both shapes, reported as the tracer reports it (with its hint)
    with pytest.raises(ShapeError, match=r"labels of shape \(8, 4\) do not fit predictions of shape \(8, 3\)"
                                         r"(.|\n)*hint: the head '\w+' has units=3"):
        model.fit(X, np.zeros((8, 4)))


def test_dtypes_are_cast_once_at_the_entry():
    model = compiled("float32")
    data = prepare(model, X, IDS, MASK.astype(int))
    assert data.xs[0].dtype == np.float32 and data.y.dtype == np.int64 and data.mask.dtype == bool
    assert prepare(model, X, rng.normal(size=(8, 3))).y.dtype == np.float32
    embedding = pytest.importorskip("shapeviz.core.embedding")
    lm = Sequential([embedding.Embedding(10, 4, mask_zero=True), SimpleRNN(4, return_sequences=True), Dense(10)],
                    seed=0)
    lm.compile(SoftmaxCrossEntropy(), "adam", learning_rate=0.05)
    ids = rng.integers(1, 10, size=(6, 5))
    ids[:, 3:] = 0  # padding: the loss skips it through the output mask
    data = prepare(lm, ids.astype(float), ids)
    assert data.xs[0].dtype == np.int64
    history = lm.fit(ids.astype(float), ids, batch_size=6, epochs=60, seed=0, verbose=0)
    assert history.history["loss"][-1] < 0.1 and history.history["accuracy"][-1] == 1.0
    with pytest.raises(InputError, match="must be integer token ids"):
        lm.fit(ids + 0.5, ids)


def test_option_errors():
    with pytest.raises(ConfigError, match=r"is not compiled: call model.compile\(loss, optimizer\) before fit\(\)"):
        Sequential([Dense(2)]).fit(np.zeros((2, 3)), np.zeros((2, 2)))
    model = compiled()
    with pytest.raises(ConfigError, match="`verbose`, expected None, 0, 1 or 2, got 3"):
        model.fit(X, IDS, verbose=3)
    with pytest.raises(ConfigError, match="`batch_size`, expected a positive integer, got 0"):
        model.fit(X, IDS, batch_size=0)
    with pytest.raises(ConfigError, match="the folder of checkpoint=.* does not exist"):
        model.fit(X, IDS, checkpoint="/nonexistent-folder/ckpt.npz")
    with pytest.raises(ConfigError, match=r"validation_data must be \(x, y\) or \(x, y, mask\)"):
        model.fit(X, IDS, validation_data=X)


# -- NaN / inf ------------------------------------------------------------------------------------------
def test_inf_weight_stops_training_naming_epoch_step_layer_and_weight():
    model = Sequential([SimpleRNN(4), Dense(3)], seed=0)
    model.compile(SoftmaxCrossEntropy(), SGD(0.1))
    model.build((None, 5, 3))
    head = model.layers[1]
    head.params["kernel"][1, 2] = np.inf
    before = model.get_weights()
    with pytest.raises(NonFiniteError) as err:
        model.fit(X, IDS, batch_size=4, epochs=3, verbose=0)
    msg = str(err.value)
    assert "the loss is nan at epoch 1/3, step 1/2" in msg
    assert f"first non-finite gradient: layer '{model.layers[0].name}' weight 'kernel' (shape (3, 4))" in msg
    assert f"non-finite weight: layer '{head.name}' weight 'kernel' (shape (4, 3)): 0 NaN and 1 inf" in msg
    for a, b in zip(before, model.get_weights()):  # the step's update was not applied
        np.testing.assert_array_equal(a, b)


class NaNAtStep(MeanSquaredError):
    """MSE whose gradient turns NaN at one training step."""

    def __init__(self, at):
        self.calls, self.at = 0, at

    def backward(self, cache):
        self.calls += 1
        d = super().backward(cache)
        if self.calls == self.at:
            d[0, 0] = np.nan
        return d


def test_nan_gradient_stops_at_its_step():
    model = Sequential([Dense(4, activation="tanh"), Dense(2)], seed=0)
    model.compile(NaNAtStep(at=5), "sgd")
    with pytest.raises(NonFiniteError, match=rf"a gradient is not finite at epoch 3/4, step 1/2; training stopped.*\n"
                                             rf".*first non-finite gradient: layer '{model.layers[0].name}' weight "
                                             r"'kernel' \(shape \(3, 4\)\)"):
        model.fit(rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), batch_size=2, epochs=4, shuffle=False, verbose=0)


# -- Ctrl-C, checkpoints, resume ------------------------------------------------------------------------
class Interrupt:
    """Records the weights at each epoch end; raises KeyboardInterrupt at (epoch, hook)."""

    def __init__(self, epoch, hook):
        self.epoch, self.hook, self.weights = epoch, hook, {}
        self.current = None

    def on_epoch_begin(self, epoch):
        self.current = epoch

    def on_batch_end(self, step, logs):
        if self.hook == "batch" and self.current == self.epoch and step == 1:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs):
        if self.hook == "epoch" and epoch == self.epoch:
            raise KeyboardInterrupt
        self.weights[epoch] = self.model.get_weights()


@pytest.mark.parametrize("hook", ["batch", "epoch"])
def test_ctrl_c_keeps_the_last_completed_epoch(tmp_path, hook):
    model = compiled("float64")
    cb = Interrupt(epoch=2, hook=hook)
    cb.model = model
    path = tmp_path / "ckpt.npz"
    history = model.fit(X, IDS, batch_size=3, epochs=5, seed=0, verbose=0, checkpoint=path, callbacks=[cb])
    assert history.interrupted and history.epoch == [0, 1] and len(history.history["loss"]) == 2
    for a, b in zip(cb.weights[1], model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 2 * 3  # the optimizer state was rolled back too
    fresh = compiled("float64")
    fresh.build((None, 5, 3))
    fresh.load_weights(path)
    for a, b in zip(cb.weights[1], fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "interrupted=True" in repr(history)


def test_resume_continues_the_epoch_count_and_matches_an_uninterrupted_run(tmp_path):
    path = tmp_path / "ckpt.npz"
    kw = dict(batch_size=3, shuffle=False, verbose=0)
    straight = compiled("float64")
    full = straight.fit(X, IDS, epochs=4, **kw)
    first = compiled("float64")
    first.fit(X, IDS, epochs=2, checkpoint=path, **kw)
    second = compiled("float64")  # a new model: other auto names, weights and Adam state come from the file
    history = second.fit(X, IDS, epochs=4, checkpoint=path, resume=True, **kw)
    assert history.epoch == [0, 1, 2, 3]
    np.testing.assert_allclose(history.history["loss"], full.history["loss"], rtol=1e-12)
    for a, b in zip(straight.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    third = compiled("float64")
    done = third.fit(X, IDS, epochs=4, checkpoint=path, resume=True, **kw)  # nothing left to do
    assert done.epoch == [0, 1, 2, 3]
    for a, b in zip(straight.get_weights(), third.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = compiled("float64").fit(X, IDS, epochs=1, checkpoint=tmp_path / "new.npz", resume=True, **kw)
    assert fresh.epoch == [0]  # no file yet: start from scratch
    with pytest.raises(ConfigError, match="resume=True needs checkpoint=path"):
        compiled().fit(X, IDS, resume=True)


# -- truncated BPTT -----------------------------------------------------------------------------------
class RecordingSGD(SGD):
    """SGD that keeps a copy of the gradients of every step."""

    def __init__(self, lr):
        super().__init__(lr)
        self.seen = []

    def step(self, model):
        self.seen.append([layer.grads[key].copy() for _, layer, key in model.parameters()])
        super().step(model)


def rnn_by_hand(x, kernel, recurrent, bias, h):
    """SimpleRNN's final state, written out: h = tanh(x_t K + h U + b)."""
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
    return h


def reference_grads(model, x_window, y_window, h0, loss):
    """Central differences of the window's loss, with the carried state h0 a constant."""
    rnn = model.layers[0].name

    def f():
        out = model.forward(x_window, initial_states={rnn: [h0]})[0]
        return loss.forward(out, y_window)[0]
    return [numerical_grad(f, layer.params[key], 1e-6) for _, layer, key in model.parameters()]


def tbptt_model(return_sequences, lr=0.5):
    model = Sequential([SimpleRNN(4, return_sequences=return_sequences), Dense(3)], dtype="float64", seed=3)
    model.compile(SoftmaxCrossEntropy(), RecordingSGD(lr))
    model.build((None, None, 3))
    return model


def test_tbptt_window_gradients_carry_states_as_constants():
    x = rng.normal(size=(4, 7, 3))
    y = rng.integers(0, 3, size=(4, 7))
    model = tbptt_model(return_sequences=True)
    twin = tbptt_model(return_sequences=True)
    twin.set_weights(model.get_weights())
    tbptt_step(model, x, y, None, None, k=4)  # windows [0, 4) and [4, 7)
    seen = model.optimizer.seen
    assert len(seen) == 2  # one update per window
    # window 1 from zero states, with the initial weights
    k0, u0, b0 = (twin.layers[0].params[k].copy() for k in ("kernel", "recurrent_kernel", "bias"))
    h_carried = rnn_by_hand(x[:, :4], k0, u0, b0, np.zeros((4, 4)))
    for got, want in zip(seen[0], reference_grads(twin, x[:, :4], y[:, :4], np.zeros((4, 4)), twin.loss)):
        assert rel_error(got, want) < 1e-6
    # window 2 from the carried state (computed with the weights *before* window 1's update)
    for (_, layer, key), g in zip(twin.parameters(), seen[0]):
        layer.params[key] -= 0.5 * g
    expected = reference_grads(twin, x[:, 4:], y[:, 4:], h_carried, twin.loss)
    for got, want in zip(seen[1], expected):
        assert rel_error(got, want) < 1e-6
    # and the carried state matters: from zeros the gradient would differ
    from_zero = reference_grads(twin, x[:, 4:], y[:, 4:], np.zeros((4, 4)), twin.loss)
    assert rel_error(seen[1][1], from_zero[1]) > 1e-3


def test_tbptt_many_to_one_updates_once_from_the_last_window():
    x = rng.normal(size=(4, 7, 3))
    y = rng.integers(0, 3, size=4)
    model = tbptt_model(return_sequences=False)
    twin = tbptt_model(return_sequences=False)
    twin.set_weights(model.get_weights())
    tbptt_step(model, x, y, None, None, k=3)  # windows [0, 3), [3, 6), [6, 7)
    assert len(model.optimizer.seen) == 1
    k0, u0, b0 = (twin.layers[0].params[k] for k in ("kernel", "recurrent_kernel", "bias"))
    h_carried = rnn_by_hand(x[:, :6], k0, u0, b0, np.zeros((4, 4)))
    for got, want in zip(model.optimizer.seen[0], reference_grads(twin, x[:, 6:], y, h_carried, twin.loss)):
        assert rel_error(got, want) < 1e-6


@pytest.mark.parametrize("k", [7, 50])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_tbptt_with_k_at_least_T_is_full_bptt(k, return_sequences):
    x = rng.normal(size=(4, 7, 3))
    mask = rng.random((4, 7)) > 0.3
    y = rng.integers(0, 3, size=(4, 7) if return_sequences else 4)
    a, b = tbptt_model(return_sequences), tbptt_model(return_sequences)
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, batch_size=2, epochs=2, seed=0, mask=mask, tbptt=k, verbose=0)
    hb = b.fit(x, y, batch_size=2, epochs=2, seed=0, mask=mask, verbose=0)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_tbptt_fit_learns_and_refuses_models_it_cannot_window():
    model = Sequential([SimpleRNN(16, return_sequences=True), Dense(3)], seed=0)
    model.compile(SoftmaxCrossEntropy(), "adam", learning_rate=0.02)
    x = rng.normal(size=(8, 12, 3))
    y = np.roll(np.argmax(x, -1), 1, axis=1)  # the argmax of the previous step: needs the carried state
    history = model.fit(x, y, batch_size=8, epochs=150, tbptt=4, seed=0, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    with pytest.raises(ConfigError, match=r"tbptt.*needs?|Sequential model; OneToMany"):
        OneToMany([SimpleRNN(4)], Dense(2), steps=3).compile("mse").fit(np.zeros((2, 3)), np.zeros((2, 3, 2)), tbptt=2)
    with pytest.raises(ConfigError, match="go_backwards=True"):
        Sequential([SimpleRNN(4, go_backwards=True), Dense(2)]).compile("mse").fit(X, np.zeros((8, 2)), tbptt=2)
    with pytest.raises(ConfigError, match="no recurrent layer"):
        Sequential([Dense(2)]).compile("mse").fit(np.zeros((2, 3)), np.zeros((2, 2)), tbptt=2)
    with pytest.raises(ConfigError, match="`tbptt`, expected a positive integer, got 0"):
        model.fit(x, y, tbptt=0)
    bidirectional = pytest.importorskip("shapeviz.core.bidirectional")
    bi = Sequential([bidirectional.Bidirectional(SimpleRNN(4)), Dense(2)]).compile("mse")
    with pytest.raises(ConfigError, match="reads the sequence in both directions"):
        bi.fit(X, np.zeros((8, 2)), tbptt=2)


# -- progress -------------------------------------------------------------------------------------------
def test_progress_lines_without_a_terminal(capsys):
    model = compiled()
    model.fit(X, IDS, epochs=2, verbose=None)
    assert capsys.readouterr().out == ""  # auto: silent when stdout is not a terminal
    model.fit(X, IDS, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    history = model.fit(X, IDS, epochs=2, verbose=1, validation_data=(X, IDS))
    lines = capsys.readouterr().out.splitlines()
    h = history.history
    assert lines == [
        f"Epoch {e + 1}/2 - loss: {h['loss'][e]:.4f} - accuracy: {h['accuracy'][e]:.4f} - "
        f"val_loss: {h['val_loss'][e]:.4f} - val_accuracy: {h['val_accuracy'][e]:.4f}" for e in range(2)
    ]


def test_progress_bar_on_a_terminal():
    from rich.console import Console
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with Progress(epochs=2, steps=3, verbose=None, console=console) as bar:
        for epoch in range(2):
            bar.epoch_start(epoch)
            for step in range(3):
                bar.batch_end(step + 1, {"loss": 0.5})
            bar.epoch_end(epoch, {"loss": 0.25})
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "3/3" in text and "loss: 0.2500" in text


def test_only_progress_imports_rich():
    root = Path(__file__).resolve().parent.parent / "shapeviz"
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "import rich" in p.read_text() or "from rich" in p.read_text())
    assert all(not u.startswith("core") for u in users)
    assert [u for u in users if u.startswith("train")] == ["train/progress.py"]
    code = ("import sys, numpy as np\n"
            "from shapeviz.core.sequential import Sequential\nfrom shapeviz.core.dense import Dense\n"
            "import shapeviz.core.losses, shapeviz.core.optimizers, shapeviz.train.fit\n"
            "m = Sequential([Dense(2)]).compile('mse')\n"
            "m.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)\n"
            "assert 'rich' not in sys.modules, 'rich was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_history_is_keras_shaped():
    model = compiled()
    history = model.fit(X, IDS, epochs=2, batch_size=3, verbose=0)
    assert isinstance(history, History)
    assert set(history.history) == {"loss", "accuracy"} and history.epoch == [0, 1]
    assert history.params == {"epochs": 2, "steps": 3, "batch_size": 3} and not history.interrupted
