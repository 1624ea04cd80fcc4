"""The building blocks of an unrolled picture, read off a Trace's records: columns for the steps
drawn, a row per layer, the boxes of inputs, states and outputs, and the links between them.

Everything here is read from the records only (kinds, shapes, configs, the step records);
:mod:`shapeviz.render.unroll` puts the blocks together for each kind of model.
"""

from __future__ import annotations

from typing import Any

from shapeviz.render.picture import Box, Column, Link, Row, Unrolled
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.records import LayerRecord, Shape, StepRecord, Trace

RECURRENT = frozenset({"simple_rnn", "lstm", "gru"})
PASS_THROUGH = frozenset({"dropout", "masking"})  # same shape out as in: drawn on the link, not as a row
_KIND_NAMES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "dense": "Dense", "embedding": "Embedding",
               "bidirectional": "Bidirectional", "dropout": "Dropout", "masking": "Masking",
               # a graph model's layers
               "time_distributed": "TimeDistributed", "repeat_vector": "RepeatVector", "concatenate": "Concatenate",
               "add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average", "stack": "Stack",
               "global_average_pooling1d": "GlobalAveragePooling1D", "global_max_pooling1d": "GlobalMaxPooling1D",
               "activation": "Activation", "flatten": "Flatten", "reshape": "Reshape", "permute": "Permute",
               "index": "Index", "take_step": "TakeStep", "last_step": "LastStep", "steps": "Steps"}
MODE_TEXT = {
    "one-to-one": "a vector in, a vector out",
    "one-to-many": "a vector in, a sequence out",
    "many-to-one": "a sequence in, one output after the last step",
    "many-to-many": "a sequence in, a sequence of another length out",
    "synced many-to-many": "a sequence in, an output at every step",
}


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
    for key in ("n", "t", "axis"):  # RepeatVector(n), TakeStep(t), Concatenate(axis)
        if key in cfg and rec.kind in ("repeat_vector", "take_step", "concatenate", "stack"):
            args.append(str(cfg[key]))
    return f"{name}({', '.join(args)})" if args else name


def weight_label(rec: LayerRecord) -> str:
    """The weight a layer reads its input through: ``kernel`` (``embeddings`` for a lookup)."""
    if "kernel" in rec.params:
        return "kernel"
    return next(iter(rec.params), "")


def weight_details(rec: LayerRecord) -> list[str]:
    return [f"{k} {shape_str(v)}" for k, v in rec.params.items() if k != "bias"]


def out_shape(rec: LayerRecord) -> Shape | None:
    return rec.outputs.get("y", next(iter(rec.outputs.values()), None))


class Grid:
    """The picture of one Trace being laid out, and the steps that add its columns, rows, boxes and links."""

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
        self.reserved: list[int] = []  # rows made beforehand (a graph's layout) that row() fills in order

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
        if self.reserved:
            r = self.reserved.pop(0)
            self.pic.rows[r] = Row(title, tuple(details), direction)
            return r
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
        out = out_shape(rec)
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
            out = out_shape(rec) or ()
            if self.seq and length is not None and feed and not has_axis(out, length):
                # it takes the sequence apart (a final state h_n[-1], the last step out[:, -1]): one box,
                # after the last step
                last = max(feed)
                feed = {last: feed[last]}
                self.seq = False
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

    def note_elided(self, cols: list[int], length: Dim | None, whose: str = "") -> None:
        elided = [c for c in cols if self.elided(c)]
        if not elided or length is None:
            return
        first = self.pic.columns[elided[0] - 1].t + 1  # type: ignore[operator]
        last = length - 2
        span = f"step {first}" if first == last else f"steps {first} to {last}"
        self.pic.notes.append(f"… stands for {whose}{span}: the same layers with the same shapes at every step")
