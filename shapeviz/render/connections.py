"""What the summary table of a graph model adds: a row per model input and the "Connected to"
column (Keras's ``model.summary()`` of a functional model), read off ``trace.graph``."""

from __future__ import annotations

from shapeviz.render.fmt import shape_text
from shapeviz.tracing.records import LayerRecord, Trace

SHARED_NOTE = ("name@k: call k+1 of a shared layer (the same weights, counted once, at its first call); "
               "Connected to: what each input line reads (node.output for a node with several outputs)")


def input_rows(trace: Trace) -> list[list[str]]:
    """A row per model input, as the summary's rows are: name, kind, input, output, state, params,
    (Mult-Adds when the trace counted them), connected."""
    if trace.graph is None:
        return []
    macs = ["0"] if trace.cost is not None else []
    return [[name, "input", "-", shape_text(shape), "-", "0", *macs, "-"] for name, shape in trace.inputs.items()]


def connected_to(trace: Trace, record: LayerRecord) -> str:
    """The tensors a node reads, one line per line of its Input column (``x``, ``x0``, ``h_0``...):
    ``decoder_inputs``, ``encoder.h``; a mask's line is left blank (it comes with the input above it)."""
    graph = trace.graph
    if graph is None or record.depth or not any(n.name == record.path for n in graph.nodes):
        return ""
    edges = graph.into(record.path)
    data = [e for e in edges if e.slot == "input"]
    states = [e for e in edges if e.slot == "initial_state"]
    lines = []
    for key in record.inputs:
        edge = None
        if key == "x" and data:
            edge = data[0]
        elif key[:1] == "x" and key[1:].isdigit() and int(key[1:]) < len(data):
            edge = data[int(key[1:])]
        elif key.endswith("_0"):
            k = [n for n in record.inputs if n.endswith("_0")].index(key)
            edge = states[k] if k < len(states) else None
        lines.append(graph.tensor(edge.src, edge.output) if edge is not None else "")
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) or "-"
