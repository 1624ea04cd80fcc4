"""The deep checks' report: a rich table (check, status, evidence, fix) and a JSON-ready dict.

Returns renderables and dicts; prints nothing (the CLI prints)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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


_LINES = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def flow_svg(norms: Sequence[float] | Mapping[str, Sequence[float]], *, width: int = 480, height: int = 160,
             title: str = "‖dL/dh_t‖") -> str:
    """The gradient-flow series as a standalone SVG line plot on a log scale, t on the x axis — for
    HTML reports and notebooks.

    Args:
        norms: one series (``CheckResult.data["norms"]`` of the "gradient flow" check), or one per
            layer by name (``{s["layer"]: s["norms"] for s in data["series"]}``): a line each, in
            its own colour, named in a legend under the plot (which makes it taller).
    """
    import math
    from xml.sax.saxutils import escape

    named = dict(norms) if isinstance(norms, Mapping) else {"": norms}
    series = {name: [max(float(v), 1e-300) for v in values] for name, values in named.items()}
    if not series or not all(series.values()):
        raise ValueError("flow_svg needs at least one value in each series")
    logs = {name: [math.log10(v) for v in values] for name, values in series.items()}
    lo, hi = min(min(v) for v in logs.values()), max(max(v) for v in logs.values())
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    legend = [name for name in series if name]
    left, right, top, bottom = 56, 12, 24, 28
    w, h = width - left - right, height - top - bottom
    n = max(len(values) for values in series.values())
    total = height + 14 * len(legend)

    def xy(i: int, v: float) -> str:
        x = left + (w * i / (n - 1) if n > 1 else w / 2)
        y = top + h * (hi - v) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for k, (name, values) in enumerate(logs.items()):
        colour = _LINES[k % len(_LINES)]
        points = " ".join(xy(i, v) for i, v in enumerate(values))
        label = f"<title>{escape(name)}</title>" if name else ""
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}">{label}</polyline>')
    for k, name in enumerate(legend):
        y = height + 14 * k + 2
        lines.append(f'<line x1="{left}" y1="{y - 4}" x2="{left + 18}" y2="{y - 4}" stroke="{_LINES[k % len(_LINES)]}" '
                     f'stroke-width="1.5"/><text x="{left + 24}" y="{y}">{escape(name)}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
        f'viewBox="0 0 {width} {total}" font-family="sans-serif" font-size="11">'
        f'<text x="{left}" y="14">{escape(title)} over t = 0..{n - 1} (log scale)</text>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#888"/>'
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#888"/>'
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">1e{hi:.0f}</text>'
        f'<text x="{left - 4}" y="{top + h}" text-anchor="end">1e{lo:.0f}</text>'
        f'<text x="{left}" y="{height - 8}">0</text>'
        f'<text x="{left + w}" y="{height - 8}" text-anchor="end">{n - 1}</text>'
        + "".join(lines) + "</svg>"
    )
