"""The unrolled (or rolled) graph of a Trace as a ``graphviz.Digraph``, in Karpathy's colours.

Inputs are red, states green, outputs blue; time runs left to right and stacked layers
upward (one ``rank=same`` row per layer, the input row at the bottom). Every box is labelled with its
tensor and shape, every arrow with the weight that joins the two. A long sequence
collapses to its first ``unroll`` steps, an ellipsis and its last step, so the graph of
T=1000 has as many nodes as that of T=unroll+2.

The graph is built from the trace's records only (laid out by :mod:`shapeviz.render.unroll`):
the tracer records steps 0, 1 and T-1; a step it has no record of is labelled with the
shapes of the nearest recorded step, which are the same at every t.
"""

from __future__ import annotations

from html import escape
import graphviz

from shapeviz.render.output import render, to_bytes
from shapeviz.render.picture import Box, Link, Unrolled
from shapeviz.render.unroll import unrolled
from shapeviz.tracing.records import Trace

__all__ = ["unrolled_graph", "rolled_graph", "graph_of", "UnrolledGraph", "render", "to_bytes", "STYLE"]

FONT = "Helvetica"
RED, GREEN, BLUE, GREY = "#b85450", "#5b8f47", "#6c8ebf", "#555555"
# role: fill, border, border style (Karpathy's colours, as fills light enough to read the labels on)
STYLE: dict[str, tuple[str, str, str]] = {
    "input": ("#f8cecc", RED, "solid"),
    "state": ("#d5e8d4", GREEN, "solid"),
    "hidden": ("#eef6ea", GREEN, "solid"),
    "merge": ("#eef6ea", GREEN, "solid"),
    "output": ("#dae8fc", BLUE, "solid"),
    "empty": ("#ffffff", RED, "dashed"),
    "fed": ("#f8cecc", BLUE, "dashed"),
}
_EDGES: dict[str, dict[str, str]] = {
    "kernel": {"color": GREY},
    "identity": {"color": GREY},
    "merge": {"color": GREY},
    "operand": {"color": GREY},
    "reduce": {"color": GREY},
    "repeat": {"color": BLUE, "fontcolor": BLUE, "style": "dashed"},
    "recurrent": {"color": GREEN, "fontcolor": GREEN, "penwidth": "1.6"},
    "elided": {"color": GREEN, "style": "dashed", "penwidth": "1.6"},
    "align": {"style": "invis"},
    "handover": {"color": GREEN, "fontcolor": GREEN, "penwidth": "2.8"},
    "feedback": {"color": BLUE, "fontcolor": BLUE, "style": "dashed", "constraint": "false"},
}


class UnrolledGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that shows itself inline in Jupyter with or without a system
    Graphviz: its SVG and PNG come from :func:`shapeviz.render.output.to_bytes` (a system ``dot``
    when there is one, else graphviz-pure) instead of graphviz's own call to ``dot``."""

    def _repr_image_svg_xml(self) -> str:
        return to_bytes(self, "svg").decode("utf-8")

    def _repr_image_png(self) -> bytes:
        return to_bytes(self, "png")

    def _repr_image_jpeg(self) -> bytes:  # not a format shapeviz renders: Jupyter asks for SVG by default
        return to_bytes(self, "png")


def _note(text: str) -> str:
    return f'<font point-size="9" color="{GREY}"><i>{escape(text)}</i></font>'


def _box_label(box: Box) -> str:
    if len(box.lines) == 1:  # name over shape: narrow boxes keep the columns close
        name, shape = box.lines[0]
        parts = [escape(name), escape(shape)] if shape else [escape(name)]
    else:
        parts = [f"{escape(name)}  {escape(shape)}" for name, shape in box.lines]
    if box.note:
        parts.append(_note(box.note))
    return "<" + "<br/>".join(parts) + ">"


def _table_label(box: Box) -> str:
    """Several states in one box, each a cell that arrows attach to (an LSTM's h and c, the two
    directions of a Bidirectional)."""
    fill, border, _ = STYLE[box.role]
    cells = "".join(f'<tr><td port="{port}" bgcolor="{fill}" color="{border}" style="rounded">'
                    f"{escape(name)}  {escape(shape)}</td></tr>" for port, (name, shape) in zip(box.ports, box.lines))
    note = f'<tr><td border="0">{_note(box.note)}</td></tr>' if box.note else ""
    return f'<<table border="0" cellborder="1" cellspacing="2" cellpadding="4">{cells}{note}</table>>'


def _row_label(title: str, details: tuple[str, ...]) -> str:
    lines = [f"<b>{escape(title)}</b>"] + [f'<font point-size="9">{escape(d)}</font>' for d in details]
    return "<" + '<br align="right"/>'.join(lines) + '<br align="right"/>>'


def _node(g: graphviz.Digraph, box: Box) -> None:
    if box.role == "ellipsis":
        g.node(box.id, "…", shape="plaintext", fontsize="20", fontcolor=GREY)
        return
    if box.ports:
        g.node(box.id, _table_label(box), shape="plain")
        return
    fill, border, style = STYLE[box.role]
    g.node(box.id, _box_label(box), fillcolor=fill, color=border,
           style=f"rounded,filled,{style}" if style != "solid" else "rounded,filled")


def _end(box_id: str, port: str) -> str:
    return f"{box_id}:{port}" if port else box_id


def _edge(g: graphviz.Digraph, pic: Unrolled, link: Link) -> None:
    attrs = dict(_EDGES.get(link.kind, {}))
    if link.label:
        attrs["label"] = link.label
    src, dst = pic.box(link.src), pic.box(link.dst)
    tail, head = _end(link.src, link.src_port), _end(link.dst, link.dst_port)
    if src.row == dst.row:  # along a row; a cell's arrow leaves by its right side, enters by the left
        east, west = (":e", ":w") if src.ports or dst.ports else ("", "")
        if src.col < dst.col:
            g.edge(tail + east, head + west, **attrs)
        else:  # leftward: no say in the order (dot would put its tail left), which invisible edges keep
            g.edge(tail + west, head + east, constraint="false", **attrs)
        return
    if link.src_port and src.ports:  # up from a cell: the top one by its top, clear of the arrows along time
        tail += ":n" if link.src_port == src.ports[0] else ":e"  # a lower one by its side, not through the cells above
    if src.col == dst.col:
        attrs["weight"] = "8"  # keep a column straight: a box right above what it reads
    # declared the way the data flows (no dir=back: the DOT reads right and the head is drawn at the
    # reader on both engines). An arrow up the picture runs against the ranks (rankdir=TB keeps HTML
    # ports where they are drawn; BT flips them), so dot reverses it internally, as any edge that
    # closes a cycle with the row titles' chain, declared from the top row down
    g.edge(tail, head, **attrs)


def graph_of(pic: Unrolled) -> UnrolledGraph:
    """The Digraph of an :class:`~shapeviz.render.picture.Unrolled` picture."""
    title = [f"<b>{escape(pic.title)}</b>", f'<font point-size="10">{escape(pic.subtitle)}</font>']
    title += [f'<font point-size="9" color="{GREY}">{escape(n)}</font>' for n in pic.notes]
    g = UnrolledGraph(
        name=pic.title.split(" ")[0],
        graph_attr={"rankdir": "TB", "newrank": "true", "nodesep": "0.3", "ranksep": "0.45",
                    "fontname": FONT, "fontsize": "13", "labelloc": "t", "labeljust": "l",
                    "label": "<" + '<br align="left"/>'.join(title) + '<br align="left"/>>'},
        node_attr={"shape": "box", "fontname": FONT, "fontsize": "11", "penwidth": "1.3", "margin": "0.1,0.05"},
        edge_attr={"fontname": FONT, "fontsize": "9", "fontcolor": GREY, "arrowsize": "0.7"},
    )
    flat = {(pic.box(link.src).row, pic.box(link.src).col)  # rightward arrows keep their row in order
            for link in pic.links if pic.box(link.src).row == pic.box(link.dst).row
            and pic.box(link.src).col < pic.box(link.dst).col}
    for r in reversed(range(len(pic.rows))):  # the top row first: ranks run downward
        row = pic.rows[r]
        boxes = sorted((b for b in pic.boxes if b.row == r), key=lambda b: b.col)
        with g.subgraph(name=f"row{r}") as s:
            s.attr(rank="same")
            s.node(f"row{r}", _row_label(row.title, row.details), shape="plaintext", fontsize="10")
            for box in boxes:
                _node(s, box)
        # keep the row's boxes in column order, its title at its left, the titles in a column
        if boxes:
            g.edge(f"row{r}", boxes[0].id, style="invis")
        for a, b in zip(boxes, boxes[1:]):
            if (r, a.col) not in flat:
                g.edge(a.id, b.id, style="invis")
        if r > 0:
            g.edge(f"row{r}", f"row{r - 1}", style="invis", weight="100")  # the titles in one column
    loops: dict[str, list[Link]] = {}
    for link in pic.links:
        if link.src == link.dst:
            loops.setdefault(link.src, []).append(link)
        else:
            _edge(g, pic, link)
    for box_id, links in loops.items():  # a rolled view: one loop a box, a line per state it carries
        box = pic.box(box_id)
        lines = []
        for link in links:
            name = box.lines[box.ports.index(link.src_port)][0].split("_")[0] + ": " if link.src_port else ""
            lines.append(f"{name}{link.label} {link.loop}".strip())
        g.edge(box_id, box_id, label="\\l".join(lines) + "\\l", **_EDGES["recurrent"])
    return g


def unrolled_graph(trace: Trace, unroll: int = 3, rolled: bool = False) -> UnrolledGraph:
    """The trace drawn unrolled in time, Karpathy-style, as a ``graphviz.Digraph``.

    Args:
        trace: what :func:`shapeviz.trace` returned.
        unroll: k: a sequence longer than k+1 steps shows steps 0..k-1, an ellipsis and its
            last step, so the node count does not grow with T.
        rolled: one box per layer instead, the recurrence drawn as a self-loop labelled ``× T``.

    Returns:
        An :class:`UnrolledGraph` (a ``graphviz.Digraph``): ``.source`` is the DOT text; it shows
        itself inline in Jupyter; :func:`render` and :func:`to_bytes` make SVG, PNG or PDF of it.
    """
    return graph_of(unrolled(trace, unroll, rolled))


def rolled_graph(trace: Trace) -> UnrolledGraph:
    """One box per layer, each recurrence a self-loop labelled ``× T``: ``unrolled_graph(trace, rolled=True)``."""
    return unrolled_graph(trace, rolled=True)
