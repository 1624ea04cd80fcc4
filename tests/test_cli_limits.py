"""Hardening of the command line (issue 13): bounded memory (--max-memory, .npz headers, dry
reports), output paths checked before any work, every argument validated, exit codes."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from numpy.lib import format as npy

from shapeviz.cli import main
from shapeviz.cli.limits import default_limit, machine_memory, parse_size

ROOT = Path(__file__).resolve().parents[1]
ADDITION = str(ROOT / "examples" / "specs" / "addition.toml")

HUGE_DENSE = """
input = "(B, T, 2)"
[model]
kind = "sequential"
[[layers]]
kind = "lstm"
units = 4
[[layers]]
kind = "dense"
units = 1000000000
"""


def huge_lstm(units: int) -> str:
    return f'input = "(B, T, 2)"\n[model]\nkind = "sequential"\n[[layers]]\nkind = "lstm"\nunits = {units}\n'


def run(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env={"COLUMNS": "100", **(env or {})}).invoke(main, [str(a) for a in args],
                                                                   catch_exceptions=False)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "dense.toml").write_text(HUGE_DENSE)
    for units in (10**5, 10**9):
        (tmp_path / f"lstm{units}.toml").write_text(huge_lstm(units))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "seq.npz", x=rng.normal(size=(8, 5, 2)).astype("float32"),
             y=rng.normal(size=(8,)).astype("float32"))
    np.savez(tmp_path / "wide.npz", x=rng.normal(size=(8, 5, 2)).astype("float32"),
             y=rng.normal(size=(8, 10**5)).astype("float32"))
    return tmp_path


def zeros_npz(path: Path, shape: tuple[int, ...]) -> None:
    """An .npz of float32 zeros written a chunk at a time: a few MB on disk for GBs of array."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, s in (("x", shape), ("y", shape[:1])):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                npy.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": s})
                left, chunk = 4 * int(np.prod(s)), bytes(1 << 22)
                while left > 0:
                    handle.write(chunk[:min(left, len(chunk))])
                    left -= len(chunk)


# -- item 2: bounded resources -------------------------------------------------------------------
def test_the_default_limit_is_half_the_machine():
    total = machine_memory()
    assert total and total > 1 << 20
    assert default_limit() == total // 2


@pytest.mark.parametrize("text, size", [("4G", 4 << 30), ("512M", 512 << 20), ("1.5GiB", 3 << 29), ("2kb", 2048),
                                        ("1000", 1000), (" 3 t ", 3 << 40)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1G", "G", "4X", "0", "0.1"])
def test_bad_sizes_are_refused(work, text):
    result = run("train", ADDITION, "--data", work / "seq.npz", "--max-memory", text)
    assert result.exit_code == 2
    assert "Invalid value for '--max-memory'" in result.output


def test_report_of_a_huge_dense_allocates_nothing_of_its_size(work):
    before = peak_mib()
    result = run("report", work / "dense.toml", "-q")
    assert result.exit_code == 0, result.output
    assert "5,000,000,112" in result.output  # the parameters counted, not made (20 GB in float32)
    assert peak_mib() - before < 200


def test_report_of_a_huge_lstm_is_a_report(work):
    units = 10**5
    result = run("report", work / f"lstm{units}.toml", "-q")
    assert result.exit_code == 0, result.output
    assert f"{4 * units * (units + 2 + 1):,}" in result.output
    graph = run("graph", work / f"lstm{units}.toml", "-o", work / "g.txt")
    assert graph.exit_code == 0, graph.output


def test_report_of_an_lstm_no_array_can_hold_says_so(work):
    for command in (["report"], ["check"], ["check", "--deep"]):
        result = run(command[0], work / "lstm1000000000.toml", *command[1:])
        assert result.exit_code == 2, result.output
        assert "error: a parameter of shape (1000000000, 4000000000) (float32) would take 13.9 EiB, more than " \
               "any array can hold" in " ".join(result.output.split())


@pytest.mark.parametrize("command", [
    ["train", "{w}/lstm100000.toml", "--data", "{w}/wide.npz"],
    ["check", "{w}/lstm100000.toml", "--data", "{w}/wide.npz"],
    ["check", "{w}/lstm100000.toml", "--deep"],
    ["train", "{w}/dense.toml", "--data", "{w}/seq.npz"],
])
def test_runs_over_the_limit_are_refused_before_they_allocate(work, command):
    before = peak_mib()
    result = run(*[part.format(w=work) for part in command], "--max-memory", "1G")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    message = " ".join(result.output.split())
    assert "would need about" in message and "parameters:" in message
    assert "over the memory limit of 1 GiB; raise the limit with --max-memory" in message
    assert peak_mib() - before < 200


def test_the_default_limit_is_named_in_the_refusal(work):
    result = run("check", work / "lstm100000.toml", "--deep")
    assert result.exit_code == 2
    assert "(the default: half of this machine's" in " ".join(result.output.split())


def test_the_environment_sets_the_limit(work):
    refused = run("check", ADDITION, "--data", work / "seq.npz", env={"SHAPEVIZ_MAX_MEMORY": "1K"})
    assert refused.exit_code == 2 and "over the memory limit of 1 KiB" in " ".join(refused.output.split())
    assert run("check", ADDITION, "--data", work / "seq.npz", env={"SHAPEVIZ_MAX_MEMORY": "1G"}).exit_code == 0


def test_an_npz_of_zeros_is_measured_by_its_headers(work):
    path = work / "zeros.npz"
    zeros_npz(path, (256, 1024, 256))  # 256 MiB of float32 zeros in about 256 KB
    assert path.stat().st_size < 2 << 20
    before = peak_mib()
    for command in (["check", ADDITION, "--data", path], ["train", ADDITION, "--data", path],
                    ["check", ADDITION, "--deep", "--data", path]):
        result = run(*command, "--max-memory", "64M")
        assert result.exit_code == 2, result.output
        message = " ".join(result.output.split())
        assert (f"loading the arrays of '{path}' would need about 256 MiB (x (256, 1024, 256) float32: 256 MiB"
                in message)
        assert "over the memory limit of 64 MiB" in message
    assert peak_mib() - before < 100  # the data was never decompressed


def test_an_npz_holding_objects_is_refused_by_its_header(work):
    np.savez(work / "objects.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    result = run("check", ADDITION, "--data", work / "objects.npz")
    assert result.exit_code == 2
    assert "holds Python objects" in result.output


def test_a_fitting_run_still_runs_under_a_limit(work):
    result = run("train", ADDITION, "--data", work / "seq.npz", "--max-memory", "512M", "-q")
    assert result.exit_code == 0, result.output


# -- item 4: fail before the work -----------------------------------------------------------------
def unwritable() -> Path:
    """A folder no file can be made in, even by root (sysfs refuses new files)."""
    folder = Path("/sys")
    assert folder.is_dir()
    return folder


def test_train_checkpoint_into_an_unwritable_folder_fails_before_training(work):
    result = run("train", ADDITION, "--data", work / "seq.npz", "--checkpoint", unwritable() / "ck.npz")
    assert result.exit_code == 2
    assert "Epoch" not in result.output and "internal error" not in result.output
    assert "error: --checkpoint: cannot write '/sys/ck.npz': no file can be made in the folder '/sys'" in result.output


def test_train_checkpoint_that_is_a_folder(work):
    (work / "ck.npz").mkdir()
    result = run("train", ADDITION, "--data", work / "seq.npz", "--checkpoint", work / "ck.npz")
    assert result.exit_code == 2
    assert "Epoch" not in result.output and "Traceback" not in result.output


def test_deep_plot_into_an_unwritable_folder_fails_before_the_checks(work):
    result = run("check", ADDITION, "--deep", "--plot", unwritable() / "flow.svg")
    assert result.exit_code == 2
    assert "gradients" not in result.output  # no check ran
    assert "--plot: cannot write '/sys/flow.svg': no file can be made in the folder '/sys'" in result.output


@pytest.mark.parametrize("command", [["graph", ADDITION, "-o", "/sys/a.svg"], ["modes", "-q", "-o", "/sys/modes"]])
def test_pictures_into_an_unwritable_folder_fail_first(command):
    result = run(*command)
    assert result.exit_code == 2
    assert "no file can be made in the folder '/sys'" in result.output and "Layer" not in result.output


@pytest.mark.parametrize("args", [["--help"], ["report", ADDITION], ["report", "--help"]])
def test_output_to_a_full_device_is_a_message(args):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "shapeviz.cli", *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: cannot write the output: No space left on device"


# -- item 5: every argument validated ------------------------------------------------------------
@pytest.mark.parametrize("value", ["", " ", ";", "(B, T, 2);"])
def test_an_empty_input_is_an_argument_error(value):
    result = run("report", ADDITION, "--input", value)
    assert result.exit_code == 2
    assert "--input: expected a shape such as" in result.output and "internal error" not in result.output


def test_a_scalar_input_is_a_shape_problem():
    result = run("report", ADDITION, "--input", "()")
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output


def test_a_negative_seed_is_an_argument_error(work):
    result = run("train", ADDITION, "--data", work / "seq.npz", "--seed", "-1")
    assert result.exit_code == 2
    assert "Invalid value for '--seed'" in result.output and "internal error" not in result.output


@pytest.mark.parametrize("command", [["report"], ["graph", "-o", "x.txt"], ["check"], ["check", "--deep"]])
def test_an_unknown_dim_is_an_error_as_in_a_spec(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(command[0], ADDITION, *command[1:], "--dim", "Z=3")
    assert result.exit_code == 2, result.output
    assert "--dim Z=3: no shape of the model uses the dim 'Z'; the dims used are: B, T" in result.output
    near = run("report", ADDITION, "--dim", "TT=3")
    assert "(did you mean 'T'?)" in near.output
    assert not (tmp_path / "x.txt").exists()


def test_a_dim_of_the_input_option_is_known(work):
    (work / "free.py").write_text("from shapeviz import LSTM, Dense, Sequential\n"
                                  "def build():\n    return Sequential([LSTM(4), Dense(1)], seed=0)\n")
    result = run("report", f"{work / 'free.py'}:build", "--input", "(N, L, 2)", "--dim", "L=7", "-q")
    assert result.exit_code == 0, result.output
    assert "L=7 (other, given)" in result.output
    wrong = run("report", f"{work / 'free.py'}:build", "--input", "(N, L, 2)", "--dim", "T=7")
    assert wrong.exit_code == 2 and "the dims used are: L, N" in wrong.output


def test_check_json_without_deep():
    result = run("check", ADDITION, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == ["shapes", "expectations"]


def test_check_json_prints_the_failure(work):
    for extra in ([], ["--deep"]):
        result = CliRunner().invoke(main, ["check", ADDITION, "--format", "json", "--input", "(B, 2)",
                                                           *extra])
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        assert report["ok"] is False
        shapes = report["checks"][0]
        assert shapes["name"] == "shapes" and shapes["status"] == "fail"
        assert "expects input of rank 3" in shapes["evidence"]
        assert {c["status"] for c in report["checks"][1:]} <= {"warn"}


def test_check_json_with_data_that_does_not_fit(work):
    mismatch = CliRunner().invoke(main, ["check", ADDITION, "--format", "json", "--data",
                                                         work / "wide.npz"])
    assert mismatch.exit_code == 1, mismatch.output
    report = json.loads(mismatch.stdout)
    assert report["checks"][-1]["name"] == "data" and report["checks"][-1]["status"] == "fail"


@pytest.mark.parametrize("how", [["--input", "(B, T, 3)"], ["--data", "{w}/three.npz"]])
def test_a_model_and_data_that_do_not_fit_exit_1_both_ways(work, how):
    np.savez(work / "three.npz", x=np.zeros((4, 5, 3), "float32"), y=np.zeros((4,), "float32"))
    model = work / "built.py"
    model.write_text("from shapeviz import LSTM, Dense, Sequential\n"
                     "def build():\n    return Sequential([LSTM(4), Dense(1)], seed=0).build((None, None, 2))\n")
    result = run("check", f"{model}:build", *[part.format(w=work) for part in how])
    assert result.exit_code == 1, result.output


def test_a_dry_trace_leaves_the_model_as_it_was():
    from shapeviz import LSTM, Dense, Sequential
    from shapeviz.tracing.budget import dry_trace, estimate

    model = Sequential([LSTM(4), Dense(3)], seed=0)
    tr, made = dry_trace(model, "(B, T, 2)", dims={"B": 8, "T": 5})
    assert not model.built  # a copy was built, dry
    assert made == 2 * 4 * (4 * 4 * (2 + 4 + 1) + 3 * (4 + 1))  # parameters and gradients, float32
    est = estimate(tr)
    assert est.params == 4 * 4 * 7 + 15 and est.param_bytes == 4 * est.params
    real = Sequential([LSTM(4), Dense(3)], seed=0)
    from shapeviz import trace

    same = trace(real, "(B, T, 2)", dims={"B": 8, "T": 5})
    assert same.memory_bytes() == est.bptt_bytes  # the same formula as a real build's trace
    assert [r.params for r in same.layers] == [r.params for r in tr.layers]


def test_a_dim_of_an_expectation_on_the_command_line_is_known():
    for deep in ([], ["--deep", "--format", "json"]):
        result = run("check", ADDITION, "--expect-output", "(B, K)", "--dim", "K=1", *deep)
        assert result.exit_code == 0, result.output
