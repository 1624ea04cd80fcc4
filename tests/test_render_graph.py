"""shapeviz.render.graph and .output: the unrolled graph of every mode as DOT, SVG and PNG, on both engines."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

from picture_cases import all_traces
from render_cases import CASES
from shapeviz import GRU, LSTM, Bidirectional, Dense, Dropout, Masking, Sequential, SimpleRNN, trace
from shapeviz.errors import ConfigError, RenderError
from shapeviz.render import output
from shapeviz.render.graph import UnrolledGraph, unrolled_graph
from shapeviz.render.output import SVGView, engine_for, render, to_bytes
from shapeviz.render.unroll import nearest, unrolled
from shapeviz.tracing.dims import Dim
from shapeviz.tracing.records import StepRecord, Trace

SVG_NS = "{http://www.w3.org/2000/svg}"
FILL = {"input": "#f8cecc", "state": "#d5e8d4", "output": "#dae8fc"}


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    return all_traces()


@pytest.fixture(scope="module")
def svgs(traces: dict[str, Trace]) -> dict[str, str]:
    """Every case laid out once by graphviz-pure (the engine every install has)."""
    return {name: to_bytes(unrolled_graph(tr), "svg", engine="graphviz-pure").decode() for name, tr in traces.items()}


@pytest.fixture
def no_system_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a system Graphviz: ``dot`` is not on PATH."""
    which = shutil.which
    monkeypatch.setattr(output.shutil, "which", lambda name, *a, **k: None if name == "dot" else which(name, *a, **k))


def svg_texts(svg: str) -> list[tuple[str, float, float]]:
    """Every text of the SVG with its position: what a reader sees, and where."""
    root = ET.fromstring(svg)
    out: list[tuple[str, float, float]] = []
    glued = False  # the text after a subscript, on its line: the rest of the same label
    for t in root.iter(f"{SVG_NS}text"):
        text, x, y = "".join(t.itertext()), float(t.get("x", 0)), float(t.get("y", 0))
        if t.get("baseline-shift") == "sub" and out:  # a step drawn as a subscript: read back as x_{T-1}
            idx = text if text.isdigit() or len(text) == 1 else f"{{{text}}}"
            out[-1] = (f"{out[-1][0]}_{idx}", out[-1][1], out[-1][2])
            glued = True
            continue
        if glued and out and y == out[-1][2]:
            out[-1] = (out[-1][0] + text, out[-1][1], out[-1][2])
        else:
            out.append((text, x, y))
        glued = False
    return out


def dot_step(name: str, idx: object) -> str:
    """How the DOT writes a tensor at a step: its name, the step a subscript."""
    return f'{name}<sub><font point-size="8">{idx}</font></sub>'



def nodes(source: str) -> list[str]:
    return re.findall(r"^\s*(r\d+c\d+) \[", source, re.M)


def stack(T: object) -> Trace:
    """A 4-layer stack: (B, T, 3) -> 3 LSTMs -> Dense."""
    model = Sequential([LSTM(8, return_sequences=True), LSTM(8, return_sequences=True), LSTM(8), Dense(2)], seed=0)
    return trace(model, T)


def test_steps_are_real_subscripts_in_the_svg(svgs: dict[str, str]) -> None:
    """h→_{T-1} is drawn h→ with T-1 lowered (SVG's baseline-shift), not written out with _{ }."""
    svg = svgs["addition"]
    assert "_{" not in svg and "h→_" not in svg
    root = ET.fromstring(svg)
    subs = [t for t in root.iter(f"{SVG_NS}text") if t.get("baseline-shift") == "sub"]
    assert {"".join(t.itertext()) for t in subs} >= {"0", "1", "2", "T-1"}
    assert "h→_{T-1}" in [t.split()[0] for t, _, _ in svg_texts(svg) if t]  # read back: name, then step


# -- golden DOT sources ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_dot_golden(case: str, traces: dict[str, Trace], golden) -> None:
    golden(f"graph/{case}.dot", unrolled_graph(traces[case]).source)


@pytest.mark.parametrize("case", list(CASES))
def test_rolled_dot_golden(case: str, traces: dict[str, Trace], golden) -> None:
    golden(f"graph/{case}_rolled.dot", unrolled_graph(traces[case], rolled=True).source)


# -- what the picture says -----------------------------------------------------------------------------
def test_node_count_does_not_grow_with_T() -> None:
    for k in (1, 3, 5):
        long = unrolled_graph(stack((2, 1000, 3)), unroll=k)
        short = unrolled_graph(stack((2, k + 2, 3)), unroll=k)
        assert len(nodes(long.source)) == len(nodes(short.source)) == 5 * (k + 2) - (k + 1)  # Dense: one box
        assert dot_step("x", 999) in long.source and dot_step("x", k + 1) + "<" in short.source and "…" in short.source
    symbolic = unrolled_graph(stack("(B, T, 3)"))
    assert len(nodes(symbolic.source)) == len(nodes(unrolled_graph(stack((2, 5, 3))).source))
    whole = unrolled(stack((2, 4, 3)), unroll=3)  # T <= k+1: every step drawn, nothing collapsed
    assert [str(c.t) for c in whole.columns] == ["0", "1", "2", "3"]


@pytest.mark.parametrize("case", list(CASES))
def test_karpathy_colours(case: str, traces: dict[str, Trace]) -> None:
    source = unrolled_graph(traces[case]).source
    for role, fill in FILL.items():
        if role == "state" and case == "one_to_one":  # no recurrence: its hidden layer is pale green
            assert "#eef6ea" in source
            continue
        assert fill in source, f"{case}: no {role} box"


def test_time_runs_left_to_right_and_layers_upward(traces: dict[str, Trace]) -> None:
    source = unrolled_graph(traces["many_to_one"]).source
    plain = subprocess.run([output.graphviz_pure(), "-Tplain"], input=source.encode(), capture_output=True,
                           check=True).stdout.decode()
    at = {f[1]: (float(f[2]), float(f[3])) for f in map(str.split, plain.splitlines()) if f[0] == "node"}
    x, h, y = ("r0c{}", "r1c{}", "r2c{}")  # the input, the GRU's states, the Dense's output
    assert at[x.format(0)][0] < at[x.format(1)][0] < at[x.format(2)][0] < at[x.format(4)][0]  # time: left to right
    assert at[x.format(0)][1] < at[h.format(0)][1] < at[y.format(4)][1]  # plain's y grows upward: layers stack up
    for c in (0, 1, 2, 4):  # each step a straight column
        assert abs(at[x.format(c)][0] - at[h.format(c)][0]) < 0.01
    assert abs(at[h.format(4)][0] - at[y.format(4)][0]) < 0.01
    assert at["row0"][0] < at[x.format(0)][0]  # the row titles on the left


@pytest.mark.parametrize("case", list(CASES))
def test_svg_parses_and_carries_the_labels(case: str, svgs: dict[str, str], traces: dict[str, Trace]) -> None:
    texts = " | ".join(t for t, _, _ in svg_texts(svgs[case]))
    pic = unrolled(traces[case])
    for box in pic.boxes:
        for name, shape in box.lines:
            assert name in texts and shape in texts, f"{case}: {name} {shape} missing from the SVG"
    assert "kernel" in texts


def test_many_to_one_keeps_only_the_last_output(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["many_to_one"])
    outputs = [b for b in pic.boxes if b.role == "output"]
    assert len(outputs) == 1 and outputs[0].col == len(pic.columns) - 1
    synced = unrolled(traces["synced"])
    assert len([b for b in synced.boxes if b.role == "output"]) == len(synced.columns) - 1  # all but the "…"


def test_lstm_shows_h_and_c(traces: dict[str, Trace]) -> None:
    source = unrolled_graph(traces["imdb"]).source
    assert 'port="h"' in source and 'port="c"' in source
    assert "r2c0:h:e -> r2c1:h:w [label=recurrent_kernel" in source
    assert 'r2c0:c:e -> r2c1:c:w [label="forget gate"' in source
    assert dot_step("h", "T-1") + "  (B, 128)" in source and dot_step("c", "T-1") + "  (B, 128)" in source


def test_bidirectional_two_rows_opposite_arrows_and_merge(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["addition"])
    forward = [l for l in pic.links if l.kind == "recurrent" and l.src_port == "hf"]
    backward = [l for l in pic.links if l.kind == "recurrent" and l.src_port == "hb"]
    assert forward and backward
    assert all(pic.box(l.src).col < pic.box(l.dst).col for l in forward)
    assert all(pic.box(l.src).col > pic.box(l.dst).col for l in backward)
    merge = [l for l in pic.links if l.kind == "merge"]
    # concat of the forward direction's last step and the backward direction's, which is step 0
    assert sorted((pic.box(l.src).col, l.src_port) for l in merge) == [(0, "hb"), (len(pic.columns) - 1, "hf")]
    source = unrolled_graph(traces["addition"]).source
    assert dot_step("h←", 0) + "  (B, 100)" in source and "m<br/>(B, 200)" in source
    lstm = unrolled(traces["addition_lstm"])
    assert {p for b in lstm.boxes for p in b.ports} == {"hb", "cb", "hf", "cf"}


def dot_edges(source: str) -> list[tuple[str, str, str]]:
    """Every edge of a DOT source as (tail, head, attributes), ports included."""
    return re.findall(r"^\s*(\S+) -> (\S+)(?: \[(.*)\])?$", source, re.M)


def bidirectional_models() -> dict[str, Trace]:
    return {"seq": trace(Sequential([Bidirectional(LSTM(3, return_sequences=True)), Dense(2)]), "(B, T, 3)"),
            "unmerged": trace(Sequential([Bidirectional(GRU(3), merge_mode=None)]), "(B, T, 3)"),
            "stack": trace(Sequential([Bidirectional(SimpleRNN(3, return_sequences=True)),
                                       Bidirectional(SimpleRNN(3), merge_mode="sum"), Dense(2)]), "(B, T, 3)")}


@pytest.mark.parametrize("rolled", [False, True], ids=["unrolled", "rolled"])
def test_every_arrow_points_the_way_the_data_flows(rolled: bool, traces: dict[str, Trace]) -> None:
    for name, tr in {**traces, **bidirectional_models()}.items():
        pic = unrolled(tr, rolled=rolled)
        source = unrolled_graph(tr, rolled=rolled).source
        links = {(l.src, l.dst) for l in pic.links if l.kind != "align"}
        assert not re.search(r"\bdir=", source), name  # an arrowhead drawn at the tail is an arrow read backwards
        drawn = [(t.split(":")[0], h.split(":")[0]) for t, h, a in dot_edges(source) if "style=invis" not in a]
        assert drawn and set(drawn) == links, f"{name}: reversed or missing arrows {set(drawn) ^ links}"
        for link in (l for l in pic.links if l.kind == "merge"):  # from each direction's state into the merge
            assert pic.box(link.dst).row == pic.box(link.src).row + 1
            head = f"{link.dst}:{link.dst_port}" if link.dst_port else link.dst
            tails = [t for t, h, _ in dot_edges(source)
                     if h == head and t.startswith(f"{link.src}:{link.src_port}:")]
            assert len(tails) == 1, f"{name}: no arrow {link.src}:{link.src_port} -> {head}"
            if pic.box(link.dst).note == "not merged":  # each direction into its own line of the box
                assert link.dst_port == ("y_backward" if link.src_port.startswith("hb") else "y_forward"), name
    source = unrolled_graph(traces["addition"], rolled=rolled).source
    merge = "r2c0" if rolled else "r2c4"  # the backward state h←_0 leaves by its top, into the merge box
    assert f"\tr1c0:hb:n -> {merge} [label=concat" in source


def svg_edge(svg: str, tail: str, head: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where the SVG's edge from node ``tail`` to node ``head`` starts, and the middle of its arrowhead."""
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG_NS}g"):
        ends = [end.split(":")[0] for end in (g.findtext(f"{SVG_NS}title") or "").split("->")]
        if g.get("class") == "edge" and ends == [tail, head]:
            start = tuple(map(float, re.match(r"M\s*([-\d.]+),([-\d.]+)", g.find(f"{SVG_NS}path").get("d")).groups()))
            points = [tuple(map(float, p.split(","))) for p in g.find(f"{SVG_NS}polygon").get("points").split()]
            return start, (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    raise KeyError(f"{tail} -> {head}")


def test_the_backward_state_arrow_ends_at_the_merge_box_in_the_svg(svgs: dict[str, str]) -> None:
    """The picture a reader sees (graphviz-pure): h←_0's arrow into the merge box has its head at
    the box, and leaves h←_0 away from where the recurrent arrow from h←_1 ends."""
    svg = svgs["addition"]
    start, head = svg_edge(svg, "r1c0", "r2c4")
    _, merge_head = svg_edge(svg, "r1c4", "r2c4")
    _, recurrent_head = svg_edge(svg, "r1c1", "r1c0")
    m = next((x, y) for t, x, y in svg_texts(svg) if t == "m")
    h0 = next((x, y) for t, x, y in svg_texts(svg) if t.startswith("h←_0"))
    assert abs(head[0] - m[0]) < 40 and abs(head[1] - m[1]) < 30, (head, m)  # the arrowhead at m
    assert abs(merge_head[1] - m[1]) < 40
    assert start[1] < h0[1] - 5 and abs(start[0] - h0[0]) < 100  # out of the top of h←_0
    assert abs(start[0] - recurrent_head[0]) + abs(start[1] - recurrent_head[1]) > 20


def test_encoder_decoder_hands_over_its_state(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["many_to_many"])
    groups = [c.group for c in pic.columns]
    assert groups == ["encoder"] * 5 + ["decoder"] * 5
    handover = [l for l in pic.links if l.kind == "handover"]
    assert len(handover) == 1 and pic.box(handover[0].src).col == 4 and pic.box(handover[0].dst).col == 5
    names = [n for b in pic.boxes for n, _ in b.lines]
    assert "h_{T_in-1}" in names and "h'_{T_out-1}" in names and "y_{T_out-1}" in names
    assert not [b for b in pic.boxes if b.role == "output" and b.col < 5]  # the encoder has no outputs


def test_one_to_many_step_0_vector_then_fed_back_outputs(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["one_to_many"])
    inputs = sorted((b for b in pic.boxes if b.row == 0), key=lambda b: b.col)
    assert inputs[0].role == "input" and inputs[0].lines == (("x", "(B, 2)"),) and inputs[0].note == "step 0"
    assert [b.lines[0][0] for b in inputs[1:]] == ["y_0", "y_1", "…", "y_4"]  # six steps: 0, 1, 2, …, 5
    assert all(b.role in ("fed", "ellipsis") for b in inputs[1:])
    rolled = unrolled(traces["one_to_many"], rolled=True)
    assert [l.label for l in rolled.links if l.kind == "feedback"] == ["y_{t-1} fed back (t ≥ 1)"]


def test_one_to_many_with_empty_inputs() -> None:
    from shapeviz import OneToMany
    model = OneToMany([GRU(4)], Dense(3), steps=2, feedback="zeros", seed=0)
    pic = unrolled(trace(model, "(B, 5)"))
    assert [(b.role, b.lines) for b in pic.boxes if b.row == 0] == [("input", (("x", "(B, 5)"),)),
                                                                    ("empty", (("0", "(B, 5)"),))]


def test_rolled_view_loops_once_per_state(traces: dict[str, Trace]) -> None:
    pic = unrolled(traces["imdb"], rolled=True)
    assert len(pic.columns) == 1
    loops = [l for l in pic.links if l.src == l.dst]
    assert [(l.label, l.loop) for l in loops] == [("recurrent_kernel", "× T"), ("forget gate", "× T")]
    source = unrolled_graph(traces["imdb"], rolled=True).source
    assert "h: recurrent_kernel × T\\lc: forget gate × T\\l" in source
    bound = traces["addition"].bind()  # T=55: the numbers in place of the names
    assert "× 55" in unrolled_graph(bound, rolled=True).source
    assert dot_step("x", 54) + "  (100, 2)" in unrolled_graph(bound).source  # with the mask m_54 under it


def test_nearest_record_labels_the_steps_without_one() -> None:
    steps = [StepRecord("l", 0, "forward", {"h_t": (1,)}), StepRecord("l", 1, "forward", {"h_t": (2,)}),
             StepRecord("l", Dim.sym("T") - 1, "forward", {"h_t": (3,)})]
    assert nearest(steps, Dim.const(2)).tensors["h_t"] == (2,)
    assert nearest(steps, Dim.sym("T") - 1).tensors["h_t"] == (3,)
    assert nearest(steps, Dim.sym("T") - 2).tensors["h_t"] == (3,)


@pytest.mark.parametrize("build, shape", [
    (lambda: Sequential([Masking(), Dropout(0.1), GRU(4, go_backwards=True), Dense(2)]), "(B, T, 3)"),
    (lambda: Sequential([Bidirectional(LSTM(3, return_sequences=True)), Dense(2)]), "(B, T, 3)"),
    (lambda: Sequential([Bidirectional(GRU(3), merge_mode=None)]), "(B, T, 3)"),
    (lambda: Sequential([SimpleRNN(4, return_sequences=True), SimpleRNN(5)]), "(B, T, 3)"),
    (lambda: Sequential([LSTM(4, return_sequences=True, time_major=True), Dense(2)]), "(T, B, 3)"),
], ids=["masking-dropout-backwards", "bidirectional-sequences", "bidirectional-unmerged", "rnn-on-top",
        "time-major"])
def test_other_models_draw(build, shape: str) -> None:
    tr = trace(build(), shape)
    pic = unrolled(tr)
    source = unrolled_graph(tr).source
    assert len(nodes(source)) == len(pic.boxes)
    assert FILL["input"] in source and FILL["output"] in source


def test_unroll_must_be_positive(traces: dict[str, Trace]) -> None:
    with pytest.raises(ConfigError, match="unroll must be a positive number of steps, got 0"):
        unrolled_graph(traces["many_to_one"], unroll=0)


# -- output: formats and engines -----------------------------------------------------------------------
def check_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 100 < width < 5000 and 100 < height < 3000, (width, height)
    return width, height


@pytest.mark.parametrize("case", list(CASES))
def test_every_mode_renders_png(case: str, traces: dict[str, Trace]) -> None:
    width, height = check_png(to_bytes(unrolled_graph(traces[case]), "png", engine="graphviz-pure"))
    if case == "many_to_many":
        assert width > height  # ten columns of time side by side


def test_system_dot_engine(traces: dict[str, Trace]) -> None:
    if shutil.which("dot") is None:
        pytest.skip("no system Graphviz `dot` on PATH (an optional engine)")
    g = unrolled_graph(traces["addition"])
    # older dot writes a run of spaces as no-break spaces
    texts = " ".join(t.replace("\xa0", " ") for t, _, _ in svg_texts(to_bytes(g, "svg", engine="dot").decode()))
    assert "h←_0  (B, 100)" in texts
    check_png(to_bytes(g, "png", engine="dot"))
    assert to_bytes(g, "pdf").startswith(b"%PDF")
    assert engine_for("svg")[0] == "dot"


def test_without_system_dot_graphviz_pure_renders_and_pdf_says_how(traces: dict[str, Trace], no_system_dot,
                                                                   tmp_path: Path) -> None:
    assert engine_for("svg")[0] == "graphviz-pure"
    g = unrolled_graph(traces["many_to_one"])
    assert b"<svg" in to_bytes(g, "svg")
    with pytest.raises(RenderError, match=r"PDF needs a system Graphviz.*apt-get install graphviz.*brew install "
                                          r"graphviz.*conda install -c conda-forge graphviz"):
        to_bytes(g, "pdf")
    target = tmp_path / "g.pdf"
    target.write_bytes(b"old")
    with pytest.raises(RenderError):
        render(g, target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["g.pdf"]
    with pytest.raises(RenderError, match="no system Graphviz `dot` on PATH"):
        to_bytes(g, "svg", engine="dot")


def test_graphviz_pure_beside_the_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "graphviz-pure").write_text("")
    monkeypatch.setattr(output.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(output.sys, "executable", str(tmp_path / "python"))
    assert engine_for("png") == ("graphviz-pure", str(tmp_path / "graphviz-pure"))
    (tmp_path / "graphviz-pure").unlink()
    with pytest.raises(RenderError, match="cannot find the graphviz-pure command"):
        engine_for("png")


def test_render_writes_atomically_by_suffix(traces: dict[str, Trace], tmp_path: Path) -> None:
    g = unrolled_graph(traces["synced"])
    assert render(g, tmp_path / "g.dot").read_text() == g.source
    assert render(g, tmp_path / "g.gv").read_text() == g.source
    ET.fromstring((render(g, tmp_path / "g.svg", engine="graphviz-pure")).read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.gv", "g.svg"]  # no temporary files left
    (tmp_path / "plain.txt").write_text("")  # the permissions of a file made the ordinary way
    assert (tmp_path / "g.svg").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode
    with pytest.raises(ConfigError, match="cannot tell the format of .*g.jpg"):
        render(g, tmp_path / "g.jpg")
    with pytest.raises(ConfigError, match="the formats are dot, svg, png, pdf"):
        to_bytes(g, "gif")


def test_engine_errors_are_render_errors() -> None:
    with pytest.raises(RenderError, match="graphviz-pure could not render SVG: .*syntax error"):
        to_bytes("digraph { a -> }", "svg", engine="graphviz-pure")
    with pytest.raises(ConfigError, match="expected a graphviz graph or DOT text, got int"):
        to_bytes(3, "svg")


def test_jupyter_shows_the_graph_inline_without_system_dot(traces: dict[str, Trace], no_system_dot) -> None:
    g = unrolled_graph(traces["many_to_one"])
    assert isinstance(g, graphviz.Digraph) and isinstance(g, UnrolledGraph)
    bundle = g._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "h_{T-1}" in [t for t, _, _ in svg_texts(bundle["image/svg+xml"])]
    check_png(g._repr_mimebundle_(include=["image/png"])["image/png"])
    plain = graphviz.Digraph()
    plain.edge("a", "b")
    assert "<svg" in SVGView(plain)._repr_svg_()


def test_core_and_tracing_do_not_import_graphviz() -> None:
    code = ("import sys, shapeviz.core, shapeviz.tracing, shapeviz.core.sequential; "
            "assert 'graphviz' not in sys.modules and 'shapeviz.render.graph' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
