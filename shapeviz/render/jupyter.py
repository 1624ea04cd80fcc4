"""Jupyter display of a Trace: the summary table as HTML (registers :func:`trace_html` on import
as ``Trace._repr_html_``)."""

from __future__ import annotations

import io

from rich.console import Console

from shapeviz.render.tables import summary_table
from shapeviz.tracing.records import Trace, register_html


class TraceDisplay:
    """What Jupyter shows for a trace: the summary table, as HTML and as plain text."""

    def __init__(self, trace: Trace, width: int = 100) -> None:
        self.trace = trace
        self.width = width

    def _console(self) -> Console:
        return Console(file=io.StringIO(), width=self.width, record=True, color_system=None)

    def _repr_html_(self) -> str:
        console = self._console()
        console.print(summary_table(self.trace))
        # inline styles and no <html> page around it: Jupyter embeds the fragment in the notebook
        return console.export_html(inline_styles=True, code_format="<pre style=\"font-family:monospace\">{code}</pre>")

    def __repr__(self) -> str:
        console = self._console()
        console.print(summary_table(self.trace))
        return console.export_text().rstrip("\n")


def display_trace(trace: Trace, width: int = 100) -> TraceDisplay:
    """An object Jupyter renders as the trace's summary table (``display(display_trace(tr))``).

    Args:
        trace: a trace from :func:`shapeviz.trace`.
        width: the table's width in characters.
    """
    return TraceDisplay(trace, width)


def trace_html(trace: Trace) -> str:
    """The summary table of ``trace`` as an HTML fragment (what ``Trace._repr_html_`` returns)."""
    return TraceDisplay(trace)._repr_html_()


register_html(trace_html)  # Trace._repr_html_ asks for this module (shapeviz.hooks) on the first display
