"""Renderers: turn a Trace into rich tables, JSON and pictures; none of them prints or writes files."""

from shapeviz.render.jsonform import SCHEMA_ID, dumps, to_json
from shapeviz.render.tables import bindings_table, grads_table, steps_table, summary_table

__all__ = ["summary_table", "steps_table", "grads_table", "bindings_table", "to_json", "dumps", "SCHEMA_ID"]
