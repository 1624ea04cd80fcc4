"""shapeviz.render.text: the unrolled picture of every mode in box-drawing characters."""

from __future__ import annotations

import pytest

from picture_cases import all_traces
from render_cases import CASES
from shapeviz import LSTM, Dense, Sequential, trace
from shapeviz.render.text import WIDTH, text_diagram
from shapeviz.tracing.records import Trace


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    return all_traces()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.mark.parametrize("case", list(CASES))
def test_text_golden(case: str, traces: dict[str, Trace], golden) -> None:
    golden(f"text/{case}.txt", text_diagram(traces[case]))


@pytest.mark.parametrize("case", list(CASES))
def test_rolled_text_golden(case: str, traces: dict[str, Trace], golden) -> None:
    golden(f"text/{case}_rolled.txt", text_diagram(traces[case], rolled=True))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rolled", [False, True])
def test_fits_100_columns(case: str, rolled: bool, traces: dict[str, Trace]) -> None:
    text = text_diagram(traces[case], unroll=3, rolled=rolled)
    assert max(len(line) for line in text.splitlines()) <= WIDTH == 100
    assert "┌" in text and "└" in text and "│" in text and "↑" in text


def test_inputs_at_the_bottom_time_to_the_right(traces: dict[str, Trace]) -> None:
    text = text_diagram(traces["synced"])
    assert line_of(text, "y_0") < line_of(text, "h_0") < line_of(text, "x_0")
    row = text.splitlines()[line_of(text, "h_0")]
    assert row.index("h_0") < row.index("h_1") < row.index("h_2") < row.index("…") < row.index("h_{T-1}")
    assert "───→" in row and "╌╌╌→…╌╌╌→" in row


def test_many_to_one_shows_one_output_after_the_last_step(traces: dict[str, Trace]) -> None:
    lines = text_diagram(traces["many_to_one"]).splitlines()
    y = lines[line_of("\n".join(lines), "│ y ")]
    h_last = lines[line_of("\n".join(lines), "h_{T-1}")]
    assert y.index("│ y ") == h_last.index("│ h_{T-1}") and "y_0" not in "\n".join(lines)


def test_bidirectional_arrows_run_both_ways(traces: dict[str, Trace]) -> None:
    text = text_diagram(traces["addition_lstm"])
    assert "│←───│" in text and "│───→│" in text
    for name in ("h←_0", "c←_0", "h→_{T-1}", "c→_{T-1}"):
        assert name in text
    # the merge reads both ends, which a grid of text cannot join: the note under it says so
    assert "concat of the forward direction's last state h→_{T-1} (B, 100) and the backward direction's last " \
           "state h←_0 (B, 100), at step 0" in " ".join(text.split())


def test_encoder_decoder_in_two_panels(traces: dict[str, Trace]) -> None:
    text = text_diagram(traces["many_to_many"])
    assert line_of(text, "encoder:") < line_of(text, "h_{T_in-1}") < line_of(text, "══→ the decoder's initial "
                                                                                  "state h, c")
    assert line_of(text, "══→") < line_of(text, "decoder:") < line_of(text, "h'_{T_out-1}")


def test_one_to_many_draws_the_vector_then_dashed_fed_back_inputs(traces: dict[str, Trace]) -> None:
    text = text_diagram(traces["one_to_many"])
    assert "│ step 0  │" in text and "╎ fed back ╎" in text and "┌╌╌" in text


def test_length_does_not_grow_with_T() -> None:
    model = Sequential([LSTM(8, return_sequences=True), LSTM(8), Dense(2)], seed=0)
    long = text_diagram(trace(model, (2, 1000, 3)))
    short = text_diagram(trace(model, (2, 5, 3)))
    assert len(long.splitlines()) == len(short.splitlines()) and "h_999" in long and "h_4" in short
    assert "… stands for steps 3 to 998" in long and "… stands for step 3:" in short


@pytest.mark.parametrize("unroll", [1, 5])
def test_other_unrolls(unroll: int, traces: dict[str, Trace]) -> None:
    text = text_diagram(traces["imdb"], unroll=unroll)
    assert f"x_{unroll - 1}" in text and f"x_{unroll}" not in text and "x_{T-1}" in text
