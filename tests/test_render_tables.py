"""shapeviz.render.tables: the summary, steps, gradient and dims tables of every mode and seed example."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from rich.console import Console, RenderableType

from render_cases import CASES, all_traces, fresh_names
from shapeviz import Dense, LSTM, Sequential, trace
from shapeviz.errors import ConfigError
from shapeviz.render import bindings_table, grads_table, steps_table, summary_table
from shapeviz.render.jupyter import display_trace
from shapeviz.tracing.records import GradRecord, Trace


def render(renderable: RenderableType, width: int = 100, **options: object) -> str:
    """What a user sees: the renderable printed into a plain console, trailing spaces removed."""
    console = Console(file=io.StringIO(), width=width, color_system=None, **options)  # type: ignore[arg-type]
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()) + "\n"  # type: ignore[attr-defined]


def every_table(tr: Trace) -> list[RenderableType]:
    """The summary, the steps of every top-level recurrent layer (forward and backward), grads, dims."""
    recurrent = [r.path for r in tr.layers if r.depth == 0 and any(
        s.layer == r.path or s.layer.startswith(r.path + "/") for s in tr.steps)]
    return [summary_table(tr), *(steps_table(tr, p, backward=True) for p in recurrent), grads_table(tr),
            bindings_table(tr)]


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    return all_traces()


@pytest.mark.parametrize("case", list(CASES))
def test_tables_golden(case: str, traces: dict[str, Trace], golden) -> None:
    text = "\n".join(render(t) for t in every_table(traces[case]))
    golden(f"tables/{case}.txt", text)


@pytest.mark.parametrize("case", list(CASES))
def test_readable_at_80_columns(case: str, traces: dict[str, Trace]) -> None:
    for table in every_table(traces[case]):
        text = render(table, width=80)
        too_long = [line for line in text.splitlines() if len(line) > 80]
        assert not too_long, f"lines over 80 columns:\n" + "\n".join(too_long)
        assert "…" not in text, f"something was cut short at 80 columns:\n{text}"


def test_summary_of_imdb(traces: dict[str, Trace]) -> None:
    text = render(summary_table(traces["imdb"]))
    assert re.search(r"lstm_1 +lstm +\(B, T, 128\) +\(B, 128\) +h \(B, 128\) +131,584", text)
    assert "c (B, 128)" in text
    assert re.search(r"Total +2,691,713", text)
    assert "B=32 (batch, given)  T=80 (time, given)" in text
    assert "4104*B*T + 6148*B + 264192 bytes" in text
    assert "= 10,967,168 bytes (10.5 MiB)" in text
    assert "many-to-one" in text


def test_summary_indents_a_wrappers_layers_and_counts_them_once(traces: dict[str, Trace]) -> None:
    text = render(summary_table(traces["addition_lstm"]))
    assert re.search(r"└─forward_lstm_1 +lstm .*\(41,200\)", text)
    assert re.search(r"└─backward_lstm_1 +lstm .*\(41,200\)", text)
    assert text.count("c (B, 100)") == 2  # each direction's cell state
    assert re.search(r"Total +82,601", text)  # 2 * 41,200 + 201, not 164,801
    assert "bind B, T for a number" in text


def test_bound_trace_shows_numbers(traces: dict[str, Trace]) -> None:
    text = render(summary_table(traces["imdb"].bind()))
    assert "(32, 80, 128)" in text and "(B, T" not in text


def test_steps_table_rows_and_columns(traces: dict[str, Trace]) -> None:
    text = render(steps_table(traces["imdb"], "lstm_1"))
    header = next(line for line in text.splitlines() if "x_t" in line)
    assert header.split() == ["t", "x_t", "h_{t-1}", "c_{t-1}", "z_t", "h_t", "c_t", "y_t"]
    rows = [line.split()[0] for line in text.splitlines() if "(B, 512)" in line]
    assert rows == ["0", "1", "T-1"]
    assert "backward" not in text
    back = render(steps_table(traces["imdb"], "lstm_1", backward=True))
    assert re.search(r"T-1 +\(B, 128\) +\(B, 128\) +\(B, 512\) +\(B, 128\) +\(B, 128\)", back)  # one row per step


def test_steps_table_of_a_wrapper_shows_both_directions(traces: dict[str, Trace]) -> None:
    text = render(steps_table(traces["addition"], "bidirectional_1"))
    assert "forward_simple_rnn_1 (simple_rnn in bidirectional_1): forward" in text
    assert "backward_simple_rnn_1 (simple_rnn in bidirectional_1): forward" in text
    assert "go_backwards: step t reads the input at T-1-t" in text


def test_steps_table_refuses_layers_without_timesteps(traces: dict[str, Trace]) -> None:
    with pytest.raises(ConfigError, match=r"layer 'dense_1' \(dense\) has no timesteps to show; layers with "
                                          r"timesteps: lstm_1"):
        steps_table(traces["imdb"], "dense_1")
    with pytest.raises(ConfigError, match=r"no layer 'gru_9' in the trace of 'sequential_1'; its layers: "
                                          r"embedding_1, lstm_1, dense_1"):
        steps_table(traces["imdb"], "gru_9")


def test_grads_table_marks_a_wrong_gradient() -> None:
    tr = Trace("m", "sequential", "many-to-one",
               grads=[GradRecord("lstm_1/kernel", (3, 32), (3, 32)), GradRecord("lstm_1/bias", (3, 32), (32,))])
    text = render(grads_table(tr))
    assert re.search(r"lstm_1 +kernel +\(3, 32\) +\(3, 32\) +✓", text)
    assert re.search(r"\n +bias +\(3, 32\) +\(32,\) +✗", text)  # the layer's name once
    assert "1 gradient(s) do not have their parameter's shape" in text
    assert "State gradients" not in text  # no timesteps traced


def test_bindings_table_shows_provenance(traces: dict[str, Trace]) -> None:
    text = render(bindings_table(traces["many_to_many"]))
    assert re.search(r"T_out +time +- +unbound \(symbolic\) +the input decoder_inputs \(axis 1\)", text)
    text = render(bindings_table(traces["imdb"]))
    assert re.search(r"B +batch +32 +the given sizes \(B=32\) +the input x \(axis 0\)", text)


def test_renderers_print_nothing(traces: dict[str, Trace], capsys: pytest.CaptureFixture[str]) -> None:
    every_table(traces["imdb"])
    assert capsys.readouterr() == ("", "")


def test_no_colour_off_a_terminal(traces: dict[str, Trace], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLORTERM"):
        monkeypatch.delenv(name, raising=False)
    console = Console(file=io.StringIO(), width=100)  # a file: rich detects it is no terminal
    for table in every_table(traces["imdb"]):
        console.print(table)
    assert "\x1b" not in console.file.getvalue()  # type: ignore[attr-defined]


def _colours(monkeypatch: pytest.MonkeyPatch, tr: Trace, no_color: bool) -> set[str]:
    """The SGR colour codes a colour terminal gets for every table (bold and the like are not colour)."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system="truecolor")
    for table in every_table(tr):
        console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    codes = {c for seq in re.findall(r"\x1b\[([0-9;]*)m", out) for c in seq.split(";") if c}
    return {c for c in codes if re.fullmatch(r"3[0-9]|4[0-9]|9[0-7]|10[0-7]", c)}


def test_no_colour_with_no_color_set(traces: dict[str, Trace], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _colours(monkeypatch, traces["imdb"], no_color=False)  # the check marks are green on a terminal
    assert not _colours(monkeypatch, traces["imdb"], no_color=True)


def test_jupyter_shows_the_summary_as_html(traces: dict[str, Trace]) -> None:
    tr = traces["imdb"]
    html = tr._repr_html_()
    assert html.startswith("<pre") and "lstm_1" in html and "2,691,713" in html
    assert "<html" not in html  # a fragment for the notebook, not a page
    assert "lstm_1" in repr(display_trace(tr))


def test_several_outputs_and_initial_states_are_named(traces: dict[str, Trace]) -> None:
    text = render(summary_table(traces["many_to_many"]))
    assert re.search(r"lstm_1 +lstm +\(B, T_in, 3\) +y \(B, T_in, 32\)", text)  # the encoder's final states
    assert re.search(r"h_T \(B, 32\) +c \(B, 32\)", text)
    assert re.search(r"lstm_2 +lstm +x \(B, T_out, 3\) +y \(B, T_out, 32\)", text)  # the decoder starts from them
    assert re.search(r"h_0 \(B, 32\) +h_T \(B, 32\)", text)


def test_no_gradients_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_names(monkeypatch)
    tr = trace(Sequential([LSTM(8), Dense(2)]), "(B, T, 3)", backward=False)
    text = render(grads_table(tr))
    assert "no gradients traced (trace with backward=True)" in text and "State gradients" not in text


def test_a_model_without_timesteps_has_no_state_gradients(traces: dict[str, Trace]) -> None:
    text = render(grads_table(traces["one_to_one"]))
    assert re.search(r"dense_1 +kernel", text) and "State gradients" not in text


def test_core_and_tracer_do_not_import_rich() -> None:
    code = ("import sys, shapeviz, shapeviz.tracing, shapeviz.core; "
            "from shapeviz import trace, Sequential, LSTM; trace(Sequential([LSTM(4)]), '(B, T, 2)'); "
            "sys.exit('rich' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
