"""Tables in narrow terminals and with hostile layer names (issue 13, item 6): a shape is never cut,
names are shown literally on one line, nested layers keep a path that tells them apart."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from shapeviz import LSTM, Bidirectional, Dense, Sequential, trace
from shapeviz.cli import main
from shapeviz.render.narrow import display_names, safe_name
from shapeviz.render.tables import grads_table, steps_table, summary_table

ROOT = Path(__file__).resolve().parents[1]
ADDITION = str(ROOT / "examples" / "specs" / "addition.toml")
SHAPE = re.compile(r"\([A-Za-z0-9_*+\-, ]*\)")


def render(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def shapes_of(tr) -> set[str]:
    from shapeviz.render.fmt import shape_text

    out = set()
    for r in tr.layers:
        for group in (r.inputs, r.outputs, r.states):
            out.update(shape_text(s) for s in group.values())
    return out


@pytest.mark.parametrize("columns", ["40", "30", "24"])
def test_a_narrow_terminal_gets_every_shape_whole(columns):
    result = CliRunner(env={"COLUMNS": columns}).invoke(main, ["report", ADDITION, "--steps", "--grads"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    width = int(columns)
    assert max(len(line) for line in result.output.splitlines()) <= width
    for shape in ("(B, T, 2)", "(B, 200)", "(B, 100)", "(B, T)", "(B, 1)"):
        assert shape in result.output, shape
    assert "t = T-1" in result.output


def test_every_shape_of_the_summary_is_printed_at_40_columns():
    tr = trace(Sequential([Bidirectional(LSTM(100, return_sequences=True)), LSTM(100), Dense(1)], seed=0),
               "(B, T, 2)")
    text = render(summary_table(tr), 40)
    printed = set(SHAPE.findall(text))
    assert shapes_of(tr) <= printed
    assert "…" not in text


@pytest.mark.parametrize("columns", ["0", "1", "5"])
def test_no_width_still_prints(columns):
    result = CliRunner(env={"COLUMNS": columns}).invoke(main, ["report", ADDITION, "-q"])
    assert result.exit_code == 0
    assert "(B, T, 2)" in result.output and "bidirectional_1" in result.output


def test_wide_tables_keep_their_layout():
    tr = trace(Sequential([LSTM(4), Dense(1)], seed=0), "(B, T, 2)")
    assert "Layer" in render(summary_table(tr), 100).splitlines()[1]  # a table, not blocks


@pytest.mark.parametrize("name, shown", [
    ("\x1b[31mred", "\\x1b[31mred"),
    ("two\nlines", "two\\nlines"),
    ("[red]x", "[red]x"),
    ("tab\there", "tab\\there"),
    ("rtl\u202eoverride", "rtl\\u202eoverride"),
])
def test_layer_names_are_shown_safely(name, shown):
    assert safe_name(name) == shown
    model = Sequential([LSTM(4, name=name), Dense(1, name="head")], name=name, seed=0)
    tr = trace(model, "(B, T, 2)")
    for table in (summary_table(tr), grads_table(tr), steps_table(tr, name)):
        for width in (100, 30):
            text = render(table, width)
            assert "\x1b" not in text and "\u202e" not in text
            assert shown in text.replace("\n", "") or shown in text
    rows = [line for line in render(summary_table(tr), 100).splitlines() if "lstm" in line and "(B, T, 2)" in line]
    assert len(rows) == 1 and rows[0].startswith(shown)  # one row, the name as written, on the row's line


def test_nested_layers_keep_a_path_that_tells_them_apart():
    assert display_names(["enc", "enc/lstm", "dec", "dec/lstm", "head"]) == {
        "enc": "enc", "enc/lstm": "enc/lstm", "dec": "dec", "dec/lstm": "dec/lstm", "head": "head"}
    model = Sequential([Bidirectional(LSTM(3, return_sequences=True, name="lstm"), name="enc"),
                        Bidirectional(LSTM(3, name="lstm"), name="dec"), Dense(1, name="head")], seed=0)
    # a Bidirectional names its directions forward_<name> and backward_<name>: the same under both
    tr = trace(model, "(B, T, 2)")
    for table in (summary_table(tr), grads_table(tr)):
        text = render(table, 120)
        assert "enc/forward_lstm" in text and "dec/forward_lstm" in text
    plain = trace(Sequential([Bidirectional(LSTM(3)), Dense(1)], seed=0), "(B, T, 2)")
    assert "/" not in "".join(line.split()[0] for line in render(summary_table(plain), 100).splitlines()[3:5])
