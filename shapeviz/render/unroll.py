"""The unrolled picture of a Trace as plain data (rows, columns, boxes, links) for the graph and text renderers.

Both pictures are read off the trace's records only: the layer records (kind, inputs,
outputs, states, parameters, options), the step records (the tensors of the traced steps),
the mode, the model's inputs and outputs, and ``trace.options``. No layer's shape rule is
written here; a box's shape is the shape a record holds.

The tracer records a few representative steps of a long or symbolic sequence (0, 1 and
T-1 by default). The shapes of a step are the same at every t, so a box for a step without
a record of its own takes the shapes of the nearest recorded step.

Laying out (which boxes, at which row and column, with which labels and links) is plain data:
:mod:`shapeviz.render.picture` holds its types, :mod:`shapeviz.render.grid` its building blocks and
this module one layout per kind of model; :mod:`shapeviz.render.graph` writes it as DOT and
:mod:`shapeviz.render.text` as a terminal diagram.
"""

from __future__ import annotations

from typing import Any

from shapeviz.errors import ConfigError
from shapeviz.render.grid import (PASS_THROUGH, RECURRENT, Grid, drop_axis, has_axis, kind_text, nearest,
                                  out_shape, sequence_length, shown_steps, sub, weight_details, weight_label)
from shapeviz.render.graphlayout import lay_out_graph
from shapeviz.render.picture import Box, Column, Link, Row, Unrolled
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.records import LayerRecord, Trace

__all__ = ["unrolled", "Unrolled", "Box", "Link", "Row", "Column", "nearest", "sub", "shown_steps",
           "sequence_length", "drop_axis", "has_axis", "kind_text", "weight_label", "weight_details",
           "RECURRENT", "PASS_THROUGH"]


class _Builder(Grid):
    """Lays out one Trace; each model kind has a method."""

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
        out = out_shape(rec) or ()
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

    def build(self) -> Unrolled:
        kind = self.trace.model_kind
        if kind == "one_to_many":
            self.one_to_many()
        elif kind == "encoder_decoder":
            self.encoder_decoder()
        elif self.trace.graph is not None:
            lay_out_graph(self)
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
