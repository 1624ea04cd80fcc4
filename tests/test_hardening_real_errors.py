"""Real arrays get the errors a symbolic trace gives: fit, evaluate, predict and `check --data` name
the user's whole arrays (not a batch slice or the first sample) and give the role-based hints; the
softmax losses refuse class ids where one-hot or probability rows belong; `check --data` refuses
what `train` refuses."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from shapeviz import LSTM, Dense, Sequential
from shapeviz.cli import main
from shapeviz.core.losses import SoftmaxCrossEntropy, get
from shapeviz.errors import InputError, ShapeError

rng = np.random.default_rng(0)


def model(features=3, seq=False, loss="mse", units=1, built=True):
    m = Sequential([LSTM(4, return_sequences=seq, name="lstm"), Dense(units, name="head")], seed=0)
    m.compile(loss, "adam")
    if built:
        m.build((None, None, features))
    return m


def test_predict_on_a_single_sequence_names_it_and_hints_x_none():
    with pytest.raises(ShapeError) as err:
        model(features=3).predict(rng.normal(size=(50, 3)))  # batch_size 32: the first batch is (32, 3)
    msg = str(err.value)
    assert "got rank 2 with shape (50, 3)" in msg and "(32, 3)" not in msg
    assert "x has shape (50, 3): read axis 0 as time (50)" in msg
    assert re.search(r"hint: x \(50, 3\) looks like a single sequence \(T, F\), without the batch axis: add it with "
                     r"x\[None\] \(1, T, F\)", msg), msg


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_a_univariate_batch_hints_x_ellipsis_none(call):
    m = model(features=1)
    x, y = rng.normal(size=(40, 10)), rng.normal(size=(40, 1))  # (B, T): one number per step
    with pytest.raises(ShapeError) as err:
        if call == "predict":
            m.predict(x)
        else:
            getattr(m, call)(x, y, **({"verbose": 0} if call == "fit" else {}))
    msg = str(err.value)
    assert "shape (40, 10)" in msg and "(32, 10)" not in msg and "(1, 10)" not in msg
    assert re.search(r"hint: x \(40, 10\) looks like one number per step \(B, T\), without the feature axis: add it "
                     r"with x\[\.\.\., None\] \(B, T, 1\)", msg), msg
    assert "x[:, None, :]" not in msg


def test_a_batch_of_vectors_still_hints_a_time_axis():
    with pytest.raises(ShapeError, match=r"\(B, F\) is one vector per sample; add a time axis with x\[:, None, :\]"):
        model(features=3).fit(rng.normal(size=(40, 3)), rng.normal(size=(40, 1)), verbose=0)


def test_time_major_data_in_fit_gets_the_swap_hint():
    x, y = rng.normal(size=(10, 40, 3)), rng.normal(size=(40, 1))  # (T, B, F) and labels for B = 40
    with pytest.raises(ShapeError) as err:
        model().fit(x, y, verbose=0)
    msg = str(err.value)
    assert "x has shape (10, 40, 3): read axis 0 as time (10), axis 1 as the samples (40)" in msg
    assert "hint: looks like time-major (T, B, F) data fed to a batch-first layer: transpose the data" in msg
    # when the axes do not explain it, the sample counts' own message stands
    with pytest.raises(InputError, match=r"x has 50 samples \(shape \(50, 10, 3\)\) but y has 40"):
        model().fit(rng.normal(size=(50, 10, 3)), y, verbose=0)


@pytest.mark.parametrize("call", ["fit", "evaluate"])
def test_per_step_labels_for_a_many_to_one_model_hint_return_sequences(call):
    x, y = rng.normal(size=(40, 10, 3)), rng.normal(size=(40, 10, 1))
    m = model()
    before = m.get_weights()
    with pytest.raises(ShapeError) as err:
        getattr(m, call)(x, y, **({"verbose": 0} if call == "fit" else {}))
    msg = str(err.value)
    assert "targets of shape (40, 10, 1) do not fit predictions of shape (40, 1)" in msg
    assert "hint: the labels have one entry per timestep, the output one per sequence: set return_sequences=True " \
           "on 'lstm'" in msg
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_unbuilt_model_is_explained_as_it_was_before_the_failing_call():
    m = model(features=1, built=False)
    with pytest.raises(ShapeError, match=r"x\[\.\.\., None\]"):  # not "a single sequence" from a first layer
        m.fit(rng.normal(size=(40, 10)), rng.normal(size=(40, 1)), verbose=0)  # the failed call built on F = 10


# -- the losses read their targets ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["categorical_crossentropy", "softmax"])
def test_class_ids_where_one_hot_rows_belong_are_refused(name):
    loss = get(name) if name != "softmax" else SoftmaxCrossEntropy()
    probs = np.full((4, 3), 1 / 3)  # (B, C)
    ids_like = np.array([[2, 0, 1], [1, 1, 0], [0, 0, 1], [2, 2, 2]])  # (B, C) integers, not one-hot
    with pytest.raises(InputError, match=rf"{loss.name}: targets of shape \(4, 3\) have the predictions' shape, so "
                                         r"each row is read as one-hot or probabilities over 3 classes, but 3 of 4 "
                                         r"rows are not .*the first, at index \(0,\), holds integers \[2, 0, 1\] "
                                         r"summing to 3; hint: class ids go as shape \(4,\) with "
                                         r"sparse_categorical_crossentropy"):
        loss.forward(probs, ids_like)
    soft = np.array([[0.1, 0.8, 0.1], [0.5, 0.25, 0.25], [0, 0, 1], [1, 0, 0]])
    assert np.isfinite(loss.forward(probs, soft)[0])  # soft and one-hot rows are fine
    with pytest.raises(InputError, match=r"holds values \[0\.5, 0\.5, 0\.5\] summing to 1\.5"):
        loss.forward(probs, np.full((4, 3), 0.5))


def test_padded_steps_may_hold_any_target_row():
    loss = SoftmaxCrossEntropy()
    logits = rng.normal(size=(2, 3, 4))  # (B, T, C)
    target = np.eye(4)[rng.integers(0, 4, size=(2, 3))]  # (B, T, C) one-hot
    target[1, 2] = 0.0  # a padded step's label row is all zeros
    mask = np.array([[1, 1, 1], [1, 1, 0]], bool)
    value, _ = loss.forward(logits, target, mask=mask)
    assert np.isfinite(value)
    with pytest.raises(InputError, match=r"1 of 6 rows .* at index \(1, 2\)"):
        loss.forward(logits, target)


def test_fit_refuses_integer_rows_before_any_update():
    m = model(units=3, loss="categorical_crossentropy")
    m.layers[1].activation = "softmax"  # not used by the check: the targets are refused first
    before = m.get_weights()
    with pytest.raises(InputError, match="sparse_categorical_crossentropy"):
        m.fit(rng.normal(size=(20, 5, 3)), rng.integers(0, 3, size=(20, 3)), verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- check --data ----------------------------------------------------------------------------------
MODEL_PY = '''
from shapeviz import Dense, LSTM, Sequential

def build():
    return Sequential([LSTM(4, name="lstm"), Dense(1, name="head")], name="tiny", seed=0)
'''


@pytest.fixture
def work(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(MODEL_PY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner(env={"COLUMNS": "100"}).invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_check_data_refuses_nan_as_train_does(work):
    x = rng.normal(size=(12, 5, 2)).astype("float32")
    x[3, 2, 1] = np.nan
    np.savez(work / "nan.npz", x=x, y=rng.normal(size=(12, 1)).astype("float32"))
    checked = run("check", "model.py:build", "--data", "nan.npz")
    trained = run("train", "model.py:build", "--data", "nan.npz")
    assert checked.exit_code == trained.exit_code == 1, checked.output  # data the model cannot take: a problem found
    assert "✓ data" not in checked.output
    nan = r"x \(shape \(12, 5, 2\)\) contains 1 NaN/inf values, the first nan at index \(3, 2, 1\)"
    assert re.search(nan, checked.output) and re.search(nan, trained.output), checked.output


def test_check_data_names_the_whole_array_not_the_first_sample(work):
    np.savez(work / "univariate.npz", x=rng.normal(size=(12, 50)).astype("float32"),
             y=rng.normal(size=(12, 1)).astype("float32"))
    result = run("check", "model.py:build", "--data", "univariate.npz")
    assert result.exit_code == 1, result.output
    assert "(12, 50)" in result.output and "(1, 50)" not in result.output
    assert "x[..., None]" in result.output and "Traceback" not in result.output


def test_check_data_gives_the_return_sequences_hint(work):
    np.savez(work / "per_step.npz", x=rng.normal(size=(12, 5, 2)).astype("float32"),
             y=rng.normal(size=(12, 5, 1)).astype("float32"))
    result = run("check", "model.py:build", "--data", "per_step.npz", "--input", "(B, T, 2)")
    assert result.exit_code == 1, result.output
    assert "targets of shape (12, 5, 1) do not fit predictions of shape (12, 1)" in result.output
    assert "set return_sequences=True on 'lstm'" in result.output


def test_integer_rows_are_not_taken_for_steps_when_classes_equal_steps():
    """(B, C) integer rows with C = T: the loss's own message (ids in a one-hot slot) stands, not a
    guess that the labels are per step."""
    m = model(units=5, loss=SoftmaxCrossEntropy())
    with pytest.raises(InputError, match="sparse_categorical_crossentropy"):
        m.fit(rng.normal(size=(20, 5, 3)), rng.integers(0, 5, size=(20, 5)), verbose=0)


def test_integer_ids_per_step_for_a_many_to_one_model_hint_return_sequences():
    m = model(units=3, loss=SoftmaxCrossEntropy())
    with pytest.raises(ShapeError, match=r"set return_sequences=True on 'lstm'"):
        m.fit(rng.normal(size=(20, 7, 3)), rng.integers(0, 3, size=(20, 7)), verbose=0)


def test_labels_with_their_own_step_count_get_no_return_sequences_hint():
    m = model(seq=True)
    with pytest.raises(ValueError) as err:  # the loss's own message on the user's shapes
        m.fit(rng.normal(size=(8, 5, 3)), rng.normal(size=(8, 6, 1)), verbose=0)
    msg = str(err.value)
    assert "targets of shape (8, 6, 1) do not fit predictions of shape (8, 5, 1)" in msg
    assert "return_sequences=False" not in msg
