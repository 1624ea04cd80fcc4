"""The unrolled picture of a Trace drawn with box-drawing characters, for a terminal without images.

The same picture as :mod:`shapeviz.render.graph` (the same records, the same collapse of
long sequences): columns are timesteps (the first k, ``…``, the last), rows are the
inputs at the bottom, each layer's states, the outputs at the top. Arrows a grid of text
cannot draw (an encoder's state handed to the decoder, a merge that reads step 0 and
step T-1) are written under the picture.
"""

from __future__ import annotations

import textwrap

from shapeviz.render.unroll import Box, Link, Unrolled, unrolled
from shapeviz.tracing.records import Trace

__all__ = ["text_diagram", "draw"]

WIDTH = 100  # the widest line drawn for k=3 and typical shapes
_GAP = 4  # columns between two boxes: room for an arrow
_MARGIN = 8  # the row titles' column, at least
_SOLID = ("┌", "─", "┐", "│", "└", "┘")
_DASHED = ("┌", "╌", "┐", "╎", "└", "┘")  # an empty or fed-back input


class _Canvas:
    def __init__(self) -> None:
        self.lines: list[list[str]] = []

    def put(self, y: int, x: int, text: str) -> None:
        while len(self.lines) <= y:
            self.lines.append([])
        line = self.lines[y]
        if len(line) < x + len(text):
            line.extend(" " * (x + len(text) - len(line)))
        line[x:x + len(text)] = list(text)

    def text(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.lines]


def _content(box: Box) -> list[str]:
    """A box's text lines: each tensor's name over its shape, then its note."""
    out: list[str] = []
    for name, shape in box.lines:
        out.append(name)
        if shape:
            out.append(shape)
    if box.note:
        out.append(box.note)
    return out


def _port_line(box: Box, port: str) -> int:
    """The line (inside the box, 0 = first text line) an arrow to or from ``port`` is drawn at."""
    if port and port in box.ports:
        return 2 * box.ports.index(port)
    return 0


def _panel(pic: Unrolled, cols: list[int], canvas: _Canvas, y0: int, group: str) -> int:
    """Draws the rows of ``cols``, the top row first; returns the next free line."""
    boxes = {(b.row, b.col): b for b in pic.boxes if b.col in cols}
    rows = sorted({r for r, _ in boxes}, reverse=True)
    width = {c: max([len(t) for b in pic.boxes if b.col == c and b.role != "ellipsis" for t in _content(b)] or [1])
             for c in cols}
    for c in cols:
        width[c] = 1 if pic.columns[c].kind == "elided" else width[c] + 4
    rows_drawn = sorted({r for r, _ in boxes})
    titles = {r: _title(pic.rows[r].title, group) for r in rows_drawn}
    # the titles' column: as wide as the longest title, as long as the picture still fits WIDTH
    drawn = sum(width[c] + _GAP for c in cols) - _GAP
    margin = max(_MARGIN, min(max(len(t) for t in titles.values()) + 2, WIDTH - drawn))
    x_of: dict[int, int] = {}
    x = margin
    for c in cols:
        x_of[c] = x
        x += width[c] + _GAP
    height = {r: max([len(_content(b)) for (rr, _), b in boxes.items() if rr == r and b.role != "ellipsis"] or [1])
              for r in rows}
    y_of: dict[int, int] = {}
    y = y0
    for r in rows:
        y_of[r] = y
        y += height[r] + 2 + 1  # the box, its borders, a line for the arrows up into it
    for r in rows:
        title = titles[r]
        if len(title) > margin - 2:
            title = title[:margin - 3] + "…"
        canvas.put(y_of[r] + 1, 0, title)
        cells = max([len(b.ports) for (rr, _), b in boxes.items() if rr == r] + [1])
        for c in cols:
            box = boxes.get((r, c))
            if box is not None:
                _box(canvas, box, x_of[c], y_of[r], width[c], height[r], cells)
    by_id = {b.id: b for b in boxes.values()}
    labelled: set[int] = set()
    for link in pic.links:
        src, dst = by_id.get(link.src), by_id.get(link.dst)
        if src is None or dst is None or link.kind == "align" or src is dst:
            continue
        if src.row == dst.row and abs(cols.index(src.col) - cols.index(dst.col)) == 1:
            _across(canvas, link, src, dst, x_of, width, y_of[src.row])
        elif src.col == dst.col and rows.index(src.row) == rows.index(dst.row) + 1:
            line = y_of[dst.row] + height[dst.row] + 2
            mid = x_of[src.col] + width[src.col] // 2
            canvas.put(line, mid, "↑")
            room = width[src.col] - width[src.col] // 2 - 1 + _GAP - 1
            if link.label and dst.row not in labelled and len(link.label) + 1 <= room:
                canvas.put(line, mid + 2, link.label)
                labelled.add(dst.row)
    for (r, c), box in boxes.items():  # a rolled view: the recurrence as a loop beside the box
        loops = [link for link in pic.links if link.src == link.dst == box.id]
        for i, link in enumerate(loops):
            canvas.put(y_of[r] + 1 + _port_line(box, link.src_port), x_of[c] + width[c] + 1,
                       f"↺ {link.label} {link.loop}")
    return y


def _title(title: str, group: str) -> str:
    if " → " in title and group:  # an encoder-decoder row: this panel's layer
        return title.split(" → ")[0 if group == "encoder" else 1]
    return title


def _box(canvas: _Canvas, box: Box, x: int, y: int, w: int, h: int, cells: int = 1) -> None:
    if box.role == "ellipsis":  # on the line of each state the arrows carry
        for i in range(cells):
            canvas.put(y + 1 + 2 * i, x, "…")
        return
    tl, hz, tr, vt, bl, br = _DASHED if box.role in ("empty", "fed") else _SOLID
    canvas.put(y, x, tl + hz * (w - 2) + tr)
    content = _content(box)
    for i in range(h):
        text = content[i] if i < len(content) else ""
        canvas.put(y + 1 + i, x, f"{vt} {text.ljust(w - 4)} {vt}")
    canvas.put(y + h + 1, x, bl + hz * (w - 2) + br)


def _across(canvas: _Canvas, link: Link, src: Box, dst: Box, x_of: dict[int, int], width: dict[int, int],
            y: int) -> None:
    """An arrow along a row, between two neighbouring columns."""
    left, right = (src, dst) if src.col < dst.col else (dst, src)
    port = link.src_port or link.dst_port
    anchor = src if src.role != "ellipsis" else dst
    line = y + 1 + _port_line(anchor, port)
    dash = "╌" if link.kind == "elided" else "═" if link.kind == "handover" else "─"
    start = x_of[left.col] + width[left.col]
    span = x_of[right.col] - start
    arrow = dash * (span - 1) + "→" if src is left else "←" + dash * (span - 1)
    canvas.put(line, start, arrow)


def draw(pic: Unrolled) -> str:
    """The text of an :class:`~shapeviz.render.unroll.Unrolled` picture."""
    out = textwrap.wrap(pic.title, WIDTH) + textwrap.wrap(pic.subtitle, WIDTH) + [""]
    groups: list[tuple[str, list[int]]] = []
    for c, col in enumerate(pic.columns):
        if not groups or groups[-1][0] != col.group:
            groups.append((col.group, []))
        groups[-1][1].append(c)
    by_id = {b.id: b for b in pic.boxes}
    for group, cols in groups:
        canvas = _Canvas()
        if group:
            canvas.put(0, 0, f"{group}:")
        _panel(pic, cols, canvas, 1 if group else 0, group)
        out += canvas.text()
        for link in pic.links:  # an arrow from this panel into the next
            src, dst = by_id[link.src], by_id[link.dst]
            if link.kind == "handover" and src.col in cols:
                names = ", ".join(name for name, _ in src.lines)
                out.append(f"{names} ══→ the decoder's {link.label} (the same shapes)")
        out.append("")
    legend = ["rows, top to bottom:"]
    for row in reversed(pic.rows):
        details = "; ".join(d.strip() for d in row.details)
        legend += textwrap.wrap(f"{row.title}: {details}", WIDTH, initial_indent="  ", subsequent_indent="      ")
    out += legend
    along = sorted({link.label for link in pic.links if link.kind == "recurrent" and link.label},
                   key=lambda label: label != "recurrent_kernel")
    if along:
        backward = any(r.direction < 0 for r in pic.rows) or any(p.endswith("b") for b in pic.boxes for p in b.ports)
        what = ("↺: the recurrence, once a step: " if pic.rolled else
                "→ (← backward): " if backward else "→: ") + ", ".join(along)
        out += textwrap.wrap(what + "; ↑: the weight its label names (the legend above)", WIDTH,
                             initial_indent="  ", subsequent_indent="      ")
    for note in pic.notes:
        out += textwrap.wrap(note, WIDTH, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(out).rstrip() + "\n"


def text_diagram(trace: Trace, unroll: int = 3, rolled: bool = False) -> str:
    """The trace's unrolled picture as text (box-drawing characters), at most 100 columns wide
    for ``unroll=3`` and typical shapes.

    Args:
        trace: what :func:`shapeviz.trace` returned.
        unroll: k: a sequence longer than k+1 steps shows steps 0..k-1, ``…`` and its last step.
        rolled: one box per layer, the recurrence written beside it (``↺ recurrent_kernel × T``).

    Returns:
        The diagram, lines joined by newlines; it prints nothing.
    """
    return draw(unrolled(trace, unroll, rolled))
