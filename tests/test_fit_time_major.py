"""fit, evaluate and predict on time-major models: each input batches along its own sample axis
(axis 1 of (T, N, F)), targets along axis 0, or axis 1 of a time-major per-step output; masks
stay (N, T). A time-major model trained on (T, N, F) data learns what its batch-first twin learns
on the same data as (N, T, F), shuffled with the same seed."""

from pathlib import Path

import numpy as np
import pytest

from shapeviz import LSTM, Dense, Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import InputError

N, T, F, C = 7, 5, 2, 3  # N != T, so a swapped axis cannot pass
ROOT = Path(__file__).resolve().parent.parent


def _swap(a):
    return np.swapaxes(a, 0, 1)  # (N, T, ...) <-> (T, N, ...)


def twins(cell, per_step):
    def layers(tm):
        return [cell(4, time_major=tm, return_sequences=per_step, name="rnn"), Dense(C, name="head")]
    tm = Sequential(layers(True), dtype="float64", seed=0)
    bf = Sequential(layers(False), dtype="float64", seed=1)
    tm.build((T, N, F))
    bf.build((N, T, F))
    bf.set_weights(tm.get_weights())
    tm.compile("mse", "adam")
    bf.compile("mse", "adam")
    return tm, bf


def data(per_step, masked):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, F))  # (N, T, F)
    y = rng.normal(size=(N, T, C) if per_step else (N, C))
    mask = None
    if masked:
        mask = rng.random((N, T)) < 0.7  # (N, T)
        mask[:, 0] = True  # every sample keeps a step
    return x, y, mask


@pytest.mark.parametrize("masked", [False, True], ids=["no mask", "mask"])
@pytest.mark.parametrize("per_step", [False, True], ids=["many-to-one", "per step"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["in order", "shuffled"])
@pytest.mark.parametrize("cell", [SimpleRNN, LSTM])
def test_time_major_fit_equals_batch_first_fit_on_transposed_data(cell, shuffle, per_step, masked):
    x, y, mask = data(per_step, masked)
    tm, bf = twins(cell, per_step)
    y_tm = _swap(y) if per_step else y  # a per-step output is (T, N, C); a last-step one (N, C)
    h_tm = tm.fit(_swap(x), y_tm, mask=mask, batch_size=3, epochs=3, shuffle=shuffle, seed=5, verbose=0,
                  validation_data=(_swap(x), y_tm, mask))
    h_bf = bf.fit(x, y, mask=mask, batch_size=3, epochs=3, shuffle=shuffle, seed=5, verbose=0,
                  validation_data=(x, y, mask))
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_tm.history[key], h_bf.history[key], rtol=1e-12, err_msg=key)
    for a, b in zip(tm.get_weights(), bf.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
    assert not np.allclose(tm.get_weights()[0], twins(cell, per_step)[0].get_weights()[0])  # it did train
    e_tm = tm.evaluate(_swap(x), y_tm, mask=mask, batch_size=2)
    e_bf = bf.evaluate(x, y, mask=mask, batch_size=4)
    np.testing.assert_allclose(e_tm["loss"], e_bf["loss"], rtol=1e-12)
    p_tm = tm.predict(_swap(x), mask=mask, batch_size=3)
    p_bf = bf.predict(x, mask=mask, batch_size=3)
    assert p_tm.shape == ((T, N, C) if per_step else (N, C))
    np.testing.assert_allclose(_swap(p_tm) if per_step else p_tm, p_bf, rtol=1e-12)


def test_a_batch_first_mask_is_checked_against_the_time_major_steps():
    x, y, _ = data(False, False)
    tm, _ = twins(SimpleRNN, False)
    with pytest.raises(InputError, match=r"mask must be \(N, T\) with T = 5 steps of x \(shape \(5, 7, 2\)\), "
                                         r"got shape \(5, 7\); masks stay batch-first for time-major data"):
        tm.fit(_swap(x), y, mask=np.ones((T, N), bool), verbose=0)


def test_per_step_targets_are_counted_along_the_output_batch_axis():
    x, y, _ = data(True, False)
    tm, _ = twins(SimpleRNN, True)
    with pytest.raises(InputError, match=r"x has 7 samples \(shape \(5, 7, 2\)\) but y has 5 \(shape \(7, 5, 3\)\); "
                                         r"the sample axis is axis 1 of a time-major array"):
        tm.evaluate(_swap(x), y)  # y left batch-first


def test_cli_trains_the_time_major_torch_names_example(tmp_path):
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from shapeviz.cli import main
    rng = np.random.default_rng(0)
    letters = np.zeros((6, 10, 57), np.float32)  # (T, B, 57) one-hot letters, as the tutorial feeds them
    letters[np.arange(6)[:, None], np.arange(10)[None, :], rng.integers(0, 57, size=(6, 10))] = 1.0
    path = tmp_path / "d.npz"
    y = np.eye(18, dtype=np.float32)[rng.integers(0, 18, size=10)]  # (B, 18): one output per name, batch-first
    np.savez(path, line_tensor=letters, y=y)  # the input array named after the input
    result = CliRunner(env={"COLUMNS": "120"}).invoke(
        main, ["train", f"{ROOT / 'examples' / 'torch' / 'names.py'}:build", "--data", str(path), "--epochs", "1",
               "--batch-size", "4", "--no-color"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "trained epoch 1 of 1: loss: " in result.output


def graph_twins():
    from shapeviz import Input, Model

    def build(tm):
        a = Input("(T, B, 2)" if tm else "(B, T, 2)", name="a")
        seq, h = SimpleRNN(4, return_sequences=True, return_state=True, time_major=tm, name="enc")(a)
        tags = Dense(C, name="tags")(seq)  # per step: (T, B, C) time-major
        flag = Dense(1, name="flag")(h)  # per sequence: (B, 1) either way
        model = Model(inputs=[a], outputs=[tags, flag], dtype="float64", seed=0)
        model.compile(["mse", "mse"], "adam")
        return model
    tm, bf = build(True), build(False)
    tm.build((T, N, F))
    bf.build((N, T, F))
    bf.set_weights(tm.get_weights())
    return tm, bf


def test_a_time_major_graph_with_a_per_step_and_a_per_sequence_output_trains_as_its_batch_first_twin():
    x, y, mask = data(True, True)
    flag = np.random.default_rng(1).normal(size=(N, 1))
    tm, bf = graph_twins()
    h_tm = tm.fit({"a": _swap(x)}, {"tags": _swap(y), "flag": flag}, mask=mask, batch_size=3, epochs=2,
                  seed=2, verbose=0)
    h_bf = bf.fit({"a": x}, {"tags": y, "flag": flag}, mask=mask, batch_size=3, epochs=2, seed=2, verbose=0)
    for key in h_bf.history:
        np.testing.assert_allclose(h_tm.history[key], h_bf.history[key], rtol=1e-12, err_msg=key)
    for a, b in zip(tm.get_weights(), bf.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
    tags, flags = tm.predict({"a": _swap(x)}, mask=mask, batch_size=4)
    want_tags, want_flags = bf.predict({"a": x}, mask=mask, batch_size=4)
    assert tags.shape == (T, N, C) and flags.shape == (N, 1)
    np.testing.assert_allclose(_swap(tags), want_tags, rtol=1e-12)
    np.testing.assert_allclose(flags, want_flags, rtol=1e-12)


def test_truncated_bptt_still_refuses_time_major_data():
    from shapeviz.errors import ConfigError
    x, y, _ = data(True, False)
    tm, _ = twins(SimpleRNN, True)
    with pytest.raises(ConfigError, match=r"time_major; truncated BPTT cuts batch-first data"):
        tm.fit(_swap(x), _swap(y), tbptt=2, verbose=0)


def test_a_masking_first_time_major_model_trains_as_its_batch_first_twin():
    from shapeviz.core.masking import Masking
    x, y, mask = data(True, True)
    x = x * mask[..., None]  # (N, T, F): padded steps are zeros, which Masking finds

    def build(tm, seed):
        model = Sequential([Masking(), LSTM(4, time_major=tm, return_sequences=True), Dense(C)], dtype="float64",
                           seed=seed)
        model.build((T, N, F) if tm else (N, T, F))
        return model.compile("mse", "adam")
    tm, bf = build(True, 0), build(False, 1)
    bf.set_weights(tm.get_weights())
    h_tm = tm.fit(_swap(x), _swap(y), batch_size=2, epochs=2, seed=4, verbose=0)
    h_bf = bf.fit(x, y, batch_size=2, epochs=2, seed=4, verbose=0)
    np.testing.assert_allclose(h_tm.history["loss"], h_bf.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(_swap(tm.predict(_swap(x))), bf.predict(x), rtol=1e-12)
