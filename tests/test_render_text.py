"""shapeviz.render.text: the unrolled picture of every mode in box-drawing characters."""

from __future__ import annotations

import pytest

from picture_cases import all_traces
from render_cases import CASES
from shapeviz import GRU, LSTM, Bidirectional, Dense, Sequential, SimpleRNN, trace
from shapeviz.render.text import WIDTH, crossing, draw, text_diagram
from shapeviz.render.unroll import Box, Column, Link, Row, Unrolled, unrolled
from shapeviz.tracing.records import Trace


# Bidirectional beyond the golden cases: every merge mode, one output or a sequence, alone or stacked
BIDIRECTIONAL = {f"{mode}_{'sequences' if seq else 'last'}{'_stacked' if stacked else ''}":
                 (mode, seq, stacked) for mode in ("concat", "sum", None) for seq in (False, True)
                 for stacked in (False, True)}


def bidirectional_trace(name: str) -> Trace:
    """A Bidirectional(SimpleRNN(6)), or stacked: Bidirectional(GRU(5)) under a Bidirectional(LSTM(6))."""
    mode, seq, stacked = BIDIRECTIONAL[name]
    lower = [Bidirectional(GRU(5, return_sequences=True), merge_mode="concat")] if stacked else []
    cell = (LSTM if stacked else SimpleRNN)(6, return_sequences=seq)
    head = [Dense(1)] if mode is not None else []  # an unmerged pair is the model's output
    return trace(Sequential([*lower, Bidirectional(cell, merge_mode=mode), *head], seed=0), "(B, T, 2)")


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    return all_traces()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


# -- reading the links back out of a diagram -------------------------------------------------------
Rect = tuple[int, int, int, int]  # top, left, bottom, right: a box's borders (an ellipsis: its column of …)
_CORNERS = {"┌": ((0, 1), (1, 0)), "┐": ((0, -1), (1, 0)), "└": ((0, 1), (-1, 0)), "┘": ((0, -1), (-1, 0))}
_HEADS = {"↑": (1, 0), "↓": (-1, 0), "→": (0, -1), "←": (0, 1)}  # an arrowhead: the step back along its line


def _grid(text: str) -> list[str]:
    lines = text.splitlines()
    return [line.ljust(max(map(len, lines)) + 1) for line in lines]


def _box_texts(box: Box) -> list[str]:
    return [t for name, shape in box.lines for t in (name, shape) if t] + ([box.note] if box.note else [])


def _locate(pic: Unrolled, grid: list[str]) -> dict[str, Rect]:
    """Where each box of ``pic`` is drawn: the bands of boxes, top to bottom, are the rows of each
    panel, the top row first; a band's rectangles and …, left to right, its boxes by column."""
    rects = []
    for y, line in enumerate(grid):
        for x, ch in enumerate(line):
            right = x + 1
            while ch == "┌" and line[right] in "─╌┴":
                right += 1
            if ch == "┌" and line[right] == "┐":
                bottom = next(b for b in range(y + 1, len(grid)) if grid[b][x] not in "│╎┤")  # ┤: an arrow out
                if grid[bottom][x] == "└":
                    rects.append((y, x, bottom, right))
    panels: list[list[int]] = []
    for c, col in enumerate(pic.columns):
        if c == 0 or pic.columns[c - 1].group != col.group:
            panels.append([])
        panels[-1].append(c)
    bands = [(cols, r) for cols in panels for r in sorted({b.row for b in pic.boxes if b.col in cols}, reverse=True)]
    tops = sorted({r[0] for r in rects})
    assert len(tops) == len(bands), f"{len(tops)} bands of boxes drawn, the picture has {len(bands)}"
    where: dict[str, Rect] = {}
    for (cols, r), top in zip(bands, tops):
        drawn = [rect for rect in rects if rect[0] == top]
        bottom = max(b for _, _, b, _ in drawn)
        for x, ch in enumerate(grid[top + 1]):
            if ch == "…" and x > drawn[0][1] and not any(left < x < right for _, left, _, right in drawn):
                dots = [y for y in range(top + 1, bottom) if grid[y][x] == "…"]
                drawn.append((dots[0], x, dots[-1], x))
        drawn.sort(key=lambda rect: rect[1])
        boxes = sorted((b for b in pic.boxes if b.row == r and b.col in cols), key=lambda b: b.col)
        assert len(drawn) == len(boxes), f"row {pic.rows[r].title}: {len(drawn)} boxes drawn, {len(boxes)} pictured"
        for box, (y0, x0, y1, x1) in zip(boxes, drawn):
            texts = ["…"] if x0 == x1 else [grid[y][x0 + 1:x1].strip() for y in range(y0 + 1, y1)]
            while texts and not texts[-1]:
                texts.pop()
            assert texts == (["…"] if box.role == "ellipsis" else _box_texts(box)), (box, texts)
            where[box.id] = (y0, x0, y1, x1)
    return where


def _inside(rect: Rect, y: int, x: int) -> bool:
    return rect[0] <= y <= rect[2] and rect[1] <= x <= rect[3]


_JOINS = {"─": "lr", "╌": "lr", "═": "lr", "│": "ud", "╎": "ud", "┌": "dr", "┐": "dl", "└": "ur", "┘": "ul",
          "├": "udr", "┤": "udl", "┬": "dlr", "┴": "ulr", "┼": "udlr"}
_STEPS = {"u": (-1, 0), "d": (1, 0), "l": (0, -1), "r": (0, 1)}


def _sources(grid: list[str], where: dict[str, Rect], dst: str, label: str) -> set[str]:
    """The boxes the arrows into ``dst`` come from: each arrowhead that points at it, followed back
    along its line (turning at corners, branching at junctions: a pooling's bus joins several
    steps, over `` label `` written into it) to the boxes it leaves."""
    y0, x0, y1, x1 = where[dst]
    around = [(y, x) for y in range(y0 - 1, y1 + 2) for x in range(x0 - 1, x1 + 2) if not _inside(where[dst], y, x)]
    found = set()
    for y, x in around:
        if grid[y][x] not in _HEADS:
            continue
        dy, dx = _HEADS[grid[y][x]]
        if not _inside(where[dst], y - dy, x - dx):  # it points elsewhere
            continue
        todo, seen = [(y, x, dy, dx)], set()
        while todo:
            y, x, dy, dx = todo.pop()
            y, x = y + dy, x + dx
            if (y, x, dy, dx) in seen:
                continue
            seen.add((y, x, dy, dx))
            ch = grid[y][x] if 0 <= y < len(grid) and 0 <= x < len(grid[y]) else ""
            src = next((i for i, rect in where.items() if i != dst and _inside(rect, y, x)), None)
            if src is not None:
                found.add(src)
                continue
            if label and dy == 0 and ch == " ":  # a label written into a line along the row
                start = x if dx > 0 else x - len(label) - 1
                if grid[y][start:start + len(label) + 2] == f" {label} ":
                    todo.append((y, x + dx * (len(label) + 1), dy, dx))
                continue
            joins = _JOINS.get(ch, "")
            back = next((d for d, step in _STEPS.items() if step == (-dy, -dx)), "")
            if back not in joins:
                continue  # not a line that continues the one we came along
            todo += [(y, x, *_STEPS[d]) for d in joins if d != back]
    return found


def undrawn(pic: Unrolled, text: str) -> list[Link]:
    """The links of ``pic`` that ``text`` does not draw as an arrow from one box to the other
    (a rolled view's loop: ``↺ label × n`` beside its box; an arrow from one panel into the next:
    a ``══→`` line under the first)."""
    grid = _grid(text)
    where = _locate(pic, grid)
    missing = []
    for link in pic.links:
        src, dst = pic.box(link.src), pic.box(link.dst)
        if link.kind == "align":  # keeps a collapsed column straight; not drawn in any picture
            continue
        if src is dst:
            y0, _, y1, x1 = where[src.id]
            drawn = any(grid[y][x1 + 2:].startswith(f"↺ {link.label} {link.loop}") for y in range(y0, y1 + 1))
        elif pic.columns[src.col].group != pic.columns[dst.col].group:
            drawn = crossing(pic, link) in [line.rstrip() for line in grid]
        else:
            drawn = src.id in _sources(grid, where, dst.id, link.label)
        if not drawn:
            missing.append(link)
    return missing


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


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rolled", [False, True])
def test_every_link_is_an_arrow(case: str, rolled: bool, traces: dict[str, Trace]) -> None:
    pic = unrolled(traces[case], 3, rolled)
    assert undrawn(pic, draw(pic)) == []


@pytest.mark.parametrize("name", list(BIDIRECTIONAL))
@pytest.mark.parametrize("rolled", [False, True])
def test_bidirectional_every_link_within_width(name: str, rolled: bool) -> None:
    pic = unrolled(bidirectional_trace(name), 3, rolled)
    text = draw(pic)
    assert undrawn(pic, text) == []
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_a_missing_arrow_is_found(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["synced"])
    text = draw(pic)
    gone = text.replace("│───→│ h_2", "│    │ h_2", 1)
    assert gone != text and [(pic.box(link.src).lines[0][0], pic.box(link.dst).lines[0][0])
                             for link in undrawn(pic, gone)] == [("h_1", "h_2")]


def test_a_link_without_a_free_route_is_written_under_the_picture() -> None:
    # q and r side by side in the top row, p under r: r stands in the way of p's arrow to q,
    # straight up or around the right
    pic = Unrolled("t", "s", rows=[Row("a"), Row("b")], columns=[Column(None), Column(None)],
                   boxes=[Box("p", 0, 1, "state", (("p", "(B, 1)"),)), Box("q", 1, 0, "state", (("q", "(B, 1)"),)),
                          Box("r", 1, 1, "output", (("r", "(B, 1)"),))],
                   links=[Link("p", "r", "kernel", "kernel"), Link("q", "r", "merge", "concat"),
                          Link("p", "q", "merge", "sum")])
    text = draw(pic)
    assert undrawn(pic, text) == [Link("p", "q", "merge", "sum")]
    assert "p ──→ q (sum)" in text.splitlines()


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
    # the merge reads both ends: from the top of step 0's box, up and across to it
    lines = text.splitlines()
    m = lines[line_of(text, "│ m ")]
    h0 = line_of(text, "│ h←_0")
    assert "┌─" in m and "─ concat ─" in m and m.index("┌") == lines[h0].index("│ h←_0") + 6  # its middle
    assert m.rstrip().endswith("─→│ m        │") and lines[h0 - 1].index("┴") == m.index("┌")
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
