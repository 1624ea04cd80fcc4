"""Checkpoints: round trips (weights, optimizer state, metadata), atomic writes, refusal of
files that do not fit (naming layer, weight and both shapes), all-or-nothing loads, no pickle."""

import os

import numpy as np
import pytest

from shapeviz.core.dense import Dense
from shapeviz.core.optimizers import SGD, Adam
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import CheckpointError
from shapeviz.train.checkpoint import load_weights, save_weights

X = np.random.default_rng(0).normal(size=(3, 5, 2))


def make(units=4, head=3, seed=0, built=True):
    model = Sequential([SimpleRNN(units), Dense(head)], dtype="float64", seed=seed)
    if built:
        model.build((None, None, 2))
    return model


def weights(model):
    return [layer.params[key].copy() for _, layer, key in model.parameters()]


def test_round_trip_matches_by_position_across_auto_names(tmp_path):
    a, b = make(seed=1), make(seed=2)
    assert [p for p, _, _ in a.parameters()] != [p for p, _, _ in b.parameters()]  # auto names differ
    path = tmp_path / "w.npz"
    a.save_weights(path)
    with np.load(path, allow_pickle=False) as npz:
        paths = [str(p) for p in npz["__paths__"]]
        assert paths == [p for p, _, _ in a.parameters()]
        assert f"{a.layers[0].name}/recurrent_kernel" in npz.files
    b.load_weights(path)
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a(X), b(X))
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


def test_optimizer_state_and_metadata_round_trip(tmp_path):
    a = make()
    opt = Adam(0.01)
    for _, layer, key in a.parameters():
        layer.grads[key][...] = 0.5
    opt.step(a)
    opt.step(a)
    path = tmp_path / "ckpt.npz"
    save_weights(a, path, optimizer=opt, metadata={"epoch": 7, "history/loss": [0.5, 0.25]})
    b = make()
    opt_b = Adam(0.01)
    meta = load_weights(b, path, optimizer=opt_b)
    assert int(meta["epoch"]) == 7
    np.testing.assert_array_equal(meta["history/loss"], [0.5, 0.25])
    assert opt_b.iterations == 2
    # the state is keyed by b's own paths
    sa, sb = opt.state_dict()["slots"], opt_b.state_dict()["slots"]
    for (pa, _, _), (pb, _, _) in zip(a.parameters(), b.parameters()):
        for slot in ("m", "v"):
            np.testing.assert_array_equal(sa[pa][slot], sb[pb][slot])
    with pytest.raises(CheckpointError, match="holds adam optimizer state, the model is compiled with sgd"):
        load_weights(b, path, optimizer=SGD(momentum=0.9))


def test_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    old = make(seed=1)
    old.save_weights(path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        make(seed=2).save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]  # the temporary file is gone
    fresh = make(seed=3)
    fresh.load_weights(path)
    np.testing.assert_array_equal(weights(fresh)[0], weights(old)[0])


def test_refuses_another_models_checkpoint_and_changes_nothing(tmp_path):
    path = tmp_path / "w.npz"
    make(units=4, head=3).save_weights(path)
    other = make(units=4, head=5)  # the RNN fits, the head does not
    rnn, head = other.layers[0].name, other.layers[1].name
    before = weights(other)
    with pytest.raises(CheckpointError) as err:
        other.load_weights(path)
    msg = str(err.value)
    assert f"layer '{head}' weight 'kernel': the model's shape is (4, 5), the checkpoint's is (4, 3)" in msg
    assert f"layer '{head}' weight 'bias': the model's shape is (5,), the checkpoint's is (3,)" in msg
    assert rnn not in msg
    for w0, w1 in zip(before, weights(other)):  # not even the fitting RNN weights were loaded
        np.testing.assert_array_equal(w0, w1)


def test_missing_extra_and_foreign_weights(tmp_path):
    path = tmp_path / "w.npz"
    small = Sequential([SimpleRNN(4)], dtype="float64")
    small.build((None, None, 2))
    small.save_weights(path)
    big = make()
    with pytest.raises(CheckpointError, match=rf"layer '{big.layers[1].name}' weight 'kernel' \(shape \(4, 3\)\) has no "
                                              r"array in the checkpoint, which holds 3 weights for the model's 5"):
        big.load_weights(path)
    big.save_weights(path)
    with pytest.raises(CheckpointError, match=r"extra weight 'dense_\d+/kernel' \(shape \(4, 3\)\)"):
        small.load_weights(path)
    # same shapes, other architecture: Dense(4) on 4 features vs SimpleRNN's recurrent kernel
    dense = Sequential([Dense(4), Dense(4), Dense(3)], dtype="float64")
    dense.build((None, 2))
    with pytest.raises(CheckpointError, match="another architecture"):
        dense.load_weights(path)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", None], ids=["empty", "text", "truncated"])
def test_corrupt_files(tmp_path, content):
    path = tmp_path / "w.npz"
    if content is None:
        make().save_weights(path)
        content = path.read_bytes()[:-40]
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not an .npz checkpoint|not a readable .npz"):
        make().load_weights(path)


def test_missing_file_unbuilt_model_and_plain_npz(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        make().load_weights(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="is not built"):
        make(built=False).save_weights(tmp_path / "w.npz")
    np.savez(tmp_path / "plain.npz", kernel=np.zeros((2, 4)))
    with pytest.raises(CheckpointError, match="not written by shapeviz save_weights"):
        make().load_weights(tmp_path / "plain.npz")


SIDE_EFFECTS = []


def _ran_on_unpickle():
    SIDE_EFFECTS.append("unpickled")
    return np.zeros((2, 4))


class Payload:
    def __reduce__(self):
        return (_ran_on_unpickle, ())


def test_pickled_objects_are_refused(tmp_path):
    model = make()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    first = str(arrays["__paths__"][0])
    evil = np.empty(1, dtype=object)
    evil[0] = Payload()
    arrays[first] = evil
    np.savez(path, **arrays)  # saving object arrays pickles them
    with pytest.raises(CheckpointError, match=r"pickled Python objects; refusing to load them \(allow_pickle=False\)"):
        model.load_weights(path)
    assert SIDE_EFFECTS == []
