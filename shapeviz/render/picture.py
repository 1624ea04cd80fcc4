"""The unrolled picture as plain data: rows, columns, boxes and the links between them.

:mod:`shapeviz.render.unroll` lays a Trace out as an :class:`Unrolled`; the writers read it:
:mod:`shapeviz.render.graph` writes DOT (a ``graphviz.Digraph``), :mod:`shapeviz.render.text` a
terminal diagram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shapeviz.tracing.dims import Dim


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
            fed back as the next input), ``"identity"`` (the top layer's state is the output),
            ``"repeat"`` (a RepeatVector's vector copied to the next step), ``"reduce"`` (a step a
            pooling or a selection reads), ``"operand"`` (an input of a graph's merge layer).
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
        panels: for a row that holds several nodes of a graph model, each over its own time axis,
            ``(group, title)`` per node: the title of the row in the panel of that column group.
    """

    title: str
    details: tuple[str, ...] = ()
    direction: int = 0
    panels: tuple[tuple[str, str], ...] = ()


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

