"""The unrolled picture of a Trace as plain data (rows, columns, boxes, links) for the graph and text renderers.

Both pictures are read off the trace's records only: the layer records (kind, inputs,
outputs, states, parameters, options), the step records (the tensors of the traced steps),
the mode, the model's inputs and outputs, and ``trace.options``. No layer's shape rule is
written here; a box's shape is the shape a record holds.

The tracer records a few representative steps of a long or symbolic sequence (0, 1 and
T-1 by default). The shapes of a step are the same at every t, so a box for a step without
a record of its own takes the shapes of the nearest recorded step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapeviz.errors import ConfigError
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.records import LayerRecord, Shape, StepRecord, Trace

RECURRENT = frozenset({"simple_rnn", "lstm", "gru"})
PASS_THROUGH = frozenset({"dropout", "masking"})  # same shape out as in: drawn on the link, not as a row
_KIND_NAMES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "dense": "Dense", "embedding": "Embedding",
               "bidirectional": "Bidirectional", "dropout": "Dropout", "masking": "Masking"}
MODE_TEXT = {
    "one-to-one": "a vector in, a vector out",
    "one-to-many": "a vector in, a sequence out",
    "many-to-one": "a sequence in, one output after the last step",
    "many-to-many": "a sequence in, a sequence of another length out",
    "synced many-to-many": "a sequence in, an output at every step",
}


@dataclass(frozen=True)
class Box:
    """One rectangle of the picture: a tensor (or several, an LSTM's h and c) at one step.

    Attributes:
        id: a name unique in the picture (``"r1c2"``).
        row, col: where it sits (row 0 at the bottom, column 0 at the left).
        role: ``"input"`` (red), ``"state"`` (green), ``"hidden"`` (a per-step feed-forward
            layer, pale green), ``"merge"`` (a Bidirectional's merged output), ``"output"``
            (blue), ``"empty"`` (a zero input), ``"fed"`` (an output fed back as input) or
            ``"ellipsis"`` (the collapsed steps).
        lines: ``(tensor, shape)`` pairs, top to bottom, e.g. ``(("h_1", "(B, 24)"), ("c_1", "(B, 24)"))``.
        ports: a name per line that links can attach to (``"h"``, ``"c"``, ``"hb"``), when the box
            holds several states that arrows reach one by one.
        note: a word about it (``"concat"``, ``"empty input"``).
    """

    id: str
    row: int
    col: int
    role: str
    lines: tuple[tuple[str, str], ...] = ()
    note: str = ""
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    """An arrow from one box to another.

    Attributes:
        kind: ``"kernel"`` (a layer reads the box below), ``"recurrent"`` (the state to the next
            step), ``"elided"`` (into or out of the collapsed steps), ``"align"`` (keeps the
            collapsed column straight; not drawn), ``"handover"`` (an encoder's final state to
            the decoder), ``"merge"`` (into a Bidirectional's merge), ``"feedback"`` (an output
            fed back as the next input), ``"identity"`` (the top layer's state is the output).
        label: what joins them: a weight's name (``kernel``, ``recurrent_kernel``), a merge mode.
        loop: the repetition on a rolled view's self-loop (``"× T"``).
        src_port, dst_port: the lines of the two boxes it joins (see :attr:`Box.ports`), or empty.
    """

    src: str
    dst: str
    kind: str
    label: str = ""
    loop: str = ""
    src_port: str = ""
    dst_port: str = ""


@dataclass(frozen=True)
class Row:
    """One band of the picture: the inputs, one layer (or one direction of it), or the outputs.

    Attributes:
        title: ``"input"`` or the layer's name.
        details: short lines: the layer's type, its output shape, its weights' shapes.
        direction: 1 when its recurrence runs left to right, -1 for a backward layer, 0 for none.
    """

    title: str
    details: tuple[str, ...] = ()
    direction: int = 0


@dataclass(frozen=True)
class Column:
    """One timestep (``t``), the collapsed steps (``kind="elided"``), or the single column of a
    model without time (``kind="single"``); ``group`` is ``"encoder"``/``"decoder"`` or empty."""

    t: Dim | None
    kind: str = "step"
    group: str = ""
    length: Dim | None = None  # the sequence length this column belongs to


@dataclass
class Unrolled:
    """A picture's content: rows bottom to top, columns left to right, boxes and links.

    Attributes:
        title: the model, its kind and mode.
        subtitle: what the mode does, in words.
        notes: what a box or arrow cannot say (what ``…`` stands for, a merge's operands).
        rolled: one column per sequence, the recurrence drawn as a self-loop.
    """

    title: str
    subtitle: str
    rows: list[Row] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rolled: bool = False

    def box(self, box_id: str) -> Box:
        for b in self.boxes:
            if b.id == box_id:
                return b
        raise KeyError(box_id)

    def at(self, row: int, col: int) -> Box | None:
        for b in self.boxes:
            if b.row == row and b.col == col:
                return b
        return None


# -- small helpers ---------------------------------------------------------------------------
def sub(name: str, t: Any) -> str:
    """``h_1``, ``h_999``, ``h_{T-1}``: a tensor's name at step ``t`` (``name`` alone for None)."""
    if t is None:
        return name
    idx = str(Dim.of(t)) if not isinstance(t, str) else t
    return f"{name}_{idx}" if idx.isdigit() or len(idx) == 1 else f"{name}_{{{idx}}}"


def shown_steps(length: Dim, unroll: int) -> list[Dim | None]:
    """The steps drawn of a sequence of ``length``: all of them when there are at most
    ``unroll + 1``, else the first ``unroll``, None for the collapsed ones, and the last."""
    if length.is_const and length.value <= unroll + 1:  # type: ignore[operator]
        return [Dim.const(i) for i in range(length.value)]  # type: ignore[arg-type]
    return [Dim.const(i) for i in range(unroll)] + [None, length - 1]


def _t_key(rec: StepRecord) -> tuple[int, int]:
    t = Dim.of(rec.t)
    return (1, 0) if not t.is_const else (0, t.value)  # type: ignore[return-value]


def sequence_length(steps: list[StepRecord]) -> Dim | None:
    """The length of the loop these records come from: its last step + 1 (None without records)."""
    if not steps:
        return None
    return Dim.of(max(steps, key=_t_key).t) + 1


def nearest(steps: list[StepRecord], t: Dim) -> StepRecord | None:
    """The record of step ``t``, or of the nearest recorded step (shapes are the same at every t)."""
    if not steps:
        return None
    for rec in steps:
        if Dim.of(rec.t) == t:
            return rec
    consts = [r for r in steps if Dim.of(r.t).is_const]
    if t.is_const and consts:
        return min(consts, key=lambda r: abs(Dim.of(r.t).value - t.value))  # type: ignore[operator]
    return max(steps, key=_t_key)


def _time_axis(shape: Shape, length: Dim | None) -> int | None:
    """The axis of ``shape`` that is ``length``: the first after the batch, else axis 0 (time-major)."""
    if length is None:
        return None
    for i in [*range(1, len(shape)), 0][:len(shape)]:
        if Dim.of(shape[i]) == length:
            return i
    return None


def drop_axis(shape: Shape, length: Dim | None) -> Shape:
    """A per-step shape: ``shape`` without its time axis; unchanged when it has none."""
    i = _time_axis(shape, length)
    return tuple(shape) if i is None else tuple(shape[:i]) + tuple(shape[i + 1:])


def has_axis(shape: Shape, length: Dim | None) -> bool:
    return _time_axis(shape, length) is not None


def kind_text(rec: LayerRecord) -> str:
    """``LSTM(24)``, ``Dense(16, tanh)``, ``Embedding(20000, 128)``: a layer's type in a few characters."""
    name = _KIND_NAMES.get(rec.kind, rec.kind)
    cfg = rec.config
    if rec.kind == "embedding" and "input_dim" in cfg:
        return f"{name}({cfg['input_dim']}, {cfg.get('output_dim')})"
    args = [str(cfg["units"])] if "units" in cfg else []
    act = cfg.get("activation")
    if rec.kind == "dense" and act and act != "linear":
        args.append(str(act))
    if rec.kind == "bidirectional":
        args.append(str(cfg.get("merge_mode")))
    if rec.kind in PASS_THROUGH and "rate" in cfg:
        args.append(str(cfg["rate"]))
    return f"{name}({', '.join(args)})" if args else name


def weight_label(rec: LayerRecord) -> str:
    """The weight a layer reads its input through: ``kernel`` (``embeddings`` for a lookup)."""
    if "kernel" in rec.params:
        return "kernel"
    return next(iter(rec.params), "")


def weight_details(rec: LayerRecord) -> list[str]:
    return [f"{k} {shape_str(v)}" for k, v in rec.params.items() if k != "bias"]


def _out_shape(rec: LayerRecord) -> Shape | None:
    return rec.outputs.get("y", next(iter(rec.outputs.values()), None))


class _Builder:
    """Lays out one Trace; each model kind has a method."""

    def __init__(self, trace: Trace, unroll: int, rolled: bool) -> None:
        self.trace = trace
        self.unroll = unroll
        self.rolled = rolled
        mode_text = MODE_TEXT.get(trace.mode, "")
        self.pic = Unrolled(
            title=f"{trace.model} ({trace.model_kind}): {trace.mode}",
            subtitle=(f"{mode_text}; " if mode_text else "")
            + ("rolled: one box per layer" if rolled else
               "layers stack upward" if trace.mode == "one-to-one" else "time runs left to right, layers stack upward")
            + "; every box is a batch of B rows",
            rolled=rolled)
        self.top = [r for r in trace.layers if r.depth == 0]
        self.seq = False  # whether the layer being laid out reads a sequence (else one vector)

    # -- structure ---------------------------------------------------------------------
    def steps(self, path: str) -> list[StepRecord]:
        return [s for s in self.trace.steps if s.layer == path and s.phase == "forward"]

    def children(self, rec: LayerRecord) -> list[LayerRecord]:
        return [r for r in self.trace.layers if r.path.startswith(rec.path + "/") and r.depth == rec.depth + 1]

    def columns(self, length: Dim | None, group: str = "") -> list[int]:
        """Adds the columns of a sequence of ``length`` (one for a model without time); returns their indices."""
        start = len(self.pic.columns)
        if length is None:
            self.pic.columns.append(Column(None, "single", group))
        elif self.rolled:
            self.pic.columns.append(Column(Dim.sym("t"), "step", group, length))
        else:
            for t in shown_steps(length, self.unroll):
                self.pic.columns.append(Column(t, "step" if t is not None else "elided", group, length))
        return list(range(start, len(self.pic.columns)))

    def row(self, title: str, details: list[str], direction: int = 0) -> int:
        self.pic.rows.append(Row(title, tuple(details), direction))
        return len(self.pic.rows) - 1

    def add(self, row: int, col: int, role: str, lines: list[tuple[str, str]] = (), note: str = "",  # type: ignore[assignment]
            ports: list[str] = ()) -> str:  # type: ignore[assignment]
        box = Box(f"r{row}c{col}", row, col, role, tuple(lines), note, tuple(ports))
        self.pic.boxes.append(box)
        return box.id

    def ellipsis(self, row: int, col: int) -> str:
        return self.add(row, col, "ellipsis", [("…", "")])

    def link(self, src: str, dst: str, kind: str, label: str = "", loop: str = "", src_port: str = "",
             dst_port: str = "") -> None:
        self.pic.links.append(Link(src, dst, kind, label, loop, src_port, dst_port))

    def elided(self, col: int) -> bool:
        return self.pic.columns[col].kind == "elided"

    # -- rows ----------------------------------------------------------------------------
    def input_row(self, name: str, shape: Shape, cols: list[int], length: Dim | None, tensor: str = "x",
                  row: int | None = None, title: str = "input") -> tuple[int, dict[int, str]]:
        if row is None:
            row = self.row(title, [f"{name} {shape_str(shape)}"])
        per_step = shape_str(drop_axis(shape, length))
        feed = {}
        for c in cols:
            col = self.pic.columns[c]
            feed[c] = self.ellipsis(row, c) if col.kind == "elided" else \
                self.add(row, c, "input", [(sub(tensor, col.t), per_step)])
        return row, feed

    def feed_links(self, feed: dict[int, str], ids: dict[int, str], label: str) -> None:
        for c, dst in ids.items():
            src = feed.get(c)
            if src is None:
                continue
            self.link(src, dst, "align" if self.elided(c) else "kernel", "" if self.elided(c) else label)

    def recurrent_details(self, rec: LayerRecord, extra: list[str] = (), output: bool = True) -> list[str]:  # type: ignore[assignment]
        backwards = bool(rec.config.get("go_backwards"))
        details = [kind_text(rec) + (", go_backwards" if backwards else ""), *extra]
        out = _out_shape(rec)
        if output and out is not None:
            details.append(f"y {shape_str(out)}")
        return details + weight_details(rec)

    def state_cells(self, rec: LayerRecord, cols: list[int], mark: str = "",
                    tag: str = "") -> dict[int, list[tuple[str, str, str]]]:
        """A recurrent layer's states at each of ``cols``: ``(port, tensor, shape)`` per state
        (``h``; ``h`` and ``c`` for an LSTM), from the step records."""
        backwards = bool(rec.config.get("go_backwards"))
        steps = self.steps(rec.path)
        names = [n.split()[-1] for n in rec.states] or ["h"]
        length = self.pic.columns[cols[0]].length
        cells: dict[int, list[tuple[str, str, str]]] = {}
        for c in cols:
            col = self.pic.columns[c]
            if col.kind == "elided":
                continue
            # a backward layer's step t reads x_{T-1-t}: its box at column t is its step T-1-t
            t_proc = (length - 1 - col.t) if backwards and length is not None and col.t is not None else col.t
            srec = nearest(steps, Dim.of(t_proc)) if t_proc is not None else None
            cells[c] = []
            for n in names:
                shape = srec.tensors.get(f"{n}_t") if srec is not None else None
                if shape is None:
                    shape = rec.states.get(n, ())
                cells[c].append((n + tag, sub(n + mark, col.t), shape_str(shape)))
        return cells

    def recurrent_links(self, rec: LayerRecord, ids: dict[int, str], cols: list[int], ports: list[str]) -> None:
        """The arrows along time: ``recurrent_kernel`` into h (an LSTM's c through its forget gate)."""
        backwards = bool(rec.config.get("go_backwards"))
        length = self.pic.columns[cols[0]].length
        order = cols[::-1] if backwards else cols
        labels = {p: ("forget gate" if p.startswith("c") else "recurrent_kernel") for p in ports}
        for port in ports:
            if self.rolled:
                n = str(length) if length is not None else "T"
                self.link(ids[cols[0]], ids[cols[0]], "recurrent", labels[port],
                          f"× {n}" + (", backwards" if backwards else ""), port, port)
                continue
            for a, b in zip(order, order[1:]):
                pa = "" if self.elided(a) else port
                pb = "" if self.elided(b) else port
                if self.elided(a) or self.elided(b):
                    self.link(ids[a], ids[b], "elided", "", "", pa, pb)
                else:
                    self.link(ids[a], ids[b], "recurrent", labels[port], "", pa, pb)

    def recurrent_row(self, rec: LayerRecord, cols: list[int], feed: dict[int, str], label: str,
                      row: int | None = None, mark: str = "", output: bool = True) -> tuple[int, dict[int, str]]:
        """A recurrent layer's states along ``cols``; returns its row and its boxes by column."""
        if row is None:
            row = self.row(rec.path, self.recurrent_details(rec, output=output),
                           -1 if rec.config.get("go_backwards") else 1)
        cells = self.state_cells(rec, cols, mark)
        ports = [p for p, _, _ in next(iter(cells.values()), [])]
        multi = len(ports) > 1
        ids: dict[int, str] = {}
        for c in cols:
            if c not in cells:
                ids[c] = self.ellipsis(row, c)
            else:
                ids[c] = self.add(row, c, "state", [(n, s) for _, n, s in cells[c]],
                                  ports=[p for p, _, _ in cells[c]] if multi else [])
        self.feed_links(feed, ids, label)
        self.recurrent_links(rec, ids, cols, ports if multi else [""])
        return row, ids

    def per_step_rows(self, recs: list[LayerRecord], feed: dict[int, str], length: Dim | None,
                      last_is_output: bool, via: list[str]) -> dict[int, str]:
        """Feed-forward layers: one box per column they see (every step of a sequence, or the one
        box a vector sits in)."""
        for i, rec in enumerate(recs):
            if rec.kind in PASS_THROUGH:
                via.append(rec.path)
                continue
            final = last_is_output and all(r.kind in PASS_THROUGH for r in recs[i + 1:])
            out = _out_shape(rec) or ()
            row = self.row(rec.path, [kind_text(rec), f"y {shape_str(out)}", *weight_details(rec)])
            per_step = shape_str(drop_axis(out, length))
            name = "y" if final else "e" if rec.kind == "embedding" else "a"
            ids = {}
            for c in feed:
                col = self.pic.columns[c]
                if col.kind == "elided":
                    ids[c] = self.ellipsis(row, c)
                else:
                    t = col.t if self.seq else None
                    ids[c] = self.add(row, c, "output" if final else "hidden", [(sub(name, t), per_step)])
            label = weight_label(rec)
            self.feed_links(feed, ids, " · ".join([*via, label]) if label else " · ".join(via))
            via.clear()
            feed = ids
        return feed

    def output_row(self, feed: dict[int, str], length: Dim | None) -> None:
        """The top layer is recurrent: its states (or last state) are the model's output."""
        shape = next(iter(self.trace.outputs.values()), ())
        row = self.row("output", [f"y {shape_str(shape)}"])
        per_step = shape_str(drop_axis(shape, length))
        for c, src in feed.items():
            col = self.pic.columns[c]
            if col.kind == "elided":
                self.link(src, self.ellipsis(row, c), "align")
            else:
                dst = self.add(row, c, "output", [(sub("y", col.t if self.seq else None), per_step)])
                self.link(src, dst, "identity")

    # -- models ----------------------------------------------------------------------------
    def sequential(self) -> None:
        length = None
        for rec in self.top:
            for r in [rec, *self.children(rec)]:
                if r.kind in RECURRENT:
                    length = sequence_length(self.steps(r.path))
                    if length is None:  # a trace without step records: the input's time axis
                        length = Dim.of(r.inputs["x"][1])
                    break
            if length is not None:
                break
        cols = self.columns(length)
        x = self.trace.inputs.get("x", next(iter(self.trace.inputs.values()), ()))
        _, feed = self.input_row("x", x, cols if has_axis(x, length) else cols[-1:], length)
        if length is None or not has_axis(x, length):
            feed = {cols[-1]: feed[cols[-1]]} if cols[-1] in feed else feed
        self.seq = has_axis(x, length)
        via: list[str] = []
        pending: list[LayerRecord] = []
        for i, rec in enumerate(self.top):
            if rec.kind not in RECURRENT and rec.kind != "bidirectional":
                pending.append(rec)
                continue
            feed = self.per_step_rows(pending, feed, length, False, via)
            pending = []
            label = " · ".join([*via, "kernel"])
            via.clear()
            if rec.kind == "bidirectional":
                feed = self.bidirectional(rec, cols, feed, label, last=(i == len(self.top) - 1))
            else:
                _, ids = self.recurrent_row(rec, cols, feed, label)
                feed = self.after_recurrent(rec, ids, cols)
                if self.rolled and not self.seq and length is not None:  # one box for every step: say which is read
                    via.append(sub("h", length - 1 if not rec.config.get("go_backwards") else 0))
        if pending:
            self.per_step_rows(pending, feed, length, True, via)
        elif self.top and self.top[-1].kind in RECURRENT:
            self.output_row(feed, length)
        self.note_elided(cols, length)

    def after_recurrent(self, rec: LayerRecord, ids: dict[int, str], cols: list[int]) -> dict[int, str]:
        """What the next layer reads: every step's state (return_sequences) or the last one."""
        self.seq = bool(rec.config.get("return_sequences"))
        if self.seq:
            return dict(ids)
        last = cols[0] if rec.config.get("go_backwards") else cols[-1]
        return {last: ids[last]}

    def bidirectional(self, rec: LayerRecord, cols: list[int], feed: dict[int, str], label: str,
                      last: bool) -> dict[int, str]:
        """One row, each box the backward direction's states over the forward one's, the arrows of
        the two opposite; then the merge."""
        subs = self.children(rec)
        if len(subs) != 2:
            raise ConfigError(f"the trace of {rec.path} has {len(subs)} directions recorded, expected 2")
        fw, bw = subs
        details = [kind_text(rec), f"← {bw.path.split('/')[-1]}: {kind_text(bw)}, go_backwards",
                   *(f"   {w}" for w in weight_details(bw)), f"→ {fw.path.split('/')[-1]}: {kind_text(fw)}",
                   *(f"   {w}" for w in weight_details(fw))]
        row = self.row(rec.path, details, 0)
        fw_cells = self.state_cells(fw, cols, "→", "f")
        bw_cells = self.state_cells(bw, cols, "←", "b")
        ids: dict[int, str] = {}
        for c in cols:
            if c not in fw_cells:
                ids[c] = self.ellipsis(row, c)
                continue
            cells = bw_cells[c] + fw_cells[c]
            ids[c] = self.add(row, c, "state", [(n, s) for _, n, s in cells], ports=[p for p, _, _ in cells])
        self.feed_links(feed, ids, label)
        fw_ports = [p for p, _, _ in next(iter(fw_cells.values()), [])]
        bw_ports = [p for p, _, _ in next(iter(bw_cells.values()), [])]
        self.recurrent_links(bw, ids, cols, bw_ports)
        self.recurrent_links(fw, ids, cols, fw_ports)
        seq = bool(fw.config.get("return_sequences"))
        self.seq = seq
        mode = rec.config.get("merge_mode")
        out = _out_shape(rec) or ()
        length = self.pic.columns[cols[0]].length
        mrow = self.row(f"{rec.path} merge", [*(f"{k} {shape_str(v)}" for k, v in rec.outputs.items())])
        role = "output" if last else "merge"
        name = "y" if last else "m"

        def lines(t: Any) -> list[tuple[str, str]]:
            if mode is None:
                return [(sub(f"{k}", t), shape_str(drop_axis(v, length))) for k, v in rec.outputs.items()]
            return [(sub(name, t), shape_str(drop_axis(out, length)))]

        note = str(mode) if mode is not None else "not merged"
        h_fw, h_bw = fw_ports[0], bw_ports[0]
        # unmerged, each direction's state goes to its own line of the box (y_forward, y_backward)
        ports = tuple(rec.outputs) if mode is None else ()
        to_fw = "y_forward" if "y_forward" in ports else ""
        to_bw = "y_backward" if "y_backward" in ports else ""
        if seq:
            merged = {}
            for c in cols:
                if self.elided(c):
                    merged[c] = self.ellipsis(mrow, c)
                    self.link(ids[c], merged[c], "align")
                    continue
                merged[c] = self.add(mrow, c, role, lines(self.pic.columns[c].t), note, ports=list(ports))
                self.link(ids[c], merged[c], "merge", note, src_port=h_bw, dst_port=to_bw)
                self.link(ids[c], merged[c], "merge", note, src_port=h_fw, dst_port=to_fw)
            return merged
        a, b = cols[-1], cols[0]  # the forward direction ends at the last step, the backward at step 0
        dst = self.add(mrow, a, role, lines(None), note, ports=list(ports))
        self.link(ids[b], dst, "merge", note, src_port=h_bw, dst_port=to_bw)
        self.link(ids[a], dst, "merge", note, src_port=h_fw, dst_port=to_fw)
        if not self.rolled:
            (_, fw_name, fw_shape), (_, bw_name, bw_shape) = fw_cells[a][0], bw_cells[b][0]
            states = (f"the forward direction's last state {fw_name} {fw_shape} and the backward direction's last "
                      f"state {bw_name} {bw_shape}, at step 0")
            self.pic.notes.append(f"{rec.path}: {name} {shape_str(out)} = {note} of {states}" if mode is not None
                                  else f"{rec.path}: {', '.join(rec.outputs)} are {states}, not merged")
        return {a: dst}

    def one_to_many(self) -> None:
        recs = [r for r in self.top if r.kind in RECURRENT]
        heads = [r for r in self.top if r.kind not in RECURRENT]
        length = sequence_length(self.steps(recs[0].path)) if recs else None
        if length is None:
            length = Dim.of(self.trace.options.get("steps", next(iter(self.trace.outputs.values()))[1]))
        cols = self.columns(length)
        x = self.trace.inputs.get("x", ())
        feedback = self.trace.options.get("feedback")
        then = {"outputs": "then its own outputs, fed back", "zeros": "then empty (zero) inputs"}.get(
            str(feedback), "then empty or fed-back inputs")
        row = self.row("input", [f"x {shape_str(x)} at step 0", then])
        x_steps = self.steps(recs[0].path) if recs else []
        feed: dict[int, str] = {}
        for c in cols:
            col = self.pic.columns[c]
            if col.kind == "elided":
                feed[c] = self.ellipsis(row, c)
            elif c == cols[0]:
                feed[c] = self.add(row, c, "input", [("x", shape_str(x))], "step 0")
            else:
                srec = nearest(x_steps, col.t)  # type: ignore[arg-type]
                shape = shape_str(srec.tensors.get("x_t", x) if srec is not None else x)
                if feedback == "outputs":
                    feed[c] = self.add(row, c, "fed", [(sub("y", col.t - 1), shape)], "fed back")  # type: ignore[operator]
                elif feedback == "zeros":
                    feed[c] = self.add(row, c, "empty", [("0", shape)], "empty input")
                else:
                    feed[c] = self.add(row, c, "empty", [(sub("x", col.t), shape)], "empty or fed back")
        self.seq = True
        first: dict[int, str] = {}
        for rec in recs:
            _, ids = self.recurrent_row(rec, cols, feed, "kernel", output=False)
            first = first or ids
            feed = ids
        feed = self.per_step_rows(heads, feed, None, True, [])
        if feedback == "outputs" and self.rolled:  # y_t goes back in as the next step's input
            for c, dst in first.items():
                self.link(feed[c], dst, "feedback", "y_{t-1} fed back (t ≥ 1)")
        # unrolled, the dashed input boxes say "y_{t-1}, fed back": arrows from each output down to
        # the next step's input would cross the whole picture
        self.note_elided(cols, length)

    def encoder_decoder(self) -> None:
        recs = [r for r in self.top if r.kind in RECURRENT]
        dec = [r for r in recs if any(k.endswith("_0") for k in r.inputs)]
        enc = [r for r in recs if r not in dec]
        heads = [r for r in self.top if r.kind not in RECURRENT]
        if not enc or len(enc) != len(dec):
            raise ConfigError(f"the trace of {self.trace.model} does not show an encoder and a decoder of the same "
                              f"depth (encoder {[r.path for r in enc]}, decoder {[r.path for r in dec]})")
        t_in = sequence_length(self.steps(enc[0].path)) or Dim.of(enc[0].inputs["x"][1])
        t_out = sequence_length(self.steps(dec[0].path)) or Dim.of(dec[0].inputs["x"][1])
        self.seq = True
        ecols = self.columns(t_in, "encoder")
        dcols = self.columns(t_out, "decoder")
        src = self.trace.inputs.get("source", enc[0].inputs["x"])
        dx = self.trace.inputs.get("decoder_inputs", dec[0].inputs["x"])
        row = self.row("inputs", [f"source {shape_str(src)}", f"decoder_inputs {shape_str(dx)}"])
        _, efeed = self.input_row("source", src, ecols, t_in, "x", row=row)
        _, dfeed = self.input_row("decoder_inputs", dx, dcols, t_out, "x'", row=row)
        for e, d in zip(enc, dec):
            states = [k[:-2] for k in d.inputs if k.endswith("_0")]
            details = [f"encoder {kind_text(e)}, decoder {kind_text(d)}",
                       *(f"{e.path} {w}" for w in weight_details(e)), *(f"{d.path} {w}" for w in weight_details(d))]
            row = self.row(f"{e.path} → {d.path}", details, 1)
            _, eids = self.recurrent_row(e, ecols, efeed, "kernel", row=row)
            _, dids = self.recurrent_row(d, dcols, dfeed, "kernel", row=row, mark="'")
            self.link(eids[ecols[-1]], dids[dcols[0]], "handover", "initial state " + ", ".join(states))
            efeed, dfeed = eids, dids
        self.per_step_rows(heads, dfeed, t_out, True, [])
        self.pic.notes.append(f"x, h, c: the encoder over the source's {t_in} steps; x', h', c': the decoder over "
                              f"its {t_out} steps, starting from the encoder's last state")
        self.note_elided(ecols, t_in, "the encoder's ")
        self.note_elided(dcols, t_out, "the decoder's ")

    def note_elided(self, cols: list[int], length: Dim | None, whose: str = "") -> None:
        elided = [c for c in cols if self.elided(c)]
        if not elided or length is None:
            return
        first = self.pic.columns[elided[0] - 1].t + 1  # type: ignore[operator]
        last = length - 2
        span = f"step {first}" if first == last else f"steps {first} to {last}"
        self.pic.notes.append(f"… stands for {whose}{span}: the same layers with the same shapes at every step")

    def build(self) -> Unrolled:
        kind = self.trace.model_kind
        if kind == "one_to_many":
            self.one_to_many()
        elif kind == "encoder_decoder":
            self.encoder_decoder()
        else:
            self.sequential()
        return self.pic


def unrolled(trace: Trace, unroll: int = 3, rolled: bool = False) -> Unrolled:
    """The unrolled (or rolled) picture of ``trace`` as rows, columns, boxes and links.

    Args:
        trace: what :func:`shapeviz.trace` returned.
        unroll: k, the steps drawn before a long sequence collapses: steps 0..k-1, an
            ellipsis, and the last step. A sequence of at most k+1 steps is drawn whole.
        rolled: one box per layer instead, its recurrence a self-loop (``× T``).

    Returns:
        An :class:`Unrolled`; its size does not depend on the sequence's length.
    """
    if isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ConfigError(f"unroll must be a positive number of steps, got {unroll!r}")
    return _Builder(trace, unroll, rolled).build()
