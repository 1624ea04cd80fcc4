"""`shapeviz train` with checkpoints through click's CliRunner: an existing checkpoint is never
replaced without --resume (exit 2, the file named, nothing written), a damaged one is refused by
name, and one already past --epochs trains nothing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from shapeviz.cli import main

MODEL_PY = '''
from shapeviz import Dense, LSTM, Sequential

def build():
    return Sequential([LSTM(4, name="lstm"), Dense(1, name="head")], name="tiny", seed=0)
'''


def run(*args: object) -> Result:
    return CliRunner(env={"COLUMNS": "100"}).invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "model.py").write_text(MODEL_PY)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "good.npz", x=rng.normal(size=(8, 5, 2)).astype("float32"),
             y=rng.normal(size=(8, 1)).astype("float32"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _train(*options: object) -> Result:
    return run("train", "model.py:build", "--data", "good.npz", *options)


def test_train_without_resume_refuses_to_replace_a_checkpoint(work):
    ck = work / "run.npz"
    assert _train("--checkpoint", ck, "-q").exit_code == 0
    before = ck.read_bytes()
    result = _train("--checkpoint", ck, "--epochs", "2")
    assert result.exit_code == 2, result.output
    assert re.search(rf"^error: fit: checkpoint {re.escape(repr(str(ck)))} already exists, and training from scratch "
                     r"would replace it: pass resume=True \(--resume\) to continue from it, or overwrite=True to "
                     r"start over and replace it \(on the command line: delete it or give another --checkpoint\)",
                     result.output), result.output
    assert "Epoch" not in result.output and "Traceback" not in result.output  # refused before any training
    assert ck.read_bytes() == before
    resumed = _train("--checkpoint", ck, "--epochs", "2", "--resume", "-q")  # the first way out
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.startswith(f"resumed from {ck} after epoch 1, trained epoch 2 of 2")


def test_train_resume_refuses_a_checkpoint_without_its_epoch_record(work):
    ck = work / "run.npz"
    assert _train("--checkpoint", ck, "-q").exit_code == 0
    with np.load(ck) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "__meta__/epoch"}
    np.savez(ck, **arrays)
    before = ck.read_bytes()
    result = _train("--checkpoint", ck, "--epochs", "3", "--resume")
    assert result.exit_code == 2, result.output
    assert re.search(rf"error: checkpoint {re.escape(repr(str(ck)))} does not fit Sequential 'tiny':\n  it has no "
                     r"epoch record \(__meta__/epoch\)", result.output), result.output
    assert "no checkpoint" not in result.output and "Epoch" not in result.output
    assert ck.read_bytes() == before


@pytest.mark.parametrize("value, message", [(-2, r"at least 1, got -2"),
                                            (10**15, r"one number per completed epoch, 1000000000000000")])
def test_train_resume_refuses_a_bad_epoch_count(work, value, message):
    ck = work / "run.npz"
    assert _train("--checkpoint", ck, "-q").exit_code == 0
    with np.load(ck) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__meta__/epoch"] = np.array(value)
    np.savez(ck, **arrays)
    before = ck.read_bytes()
    result = _train("--checkpoint", ck, "--epochs", "4", "--resume")
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output) and "internal error" not in result.output, result.output
    assert ck.read_bytes() == before


def test_train_resume_past_the_requested_epochs_trains_nothing(work):
    ck = work / "run.npz"
    assert _train("--checkpoint", ck, "--epochs", "3", "-q").exit_code == 0
    before = ck.read_bytes()
    result = _train("--checkpoint", ck, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{str(ck)!r} is already trained to epoch 3 and epochs=2: nothing left to do",
        f"nothing to train: {ck} already holds 3 epochs and --epochs is 2 (raise it to train more)"]
    assert ck.read_bytes() == before
