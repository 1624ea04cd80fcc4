"""The unrolled picture of a Trace drawn with box-drawing characters, for a terminal without images.

The same picture as :mod:`shapeviz.render.graph` (the same records, the same collapse of
long sequences): columns are timesteps (the first k, ``…``, the last), rows are the
inputs at the bottom, each layer's states, the outputs at the top. An arrow between boxes
that are not neighbours (a merge that reads step 0 and step T-1, a rolled view's output fed
back) is routed around the boxes; one between the two panels of an encoder-decoder (the
encoder's state handed to the decoder), or one no free route is found for, is written under
the panel it leaves.
"""

from __future__ import annotations

import textwrap

from shapeviz.render.picture import Box, Link, Row, Unrolled
from shapeviz.render.unroll import unrolled
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

    def blank(self, y: int, x: int, n: int = 1) -> bool:
        line = self.lines[y] if 0 <= y < len(self.lines) else []
        return x >= 0 and all(i >= len(line) or line[i] == " " for i in range(x, x + n))

    def end(self, y: int) -> int:
        """The column after the last character drawn on line ``y``."""
        return len("".join(self.lines[y]).rstrip()) if y < len(self.lines) else 0

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


def _panel(pic: Unrolled, cols: list[int], canvas: _Canvas, y0: int, group: str) -> list[Link]:
    """Draws the rows of ``cols``, the top row first; returns the links between its boxes that no
    free route was found for."""
    boxes = {(b.row, b.col): b for b in pic.boxes if b.col in cols}
    rows = sorted({r for r, _ in boxes}, reverse=True)
    width = {c: max([len(t) for b in pic.boxes if b.col == c and b.role != "ellipsis" for t in _content(b)] or [1])
             for c in cols}
    for c in cols:
        width[c] = 1 if pic.columns[c].kind == "elided" else width[c] + 4
    rows_drawn = sorted({r for r, _ in boxes})
    titles = {r: _title(pic.rows[r], group) for r in rows_drawn}
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
    by_id = {b.id: b for b in boxes.values()}
    buses = _buses(pic, by_id, rows)
    y_of: dict[int, int] = {}
    y = y0
    for r in rows:
        y += len(buses.get(r, []))  # a line for each pooling that reads this row's steps from above
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
    labelled: set[int] = set()
    far: list[Link] = []
    bused = {id(link) for dsts in buses.values() for links in dsts for link in links}
    for link in pic.links:
        src, dst = by_id.get(link.src), by_id.get(link.dst)
        if src is None or dst is None or link.kind == "align" or src is dst or id(link) in bused:
            continue
        if src.row == dst.row and abs(cols.index(src.col) - cols.index(dst.col)) == 1:
            _across(canvas, link, src, dst, x_of, width, y_of[src.row])
        elif src.col == dst.col and rows.index(src.row) == rows.index(dst.row) + 1:
            line = y_of[dst.row] + height[dst.row] + 2
            mid = x_of[src.col] + width[src.col] // 2
            canvas.put(line, mid, "↑")
            for v in range(line + 1, y_of[src.row]):  # across the lines of the buses between
                _join(canvas, v, mid, "│")
            room = width[src.col] - width[src.col] // 2 - 1 + _GAP - 1
            if link.label and dst.row not in labelled and len(link.label) + 1 <= min(room, WIDTH - mid - 2):
                canvas.put(line, mid + 2, link.label)
                labelled.add(dst.row)
        else:
            far.append(link)
    for (r, c), box in boxes.items():  # a rolled view: the recurrence as a loop beside the box
        loops = [link for link in pic.links if link.src == link.dst == box.id]
        for i, link in enumerate(loops):
            canvas.put(y_of[r] + 1 + _port_line(box, link.src_port), x_of[c] + width[c] + 1,
                       f"↺ {link.label} {link.loop}")
    # drawn last, through what is still blank: from a box's top up and across to a box in a higher
    # row (a merge reading step 0), else out of its right side, around and back into the other's
    rect = {b.id: (y_of[b.row], x_of[b.col], y_of[b.row] + height[b.row] + 1, x_of[b.col] + width[b.col] - 1)
            for b in boxes.values() if b.role != "ellipsis"}
    right = max(r[3] for r in rect.values()) + 2
    for r, dsts in buses.items():
        for j, links in enumerate(dsts):
            if not _bus(canvas, links, by_id, rect, y_of[r] - len(dsts) + j, right + 2 * j):
                far += links
    return [link for link in far if link.src not in rect or link.dst not in rect
            or not (_up_across(canvas, link, by_id, rect) or _around(canvas, link, by_id, rect)
                    or _around_left(canvas, link, by_id, rect, margin)
                    or _around(canvas, link, by_id, rect, cross=True))]


# the directions a line character joins: up, down, left, right
_JOINS = {"─": "lr", "│": "ud", "┌": "dr", "┐": "dl", "└": "ur", "┘": "ul", "├": "udr", "┤": "udl", "┬": "dlr",
          "┴": "ulr", "┼": "udlr"}
_BY_JOINS = {"".join(sorted(v)): k for k, v in _JOINS.items()}


def _join(canvas: _Canvas, y: int, x: int, char: str) -> None:
    """Draws a line character, joined with the one already there (a crossing becomes ┼, a branch ┬)."""
    line = canvas.lines[y] if y < len(canvas.lines) else []
    old = line[x] if x < len(line) else " "
    if old in _JOINS:
        char = _BY_JOINS.get("".join(sorted(set(_JOINS[old]) | set(_JOINS[char]))), char)
    canvas.put(y, x, char)


def _buses(pic: Unrolled, by_id: dict[str, Box], rows: list[int]) -> dict[int, list[list[Link]]]:
    """The steps a pooling reads, by the row they are in: per pooling (the nearest first) its links
    that are not a straight arrow up into the row above (drawn on a bus: a line of their own)."""
    out: dict[int, dict[str, list[Link]]] = {}
    for link in pic.links:
        src, dst = by_id.get(link.src), by_id.get(link.dst)
        if link.kind != "reduce" or src is None or dst is None:
            continue
        if src.col == dst.col and rows.index(src.row) == rows.index(dst.row) + 1:
            continue
        out.setdefault(src.row, {}).setdefault(link.dst, []).append(link)
    return {r: sorted(d.values(), key=lambda links: by_id[links[0].dst].row) for r, d in out.items()}


def _bus(canvas: _Canvas, links: list[Link], by_id: dict[str, Box], rect: dict[str, tuple[int, int, int, int]],
         y: int, lane: int) -> bool:
    """The steps of one row a pooling reads: up from each step's top to line ``y``, along it to
    ``lane`` right of the picture, up beside the rows between and left into the pooling's side."""
    dst = links[0].dst
    if dst not in rect or any(link.src not in rect for link in links) or lane >= WIDTH:
        return False
    top, _, _, d_right = rect[dst]
    yd = top + 1 + _port_line(by_id[dst], links[0].dst_port)
    if not canvas.blank(yd, d_right + 1, lane - d_right) or \
            not all(canvas.blank(v, lane) for v in range(yd + 1, y)):
        return False
    xs = sorted((rect[link.src][1] + rect[link.src][3] + 1) // 2 for link in links)
    for x in range(xs[0] + 1, lane):
        _join(canvas, y, x, "─")
    for x in xs:
        _join(canvas, y, x, "┌" if x == xs[0] else "┬")
        for v in range(y + 1, rect[links[0].src][0]):
            _join(canvas, v, x, "│")
        _join(canvas, rect[links[0].src][0], x, "┴")
    canvas.put(y, lane, "┘")
    for v in range(yd + 1, y):
        _join(canvas, v, lane, "│")
    canvas.put(yd, d_right + 1, "←" + "─" * (lane - d_right - 2) + "┐")
    return True


def _title(row: Row, group: str) -> str:
    panels = dict(row.panels)
    if group in panels:  # a graph's row holding a node in each of several panels: this panel's node
        return panels[group]
    title = row.title
    if " → " in title and group:  # an encoder-decoder row: this panel's layer
        return title.split(" → ")[0 if group == "encoder" else 1]
    return title


def _names(box: Box, port: str = "") -> str:
    """The tensors of a box an arrow leaves or reaches: the line of ``port``, else all of them."""
    if port and port in box.ports:
        return box.lines[box.ports.index(port)][0]
    return ", ".join(name for name, _ in box.lines)


def crossing(pic: Unrolled, link: Link) -> str:
    """The line written under a panel for an arrow into another panel (``══→``)."""
    src, dst = pic.box(link.src), pic.box(link.dst)
    if link.kind == "handover" and pic.columns[dst.col].group == "decoder":  # an EncoderDecoder's
        return f"{_names(src)} ══→ the decoder's {link.label} (the same shapes)"
    row = _title(pic.rows[dst.row], pic.columns[dst.col].group)
    return (f"{_names(src, link.src_port)} ══→ {_names(dst, link.dst_port)} of {row} "
            f"({pic.columns[dst.col].group})" + (f": {link.label}" if link.label else ""))


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


def _up_across(canvas: _Canvas, link: Link, by_id: dict[str, Box],
               rect: dict[str, tuple[int, int, int, int]]) -> bool:
    """Up from the middle of the source's top border, then along the line of the destination's
    port to an arrowhead at its side, the label written into the line; False if anything is in the way."""
    (top, left, _, right), (d_top, d_left, _, d_right) = rect[link.src], rect[link.dst]
    if d_top >= top or d_left == left:
        return False
    x = (left + right + 1) // 2  # where an arrow up out of this column is drawn
    y = d_top + 1 + _port_line(by_id[link.dst], link.dst_port)
    head = d_left - 1 if d_left > x else d_right + 1
    a, b = min(x, head), max(x, head)
    if not (canvas.blank(y, a, b - a + 1) and all(canvas.blank(v, x) for v in range(y + 1, top))):
        return False
    run = ["─"] * (b - a - 1)
    if link.label and len(link.label) + 6 <= len(run):
        at = (len(run) - len(link.label) - 2) // 2
        run[at:at + len(link.label) + 2] = f" {link.label} "
    canvas.put(y, a, ("┌" + "".join(run) + "→") if head > x else ("←" + "".join(run) + "┐"))
    for v in range(y + 1, top):
        canvas.put(v, x, "│")
    canvas.put(top, x, "┴")
    return True


def _around(canvas: _Canvas, link: Link, by_id: dict[str, Box],
            rect: dict[str, tuple[int, int, int, int]], cross: bool = False) -> bool:
    """Out of the source's right side, down (or up) beside everything between, and back left into
    the destination's right side, on lines that have nothing beside the boxes (not a loop's
    ``↺``); the label beside the vertical stretch. False if no such lines or no room. With
    ``cross``, the lines may cross vertical ones (a pooling's bus beside the boxes): ``┼``."""
    def free(y: int, x: int, n: int) -> bool:
        if not cross:
            return canvas.blank(y, x, n)
        line = canvas.lines[y] if y < len(canvas.lines) else []
        return all(i >= len(line) or line[i] in " │" for i in range(x, x + n))

    def line(box_id: str, port: str, to: int) -> int | None:
        top, _, bottom, right = rect[box_id]
        first = top + 1 + _port_line(by_id[box_id], port)
        return next((y for y in [first, *range(top + 1, bottom)] if free(y, right + 1, to - right)), None)

    (s_top, _, s_bottom, s_right), (d_top, _, d_bottom, d_right) = rect[link.src], rect[link.dst]
    lo, hi = min(s_top, d_top), max(s_bottom, d_bottom)
    lane = max(canvas.end(y) for y in range(lo, hi + 1)) + 2
    ys, yd = line(link.src, link.src_port, lane), line(link.dst, link.dst_port, lane)
    if ys is None or yd is None or ys == yd or lane >= WIDTH:
        return False
    down = ys < yd
    for y, start in ((ys, s_right + 1), (yd, d_right + 2)):
        for x in range(start, lane):
            _join(canvas, y, x, "─")
    canvas.put(ys, s_right, "├")
    canvas.put(ys, lane, "┐" if down else "┘")
    canvas.put(yd, d_right + 1, "←")
    canvas.put(yd, lane, "┘" if down else "┐")
    for v in range(min(ys, yd) + 1, max(ys, yd)):
        canvas.put(v, lane, "│")
    mid = (ys + yd) // 2
    if link.label and lane + 2 + len(link.label) <= WIDTH and canvas.blank(mid, lane + 1, len(link.label) + 2):
        canvas.put(mid, lane + 2, link.label)
    return True


def _around_left(canvas: _Canvas, link: Link, by_id: dict[str, Box],
                 rect: dict[str, tuple[int, int, int, int]], margin: int) -> bool:
    """Out of the source's left side, up (or down) beside everything between and right into the
    destination's left side (two vectors in one column with a third between: a merge of two
    poolings), the label written into the last stretch; False if anything is in the way (the row
    titles left of ``margin`` too)."""
    (s_top, s_left, s_bottom, _), (d_top, d_left, d_bottom, _) = rect[link.src], rect[link.dst]
    lane = min(s_left, d_left) - 3
    if lane < margin - 1:
        return False

    def line(box_id: str, port: str, left: int) -> int | None:
        top, _, bottom, _ = rect[box_id]
        first = top + 1 + _port_line(by_id[box_id], port)
        return next((y for y in [first, *range(top + 1, bottom)] if canvas.blank(y, lane, left - lane)), None)

    ys, yd = line(link.src, link.src_port, s_left), line(link.dst, link.dst_port, d_left)
    if ys is None or yd is None or ys == yd or \
            not all(canvas.blank(v, lane) for v in range(min(ys, yd) + 1, max(ys, yd))):
        return False
    up = yd < ys
    canvas.put(ys, lane, ("└" if up else "┌") + "─" * (s_left - lane - 1) + "┤")
    run = ["─"] * (d_left - lane - 2)
    if link.label and len(link.label) + 4 <= len(run):
        at = (len(run) - len(link.label) - 2) // 2
        run[at:at + len(link.label) + 2] = f" {link.label} "
    canvas.put(yd, lane, ("┌" if up else "└") + "".join(run) + "→")
    for v in range(min(ys, yd) + 1, max(ys, yd)):
        canvas.put(v, lane, "│")
    return True


def draw(pic: Unrolled) -> str:
    """The text of an :class:`~shapeviz.render.picture.Unrolled` picture."""
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
        unrouted = _panel(pic, cols, canvas, 1 if group else 0, group)
        out += canvas.text()
        for link in pic.links:  # an arrow from this panel into another
            src, dst = by_id[link.src], by_id[link.dst]
            if src.col in cols and dst.col not in cols and link.kind != "align":
                out.append(crossing(pic, link))
        for link in unrouted:
            src, dst = by_id[link.src], by_id[link.dst]
            out.append(f"{', '.join(n for n, _ in src.lines)} ──→ {', '.join(n for n, _ in dst.lines)}"
                       + (f" ({link.label})" if link.label else ""))
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
