"""A model that fails at layer k: the tracer keeps layers 1 … k-1, and report, check and graph show
them, the failing layer marked (red in the SVG) and the error under the table or picture."""

from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from rich.console import Console

from shapeviz import LSTM, Dense, Sequential, trace
from shapeviz.cli import main
from shapeviz.errors import ShapeError
from shapeviz.render.graph import unrolled_graph
from shapeviz.render.tables import summary_table
from shapeviz.render.text import text_diagram
from test_render_functional import dot_arrows, dot_boxes
from test_render_lengths import text_boxes

SPEC = """
description = "the second LSTM reads a vector: the first needs return_sequences"
mode = "many-to-one"
input = "(B, T, 2)"

[model]
kind = "sequential"
seed = 0

[dims]
B = 8

[[layers]]
kind = "dense"
units = 4

[[layers]]
kind = "lstm"
units = 6

[[layers]]
kind = "lstm"
units = 6

[[layers]]
kind = "dense"
units = 1
"""


def broken() -> Sequential:
    return Sequential([Dense(4, name="dense_1"), LSTM(6, name="lstm_1"), LSTM(6, name="lstm_2"),
                       Dense(1, name="dense_2")], seed=0)


def failure() -> ShapeError:
    with pytest.raises(ShapeError) as info:
        trace(broken(), "(B, T, 2)")
    return info.value


def test_the_error_keeps_what_was_traced_before_it() -> None:
    error = failure()
    assert [r.path for r in error.partial.layers] == ["dense_1", "lstm_1"]
    assert error.partial.layer("lstm_1").outputs == {"y": error.partial.layer("lstm_1").states["h"]}
    assert error.failed.path == "lstm_2" and error.failed.kind == "lstm" and error.failed.outputs == {}
    assert str(error.failed.inputs["x"]) == "(B, 6)"  # what it was given: lstm_1's last state
    assert {s.layer for s in error.partial.steps} == {"lstm_1"}  # its steps, traced


def test_a_failure_outside_any_layer_keeps_every_layer() -> None:
    with pytest.raises(ShapeError) as info:
        trace(Sequential([LSTM(6, name="lstm_1"), Dense(1, name="dense_1")], seed=0), "(B, T, 2)",
              expect={"output": "(B, 2)"})
    assert [r.path for r in info.value.partial.layers] == ["lstm_1", "dense_1"] and info.value.failed is None


def test_table_marks_the_failing_layer_and_writes_the_error_under_it() -> None:
    error = failure()
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(summary_table(error.partial, error.failed, str(error)))
    lines = out.getvalue().splitlines()
    rows = [line.split()[0] for line in lines if line.split() and line.split()[0] in ("dense_1", "lstm_1", "lstm_2", "dense_2")]
    assert rows == ["dense_1", "lstm_1", "lstm_2"]
    failed = next(line for line in lines if line.startswith("lstm_2"))
    assert "(B, 6)" in failed and "✗ failed" in failed
    table_end = max(i for i, line in enumerate(lines) if line.startswith("lstm_2"))
    assert any("expects input of rank 3" in line for line in lines[table_end:])


def test_text_diagram_and_dot_draw_the_failing_box_on_what_it_read() -> None:
    error = failure()
    text = text_diagram(error.partial, failed=error.failed, error=str(error))
    boxes = text_boxes(text)
    assert ["lstm_2", "✗ failed", "LSTM(6)"] in boxes
    assert ["h_{T-1} (B, 6)", "c_{T-1} (B, 6)"] in boxes and not any("y" in b[0] for b in boxes)
    assert "expects input of rank 3" in text.split("rows, top to bottom:")[1]
    source = unrolled_graph(error.partial, failed=error.failed, error=str(error)).source
    failed = next(b for b, lines in dot_boxes(source).items() if lines[0] == "lstm_2")
    node = next(line for line in source.splitlines() if line.strip().startswith(f"{failed} ["))
    assert 'color="#cc0000"' in node and 'fillcolor="#ff9a9a"' in node  # red
    into = [tail for tail, _, head, _, _ in dot_arrows(source) if head == failed]
    assert [dot_boxes(source)[t] for t in into] == [["h_{T-1}  (B, 6)", "c_{T-1}  (B, 6)"]]  # lstm_1's last state


@pytest.fixture
def spec(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.toml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize("command", ["report", "check"])
def test_cli_shows_the_layers_before_the_failure(command: str, spec) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, [command, str(spec), "--no-color"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "traced up to the failure" in out
    assert re.search(r"^dense_1 .*\(B, T, 4\)", out, re.M) and re.search(r"^lstm_2 .*✗ failed", out, re.M)
    assert out.index("lstm_2") < out.index("error: layer 'lstm_2'")  # the error under the table


@pytest.mark.parametrize("suffix", ["txt", "svg", "dot"])
def test_cli_graph_draws_the_partial_picture(suffix: str, spec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / f"out.{suffix}"
    result = CliRunner().invoke(main, ["graph", str(spec), "-o", str(target), "--no-color"])
    assert result.exit_code == 1, result.output
    assert "traced up to the failure" in result.output and "error: layer 'lstm_2'" in result.output
    drawn = target.read_text()
    assert "lstm_2" in drawn and "expects input of rank 3" in drawn
    if suffix != "txt":
        assert "#ff9a9a" in drawn  # the failing box, red


def test_deep_shapes_check_lists_the_layers_before_the_failure() -> None:
    import numpy as np

    from shapeviz.checks.common import Problem
    from shapeviz.checks.structure import shapes
    from shapeviz.core import losses

    problem = Problem(np.zeros((4, 5, 2), np.float32), np.zeros((4, 1), np.float32), None, losses.get("mse"))
    result = shapes(broken(), problem, declared="(B, T, 2)", dims={"B": 4, "T": 5})  # fails on the declaration
    assert result.status == "fail"
    assert result.evidence.splitlines()[0] == ("traced up to the failure: dense_1 (B, T, 2) → (B, T, 4); "
                                               "lstm_1 (B, T, 4) → (B, 6); ✗ lstm_2 given (B, 6)")
    assert [t["layer"] for t in result.data["traced"]] == ["dense_1", "lstm_1"]
    assert result.data["failed"] == {"layer": "lstm_2", "input": "(B, 6)"}


def test_cli_deep_check_shows_the_layers_before_the_failure(spec) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["check", str(spec), "--deep", "--no-color"])
    assert result.exit_code == 1, result.output
    assert re.search(r"^lstm_2 .*✗ failed", result.output, re.M)
    # the partial table first, then the deep report with the shapes check failed and the rest skipped
    assert result.output.index("✗ failed") < result.output.index("layer 'lstm_2', forward: layer 'lstm_2' (lstm)")
