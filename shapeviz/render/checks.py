"""The deep checks' report: a rich table (check, status, evidence, fix) and a JSON-ready dict.

Returns renderables and dicts; prints nothing (the CLI prints)."""

from __future__ import annotations

from typing import Any, Sequence

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

_MARKS = {"pass": ("✓ pass", "green"), "warn": ("! warn", "yellow"), "fail": ("✗ fail", "bold red")}


def checks_table(results: Sequence[Any], title: str | None = None) -> Group:
    """One row per :class:`shapeviz.checks.CheckResult`, then a one-line verdict."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("evidence", ratio=3)
    table.add_column("fix", ratio=2)
    for r in results:
        label, style = _MARKS.get(r.status, (r.status, ""))
        table.add_row(r.name, Text(label, style=style), r.evidence, r.fix or "")
    counts = {s: sum(1 for r in results if r.status == s) for s in _MARKS}
    warns = f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}"
    verdict = (f"{counts['fail']} failed, {warns}, {counts['pass']} passed"
               if counts["fail"] or counts["warn"] else f"all {counts['pass']} checks passed")
    parts: list[Any] = [Text(title, style="bold")] if title else []
    return Group(*parts, table, Text(verdict, style="bold red" if counts["fail"] else "bold"))


def checks_dict(results: Sequence[Any], model: str | None = None) -> dict[str, Any]:
    """``{"model", "ok", "checks": [{name, status, evidence, fix, data}, ...]}``."""
    return {"model": model, "ok": not any(r.status == "fail" for r in results),
            "checks": [r.as_dict() for r in results]}
