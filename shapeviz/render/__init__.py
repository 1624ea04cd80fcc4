"""Renderers: turn a Trace into rich tables, JSON and pictures; none of them prints, and only
:func:`render` writes a file, to the path it is given (for the CLI)."""

from shapeviz.render.graph import UnrolledGraph, rolled_graph, unrolled_graph
from shapeviz.render.jsonform import SCHEMA_ID, dumps, to_json
from shapeviz.render.output import SVGView, render, to_bytes
from shapeviz.render.tables import bindings_table, grads_table, steps_table, summary_table
from shapeviz.render.text import text_diagram

__all__ = ["summary_table", "steps_table", "grads_table", "bindings_table", "to_json", "dumps", "SCHEMA_ID",
           "unrolled_graph", "rolled_graph", "UnrolledGraph", "text_diagram", "render", "to_bytes", "SVGView"]
