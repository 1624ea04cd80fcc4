"""The unrolled (or rolled) picture of a graph model, read off ``trace.graph`` and the layer records.

Every time axis the graph has (an input's ``T``, a decoder's ``T_out``, the steps a RepeatVector
makes) is a group of columns, a panel of its own when there are several (as the encoder-decoder
picture has). Every node is a row, the inputs at the bottom, each node above the nodes it reads;
nodes at the same height over different time axes share a row. A node whose output is a sequence
has a box at every column of its axis; a vector sits in one column: after the last step it was
read from (a recurrent layer's last state, a pooling), at the step it takes (TakeStep), or, for a
vector no sequence made (a one-to-many's input), under the first step that reads it.

The edges between rows: a layer reading the row below at each step (its kernel), a state handed
to a recurrent layer's first step (``initial state h``), each step's operands of a merge, every
step a pooling reads (``reduce``), and a RepeatVector's vector copied along its row.
"""

from __future__ import annotations

from typing import Any

from shapeviz.render.grid import PASS_THROUGH, RECURRENT, drop_axis, kind_text, out_shape, sequence_length, sub, \
    weight_details, weight_label
from shapeviz.render.picture import Row
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.records import EdgeRecord, GraphRecord, LayerRecord, NodeRecord, Shape

_MERGE = {"add": "add", "subtract": "subtract", "multiply": "multiply", "average": "average",
          "concatenate": "concat", "stack": "stack", "merge": "merge"}
_REDUCE = {"global_average_pooling1d": "mean", "global_max_pooling1d": "max"}
_SELECT = {"take_step": "take", "last_step": "last", "index": "index"}


class _View:
    """Where a node output is drawn: its boxes by column, and the line (port) of a box with several."""

    def __init__(self, boxes: dict[int, str], port: str = "", via: tuple[str, ...] = ()) -> None:
        self.boxes = boxes
        self.port = port
        self.via = via  # pass-through layers (Dropout, Masking) on the way, named on the arrows

    def last(self) -> tuple[int, str]:
        c = max(self.boxes)
        return c, self.boxes[c]


class GraphLayout:
    """Lays out one graph trace on a :class:`~shapeviz.render.grid.Grid` (the unroll builder, whose
    ``bidirectional`` draws a Bidirectional's two directions and their merge)."""

    def __init__(self, b: Any) -> None:
        self.b = b
        self.tr = b.trace
        self.g: GraphRecord = b.trace.graph
        self.recs: dict[str, LayerRecord] = {r.path: r for r in b.trace.layers if r.depth == 0}
        self.nodes = [n for n in self.g.nodes if n.kind == "input" or n.name in self.recs]
        self.times: list[Dim] = []
        for r in b.trace.layers:
            if r.kind in RECURRENT:
                self._time(sequence_length(b.steps(r.path)))
        self.time_names = {n for n, bd in b.trace.bindings.items() if bd.role == "time"}
        self.out_len: dict[tuple[str, int], Dim | None] = {}
        self.groups: list[Dim] = []
        self.cols: dict[Any, list[int]] = {}
        self.home: dict[tuple[str, int], int | None] = {}
        self.views: dict[tuple[str, int], _View] = {}
        self.outputs = {(o.node, o.output) for o in self.g.outputs}
        self.marks: dict[str, str] = {}

    # -- what is a sequence, and over which axis ----------------------------------------------
    def _time(self, length: Dim | None) -> None:
        if length is not None and not any(length == t for t in self.times):
            self.times.append(length)

    def shapes(self, node: NodeRecord) -> list[Shape]:
        if node.kind == "input":
            return [self.tr.inputs[node.name]]
        return list(self.recs[node.name].outputs.values())

    def length(self, shape: Shape) -> Dim | None:
        """The time axis of ``shape`` (axis 1 batch-first, axis 0 time-major) if it is a sequence:
        a recurrent layer's length, or a name with the role time; else None."""
        if len(shape) < 2:
            return None
        for axis in (1, 0):
            d = Dim.of(shape[axis])
            if len(shape) >= 3:
                for t in self.times:
                    if d == t:
                        return t
            if d.is_symbol and d.symbol in self.time_names:
                self._time(d)
                return next(t for t in self.times if d == t)
        return None

    def reads(self, node: NodeRecord) -> list[EdgeRecord]:
        return [e for e in self.g.into(node.name) if e.slot == "input"]

    def states_in(self, node: NodeRecord) -> list[EdgeRecord]:
        return [e for e in self.g.into(node.name) if e.slot == "initial_state"]

    def recurrent(self, node: NodeRecord) -> bool:
        return node.kind in RECURRENT or node.kind == "bidirectional"

    # -- placing: columns, rows ----------------------------------------------------------------
    def place(self) -> None:
        for node in self.nodes:
            for i, shape in enumerate(self.shapes(node)):
                self.out_len[(node.name, i)] = self.length(shape)
        for node in self.nodes:  # the time axes in the order the graph reaches them
            ins = [self.out_len.get((e.src, e.output)) for e in self.reads(node)]
            for length in ins + [self.out_len[(node.name, i)] for i in range(len(self.shapes(node)))]:
                if length is not None and not any(length == g for g in self.groups):
                    self.groups.append(length)
        b = self.b
        several = len(self.groups) > 1
        for length in self.groups:
            self.cols[str(length)] = b.columns(length, f"over {length}" if several else "")
        if not self.groups:
            self.cols["None"] = b.columns(None)
        # a vector's column: after the step it was read from, else under the first step reading it
        for node in self.nodes:
            for i in range(len(self.shapes(node))):
                self.home[(node.name, i)] = self._vector_home(node, i)
        for node in reversed(self.nodes):
            for i in range(len(self.shapes(node))):
                if self.out_len[(node.name, i)] is None and self.home[(node.name, i)] is None:
                    readers = [self.first_col(self.g.node(e.dst)) for e in self.g.out_of(node.name)
                               if e.output == i and any(n.name == e.dst for n in self.nodes)]
                    known = [c for c in readers if c is not None]
                    self.home[(node.name, i)] = min(known) if known else self.all_cols()[0]

    def all_cols(self) -> list[int]:
        return [c for cols in self.cols.values() for c in cols]

    def group_cols(self, length: Dim | None) -> list[int]:
        return self.cols[str(length)] if length is not None else self.all_cols()[:1]

    def in_length(self, node: NodeRecord) -> Dim | None:
        reads = self.reads(node)
        return self.out_len.get((reads[0].src, reads[0].output)) if reads else None

    def first_col(self, node: NodeRecord) -> int | None:
        """The leftmost column ``node`` draws a box in (None while unknown)."""
        length = self.in_length(node) if self.recurrent(node) else self.out_len.get((node.name, 0))
        if length is not None:
            return self.group_cols(length)[0]
        return self.home.get((node.name, 0))

    def _vector_home(self, node: NodeRecord, i: int) -> int | None:
        if self.out_len[(node.name, i)] is not None:
            return None
        if node.kind == "input":
            return None
        rec = self.recs[node.name]
        if self.recurrent(node):  # a last state: after the last step (a backward layer's: step 0)
            cols = self.group_cols(self.in_length(node))
            backwards = bool(rec.config.get("go_backwards")) and node.kind != "bidirectional"
            return cols[0] if backwards else cols[-1]
        homes = []
        for e in self.reads(node):
            length = self.out_len.get((e.src, e.output))
            if length is not None:
                homes.append(self._step_col(rec, self.group_cols(length)))
            else:
                homes.append(self.home.get((e.src, e.output)))
        known = [h for h in homes if h is not None]
        return known[0] if known else None

    def _step_col(self, rec: LayerRecord, cols: list[int]) -> int:
        """The column a selection takes (TakeStep t, LastStep), else the last (a pooling has read every step)."""
        t = rec.config.get("t")
        if isinstance(t, int) and t >= 0:
            for c in cols:
                col = self.b.pic.columns[c]
                if col.t is not None and col.t == Dim.const(t) and not self.b.rolled:
                    return c
        return cols[-1]

    def node_cols(self, node: NodeRecord) -> set[int]:
        if self.recurrent(node):
            return set(self.group_cols(self.in_length(node)))
        if self.out_len.get((node.name, 0)) is not None:
            return set(self.group_cols(self.out_len[(node.name, 0)]))
        return {c for c in [self.home.get((node.name, 0))] if c is not None}

    def rows(self) -> dict[str, list[int]]:
        """A row (two for a Bidirectional; one more for a recurrent layer whose states are an output)
        per node, above the rows it reads and as near them as it can: the nodes in the graph's order,
        each input just before the first node reading it. A node shares the lowest row above what it
        reads whose columns it does not use (an input over another time axis)."""
        first_reader: dict[str, int] = {}
        order = [n for n in self.nodes if n.kind != "input"]
        for i, node in enumerate(order):
            for e in self.g.into(node.name):
                first_reader.setdefault(e.src, i)
        inputs = [n for n in self.nodes if n.kind == "input"]
        placed: list[NodeRecord] = []
        for i, node in enumerate(order):
            placed += [n for n in inputs if first_reader.get(n.name, -1) == i]
            placed.append(node)
        placed += [n for n in inputs if n not in placed]
        out: dict[str, list[int]] = {}
        members: list[list[NodeRecord]] = []  # per row, the nodes in it
        used: list[set[int]] = []  # per row, the columns its boxes are in
        for node in placed:
            height = 0 if node.kind in PASS_THROUGH else 1 + (node.kind == "bidirectional") + self._output_row(node)
            above = max((out[e.src][-1] for e in self.g.into(node.name) if out.get(e.src)), default=-1)
            if not height:  # drawn on the arrows out of what it reads
                out[node.name] = [above] if above >= 0 else []
                continue
            cols = self.node_cols(node)
            spot = next((r for r in range(above + 1, len(members)) if height == 1
                         and not used[r] & cols and all(len(out[n.name]) == 1 for n in members[r])), None)
            if spot is not None:
                members[spot].append(node)
                used[spot] |= cols
                out[node.name] = [spot]
                continue
            start = len(members)
            for k in range(height):
                members.append([node])
                used.append(set(cols))
                self.b.pic.rows.append(Row(""))
            out[node.name] = list(range(start, start + height))
        return out

    def _output_row(self, node: NodeRecord) -> int:
        return int(node.kind in RECURRENT and any(o[0] == node.name for o in self.outputs))

    # -- drawing -------------------------------------------------------------------------------
    def build(self) -> None:
        self.place()
        rows = self.rows()
        inputs = [n for n in self.nodes if n.kind == "input"]
        recurrent = [n for n in self.nodes if n.kind in RECURRENT]
        self.marks = {n.name: "'" * i for i, n in enumerate(inputs)}
        self.marks.update({n.name: "'" * i for i, n in enumerate(recurrent)})
        titles: dict[int, list[tuple[NodeRecord, str, tuple[str, ...]]]] = {}
        for node in self.nodes:
            if node.kind == "input":
                self.input_node(node, rows[node.name][0], titles)
            elif node.kind in PASS_THROUGH:
                self.pass_through(node)
            elif node.kind in RECURRENT:
                self.recurrent_node(node, rows[node.name], titles)
            elif node.kind == "bidirectional":
                self.bidirectional_node(node, rows[node.name])
            else:
                self.layer_node(node, rows[node.name][0], titles)
        for r, members in titles.items():
            self.b.pic.rows[r] = self._row(members)
        for length in self.groups:
            self.b.note_elided(self.group_cols(length), length)

    def _row(self, members: list[tuple[NodeRecord, str, tuple[str, ...]]]) -> Row:
        if len(members) == 1:
            node, title, details = members[0]
            return Row(title, details, 1 if node.kind in RECURRENT else 0)
        panels = []
        for node, title, _ in members:
            cols = self.node_cols(node)
            group = self.b.pic.columns[min(cols)].group if cols else ""
            panels.append((group, title))
        distinct = len({g for g, _ in panels}) == len(panels)  # else the text shows the whole title
        return Row(" · ".join(t for _, t, _ in members), tuple(d for _, _, ds in members for d in ds),
                   0, tuple(panels) if distinct else ())

    def _title(self, titles: dict, row: int, node: NodeRecord, title: str, details: list[str]) -> None:
        titles.setdefault(row, []).append((node, title, tuple(details)))

    def is_output(self, node: NodeRecord, i: int = 0) -> bool:
        return (node.name, i) in self.outputs

    def view(self, e: EdgeRecord) -> _View:
        return self.views[(e.src, e.output)]

    def input_node(self, node: NodeRecord, row: int, titles: dict) -> None:
        shape = self.tr.inputs[node.name]
        length = self.out_len[(node.name, 0)]
        self._title(titles, row, node, node.name, [f"{node.name} {shape_str(shape)}"])
        name = "x" + self.marks.get(node.name, "")
        if length is None:
            col = self.home[(node.name, 0)]
            self.views[(node.name, 0)] = _View({col: self.b.add(row, col, "input", [(name, shape_str(shape))])})
            return
        _, feed = self.b.input_row(node.name, shape, self.group_cols(length), length, name, row=row)
        self.views[(node.name, 0)] = _View(feed)

    def pass_through(self, node: NodeRecord) -> None:
        """Dropout, Masking: the same shape out as in, named on the arrows out of the box they read."""
        src = self.view(self.reads(node)[0])
        self.views[(node.name, 0)] = _View(src.boxes, src.port, (*src.via, node.name))

    def _label(self, src: _View, label: str) -> str:
        return " · ".join([*src.via, label]) if label else " · ".join(src.via)

    def recurrent_node(self, node: NodeRecord, rows: list[int], titles: dict) -> None:
        b = self.b
        rec = self.recs[node.name]
        length = self.in_length(node)
        cols = self.group_cols(length)
        src = self.view(self.reads(node)[0])
        feed = src.boxes if self.out_len.get((self.reads(node)[0].src, self.reads(node)[0].output)) == length \
            and length is not None else {}
        self._title(titles, rows[0], node, node.name, b.recurrent_details(rec))
        _, ids = b.recurrent_row(rec, cols, feed, self._label(src, "kernel"), row=rows[0],
                                 mark=self.marks.get(node.name, ""))
        backwards = bool(rec.config.get("go_backwards"))
        first, last = (cols[-1], cols[0]) if backwards else (cols[0], cols[-1])
        if not feed:  # read from another axis or a vector: one arrow into its first step
            c, box = src.last()
            b.link(box, ids[first], "kernel", self._label(src, "kernel"), src_port=src.port)
        ports = list(b.pic.box(ids[first]).ports)
        names = [n.split()[-1] for n in rec.states] or ["h"]
        for k, e in enumerate(self.states_in(node)):
            s = self.view(e)
            c, box = s.last()
            state = names[k] if k < len(names) else f"state {k}"
            b.link(box, ids[first], "handover", f"initial state {state}", src_port=s.port,
                   dst_port=ports[k] if k < len(ports) else "")
        seq = bool(rec.config.get("return_sequences"))
        for i, label in enumerate(node.outputs):
            if i == 0 and seq:
                self.views[(node.name, 0)] = _View(dict(ids))
            else:
                state = label if i else names[0]
                self.views[(node.name, i)] = _View({last: ids[last]}, state if ports else "")
        if self._output_row(node):
            self.output_row(node, rows[-1], ids, cols, seq, titles)

    def output_row(self, node: NodeRecord, row: int, ids: dict[int, str], cols: list[int], seq: bool,
                   titles: dict) -> None:
        """A recurrent layer's states (or last state) are a model output: a row of output boxes."""
        b = self.b
        rec = self.recs[node.name]
        outs = [(i, label) for i, label in enumerate(node.outputs) if self.is_output(node, i)]
        self._title(titles, row, node, f"{node.name} output",
                    [f"{label} {shape_str(list(rec.outputs.values())[i])}" for i, label in outs])
        length = self.in_length(node)
        for i, label in outs:
            shape = list(rec.outputs.values())[i]
            view = self.views[(node.name, i)]
            targets = cols if (i == 0 and seq) else [max(view.boxes)]
            boxes = {}
            for c in targets:
                if b.elided(c):
                    boxes[c] = b.ellipsis(row, c)
                    b.link(ids[c], boxes[c], "align")
                    continue
                t = b.pic.columns[c].t if i == 0 and seq else None
                name = "y" if label == "y" else label
                boxes[c] = b.add(row, c, "output", [(sub(name, t), shape_str(drop_axis(shape, length)))])
                b.link(ids[c], boxes[c], "identity", src_port=view.port)

    def bidirectional_node(self, node: NodeRecord, rows: list[int]) -> None:
        b = self.b
        rec = self.recs[node.name]
        length = self.in_length(node)
        cols = self.group_cols(length)
        e = self.reads(node)[0]
        src = self.view(e)
        feed = src.boxes if self.out_len.get((e.src, e.output)) == length else {}
        b.reserved = list(rows)
        try:
            merged = b.bidirectional(rec, cols, feed, self._label(src, "kernel"), last=self.is_output(node))
        finally:
            b.reserved = []
        for i in range(len(node.outputs)):
            self.views[(node.name, i)] = _View(dict(merged))

    def layer_node(self, node: NodeRecord, row: int, titles: dict) -> None:
        """Any other layer: a box per step of its output's axis, or one box for a vector."""
        b = self.b
        rec = self.recs[node.name]
        out = out_shape(rec) or ()
        length = self.out_len[(node.name, 0)]
        final = self.is_output(node)
        kinds = self.recs[node.name].kind
        inner = [r for r in self.tr.layers if r.path.startswith(node.name + "/")]
        weights = weight_details(rec) or [w for r in inner for w in weight_details(r)]
        label = weight_label(rec) or next((weight_label(r) for r in inner if weight_label(r)), "")
        text = kind_text(rec) + (f"({', '.join(kind_text(r) for r in inner)})" if inner else "")
        self._title(titles, row, node, node.name, [text, f"y {shape_str(out)}", *weights])
        merge = _MERGE.get(kinds)
        name = "y" if final else "e" if kinds == "embedding" else "m" if merge else \
            "r" if kinds == "repeat_vector" else "p" if kinds in _REDUCE else "s" if kinds in _SELECT else "a"
        role = "output" if final else "merge" if merge else "hidden"
        reads = self.reads(node)
        if length is not None:
            cols = self.group_cols(length)
            ids = {}
            for c in cols:
                col = b.pic.columns[c]
                ids[c] = b.ellipsis(row, c) if col.kind == "elided" else \
                    b.add(row, c, role, [(sub(name, col.t), shape_str(drop_axis(out, length)))])
            self.views[(node.name, 0)] = _View(ids)
            if kinds == "repeat_vector":
                self._repeat(node, reads[0], ids, cols)
                return
            for e in reads:
                src = self.view(e)
                kind = "operand" if merge else "kernel"
                what = self._label(src, merge or label)
                if self.out_len.get((e.src, e.output)) == length:
                    for c in cols:
                        if c in src.boxes:
                            b.link(src.boxes[c], ids[c], "align" if b.elided(c) else kind,
                                   "" if b.elided(c) else what, src_port=src.port)
                else:  # another axis, or a vector read at every step
                    c, box = src.last()
                    b.link(box, ids[cols[0]], kind, what, src_port=src.port)
            return
        col = self.home[(node.name, 0)]
        assert col is not None
        box = b.add(row, col, role, [(name, shape_str(out))])
        self.views[(node.name, 0)] = _View({col: box})
        for e in reads:
            src = self.view(e)
            if self.out_len.get((e.src, e.output)) is not None:  # reads a sequence: every step, or the one taken
                what = _REDUCE.get(kinds, _SELECT.get(kinds, kinds.replace("_", " ")))
                steps = [c for c in sorted(src.boxes) if not b.elided(c)]
                if kinds in _SELECT and col in src.boxes:  # one step taken
                    steps = [col]
                for c in steps:
                    b.link(src.boxes[c], box, "reduce", self._label(src, what) if c == col else "",
                           src_port=src.port)
            else:
                c, other = src.last()
                b.link(other, box, "operand" if merge else "kernel", self._label(src, merge or label),
                       src_port=src.port)
        if kinds in _REDUCE and self.out_len.get((reads[0].src, reads[0].output)) is not None and not b.rolled:
            length_in = self.out_len[(reads[0].src, reads[0].output)]
            b.pic.notes.append(f"{node.name}: {name} {shape_str(out)} = {_REDUCE[kinds]} over all {length_in} steps "
                               f"(the arrows from the steps drawn; … stands for the others)")

    def _repeat(self, node: NodeRecord, e: EdgeRecord, ids: dict[int, str], cols: list[int]) -> None:
        """RepeatVector: its vector into the first step, then copied step to step along the row."""
        b = self.b
        src = self.view(e)
        _, box = src.last()
        b.link(box, ids[cols[0]], "kernel", self._label(src, "repeat"), src_port=src.port)
        for a, c in zip(cols, cols[1:]):
            b.link(ids[a], ids[c], "elided" if b.elided(a) or b.elided(c) else "repeat",
                   "" if b.elided(a) or b.elided(c) else "copy")
        if not b.rolled:
            n = Dim.of(out_shape(self.recs[node.name])[1])  # type: ignore[index]
            b.pic.notes.append(f"{node.name}: the same vector at each of its {n} steps (→ copy: not a weight)")


def lay_out_graph(builder: Any) -> None:
    """Lays out ``builder.trace`` (a graph model's) on ``builder``, a unroll ``_Builder``."""
    GraphLayout(builder).build()
