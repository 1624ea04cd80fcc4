"""Tables that never cut a shape: a table too wide for the console is stacked, one block per row;
names shown literally and safely (no markup, no escape codes, one line each).

Shapes are what a user came for, so no cell is ever cropped to ``(…``: when a table's natural
width does not fit, each row becomes a block — its first cell on a line, then every other cell
under its column's header — and a line too long for the console folds onto the next instead of
being cut.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Iterable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe_name(name: Any) -> str:
    """``name`` on one line with nothing a terminal would act on: control and format characters
    (escape codes, newlines, bidirectional overrides) written as escapes (``\\x1b``, ``\\n``)."""
    out = []
    for ch in str(name):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def name_cell(name: Any, prefix: str = "") -> Text:
    """A name as a table cell: escaped, and rich markup in it (``[red]x``) shown as written."""
    return Text(prefix + safe_name(name))


def display_names(paths: Iterable[str]) -> dict[str, str]:
    """A short name for every layer path: its last part, or the whole path when another path ends in
    the same name (``enc/lstm`` and ``dec/lstm``, never ``lstm`` twice)."""
    paths = list(dict.fromkeys(paths))
    count: dict[str, int] = {}
    for path in paths:
        last = path.split("/")[-1]
        count[last] = count.get(last, 0) + 1
    return {p: p if count[p.split("/")[-1]] > 1 else p.split("/")[-1] for p in paths}


def _plain(cell: Any) -> Text | RenderableType:
    return Text(cell) if isinstance(cell, str) else cell


def literal(table: Table) -> Table:
    """The table with its str cells as Text: what they say is shown, never read as markup."""
    for column in table.columns:
        column._cells = [_plain(c) for c in column._cells]  # noqa: SLF001 - rich keeps the cells here
        if isinstance(column.footer, str):
            column.footer = _plain(column.footer)
    return table


class Stacked:
    """A table as blocks, one per row: the first cell, then ``header  value`` for the others
    (a multi-line value indented under itself), then the footers. Every line folds."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def _lines(self) -> list[Text | tuple[Text, Text]]:
        columns = self.table.columns
        if not columns:
            return []
        width = max((len(str(c.header)) for c in columns[1:]), default=0)
        lines: list[Text | tuple[Text, Text]] = []
        for row in range(self.table.row_count):
            cells = [c._cells[row] for c in columns]  # noqa: SLF001
            first = _text(cells[0])
            header = str(columns[0].header)
            if header and header not in ("Layer", "Name") and first.plain:  # a step: "t = T-1", not "T-1"
                first = Text.assemble(f"{header} = ", first)
            lines.append(Text.assemble(first, style="bold"))
            for column, cell in zip(columns[1:], cells[1:]):
                value = _text(cell)
                if not value.plain.strip():
                    continue
                pad = " " * (width + 4)
                for i, part in enumerate(value.split("\n")):
                    head = f"  {str(column.header):<{width}}  " if i == 0 else pad
                    lines.append((Text(head), part))
        footers = [(c.header, _text(c.footer)) for c in columns if c.footer]
        if self.table.show_footer and footers:
            lines.append(Text(" ".join(f"{str(h) + ': ' if i else ''}{f.plain}" for i, (h, f) in enumerate(footers))))
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        for line in self._lines():
            if isinstance(line, tuple):  # a header and a value: the value on a line of its own when both do not fit
                head, value = line
                if head.cell_len + value.cell_len <= width:
                    line = Text.assemble(head, value)
                else:
                    if head.plain.strip():
                        yield Text(head.plain.rstrip())
                    line = Text.assemble("    ", value) if value.cell_len + 4 <= width else value
            line.overflow = "fold"  # longer than the console: folded onto the next line, never cut
            line.no_wrap = True
            yield line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((line.cell_len if isinstance(line, Text) else line[0].cell_len + line[1].cell_len
                      for line in self._lines()), default=0)
        return Measurement(min(widest, 1), min(widest, options.max_width))


def _text(cell: Any) -> Text:
    if isinstance(cell, Text):
        return cell.copy()
    return Text(str(cell) if cell is not None else "")


class Fitting:
    """A table as it is when its natural width fits the console, else :class:`Stacked`. Given
    something that picks among layouts (``_pick``), the one it picks."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def _choose(self, console: Console, options: ConsoleOptions) -> RenderableType:
        chosen = self.renderable
        pick = getattr(chosen, "_pick", None)
        if pick is not None:
            chosen = pick(console, options)
        if not isinstance(chosen, Table):
            return chosen
        literal(chosen)
        natural = Measurement.get(console, options.update_width(10_000), chosen).maximum
        return chosen if natural <= options.max_width else Stacked(chosen)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._choose(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._choose(console, options))
