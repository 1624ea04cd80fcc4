"""The deep checks' report: a rich table (check, status, evidence, fix) and a JSON-ready dict.

Returns renderables and dicts; prints nothing (the CLI prints)."""

from __future__ import annotations

from typing import Any, Sequence

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

_MARKS = {"pass": ("✓ pass", "green"), "warn": ("! warn", "yellow"), "fail": ("✗ fail", "bold red")}
WIDE = 110  # from this width the fix gets its own column; narrower, it goes under the evidence


class ChecksTable:
    """One row per :class:`shapeviz.checks.CheckResult`, then a one-line verdict.

    At ``WIDE`` columns and more the table has four columns (check, status, evidence, fix); in a
    narrower terminal the fix is printed under the evidence ("→ fix: ..."), so neither is squeezed
    into a column a few words wide."""

    def __init__(self, results: Sequence[Any], title: str | None = None) -> None:
        self.results = list(results)
        self.title = title

    def table(self, wide: bool) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("evidence", overflow="fold", ratio=3 if wide else None)
        if wide:
            table.add_column("fix", overflow="fold", ratio=2)
        for r in self.results:
            label, style = _MARKS.get(r.status, (r.status, ""))
            if wide:
                table.add_row(r.name, Text(label, style=style), r.evidence, r.fix or "")
            else:
                cell = Text(r.evidence)
                if r.fix:
                    cell.append("\n→ fix: " + r.fix, style="italic")
                table.add_row(r.name, Text(label, style=style), cell)
        return table

    def verdict(self) -> Text:
        counts = {s: sum(1 for r in self.results if r.status == s) for s in _MARKS}
        warns = f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}"
        text = (f"{counts['fail']} failed, {warns}, {counts['pass']} passed"
                if counts["fail"] or counts["warn"] else f"all {counts['pass']} checks passed")
        return Text(text, style="bold red" if counts["fail"] else "bold")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts: list[Any] = [Text(self.title, style="bold")] if self.title else []
        yield Group(*parts, self.table(options.max_width >= WIDE), self.verdict())


def checks_table(results: Sequence[Any], title: str | None = None) -> ChecksTable:
    """The report as a renderable (see :class:`ChecksTable`)."""
    return ChecksTable(results, title)


def checks_dict(results: Sequence[Any], model: str | None = None) -> dict[str, Any]:
    """``{"model", "ok", "checks": [{name, status, evidence, fix, data}, ...]}``."""
    return {"model": model, "ok": not any(r.status == "fail" for r in results),
            "checks": [r.as_dict() for r in results]}
