"""The torch examples through the command line: report (with the twin's verification line), graph,
check --deep, train --save-torch back into the module; the time/batch swap hint; refusals exit 2."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner, Result  # noqa: E402

from shapeviz.cli import main  # noqa: E402
from shapeviz.frontends import load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "torch"
NAMES = ["names", "sentiment", "packed_sentiment", "seq2seq"]


def run(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "120"}).invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("name", NAMES)
def test_report_graph_and_deep_check_of_every_example(name, tmp_path):
    ref = f"{EXAMPLES / name}.py:build"
    result = run("report", ref, "--no-color")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("numpy twin matches torch: max rel err ")
    assert float(first.rsplit(" ", 1)[1]) <= 1e-5
    out = tmp_path / f"{name}.svg"
    assert run("graph", ref, "-o", out).exit_code == 0 and out.stat().st_size > 1000
    deep = run("check", ref, "--deep", "--no-color")
    assert deep.exit_code in (0, 1) and "could not run" not in deep.output, deep.output
    assert "✓ pass" in deep.output.split("shapes", 1)[1].splitlines()[0]


def test_the_report_uses_torch_names_layouts_and_counts():
    result = run("report", f"{EXAMPLES / 'sentiment.py'}:build", "--no-color")
    text = result.output
    for name in ("embedding", "lstm.layer0", "└─lstm.l0", "└─lstm.l1_reverse", "lstm.h_n", "fc"):
        assert name in text
    assert "(4, B, 32)" in text  # h_n (L·D, B, H)
    assert "lstm.h_n[-2]: h_n of layer 1 (the last), forward direction" in text
    assert "lstm.h_n[-1]: h_n of layer 1 (the last), backward direction" in text
    model = load(f"{EXAMPLES / 'sentiment.py'}:build").model
    module = model.torch_source.module
    assert f"{sum(p.numel() for p in module.parameters()):,}" in text.split("Total", 1)[1].splitlines()[0]
    names = run("report", f"{EXAMPLES / 'names.py'}:build", "--no-color").output
    assert "(T, B, 57)" in names and "(T, B, 128)" in names
    payload = json.loads(run("report", f"{EXAMPLES / 'sentiment.py'}:build", "--format", "json").output)
    records = {r["path"]: r for r in payload["layers"]}
    assert set(records["lstm.layer0/lstm.l0"]["params"]) == {"kernel", "recurrent_kernel", "bias"}  # the twin's


def test_a_time_major_module_fed_batch_first_data_gets_the_swap_hint():
    result = run("report", f"{EXAMPLES / 'names.py'}:build", "--input", "(B, T, 57)", "--no-color")
    assert result.exit_code == 1
    assert "the time loop runs over B, which is a batch dim" in result.output
    assert ("hint: looks like batch-first (B, T, F) data fed to a batch_first=False torch module: give it (T, B, F) "
            "data, or build the module with batch_first=True") in " ".join(result.output.split())


@pytest.mark.parametrize("name", ["sentiment", "packed_sentiment"])
def test_train_saves_a_state_dict_the_module_loads(name, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 1000, size=(16, 8))
    lengths = rng.integers(1, 9, size=16)
    lengths[0] = 8
    for i, n in enumerate(lengths):
        x[i, n:] = 0
    data = tmp_path / "d.npz"
    np.savez(data, text=x, y=rng.standard_normal((16, 1)).astype(np.float32), text_lengths=lengths)  # named after the inputs
    out = tmp_path / "trained.pt"
    ref = f"{EXAMPLES / name}.py:build"
    result = run("train", ref, "--data", data, "--epochs", "2", "--lr", "0.05", "--save-torch", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"torch state_dict in {out}" in result.output
    module = load(ref).model.torch_source.module
    before = {k: v.clone() for k, v in module.state_dict().items()}
    module.load_state_dict(torch.load(out), strict=True)
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())
    twin = load(ref).model  # the trained module imports again and agrees with itself
    assert twin.torch_source.note.startswith("numpy twin matches torch")


def test_save_torch_is_checked_first(tmp_path):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((2, 3, 2)), y=np.zeros((2, 1)))
    result = run("train", f"{ROOT / 'examples' / 'specs' / 'addition.toml'}", "--data", data, "--save-torch",
                 tmp_path / "w.npz")
    assert result.exit_code == 2 and "--save-torch: cannot write" in result.output


def test_a_refusal_exits_2_with_the_line(tmp_path):
    (tmp_path / "net.py").write_text(textwrap.dedent('''
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(3, 4, batch_first=True)

            def forward(self, x):
                out, _ = self.gru(x)
                return torch.cumsum(out, 1)

        def build():
            return Net()
    '''))
    result = run("report", f"{tmp_path / 'net.py'}:build", "--input", "(B, T, 3)", "--no-color")
    assert result.exit_code == 2
    assert "function torch.cumsum at net.py:12 in forward: return torch.cumsum(out, 1): no converter" in \
        " ".join(result.output.split())
    missing = run("report", f"{tmp_path / 'net.py'}:build", "--no-color")
    assert missing.exit_code == 2 and "expected the input shape of Net" in missing.output


def test_log_softmax_examples_check_and_train_with_nll(tmp_path):
    for name in ("names", "seq2seq"):  # the checks pick nll for the LogSoftmax head
        deep = run("check", f"{EXAMPLES / name}.py:build", "--deep", "--no-color").output
        for check in ("initial loss", "overfit one batch"):
            assert "✓ pass" in deep.split(check, 1)[1].splitlines()[0], deep
        assert "nll at init" in deep
    rng = np.random.default_rng(0)  # (names, time-major, cannot go through fit: train the seq2seq)
    data = tmp_path / "pairs.npz"
    target = rng.integers(1, 32, size=(8, 5))  # (B, T_out)
    np.savez(data, source=rng.integers(1, 30, size=(8, 6)), target_in=np.roll(target, 1, axis=1), y=target)
    result = run("train", f"{EXAMPLES / 'seq2seq'}.py:build", "--data", data, "--loss", "nll", "--epochs", "2",
                 "--batch-size", "4", "--no-color")
    assert result.exit_code == 0, result.output
    assert re.search(r"Epoch 2/2 - loss: \d+\.\d{4}", result.output), result.output
