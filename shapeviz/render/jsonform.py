"""The JSON form of a Trace (schema ``shapeviz.trace/2``): plain, versioned, stable enough to diff.

The format is documented in ``docs/json-format.md`` and described by the JSON Schema that ships
with the package (``shapeviz/schemas/trace.schema.json``, :func:`schema`).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np

from shapeviz.render.fmt import dim_json, merged_steps, shape_json
from shapeviz.tracing.cost import LENGTHS, Cost, OpCount
from shapeviz.tracing.dims import Dim
from shapeviz.tracing.records import Shape, Trace

SCHEMA_ID = "shapeviz.trace/2"
SCHEMA_IDS = ("shapeviz.trace/1", SCHEMA_ID)  # what the shipped schema validates: /1 is /2 without a graph


def _shapes(shapes: dict[str, Shape]) -> dict[str, list[int | str]]:
    return {name: shape_json(shape) for name, shape in shapes.items()}


def _memory(trace: Trace, memory: Any) -> dict[str, Any]:
    dim = Dim.of(memory)
    return {"formula": str(dim), "bytes": dim.substitute(trace.values).value}


def _plain(value: Any) -> Any:
    """A layer option as JSON: numpy scalars as numbers, tuples as lists, anything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Dim):
        return dim_json(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def to_json(trace: Trace) -> dict[str, Any]:
    """The trace as a JSON-ready dict, keys in a fixed order (see ``docs/json-format.md``).

    Shapes are lists of ints and dim expressions (``["B", "T", 128]``, ``["B", "4*H"]``); a
    step's index ``t`` is an int or an expression (``"T-1"``); a step reported in parts is
    one step. A graph model's JSON has a ``graph`` key after ``layers``: its nodes, the edges
    between them and its outputs. Nothing in it depends on the time or the
    machine, so two traces of the same model give the same JSON.

    Args:
        trace: a trace from :func:`shapeviz.trace`.

    Returns:
        A dict of lists, dicts, strings, ints, floats, bools and None.
    """
    return {
        "schema": SCHEMA_ID,
        "model": trace.model,
        "model_kind": trace.model_kind,
        "mode": trace.mode,
        "dtype": trace.dtype,
        "inputs": _shapes(trace.inputs),
        "outputs": _shapes(trace.outputs),
        "labels": shape_json(trace.labels) if trace.labels is not None else None,
        "loss": trace.loss,
        "options": _plain(trace.options),
        "param_count": trace.param_count,
        "memory": _memory(trace, trace.memory),
        "bindings": [
            {"name": b.name, "role": b.role, "value": b.value, "where": b.where, "declared": b.declared}
            for b in trace.bindings.values()
        ],
        "layers": [
            {
                "path": r.path,
                "name": r.path.split("/")[-1],
                "kind": r.kind,
                "depth": r.depth,
                "inputs": _shapes(r.inputs),
                "outputs": _shapes(r.outputs),
                "states": _shapes(r.states),
                "params": _shapes(r.params),
                "param_count": r.param_count,
                "memory": _memory(trace, r.memory),
                "config": _plain(r.config),
            }
            for r in trace.layers
        ],
        **({"graph": _graph(trace)} if trace.graph is not None else {}),
        "steps": [
            {"layer": s.layer, "t": dim_json(s.t), "phase": s.phase, "tensors": _shapes(s.tensors)}
            for s in merged_steps(trace)
        ],
        "gradients": [
            {"param": g.param, "shape": shape_json(g.shape), "param_shape": shape_json(g.param_shape), "ok": g.ok}
            for g in trace.grads
        ],
        "cost": _cost(trace.cost),
    }


# -- cost ----------------------------------------------------------------------------------------
def _expr(cost: Cost, d: Any) -> dict[str, Any]:
    dim = Dim.of(d)
    return {"formula": str(dim), "value": cost.value(dim)}


def _ops(cost: Cost, count: OpCount | None) -> dict[str, Any] | None:
    if count is None:
        return None
    return {k: _expr(cost, v) for k, v in count.as_dict().items()}


def _cost(cost: Cost | None) -> dict[str, Any] | None:
    """The operation counts (``trace.cost``) as formulas and values; None for a trace of real arrays."""
    if cost is None:
        return None
    real = None
    if cost.masked:
        forward, backward = cost.real("forward"), cost.real("backward")
        real = {"symbol": LENGTHS, "forward": _ops(cost, forward), "backward": _ops(cost, backward)}
    return {
        "forward": _ops(cost, cost.forward),
        "backward": _ops(cost, cost.backward),
        "total": _ops(cost, cost.total),
        "loss": _ops(cost, cost.layers["loss"].total) if "loss" in cost.layers else None,
        "real": real,
        "layers": [
            {"path": rec.path, "forward": _ops(cost, rec.forward), "backward": _ops(cost, rec.backward),
             "mask": None if rec.mask is None else [dim_json(d) for d in rec.mask]}
            for rec in cost.layers.values()
        ],
        "steps": [
            {"layer": s.layer, "phase": s.phase, "t": dim_json(s.t), "stands_for": dim_json(s.stands_for),
             "count": _ops(cost, s.count)}
            for s in cost.steps
        ],
    }


def _graph(trace: Trace) -> dict[str, Any]:
    """A graph model's nodes, edges and outputs (``shapeviz.trace/2``)."""
    graph = trace.graph
    assert graph is not None
    return {
        "nodes": [{"name": n.name, "kind": n.kind, "layer": n.layer, "call": n.call, "outputs": list(n.outputs)}
                  for n in graph.nodes],
        "edges": [{"src": e.src, "output": e.output, "label": e.label, "dst": e.dst, "slot": e.slot,
                   "index": e.index} for e in graph.edges],
        "outputs": [{"name": o.name, "node": o.node, "output": o.output, "label": o.label} for o in graph.outputs],
    }


def dumps(trace: Trace, *, indent: int | None = 2) -> str:
    """:func:`to_json` as text: keys in the fixed order, one line per shape, a final newline.

    Args:
        trace: a trace from :func:`shapeviz.trace`.
        indent: spaces per level; None for all of it on one line.
    """
    doc = to_json(trace)
    if indent is None:
        return json.dumps(doc, ensure_ascii=False) + "\n"
    return _pretty(doc, " " * indent, "") + "\n"


def _pretty(value: Any, step: str, pad: str) -> str:
    """Indented JSON in which a list of numbers and strings (a shape) stays on one line, so a
    changed dim is a one-line diff."""
    if isinstance(value, dict) and value:
        inner = pad + step
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, step, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        inner = pad + step
        return "[\n" + ",\n".join(inner + _pretty(v, step, inner) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`to_json`'s output, as shipped with the package."""
    text = resources.files("shapeviz").joinpath("schemas/trace.schema.json").read_text(encoding="utf-8")
    return json.loads(text)
