"""The `shapeviz` command line through click's CliRunner: every command and option, every bad
input (exit code, message, nothing written), Ctrl-C during `train`, and the installed script."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import shapeviz.render.output as render_output
from shapeviz import Dense, LSTM, Sequential, __version__
from shapeviz.cli import main
from shapeviz.train.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "examples" / "specs"
ADDITION = str(SPECS / "addition.toml")
IMDB = str(SPECS / "imdb_lstm.toml")
ANSI = "\x1b["

# a Python model file: layers named explicitly, so that names do not depend on what ran before
MODEL_PY = '''
import numpy as np

from shapeviz import Dense, LSTM, Sequential

def build():
    return Sequential([LSTM(4, name="lstm"), Dense(1, name="head")], name="tiny", seed=0)

def synced():  # one output per step: labels of shape (N, 1) do not fit it
    return Sequential([LSTM(4, return_sequences=True, name="lstm"), Dense(1, name="head")], seed=0)

def poisoned():  # an inf weight in the head: the first step's loss is not finite
    model = build().build((None, None, 2))
    model.layers[1].params["kernel"][0, 0] = np.inf
    return model

def boom():
    raise RuntimeError("kaboom")

def not_a_model():
    return 42

def quits():
    raise SystemExit(3)

model = build()            # not built: it needs --input
built = build().build((None, None, 2))  # built: its input is (B, T, 2)
'''


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke the CLI in-process; a wide terminal so that tables keep every column."""
    return CliRunner(env={"COLUMNS": "100", **(env or {})}).invoke(main, [str(a) for a in args],
                                                                   catch_exceptions=False)


def lines(text: str) -> list[str]:
    """The output's lines with runs of spaces made one, for checks that do not depend on padding."""
    return [" ".join(line.split()) for line in text.splitlines()]


def assert_unusable(result: Result, *patterns: str, code: int = 2) -> None:
    """Exit 2 (or ``code``) with one `error:` message, matching every pattern, and no traceback."""
    assert result.exit_code == code, result.output
    assert "error: " in result.output or "Error: " in result.output, result.output
    for pattern in patterns:
        assert re.search(pattern, result.output), f"{pattern!r} not in:\n{result.output}"
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with model.py and small .npz files (shared: no test writes into it)."""
    d = tmp_path_factory.mktemp("cli")
    (d / "model.py").write_text(MODEL_PY)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5, 2)).astype("float32")  # (N, T, F)
    y = rng.normal(size=(12, 1)).astype("float32")     # (N, 1)
    np.savez(d / "good.npz", x=x, y=y)
    np.savez(d / "three_features.npz", x=rng.normal(size=(12, 5, 3)).astype("float32"), y=y)
    np.savez(d / "no_y.npz", x=x)
    np.savez(d / "short_y.npz", x=x, y=y[:7])
    np.savez(d / "ids.npz", x=rng.integers(0, 20000, size=(6, 8)), y=rng.integers(0, 2, size=(6,)).astype("float32"))
    np.savez(d / "points.npz", x=rng.normal(size=(12, 4)).astype("float32"), y=rng.integers(0, 3, size=(12,)))
    (d / "not_npz.npz").write_text("x = 1\n")
    return d


@pytest.fixture
def chdir(work: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(work)
    return work


# -- the group ---------------------------------------------------------------------------------
def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"shapeviz, version {__version__}"


@pytest.mark.parametrize("command", [None, "report", "graph", "check", "modes", "train"])
def test_help_shows_an_example(command):
    result = run(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    assert re.search(rf"^\s+shapeviz {command or '(report|graph|check|modes)'} \S", result.output, re.M)
    if command in ("report", "graph", "check", "train"):
        assert "(this runs that code" in " ".join(result.output.split())  # a Python MODEL runs the user's code


@pytest.mark.parametrize("how", ["--no-color before", "--no-color after", "NO_COLOR"])
def test_no_color_writes_no_ansi_codes(how):
    forced = {"FORCE_COLOR": "1"}  # rich colours even though CliRunner is not a terminal
    env = {**forced, "NO_COLOR": "1"} if how == "NO_COLOR" else forced
    for command in (["report", ADDITION], ["modes", "-q"], ["report", "missing.toml"]):
        coloured = run(*command, env=forced)
        assert ANSI in coloured.output, command  # else this test would prove nothing
        args = {"--no-color before": ["--no-color", *command], "--no-color after": [*command, "--no-color"],
                "NO_COLOR": command}[how]
        plain = run(*args, env=env)
        assert plain.exit_code == coloured.exit_code
        assert ANSI not in plain.output, command
        assert lines(plain.output) == lines(re.sub(r"\x1b\[[0-9;]*m", "", coloured.output))  # only uncoloured


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_the_default_hides(chdir, where):
    plain = run("report", "model.py:boom")
    assert_unusable(plain, r"error: model\.py:boom: calling boom\(\) raised RuntimeError: kaboom")
    args = ["--debug", "report", "model.py:boom"] if where == "before" else ["report", "model.py:boom", "--debug"]
    debug = run(*args)
    assert debug.exit_code == 2  # the same exit code, with the traceback above the same message
    assert "Traceback (most recent call last)" in debug.output
    assert 'raise RuntimeError("kaboom")' in debug.output  # the user's own code, not only ours
    assert debug.output.rstrip().endswith("error: model.py:boom: calling boom() raised RuntimeError: kaboom")


# -- report ------------------------------------------------------------------------------------
def test_report_addition_readme_output():
    result = run("report", ADDITION)
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert out[0] == "addition (sequential): many-to-one"
    assert out[1] == "Layer Kind Input Output State Params Mult-Adds"
    assert "bidirectional_1 bidirectional x (B, T, 2) (B, 200) - 20,600 20400*B*T" in out
    assert "└─forward_simple_rnn_1 simple_rnn x (B, T, 2) (B, 100) h (B, 100) (10,300) (10200*B*T)" in out
    assert "dense_1 dense (B, 200) (B, 1) - 201 200*B" in out
    assert "Total 20,801 20400*B*T" in out  # the total's terms one a line, to fit 100 columns
    assert "Mult-Adds (forward): 20400*B*T + 200*B" in out
    assert "Dims: B=100 (batch, given) T=55 (time, given)" in out
    assert "Loss: mean_squared_error on labels (B,)" in out
    assert "= 4,695,400 bytes (4.5 MiB)" in out
    assert "B batch 100 the given sizes (B=100) the input x (axis 0)" in out  # the dims legend


def test_report_imdb_readme_output():
    result = run("report", IMDB, "--quiet")
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert "embedding_1 embedding (B, T) (B, T, 128) - 2,560,000 0" in out
    assert "lstm_1 lstm (B, T, 128) (B, 128) h (B, 128) 131,584 131072*B*T" in out
    assert "Total 2,691,713 131072*B*T+128*B" in out
    assert "= 335,548,416 (335.5 M)" in out  # the Mult-Adds at B = 32, T = 80


def test_report_quiet_leaves_out_the_dims_legend():
    full, quiet = run("report", ADDITION), run("report", ADDITION, "-q")
    assert "Size from" in full.output
    assert "Size from" not in quiet.output
    assert quiet.output in full.output


def test_report_steps_and_grads():
    plain = run("report", ADDITION, "-q").output
    steps = run("report", ADDITION, "-q", "--steps")
    assert steps.exit_code == 0
    assert "forward_simple_rnn_1 (simple_rnn in bidirectional_1): forward" in steps.output
    assert "T-1 (B, 2) (B,) (B, 100) (B, 100) (B, 100) (B, 100)" in lines(steps.output)
    assert "Parameter gradients" not in steps.output and "h_{t-1}" not in plain
    grads = run("report", ADDITION, "-q", "--grads")
    assert grads.exit_code == 0
    assert "Parameter gradients" in grads.output
    assert "forward_simple_rnn_1 kernel (2, 100) (2, 100) ✓" in lines(grads.output)
    both = run("report", ADDITION, "-q", "--steps", "--grads")
    assert "backward (BPTT), last step first" in both.output  # steps tables gain their backward pass


def test_report_json_is_the_trace_schema():
    result = run("report", ADDITION, "--format", "json", "--dim", "B=7")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["schema"] == "shapeviz.trace/2"
    assert data["mode"] == "many-to-one" and data["param_count"] == 20801
    assert data["inputs"] == {"x": ["B", "T", 2]} and data["outputs"] == {"y": ["B", 1]}
    sizes = {b["name"]: b["value"] for b in data["bindings"]}
    assert sizes == {"B": 7, "T": 55}  # --dim overrides the spec's [dims]; its T stays


def test_report_cost_shows_forward_backward_and_steps():
    result = run("report", IMDB, "-q", "--cost")
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert "Cost of imdb_lstm" in out
    assert "lstm_1 forward 131072*B*T 265600*B*T + 131584" in out  # MACs, FLOPs
    assert "backward 262144*B*T 528128*B*T + 131072" in out  # BPTT: two matmuls back for each one forward
    assert "= 335,544,320 = 680,067,584" in out  # 32 x 80 x 4·128·(128+128) MACs
    assert "Cost per timestep (Steps: how many steps of the loop the traced ones stand for)" in out
    assert "lstm_1 forward 0, 1, T-1 T 65536*B 134016*B" in out  # one step's h @ recurrent_kernel
    assert "Total 2,691,713 131072*B*T+128*B" in out  # the summary keeps its Mult-Adds column
    plain = run("report", IMDB, "-q")
    assert "Cost of" not in plain.output and plain.output in result.output


def test_report_cost_with_a_mask_gives_the_real_work():
    result = run("report", ADDITION, "-q", "--cost")
    assert result.exit_code == 0, result.output
    text = " ".join(lines(result.output))
    assert "Real work with the mask, Mult-Adds: forward 200*B + 20400*L" in text
    assert "the numpy core also computes the masked steps" in text


def test_report_json_carries_the_cost():
    data = json.loads(run("report", IMDB, "--format", "json").output)
    assert data["cost"]["forward"]["macs"] == {"formula": "131072*B*T+128*B", "value": 335548416}
    assert data["cost"]["real"] is None


def test_report_python_model_with_input_and_dims(chdir):
    result = run("report", "model.py:build", "--input", "(B, T, 2)", "--dim", "B=32", "--dim", "T=80", "-q")
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert out[0] == "tiny (sequential): many-to-one"
    assert "lstm lstm (B, T, 2) (B, 4) h (B, 4) 112 96*B*T" in out
    assert "Dims: B=32 (batch, given) T=80 (time, given)" in out


def test_report_module_reference_from_the_current_folder(chdir):
    # package.module:attr imports from the current folder, as `python -m` would
    result = run("report", "model:build", "--input", "(B, T, 2)", "-q")
    assert result.exit_code == 0, result.output
    assert "tiny (sequential): many-to-one" in result.output
    assert str(chdir) not in sys.path  # and the folder leaves sys.path afterwards


def test_report_python_file_runs_as_if_imported(tmp_path, monkeypatch):
    # a dataclass with postponed annotations looks its module up in sys.modules, and build() may
    # import a module beside the file when it is called: both work as they would in `python -m`
    (tmp_path / "sizes.py").write_text("UNITS = 6\n")
    (tmp_path / "net.py").write_text(textwrap.dedent('''
        from __future__ import annotations
        from dataclasses import dataclass
        from shapeviz import LSTM, Sequential

        @dataclass
        class Config:
            features: int = 2

        def build():
            from sizes import UNITS
            return Sequential([LSTM(UNITS, name="lstm")], seed=0)
        '''))
    monkeypatch.chdir(tmp_path.parent)
    result = run("report", tmp_path / "net.py:build", "--input", "(B, T, 2)", "-q")
    assert result.exit_code == 0, result.output
    assert "lstm lstm (B, T, 2) (B, 6) h (B, 6) 216 192*B*T" in lines(result.output)
    assert str(tmp_path) not in sys.path


def test_report_a_built_model_needs_no_input(chdir):
    result = run("report", "model.py:built", "-q")
    assert result.exit_code == 0, result.output
    assert "lstm lstm (B, T, 2) (B, 4) h (B, 4) 112 96*B*T" in lines(result.output)
    result = run("report", "model.py:model")
    assert_unusable(result, r"model\.py:model: expected the input shape, e\.g\. --input \"\(B, T, 2\)\", got none "
                            r"\(a Python model does not declare one, and this one is not built yet\)")


# -- graph -------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix, start", [("svg", b"<"), ("png", b"\x89PNG"), ("dot", b"digraph"),
                                           ("txt", "addition (sequential): many-to-one".encode())])
def test_graph_writes_each_format(tmp_path, suffix, start):
    out = tmp_path / f"addition.{suffix}"
    result = run("graph", ADDITION, "-o", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(start)
    assert result.output == f"wrote {out} (many-to-one, {len(data)} bytes)\n"
    if suffix == "svg":
        assert b"<svg" in data[:400]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary left behind


def test_graph_unroll_and_rolled(tmp_path):
    def text(*options: str) -> str:
        out = tmp_path / "g.txt"
        assert run("graph", ADDITION, "-o", out, *options).exit_code == 0
        return out.read_text()

    default, one, rolled = text(), text("--unroll", "1"), text("--rolled")
    assert "h→_1" in default and "h→_1" not in one  # --unroll 1 draws step 0, then '…' and T-1
    assert "h→_{T-1}" in one and "…" in one
    assert "rolled: one box per layer" in rolled and "↺ recurrent_kernel × T" in rolled
    dot = tmp_path / "g.dot"
    assert run("graph", ADDITION, "-o", dot, "--rolled").exit_code == 0
    rolled_dot = dot.read_text()
    assert run("graph", ADDITION, "-o", dot).exit_code == 0
    assert rolled_dot != dot.read_text() and rolled_dot.startswith("digraph")


def test_graph_unroll_out_of_range(tmp_path):
    result = run("graph", ADDITION, "-o", tmp_path / "g.txt", "--unroll", "0")
    assert_unusable(result, r"Invalid value for '--unroll'")
    assert not (tmp_path / "g.txt").exists()


def test_graph_pdf_without_a_system_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(render_output, "system_dot", lambda: None)
    out = tmp_path / "addition.pdf"
    result = run("graph", ADDITION, "-o", out)
    assert_unusable(result, r"PDF needs a system Graphviz", r"apt-get install graphviz", r"brew install graphviz")
    assert not out.exists()


# -- check -------------------------------------------------------------------------------------
def test_check_a_spec():
    result = run("check", IMDB)
    assert result.exit_code == 0, result.output
    assert lines(result.output) == [
        "✓ shapes: 3 layers traced forward and backward (many-to-one), output (B, 1), 6 gradients of their "
        "parameters' shapes",
        "✓ expectations: embedding_1 (B, T, 128), lstm_1 (B, 128), output (B, 1)",
    ]


def test_check_expectations(chdir):
    good = run("check", "model.py:build", "--input", "(B, T, 2)", "--expect-output", "(B, 1)",
               "--expect", "lstm=(B, 4)")
    assert good.exit_code == 0, good.output
    assert "✓ expectations: output (B, 1), lstm (B, 4)" in good.output
    wrong_output = run("check", "model.py:build", "--input", "(B, T, 2)", "--expect-output", "(B, 2)")
    assert wrong_output.exit_code == 1
    assert "the model's output has shape (B, 1), expected (B, 2)" in wrong_output.output
    assert "hint: layer 'head' (dense) has units=1" in wrong_output.output
    wrong_layer = run("check", IMDB, "--expect", "lstm_1=(B, T, 128)")
    assert wrong_layer.exit_code == 1
    assert re.search(r"lstm_1.*expected.*\(B, T, 128\)", wrong_layer.output, re.S)
    assert "Traceback" not in wrong_output.output + wrong_layer.output


def test_check_a_shape_problem_in_the_model_exits_1(chdir):
    result = run("check", "model.py:synced", "--input", "(B, T, 2)", "--expect-output", "(B, 1)")
    assert result.exit_code == 1
    assert "error: forward: the model's output has shape (B, T, 1), expected (B, 1)" in result.output
    assert "set return_sequences=False on 'lstm'" in result.output
    assert "✓" not in result.output and "Traceback" not in result.output


def test_check_expect_of_a_layer_the_model_does_not_have_is_unusable_input():
    result = run("check", IMDB, "--expect", "typo=(B, 1)")
    assert_unusable(result, r"the expectations name a layer the model does not have: 'typo'; expected 'output', "
                            r"'labels' or a layer name: embedding_1, lstm_1, dense_1")
    assert "✓" not in result.output
    close = run("check", IMDB, "--expect", "lstm1=(B, 128)")
    assert_unusable(close, r"the model does not have: 'lstm1' \(did you mean 'lstm_1'\?\)")


@pytest.mark.parametrize("command", ["report", "graph", "check"])
def test_a_specs_expect_of_an_unknown_layer_is_unusable_input_in_every_command(tmp_path, command):
    # report and graph have no --expect; a spec's [expect] is checked when the spec loads, for every command
    spec = tmp_path / "typo.toml"
    spec.write_text(Path(IMDB).read_text().replace("lstm_1 = ", "typo = ", 1))
    out = tmp_path / "out.txt"
    result = run(command, spec, *(["-o", out] if command == "graph" else []))
    assert_unusable(result, r"typo\.toml:21: expect\.typo: the model has no layer 'typo'; expected 'output', 'labels' "
                            r"or a layer name: embedding_1, lstm_1, dense_1")
    assert not out.exists()


def test_check_data_good(chdir):
    result = run("check", "model.py:build", "--input", "(B, T, 2)", "--data", "good.npz")
    assert result.exit_code == 0, result.output
    assert "✓ data: x (12, 5, 2), y (12, 1) run through the model" in result.output


def test_check_data_builds_a_python_model_without_input(chdir):
    # a Python model declares no input; with --data the data's shapes do
    result = run("check", "model.py:build", "--data", "three_features.npz")
    assert result.exit_code == 0, result.output
    assert "✓ data: x (12, 5, 3), y (12, 1) run through the model" in result.output


def test_check_data_of_a_spec(work):
    result = run("check", IMDB, "--data", work / "ids.npz")
    assert result.exit_code == 0, result.output
    assert "✓ data: x (6, 8), y (6,) run through the model" in result.output


@pytest.mark.parametrize("model, data, message", [
    ("model.py:build --input (B,T,2)", "three_features.npz",
     r"the arrays in 'three_features\.npz' do not fit the model:\nlayer 'lstm'.*built for 2 input features"),
    ("model.py:synced --input (B,T,2)", "good.npz",
     r"the arrays in 'good\.npz' do not fit the model:\n.*targets of shape \(12, 1\) do not fit predictions of "
     r"shape \(12, 5, 1\)"),
    ("model.py:build --input (B,T,2)", "short_y.npz", r"the arrays in 'short_y\.npz' do not fit the model"),
])
def test_check_data_that_does_not_fit_is_a_problem_found(chdir, model, data, message):
    """A model and data that do not fit each other exit 1, through --data as through --input."""
    result = run("check", *model.split(), "--data", data)
    assert_unusable(result, message, code=1)


def test_check_data_without_the_arrays_the_model_reads_exits_2(chdir):
    result = run("check", SPECS / "many_to_many.toml", "--data", "good.npz")
    assert_unusable(result, r"'good\.npz': an encoder-decoder expects arrays x \(source\), x_dec \(decoder inputs\) "
                            r"and y, got no x_dec")


# -- modes -------------------------------------------------------------------------------------
MODES = ("one-to-one", "one-to-many", "many-to-one", "many-to-many", "synced many-to-many")


def test_modes_prints_five_tables_and_diagrams():
    result = run("modes")
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert sum(line.startswith("Layer Kind Input Output") for line in out) == 5
    for mode in MODES:
        assert any(line.startswith(f"─ {mode}: ") or f" {mode}: " in line for line in out if "─" in line), mode
    assert result.output.count("rows, top to bottom:") == 5  # the text diagrams
    quiet = run("modes", "-q")
    assert quiet.exit_code == 0 and "rows, top to bottom:" not in quiet.output
    assert sum(line.startswith("Layer Kind Input Output") for line in lines(quiet.output)) == 5


def test_modes_names_its_layers_the_same_in_every_run():
    Sequential([LSTM(4), Dense(1)])  # auto-names taken in this process before modes runs
    first, second = run("modes"), run("modes")
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    names = re.findall(r"^(\w+_\d+) +(?:dense|lstm|gru|simple_rnn) ", first.output, re.M)
    assert names == ["dense_1", "dense_2", "lstm_1", "dense_1", "gru_1", "dense_1", "lstm_1", "lstm_2", "dense_1",
                     "simple_rnn_1", "dense_1"]  # counted within each model, as a spec counts them


def test_modes_writes_ten_files(tmp_path):
    out = tmp_path / "modes"
    result = run("modes", "-q", "-o", out)
    assert result.exit_code == 0, result.output
    stems = ["one_to_one", "one_to_many", "many_to_one", "many_to_many", "synced_many_to_many"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.{e}" for s in stems for e in ("svg", "txt"))
    assert (out / "many_to_many.svg").read_bytes().lstrip().startswith(b"<")
    assert (out / "one_to_many.txt").read_text().startswith("one_to_many (one_to_many): one-to-many\n")
    assert result.output.rstrip().endswith(f"wrote the five modes to {out}/ (10 files, .svg and .txt)")


@pytest.mark.parametrize("where, message", [
    ("missing/modes", r"-o: cannot write into '.*missing/modes': the folder '.*missing' does not exist"),
    ("a_file/modes", r"-o: cannot write into '.*a_file/modes': the folder '.*a_file' is a file, not a folder"),
])
def test_modes_output_folder_problems(tmp_path, where, message):
    (tmp_path / "a_file").write_text("")
    result = run("modes", "-o", tmp_path / where)
    assert_unusable(result, message)
    assert "Layer" not in result.output  # checked before anything is printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


# -- train -------------------------------------------------------------------------------------
def test_train_prints_epochs_and_a_final_line(chdir):
    result = run("train", "model.py:build", "--data", "good.npz", "--epochs", "2", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert re.fullmatch(r"Epoch 1/2 - loss: \d+\.\d{4}", out[0])
    assert re.fullmatch(r"Epoch 2/2 - loss: \d+\.\d{4}", out[1])
    assert re.fullmatch(r"trained epochs 1-2 of 2: loss: \d+\.\d{4}; the weights are not saved "
                        r"\(--checkpoint PATH keeps them\)", out[2])
    quiet = run("train", "model.py:build", "--data", "good.npz", "--epochs", "2", "--quiet")
    assert quiet.exit_code == 0
    assert len(quiet.output.splitlines()) == 1 and "Epoch" not in quiet.output


def test_train_a_nan_loss_is_a_problem_found_exit_1(chdir):
    result = run("train", "model.py:poisoned", "--data", "good.npz", "--batch-size", "4")
    assert result.exit_code == 1, result.output
    assert re.search(r"^error: the loss is (nan|inf) at epoch 1/1, step 1/3; training stopped before this update$",
                     result.output, re.M), result.output
    assert "first non-finite gradient: layer 'lstm' weight 'kernel'" in result.output
    assert "non-finite weight: layer 'head' weight 'kernel' (shape (4, 1)): 0 NaN and 1 inf" in result.output
    assert "Traceback" not in result.output and "trained" not in result.output


@pytest.mark.parametrize("how", ["--no-color before", "--no-color after", "NO_COLOR"])
def test_train_no_color_writes_no_ansi_codes(chdir, monkeypatch, how):
    progress = importlib.import_module("shapeviz.train.progress")
    monkeypatch.setattr(progress, "_isatty", lambda stream: True)  # a terminal: the progress bar
    forced = {"FORCE_COLOR": "1"}  # rich draws as on a terminal even though CliRunner is not one
    command = ["train", "model.py:build", "--data", "good.npz", "--epochs", "2", "--batch-size", "4"]
    coloured = run(*command, env=forced)
    assert coloured.exit_code == 0, coloured.output
    assert ANSI in coloured.output  # the bar: else this test would prove nothing
    args = {"--no-color before": ["--no-color", *command], "--no-color after": [*command, "--no-color"],
            "NO_COLOR": command}[how]
    plain = run(*args, env={**forced, "NO_COLOR": "1"} if how == "NO_COLOR" else forced)
    assert plain.exit_code == 0, plain.output
    assert ANSI not in plain.output
    out = plain.output.splitlines()  # one line per epoch instead of a bar redrawn in place
    assert re.fullmatch(r"Epoch 1/2 - loss: \d+\.\d{4}", out[0])
    assert re.fullmatch(r"Epoch 2/2 - loss: \d+\.\d{4}", out[1])
    assert out[2].startswith("trained epochs 1-2 of 2: loss: ")


@pytest.fixture
def compiled(monkeypatch):
    """What fit is called with: the model (its loss and optimizer) and the keyword arguments."""
    fit_module = importlib.import_module("shapeviz.train.fit")  # shapeviz.train.fit is also the function

    seen: dict = {}
    real = fit_module.fit

    def spy(model, x, y, **kwargs):
        seen.update(model=model, x=x, y=y, **kwargs)
        return real(model, x, y, **kwargs)

    monkeypatch.setattr(fit_module, "fit", spy)
    return seen


def test_train_optimizer_lr_clip_batch_size(chdir, compiled):
    result = run("train", "model.py:build", "--data", "good.npz", "--optimizer", "sgd", "--lr", "0.1",
                 "--clip", "1.5", "--batch-size", "5", "-q")
    assert result.exit_code == 0, result.output
    opt = compiled["model"].optimizer
    assert (opt.name, opt.learning_rate, opt.clipnorm) == ("sgd", 0.1, 1.5)
    assert compiled["batch_size"] == 5 and compiled["model"].loss.name == "mean_squared_error"


def test_train_keeps_a_specs_optimizer_and_loss(work, compiled):
    # --lr changes the spec's Adagrad's rate only; its epsilon and clipvalue stay
    result = run("train", ADDITION, "--data", work / "good.npz", "--lr", "0.01", "-q")
    assert result.exit_code == 0, result.output
    opt = compiled["model"].optimizer
    assert (opt.name, opt.learning_rate, opt.epsilon, opt.clipvalue) == ("adagrad", 0.01, 1e-6, 100.0)
    # the one-to-one spec's loss is a table with from_logits = true: training keeps it
    result = run("train", SPECS / "one_to_one.toml", "--data", work / "points.npz", "-q")
    assert result.exit_code == 0, result.output
    assert compiled["model"].loss.from_logits is True


def test_train_checkpoint_then_resume_continues_the_epoch_count(chdir, tmp_path):
    ck = tmp_path / "run.npz"
    first = run("train", "model.py:build", "--data", "good.npz", "--epochs", "1", "--checkpoint", ck)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1].endswith(f"; weights in {ck}")
    assert _saved_epoch(ck) == 1
    second = run("train", "model.py:build", "--data", "good.npz", "--epochs", "3", "--checkpoint", ck, "--resume")
    assert second.exit_code == 0, second.output
    out = second.output.splitlines()
    assert out[0] == f"resumed from {str(ck)!r} after epoch 1/3"
    assert [line.split(" - ")[0] for line in out[1:3]] == ["Epoch 2/3", "Epoch 3/3"]
    assert out[3].startswith(f"resumed from {ck} after epoch 1, trained epochs 2-3 of 3: loss: ")
    assert _saved_epoch(ck) == 3
    done = run("train", "model.py:build", "--data", "good.npz", "--epochs", "3", "--checkpoint", ck, "--resume")
    assert done.exit_code == 0
    assert done.output.splitlines()[-1] == f"nothing to train: {ck} already holds 3 epochs and --epochs is 3 " \
                                           "(raise it to train more)"


def test_train_resume_without_a_checkpoint_file_starts_fresh(chdir, tmp_path):
    ck = tmp_path / "new.npz"
    result = run("train", "model.py:build", "--data", "good.npz", "--checkpoint", ck, "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"no checkpoint at {ck} yet, started at epoch 1; trained epoch 1 of 1")
    assert ck.exists()


def _saved_epoch(path: Path) -> int:
    with np.load(path) as saved:  # closed: an open NpzFile warns when it is collected
        return int(saved["__meta__/epoch"])


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, stop: int) -> None:
    """Ctrl-C as epoch number `stop` (0-based) begins, inside fit's loop."""
    real = Progress.epoch_start

    def epoch_start(self, epoch):
        if epoch == stop:
            raise KeyboardInterrupt
        real(self, epoch)

    monkeypatch.setattr(Progress, "epoch_start", epoch_start)


def test_ctrl_c_in_train_keeps_the_last_completed_epoch(chdir, tmp_path, monkeypatch):
    clean = tmp_path / "one_epoch.npz"
    assert run("train", "model.py:build", "--data", "good.npz", "--checkpoint", clean, "-q").exit_code == 0
    ck = tmp_path / "run.npz"
    _interrupt_at(monkeypatch, 1)
    result = run("train", "model.py:build", "--data", "good.npz", "--epochs", "3", "--checkpoint", ck)
    assert result.exit_code == 130
    assert re.search(rf"interrupted in epoch 2/3: kept the weights of epoch 1/3 \(loss: \d\.\d{{4}}\); "
                     rf"weights in {re.escape(str(ck))}$", result.output.rstrip())
    assert "Traceback" not in result.output
    with np.load(ck) as saved, np.load(clean) as expected:  # closed: an open NpzFile warns when collected
        assert int(saved["__meta__/epoch"]) == 1
        assert sorted(saved.files) == sorted(expected.files)
        for key in expected.files:  # the same weights (and optimizer state) as a run of exactly one epoch
            np.testing.assert_array_equal(saved[key], expected[key], err_msg=key)


def test_ctrl_c_before_the_first_epoch_completes(chdir, tmp_path, monkeypatch):
    ck = tmp_path / "run.npz"
    _interrupt_at(monkeypatch, 0)
    result = run("train", "model.py:build", "--data", "good.npz", "--epochs", "2", "--checkpoint", ck)
    assert result.exit_code == 130
    assert result.output.splitlines() == ["interrupted: keeping the weights of epoch 0/2",  # fit's note
                                          "interrupted in epoch 1/2 before it completed: nothing trained"]
    assert not ck.exists()


def test_ctrl_c_while_loading_is_exit_130(chdir, monkeypatch):
    import shapeviz.frontends

    def interrupted(ref):
        raise KeyboardInterrupt

    monkeypatch.setattr(shapeviz.frontends, "load", interrupted)
    result = run("report", "model.py:build")
    assert result.exit_code == 130
    assert result.output == "error: interrupted\n"


# -- bad input: one clear message, exit 2, nothing written ---------------------------------------
def _spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD_SPEC = '''\
    input = "(B, T, 2)"

    [model]
    kind = "sequential"

    [[layers]]
    kind = "lstm"
    units = 4
    '''

BAD_SPECS = {
    # name: (file text, the message)
    "malformed.toml": ('input = "(B, T, 2)\n[model\n', r"malformed\.toml:1:19: not valid TOML"),
    "malformed.json": ('{"input": "(B, T, 2)", "layers": [}', r"malformed\.json:1:35: not valid JSON: Expecting value"),
    "unknown_layer.toml": (GOOD_SPEC.replace('"lstm"', '"lstmm"'),
                           r"unknown_layer\.toml:7: layers\[0\]\.kind: unknown layer kind 'lstmm' \(did you mean "
                           r"'lstm'\?\)"),
    "unknown_option.toml": (GOOD_SPEC + "    unitz = 3\n",
                            r"unknown_option\.toml:9: layers\[0\]\.unitz: unknown key 'unitz' for a layer of kind "
                            r"'lstm' \(did you mean 'units'\?\)"),
    "unknown_mode.toml": ('mode = "many-to-few"\n' + GOOD_SPEC,
                          r"unknown_mode\.toml:1: mode: unknown mode 'many-to-few' \(did you mean 'many-to-one'\?\)"),
    "zero_units.toml": (GOOD_SPEC.replace("units = 4", "units = 0"),
                        r"zero_units\.toml:8: layers\[0\]\.units: .*expected a positive integer, got 0"),
    "negative_units.toml": (GOOD_SPEC.replace("units = 4", "units = -2"),
                            r"negative_units\.toml:8: layers\[0\]\.units: .*expected a positive integer, got -2"),
    "zero_dim.toml": (GOOD_SPEC + "[dims]\nB = 0\n", r"zero_dim\.toml:\d+: dims\.B: expected a positive integer"),
    "bad_shape.toml": (GOOD_SPEC.replace('"(B, T, 2)"', '"(B, T, 2"'),
                       r"bad_shape\.toml:1: input: cannot parse the shape '\(B, T, 2': expected '\)' at column 9"),
    "not_utf8.toml": (None, r"not_utf8\.toml: cannot read the file: it is not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_specs(tmp_path, name):
    text, message = BAD_SPECS[name]
    path = tmp_path / name
    if text is None:
        path.write_bytes(b"\xff\xfe input")
    else:
        path.write_text(textwrap.dedent(text))
    out = tmp_path / "out.svg"
    result = run("graph", path, "-o", out)
    assert_unusable(result, message)
    assert not out.exists()


def test_a_good_spec_in_the_bad_spec_tests_is_good(tmp_path):
    # the bad specs are one edit away from this one, which works
    result = run("check", _spec(tmp_path, "good.toml", GOOD_SPEC))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("model, message", [
    ("missing.toml", r"error: missing\.toml: no such file"),
    ("a_folder.toml", r"error: a_folder\.toml: expected a spec file, got a directory"),
    ("missing.py:build", r"error: missing\.py:build: there is no file 'missing\.py'"),
    ("model.py", r"error: model\.py: expected path/to/file\.py:NAME.*\(e\.g\. model\.py:build\), got no NAME"),
    ("model.txt", r"error: cannot tell what model 'model\.txt' is: expected a Keras model .*, a spec file"),
    ("model.py:nothing", r"error: model\.py:nothing: model\.py has no attribute 'nothing' \(it has: .*build"),
    ("no_such_module_xyz:build", r"error: no_such_module_xyz:build: no module named 'no_such_module_xyz'"),
    ("model.py:boom", r"error: model\.py:boom: calling boom\(\) raised RuntimeError: kaboom"),
    ("model.py:not_a_model", r"error: model\.py:not_a_model: expected a shapeviz model \(Sequential, OneToMany "
                             r"or EncoderDecoder\), a torch\.nn\.Module, or a function returning one, got int 42"),
    ("model.py:quits", r"error: model\.py:quits: calling quits\(\) raised SystemExit\(3\)"),
    ("raises.py:build", r"error: raises\.py:build: running raises\.py raised ZeroDivisionError: division by zero"),
    ("syntax.py:build", r"error: syntax\.py:build: running syntax\.py raised SyntaxError"),
    ("imports.py:build", r"error: imports\.py:build: running imports\.py raised ModuleNotFoundError: No module "
                         r"named 'not_installed_xyz'"),
    ("shapeviz.modes:CANONICAL", r"error: shapeviz\.modes:CANONICAL: expected a shapeviz model .*got dict"),
])
def test_bad_model_references(chdir, tmp_path, monkeypatch, model, message):
    monkeypatch.chdir(tmp_path)
    shutil.copy(chdir / "model.py", tmp_path / "model.py")
    (tmp_path / "a_folder.toml").mkdir()
    (tmp_path / "raises.py").write_text("1 / 0\n")
    (tmp_path / "syntax.py").write_text("def build(:\n")
    (tmp_path / "imports.py").write_text("import not_installed_xyz\n")
    out = tmp_path / "out.svg"
    result = run("graph", model, "--input", "(B, T, 2)", "-o", out)
    assert_unusable(result, message)
    assert not out.exists()


def _unreadable(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """Make `paths` unreadable: chmod 0, and for root (who reads them anyway) make opening them fail."""
    for path in paths:
        path.chmod(0)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    import builtins

    denied = {path.resolve() for path in paths}
    real_open, real_read_text = builtins.open, Path.read_text

    def check(file: object) -> None:
        if isinstance(file, (str, Path)) and Path(file).resolve() in denied:
            raise PermissionError(13, "Permission denied", str(file))

    def open_(file, *args, **kwargs):
        check(file)
        return real_open(file, *args, **kwargs)

    def read_text(self, *args, **kwargs):
        check(self)
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(Path, "read_text", read_text)


def test_unreadable_files(chdir, tmp_path, monkeypatch):
    spec = _spec(tmp_path, "secret.toml", GOOD_SPEC)
    data = tmp_path / "secret.npz"
    shutil.copy(chdir / "good.npz", data)
    _unreadable(monkeypatch, spec, data)
    assert_unusable(run("report", spec), r"secret\.toml: cannot read the file: Permission denied")
    assert_unusable(run("check", "model.py:build", "--input", "(B, T, 2)", "--data", data),
                    r"error: cannot read '.*secret\.npz': Permission denied")


@pytest.mark.parametrize("options, message", [
    (["--input", "(B, T, 2"], r"error: --input: cannot parse the shape '\(B, T, 2': expected '\)' at column 9"),
    (["--input", "(B, T, 0)"], r"error: --input: in the shape '\(B, T, 0\)': every size must be positive, got 0"),
    (["--input", "(B, T, -2)"], r"error: --input: .*'\(B, T, -2\)'"),
    (["--dim", "B=0"], r"error: --dim: dim B must be a positive whole number, got 0"),
    (["--dim", "B=-3"], r"error: --dim: dim B must be a positive whole number, got -3"),
    (["--dim", "B"], r"error: --dim: a dim must be written NAME=SIZE such as B=32, got 'B'"),
    (["--dim", "B=3", "--dim", "B=4"], r"error: --dim: dim B is given twice with different sizes, 3 and 4"),
])
def test_bad_shapes_and_dims(chdir, tmp_path, options, message):
    out = tmp_path / "out.svg"
    result = run("graph", "model.py:build", "--input", "(B, T, 2)", *options, "-o", out)
    assert_unusable(result, message)
    assert not out.exists()


@pytest.mark.parametrize("options, message", [
    (["--expect-output", "(B, 1"], r"error: --expect-output: cannot parse the shape '\(B, 1'"),
    (["--expect", "lstm=(B, 4"], r"error: --expect lstm: cannot parse the shape '\(B, 4'"),
    (["--expect", "no shape"], r"error: --expect: expected LAYER=SHAPE such as \"lstm_1=\(B, 128\)\", got 'no shape'"),
    (["--data", "missing.npz"], r"error: cannot read 'missing\.npz': there is no such file"),
    (["--data", "not_npz.npz"], r"error: cannot read 'not_npz\.npz': expected an \.npz file \(arrays saved with "
                                r"np\.savez\), got a file that is not one"),
    (["--data", "no_y.npz"], r"error: 'no_y\.npz': expected arrays x and y, got no 'y' \(it holds x\)"),
])
def test_check_bad_options(chdir, options, message):
    result = run("check", "model.py:build", "--input", "(B, T, 2)", *options)
    assert_unusable(result, message)
    assert "✓" not in result.output  # found before the model is traced


@pytest.mark.parametrize("options", [["--data", "missing.npz"], ["--data", "not_npz.npz"], ["--data", "no_y.npz"],
                                     ["--dim", "B=0"], ["--input", "(B, T"], ["--expect-output", "(B, 1"],
                                     ["--expect", "no shape"], ["--expect", "typo=(B, 4)"]])
def test_check_deep_reads_options_and_data_as_check_does(chdir, options):
    plain = run("check", "model.py:build", "--input", "(B, T, 2)", *options)
    deep = run("check", "model.py:build", "--input", "(B, T, 2)", "--deep", *options)
    assert_unusable(deep, re.escape(plain.output.splitlines()[0]))
    assert "deep checks" not in deep.output  # found before the checks run


def _rows(result: Result) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(result.output)["checks"]}


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_check_deep_verifies_the_expectations_as_check_does(chdir, fmt):
    expect = ["--expect-output", "(B, 1)", "--expect", "lstm=(B, 4)"]
    good = run("check", "model.py:build", "--input", "(B, T, 2)", "--deep", "--format", fmt, *expect)
    assert good.exit_code == 0, good.output
    wrong = run("check", "model.py:synced", "--input", "(B, T, 2)", "--deep", "--format", fmt, *expect[:2])
    assert wrong.exit_code == 1, wrong.output
    message = "forward: the model's output has shape (B, T, 1), expected (B, 1)"
    assert message in run("check", "model.py:synced", "--input", "(B, T, 2)", *expect[:2]).output  # as plain check
    if fmt == "json":
        rows = _rows(good)
        assert rows["expectations"] == {"name": "expectations", "status": "pass", "fix": "",
                                        "evidence": "output (B, 1), lstm (B, 4)",
                                        "data": {"expect": {"output": "(B, 1)", "lstm": "(B, 4)"}}}
        assert list(rows)[:2] == ["shapes", "expectations"]
        report = json.loads(wrong.output)
        rows = _rows(wrong)
        assert report["ok"] is False and rows["expectations"]["status"] == "fail"
        assert rows["expectations"]["evidence"].startswith(message)
        assert [name for name, row in rows.items() if row["status"] == "fail"] == ["expectations"]
    else:
        assert "expectations ✓ pass output (B, 1), lstm (B, 4)" in lines(good.output)
        assert "all 8 checks passed" in good.output
        text = " ".join(wrong.output.split())
        assert f"expectations ✗ fail {message}" in text and "1 failed, 0 warnings, 7 passed" in text


def test_check_deep_verifies_a_specs_expectations():
    result = run("check", IMDB, "--deep", "--format", "json")
    assert result.exit_code == 0, result.output
    assert _rows(result)["expectations"]["evidence"] == "embedding_1 (B, T, 128), lstm_1 (B, 128), output (B, 1)"
    wrong = run("check", IMDB, "--deep", "--format", "json", "--expect", "lstm_1=(B, T, 128)")
    assert wrong.exit_code == 1 and _rows(wrong)["expectations"]["status"] == "fail"


def test_check_deep_skips_the_expectations_when_the_shapes_do_not_line_up(chdir):
    result = run("check", "model.py:built", "--input", "(B, T, 3)", "--deep", "--format", "json",
                 "--expect-output", "(B, 1)")
    assert result.exit_code == 1, result.output
    rows = _rows(result)
    assert rows["shapes"]["status"] == "fail"
    assert (rows["expectations"]["status"], rows["expectations"]["evidence"]) == ("warn", "skipped: the shapes do not "
                                                                                          "line up")


@pytest.mark.parametrize("output, message", [
    ("missing/out.svg", r"error: -o: cannot write '.*missing/out\.svg': the folder '.*missing' does not exist"),
    ("out.gif", r"error: -o: cannot write '.*out\.gif': expected the extension \.svg, \.png, \.pdf, \.dot, \.txt, "
                r"got '\.gif'"),
    ("out", r"error: -o: cannot write '.*out': expected the extension .*, got none"),
    ("a_file/out.svg", r"error: -o: cannot write '.*a_file/out\.svg': '.*a_file' is a file, not a folder"),
])
def test_graph_bad_output_paths(tmp_path, output, message):
    (tmp_path / "a_file").write_text("")
    result = run("graph", ADDITION, "-o", tmp_path / output)
    assert_unusable(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_graph_output_is_a_folder(tmp_path):
    result = run("graph", ADDITION, "-o", tmp_path)
    assert_unusable(result, r"Invalid value for '-o' / '--output'.*is a directory")


@pytest.mark.parametrize("options, message", [
    (["--resume"], r"error: --resume: expected --checkpoint PATH to resume from, got no --checkpoint"),
    (["--checkpoint", "run.txt"], r"error: --checkpoint: cannot write 'run\.txt': expected the extension \.npz, "
                                  r"got '\.txt'"),
    (["--checkpoint", "missing/run.npz"], r"error: --checkpoint: cannot write 'missing/run\.npz': the folder "
                                          r"'missing' does not exist"),
    (["--optimizer", "adamw"], r"error: --optimizer: .*expected one of \['adagrad', 'adam', 'rmsprop', 'sgd'\].*"
                               r"got 'adamw'"),
    (["--loss", "hinge"], r"error: --loss: .*expected one of .*'mse'.*got 'hinge'"),
    (["--lr", "0"], r"Invalid value for '--lr': expected a positive number, got 0\.0"),
    (["--lr", "nan"], r"Invalid value for '--lr': expected a positive number, got nan"),
    (["--clip", "-1"], r"Invalid value for '--clip': expected a positive number, got -1\.0"),
    (["--epochs", "0"], r"Invalid value for '--epochs'"),
    (["--batch-size", "0"], r"Invalid value for '--batch-size'"),
])
def test_train_bad_options(chdir, tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "missing.txt").write_text("")  # tmp_path is not empty, "missing/" does not exist
    result = run("train", chdir / "model.py:build", "--data", chdir / "good.npz", *options)
    assert_unusable(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["missing.txt"]


@pytest.mark.parametrize("model, data, message", [
    ("model.py:build", "no_y.npz", r"error: 'no_y\.npz': expected arrays x and y, got no 'y'"),
    ("model.py:build", "missing.npz", r"error: cannot read 'missing\.npz': there is no such file"),
    ("model.py:synced", "good.npz", r"error: cannot train on the arrays in 'good\.npz':\nlayer 'loss', forward: "
                                    r"mean_squared_error: targets of shape \(12, 1\) do not fit predictions of shape "
                                    r"\(12, 5, 1\)(.|\n)*hint: the output has a time axis"),
    ("model.py:build", "short_y.npz", r"error: cannot train on the arrays in 'short_y\.npz':\nx has 12 samples "
                                      r"\(shape \(12, 5, 2\)\) but y has 7"),
    (IMDB, "good.npz", r"error: cannot train on the arrays in 'good\.npz':\nx \(shape \(12, 5, 2\), dtype float32\) "
                       r"must be integer token ids"),
])
def test_train_data_that_does_not_fit(chdir, tmp_path, model, data, message):
    """An unreadable or incomplete file exits 2; arrays that do not fit the model are a problem found (1)."""
    ck = tmp_path / "run.npz"
    result = run("train", model, "--data", data, "--checkpoint", ck)
    assert_unusable(result, message, code=1 if "cannot train on" in message else 2)
    assert not ck.exists()


def test_train_resume_from_a_checkpoint_of_another_model(chdir, tmp_path):
    ck = tmp_path / "run.npz"
    assert run("train", "model.py:build", "--data", "good.npz", "--checkpoint", ck, "-q").exit_code == 0
    before = ck.read_bytes()
    result = run("train", "model.py:build", "--data", "three_features.npz", "--epochs", "2", "--checkpoint", ck,
                 "--resume")
    assert_unusable(result, rf"error: checkpoint '{re.escape(str(ck))}' does not fit Sequential 'tiny':\n"
                            r"  layer 'lstm' weight 'kernel': the model's shape is \(3, 16\), the checkpoint's is "
                            r"\(2, 16\)")
    assert ck.read_bytes() == before  # left as it was


# -- the installed console script ------------------------------------------------------------------
def _script() -> str:
    found = shutil.which("shapeviz", path=str(Path(sys.executable).parent)) or shutil.which("shapeviz")
    if found is None:
        pytest.skip("the shapeviz console script is not installed")
    return found


def test_console_script():
    script = _script()
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"shapeviz, version {__version__}"
    report = subprocess.run([script, "report", "examples/specs/imdb_lstm.toml"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "100"})
    assert report.returncode == 0, report.stderr
    assert "imdb_lstm (sequential): many-to-one" in report.stdout
    assert "Total 2,691,713 131072*B*T+128*B" in lines(report.stdout)
    bad = subprocess.run([script, "report", "missing.toml"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr == "error: missing.toml: no such file\n" and bad.stdout == ""
