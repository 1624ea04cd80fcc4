"""Graph models drawn: the graph in the trace records, the summary's Connected to column, and the
boxes and arrows of the DOT and the text diagram read back out of what was drawn."""

from __future__ import annotations

import re
from html import unescape

import pytest

from picture_cases import all_traces
from shapeviz import (GRU, LSTM, Add, Concatenate, Dense, Dropout, Input, LastStep, Masking, Model, RepeatVector,
                      TakeStep, TimeDistributed, trace)
from shapeviz.render import summary_table, text_diagram, unrolled_graph
from shapeviz.render.text import WIDTH, crossing, draw
from shapeviz.render.unroll import unrolled
from shapeviz.tracing.records import EdgeRecord, Trace
from test_render_tables import render
from test_render_text import _grid, _locate, _sources, undrawn

GRAPHS = ["seq2seq_graph", "repeat_graph", "pooled_graph"]


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    return all_traces()


# -- reading a DOT source back: its boxes by what they say, its arrows ------------------------------
def dot_boxes(source: str) -> dict[str, list[str]]:
    """Each box's id and its lines of text (a table's cells by port: ``{"r1c4": ["h_{T_in-1}  (B, 32)", ...]}``)."""
    out = {}
    for box, label in re.findall(r"^\s*(r\d+c\d+) \[label=<(.*)> ", source, re.M):
        cells = re.findall(r"<td port=\"\w+\"[^>]*>(.*?)</td>", label)
        text = cells or [re.sub(r"<[^>]+>", " ", part).strip() for part in re.split(r"<br/>", label)]
        out[box] = [unescape(t) for t in text if t]
    return out


def dot_arrows(source: str) -> list[tuple[str, str, str, str, str]]:
    """Every drawn arrow: (tail box, tail port, head box, head port, label)."""
    arrows = []
    for tail, head, attrs in re.findall(r"^\s*(\S+) -> (\S+)(?: \[(.*)\])?$", source, re.M):
        if "style=invis" in attrs or tail.startswith("row"):
            continue
        label = re.search(r'label="?([^"\]]*?)"?(?: \w+=|$)', attrs)
        t, h = tail.split(":"), head.split(":")
        arrows.append((t[0], t[1] if len(t) > 1 and t[1] not in "nsew" else "", h[0],
                       h[1] if len(h) > 1 and h[1] not in "nsew" else "", label.group(1) if label else ""))
    return arrows


def box_named(boxes: dict[str, list[str]], name: str) -> str:
    found = [b for b, lines in boxes.items() if any(line.split()[0] == name for line in lines)]
    assert len(found) == 1, (name, found)
    return found[0]


# -- the records -----------------------------------------------------------------------------------
def test_the_trace_records_the_graph(traces: dict[str, Trace]) -> None:
    g = traces["seq2seq_graph"].graph
    assert [n.name for n in g.nodes] == ["encoder_inputs", "decoder_inputs", "encoder", "decoder", "decoder_dense"]
    assert g.node("encoder").outputs == ("y", "h", "c")
    assert g.into("decoder") == [EdgeRecord("decoder_inputs", 0, "input", "decoder", "input", 0),
                                 EdgeRecord("encoder", 1, "h", "decoder", "initial_state", 0),
                                 EdgeRecord("encoder", 2, "c", "decoder", "initial_state", 1)]
    assert g.tensor("encoder", 1) == "encoder.h" and g.tensor("decoder_dense", 0) == "decoder_dense"
    assert traces["seq2seq_graph"].bind(B=4).graph is g  # plain names, nothing to bind
    assert traces["many_to_many"].graph is None  # the other models keep what they had


def shared_model() -> Model:
    a, b = Input("(B, T, 3)", name="a"), Input("(B, T, 3)", name="b")
    shared = GRU(4, return_sequences=True, name="shared")
    ya, yb = shared(a), shared(Dense(3, name="pre")(b))
    return Model(inputs=[a, b], outputs=Dense(2, name="head")(Add(name="sum")([ya, yb])), seed=0)


def test_a_shared_layer_is_counted_once_and_its_calls_are_rows() -> None:
    model = shared_model()
    tr = trace(model, None)
    assert tr.param_count == model.count_params() == 108 + 12 + 10
    text = render(summary_table(tr), width=120)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("shared@1"))
    assert "(108)" in row and row.rstrip().endswith("pre")
    at = next(i for i, line in enumerate(lines) if line.startswith("sum "))
    assert lines[at].rstrip().endswith("shared") and lines[at + 1].rstrip().endswith("shared@1")
    assert "name@k: call k+1 of a shared layer" in " ".join(text.split())
    assert [r.split()[:2] for r in lines if r.split()[:2] in (["a", "input"], ["b", "input"])] == \
        [["a", "input"], ["b", "input"]]


def test_connected_to_lines_up_with_the_inputs(traces: dict[str, Trace]) -> None:
    text = render(summary_table(traces["seq2seq_graph"]), width=120)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("decoder "))
    assert [lines[at + k].split()[-1] for k in range(3)] == ["decoder_inputs", "encoder.h", "encoder.c"]
    assert "x (B, T_out, 93)" in lines[at] and "h_0 (B, 32)" in lines[at + 1] and "c_0 (B, 32)" in lines[at + 2]
    assert lines[0].split()[-2:] == ["Connected", "to"] or "Connected to" in lines[1]
    narrow = render(summary_table(traces["seq2seq_graph"]), width=80)
    assert "Connected to" in narrow and "Input " not in narrow.splitlines()[1]  # Keras's columns at 80


# -- the DOT, read back ----------------------------------------------------------------------------
def test_dot_hands_each_state_to_the_decoders_first_step(traces: dict[str, Trace]) -> None:
    source = unrolled_graph(traces["seq2seq_graph"]).source
    boxes = dot_boxes(source)
    last, first = box_named(boxes, "h_{T_in-1}"), box_named(boxes, "h'_0")
    handed = {(tp, hp, label) for t, tp, h, hp, label in dot_arrows(source) if (t, h) == (last, first)}
    assert handed == {("h", "h", "initial state h"), ("c", "c", "initial state c")}
    # the decoder's steps read the decoder's inputs, the head reads every decoder step
    for t in ("0", "1", "2", "{T_out-1}"):
        x, h, y = (box_named(boxes, f"{n}_{t}") for n in ("x'", "h'", "y"))
        arrows = dot_arrows(source)
        assert (x, h, "kernel") in {(a[0], a[2], a[4]) for a in arrows}
        assert (h, y, "kernel") in {(a[0], a[2], a[4]) for a in arrows}


def test_dot_pooling_reads_every_drawn_step(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["pooled_graph"])
    source = unrolled_graph(traces["pooled_graph"]).source
    boxes = dot_boxes(source)
    steps = {box_named(boxes, f"m_{t}") for t in ("0", "1", "2", "{T-1}")}
    pools = [b for b, lines in boxes.items() if lines[0] == "p"]
    assert len(pools) == 2
    arrows = dot_arrows(source)
    for pool in pools:
        assert {a[0] for a in arrows if a[2] == pool} == steps
        assert sorted(a[4] for a in arrows if a[2] == pool and a[4]) in (["mean"], ["max"])
    concat = box_named(boxes, "m")
    assert {a[0] for a in arrows if a[2] == concat} == set(pools)
    assert {pic.rows[pic.box(p).row].title for p in pools} == {"avg", "max"}


def test_dot_repeat_vector_copies_along_its_row(traces: dict[str, Trace]) -> None:
    source = unrolled_graph(traces["repeat_graph"]).source
    boxes = dot_boxes(source)
    arrows = {(a[0], a[2], a[4]) for a in dot_arrows(source)}
    r = [box_named(boxes, f"r_{t}") for t in range(4)]
    assert (box_named(boxes, "a"), r[0], "repeat") in arrows
    assert all((r[t], r[t + 1], "copy") in arrows for t in range(3))
    assert all((r[t], box_named(boxes, f"h_{t}"), "kernel") in arrows for t in range(4))
    rolled = unrolled_graph(traces["repeat_graph"], rolled=True).source
    assert re.search(r'r\d+c0 -> r\d+c0 \[label="h: recurrent_kernel × 4\\lc: forget gate × 4\\l"', rolled)


@pytest.mark.parametrize("case", GRAPHS)
def test_rolled_dot_one_box_per_node_and_its_loop(case: str, traces: dict[str, Trace]) -> None:
    pic = unrolled(traces[case], rolled=True)
    assert all(len([c for c in pic.columns if c.group == g]) == 1 for g in {c.group for c in pic.columns})
    loops = [link for link in pic.links if link.src == link.dst]
    recurrent = [n for n in traces[case].graph.nodes if n.kind in ("lstm", "gru", "bidirectional")]
    assert loops and len({link.src for link in loops}) == len(recurrent)


# -- the text, read back ---------------------------------------------------------------------------
def text_sources(pic, name: str) -> set[str]:
    """The first lines of the boxes the arrows into the box whose first line is ``name`` come from."""
    text = draw(pic)
    grid = _grid(text)
    where = _locate(pic, grid)
    dst = next(b.id for b in pic.boxes if b.lines and b.lines[0][0] == name)
    found = set()
    for link in pic.links:
        if link.dst == dst and link.src in _sources(grid, where, dst, link.label):
            found.add(pic.box(link.src).lines[0][0])
    return found


def test_text_pooling_arrows_come_from_every_step(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["pooled_graph"])
    text = draw(pic)
    grid = _grid(text)
    where = _locate(pic, grid)
    steps = {b.id for b in pic.boxes if b.lines and b.lines[0][0].startswith("m_")}
    pools = [b.id for b in pic.boxes if b.lines and b.lines[0][0] == "p"]
    for pool in pools:
        assert _sources(grid, where, pool, "") | _sources(grid, where, pool, "mean") >= steps
    concat = next(b.id for b in pic.boxes if b.lines == (("m", "(B, 32)"),))
    assert _sources(grid, where, concat, "concat") >= set(pools)
    assert undrawn(pic, text) == []
    assert "┬" in text and "┴" in text and "┼" in text  # the bus of the two poolings


def test_text_seq2seq_hands_over_under_the_encoder_panel(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["seq2seq_graph"])
    text = draw(pic)
    lines = text.splitlines()
    handover = [link for link in pic.links if link.kind == "handover"]
    assert [crossing(pic, link) for link in handover] == [
        "h_{T_in-1} ══→ h'_0 of decoder (over T_out): initial state h",
        "c_{T_in-1} ══→ c'_0 of decoder (over T_out): initial state c"]
    assert lines.index("over T_in:") < lines.index(crossing(pic, handover[0])) < lines.index("over T_out:")
    # each panel's row titles are its own nodes
    assert any(line.startswith("encoder_inputs ") for line in lines) and \
        any(line.startswith("decoder_inputs ") for line in lines)
    assert text_sources(pic, "h'_1") == {"x'_1", "h'_0"}


def test_text_repeat_row(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["repeat_graph"])
    assert text_sources(pic, "r_0") == {"a"} and text_sources(pic, "r_2") == {"r_1"}
    assert text_sources(pic, "h_2") == {"r_2", "h_1"} and text_sources(pic, "a") == {"x"}


def addition_rnn() -> Model:
    """Keras's addition_rnn whole: an LSTM encoder, RepeatVector, an LSTM decoder, TimeDistributed(Dense)."""
    q = Input("(B, T, 12)", name="question")
    code = LSTM(16, name="encoder")(Dropout(0.1, name="drop")(q))
    seq = LSTM(16, return_sequences=True, name="decoder")(RepeatVector(4, name="repeat")(code))
    return Model(inputs=q, outputs=TimeDistributed(Dense(12), name="digits")(seq), seed=0)


def selections() -> Model:
    x = Input("(B, T, 5)", name="x")
    s1, h = GRU(6, return_sequences=True, return_state=True, name="g1")(x)
    s2 = GRU(6, return_sequences=True, name="g2")(s1, initial_state=[h])
    both = Concatenate(name="cat")([LastStep(name="last")(s2), TakeStep(1, name="second")(s2)])
    return Model(inputs=x, outputs=[Dense(2, name="out")(both), s1], seed=0)


def time_major() -> Model:
    x = Input("(T, B, 5)", name="x")
    return Model(inputs=x, outputs=Dense(2, name="out")(LSTM(3, time_major=True, name="rnn")(Masking(name="m")(x))))


def no_time() -> Model:
    v = Input("(B, 5)", name="v")
    return Model(inputs=v, outputs=Dense(2, name="out")(Dense(3, name="hidden")(v)))


def test_time_major_and_timeless_graphs() -> None:
    pic = unrolled(trace(time_major(), None))
    assert [b.lines[0][0] for b in pic.boxes if b.role == "input"] == ["x_0", "x_1", "x_2", "x_{T-1}"]
    assert {b.lines[0][1] for b in pic.boxes if b.role == "input"} == {"(B, 5)"}  # a step of (T, B, 5)
    assert [link.label for link in pic.links if link.kind == "kernel"][0] == "m · kernel"  # Masking on the arrow
    flat = unrolled(trace(no_time(), None))
    assert [c.kind for c in flat.columns] == ["single"] and len(flat.boxes) == 3


@pytest.mark.parametrize("build", [addition_rnn, shared_model, selections, time_major, no_time])
@pytest.mark.parametrize("rolled", [False, True])
def test_other_graphs_draw_every_link(build, rolled: bool) -> None:
    tr = trace(build(), None)
    pic = unrolled(tr, rolled=rolled)
    text = draw(pic)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    missing = undrawn(pic, text)  # an arrow with no free route is written under its panel
    listed = [line for line in text.splitlines() if "──→" in line and "│" not in line]
    for link in missing:
        src, dst = pic.box(link.src), pic.box(link.dst)
        assert f"{src.lines[0][0]} ──→ {dst.lines[0][0]}" + (f" ({link.label})" if link.label else "") in listed
    source = unrolled_graph(tr, rolled=rolled).source
    drawn = {(a[0], a[2]) for a in dot_arrows(source) if a[0] != a[2]}
    assert drawn == {(link.src, link.dst) for link in pic.links if link.kind != "align" and link.src != link.dst}


def test_addition_rnn_repeats_the_encoders_last_state_in_its_own_panel() -> None:
    pic = unrolled(trace(addition_rnn(), None))
    assert [c.group for c in pic.columns] == ["over T"] * 5 + ["over 4"] * 4
    [link] = [link for link in pic.links if pic.columns[pic.box(link.src).col].group == "over T"
              and pic.columns[pic.box(link.dst).col].group == "over 4"]
    assert (pic.box(link.src).lines[0][0], pic.box(link.dst).lines[0][0], link.label) == ("h_{T-1}", "r_0", "repeat")
    assert "h_{T-1} ══→ r_0 of repeat (over 4): repeat" in draw(pic).splitlines()
    kernels = {link.label for link in pic.links if pic.box(link.dst).lines[0][0].startswith("h_")
               and pic.box(link.src).role == "input"}
    assert kernels == {"drop · kernel"}  # the Dropout on the way is named on the arrows


def test_selections_take_their_step(traces: dict[str, Trace]) -> None:
    pic = unrolled(trace(selections(), None))
    taken = {pic.box(link.dst).col: (pic.box(link.src).lines[0][0], link.label)
             for link in pic.links if link.kind == "reduce"}
    assert taken == {1: ("h'_1", "take"), 4: ("h'_{T-1}", "last")}  # one step each, in the column it takes
    assert "last · second" in text_diagram(trace(selections(), None))  # two nodes side by side in one row
    outputs = [b for b in pic.boxes if b.role == "output"]
    assert {b.lines[0][0] for b in outputs} >= {"y", "y_0", "y_{T-1}"}  # the Dense, and g1's sequence
    assert text_diagram(trace(selections(), None)).count("initial state h") >= 1
