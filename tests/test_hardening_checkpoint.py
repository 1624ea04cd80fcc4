"""Resuming from a damaged checkpoint is refused by name with nothing changed or written; a fresh
run never replaces an existing checkpoint; a checkpoint past the requested epochs trains nothing."""

import os

import numpy as np
import pytest

from shapeviz import LSTM, Dense, Sequential
from shapeviz.core.optimizers import SGD
from shapeviz.errors import CheckpointError
from shapeviz.train.checkpoint import load_weights

rng = np.random.default_rng(0)
X = rng.normal(size=(6, 5, 2))
Y = rng.normal(size=(6, 1))
KW = dict(batch_size=3, shuffle=False, verbose=0)


def compiled(optimizer="adam"):
    model = Sequential([LSTM(3), Dense(1)], seed=0, dtype="float64")
    model.compile("mse", optimizer)
    return model


@pytest.fixture
def ck(tmp_path):
    path = tmp_path / "ck.npz"
    compiled().fit(X, Y, epochs=2, checkpoint=path, **KW)
    return path


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)
    return path.read_bytes()


def _set(key, value):
    return lambda a: a.__setitem__(key, np.asarray(value))


def _drop(*keys):
    return lambda a: [a.pop(k) for k in keys]


DAMAGED = {
    "no epoch": (_drop("__meta__/epoch"), r"no epoch record \(__meta__/epoch\)"),
    "negative epoch": (_set("__meta__/epoch", -2), r"at least 1, got -2"),
    "zero epoch": (_set("__meta__/epoch", 0), r"at least 1, got 0"),
    "huge epoch": (_set("__meta__/epoch", 10**15),
                   r"history 'loss' \(__meta__/history/loss\) must hold one number per completed epoch, "
                   r"1000000000000000, got float64 of shape \(2,\)"),
    "float epoch": (_set("__meta__/epoch", 2.5), r"must be one integer, got float64 of shape \(\)"),
    "epoch array": (_set("__meta__/epoch", [2, 2]), r"must be one integer, got int64 of shape \(2,\)"),
    "no loss history": (_drop("__meta__/history/loss"), r"no loss history"),
    "short history": (_set("__meta__/history/loss", [0.5]), r"one number per completed epoch, 2, got float64 of "
                                                              r"shape \(1,\)"),
    "missing slot": (_drop("__optimizer__/0/m"),
                     r"layer 'lstm' weight 'kernel': the checkpoint has no adam slot 'm' \(__optimizer__/0/m\)"),
    "missing weight state": (_drop("__optimizer__/4/m", "__optimizer__/4/v"),
                             r"layer 'head' weight 'bias': the checkpoint has no adam slot 'm', 'v'"),
    "extra slot": (lambda a: a.__setitem__("__optimizer__/1/zz", a["__optimizer__/1/m"]),
                   r"layer 'lstm' weight 'recurrent_kernel': the checkpoint has an extra adam slot 'zz' "
                   r"\('__optimizer__/1/zz'\); adam keeps only 'm', 'v'"),
    "slot past the weights": (lambda a: a.__setitem__("__optimizer__/9/m", a["__optimizer__/0/m"]),
                              r"'__optimizer__/9/m' belongs to weight 9, the model has 5"),
    "bad slot key": (lambda a: a.__setitem__("__optimizer__/x/m", a["__optimizer__/0/m"]),
                     r"unknown optimizer entry '__optimizer__/x/m'"),
    "negative iterations": (_set("__optimizer__/iterations", -1), r"must be an integer >= 0, got -1"),
    "iterations array": (_set("__optimizer__/iterations", [1, 2]), r"must be an integer >= 0, got int64 of shape"),
    "no optimizer name": (_drop("__optimizer__/name"), r"the optimizer state has no name"),
}


def _named(model):
    model.layers[0].name, model.layers[1].name = "lstm", "head"
    return model


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_checkpoint_is_refused_by_name_and_nothing_changes(ck, case):
    change, message = DAMAGED[case]
    before = _rewrite(ck, change)
    model = _named(compiled())
    model.build((None, None, 2))
    weights = model.get_weights()
    with pytest.raises(CheckpointError, match=message):
        model.fit(X, Y, epochs=4, checkpoint=ck, resume=True, **KW)
    assert ck.read_bytes() == before  # nothing written
    for a, b in zip(weights, model.get_weights()):  # nothing loaded, not even the weights that fit
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0 and model.optimizer.state_dict()["slots"] == {}


def test_the_refusal_names_the_file(ck):
    _rewrite(ck, _drop("__meta__/epoch"))
    with pytest.raises(CheckpointError, match=rf"checkpoint {str(ck)!r} does not fit .*\n  it has no epoch record"):
        compiled().fit(X, Y, epochs=3, checkpoint=ck, resume=True, **KW)


def test_an_sgd_checkpoint_without_momentum_has_no_slots_to_miss(tmp_path):
    path = tmp_path / "sgd.npz"
    compiled("sgd").fit(X, Y, epochs=1, checkpoint=path, **KW)
    history = compiled("sgd").fit(X, Y, epochs=2, checkpoint=path, resume=True, **KW)
    assert history.epoch == [0, 1]
    momentum = compiled(SGD(0.01, momentum=0.9))
    with pytest.raises(CheckpointError, match="has no sgd slot 'momentum'"):  # the slot it needs is not there
        momentum.fit(X, Y, epochs=2, checkpoint=path, resume=True, **KW)


def test_load_weights_alone_still_takes_a_file_without_a_training_record(ck):
    _rewrite(ck, _drop("__meta__/epoch", "__meta__/history/loss"))
    model = compiled()
    model.build((None, None, 2))
    assert load_weights(model, ck) == {}


@pytest.mark.parametrize("epochs", [2, 1])
def test_a_checkpoint_at_or_past_the_requested_epochs_trains_nothing(ck, epochs, capsys):
    before = ck.read_bytes()
    trained = compiled()
    trained.build((None, None, 2))
    load_weights(trained, ck)
    model = compiled()
    history = model.fit(X, Y, epochs=epochs, checkpoint=ck, resume=True, **{**KW, "verbose": 2})
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert f"{str(ck)!r} is already trained to epoch 2 and epochs={epochs}: nothing left to do" in out
    assert "resumed" not in out and "Epoch" not in out
    assert ck.read_bytes() == before
    for a, b in zip(trained.get_weights(), model.get_weights()):  # the model holds the checkpoint's weights
        np.testing.assert_array_equal(a, b)


def test_a_fresh_run_never_replaces_an_existing_checkpoint(ck):
    before = ck.read_bytes()
    with pytest.raises(CheckpointError, match=rf"fit: checkpoint {str(ck)!r} already exists, and training from "
                                              r"scratch would replace it: pass resume=True \(--resume\) to continue "
                                              r"from it, or overwrite=True to start over and replace it"):
        compiled().fit(X, Y, epochs=1, checkpoint=ck, **KW)
    assert ck.read_bytes() == before
    history = compiled().fit(X, Y, epochs=1, checkpoint=ck, overwrite=True, **KW)
    assert history.epoch == [0]
    with np.load(ck) as saved:
        assert int(saved["__meta__/epoch"]) == 1
    os.remove(ck)
    assert compiled().fit(X, Y, epochs=1, checkpoint=ck, **KW).epoch == [0]  # no file: nothing to protect
