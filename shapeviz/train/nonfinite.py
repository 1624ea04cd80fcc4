"""Where in a graph model a NaN/inf first appears: which node's output, or which node's backward.

Only run after a step has gone non-finite (never on the hot path): the batch is replayed node by
node with the model's own ``run_node`` (in inference mode, so no dropout mask differs) and the first
node whose output is not finite is named; if every output is finite, the backward is replayed node
by node and the first node (in backward order) that hands on a non-finite gradient is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _finite(v: Any) -> bool:
    if v is None or not isinstance(v, np.ndarray) or v.dtype.kind != "f":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(v).all())


def node_label(model: Any, node: Any) -> str:
    """``'dec' (lstm, call 0)``: the layer's name, its kind and which of its calls in this model."""
    return f"{node.layer.name!r} ({node.layer.kind}, call {model.call_number(node)})"


def locate(model: Any, xb: Any, maskb: Any, dy: Any = None) -> str | None:
    """The line naming the first graph node whose output (or input gradient, from ``dy``) is NaN/inf,
    or None for a model that is not a graph or when the replay finds nothing."""
    if not hasattr(model, "run_node"):
        return None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        xs = model._feed(xb, "inputs")
        masks_in = [None] * len(xs) if maskb is None else model._feed(maskb, "masks")
        values: dict[int, Any] = {}
        masks: dict[int, Any] = {}
        for t, v, m in zip(model.input_tensors, xs, masks_in):
            values[id(t)] = v if t.dtype.kind in "iub" else np.asarray(v, dtype=model.dtype)
            masks[id(t)] = m
        caches = []
        for node in model.nodes:
            caches.append(model.run_node(node, values, masks, False, None))
            for t in node.outputs:
                if not _finite(values[id(t)]):
                    return (f"first non-finite value: output {t.index} ({t.label}) of node {node_label(model, node)}, "
                            f"reading {', '.join(s.describe() for s in node.inputs)}")
        if dy is None:
            return None
        douts = [dy] if model.single_output else list(dy)
        grads: dict[int, Any] = {}
        for t, g in zip(model.output_tensors, douts):
            if g is not None:
                grads[id(t)] = g
        for node, cache in zip(reversed(model.nodes), reversed(caches)):
            outs = [grads.get(id(t)) for t in node.outputs]
            if all(g is None for g in outs):
                continue
            model.zero_grad()
            dxs, dstates = model._node_backward(node, outs, cache)
            bad_weight = next((k for k, g in node.layer.grads.items() if not _finite(g)), None)
            if bad_weight is not None or not all(_finite(g) for g in [*dxs, *dstates]):
                what = f"weight {bad_weight!r}" if bad_weight is not None else "input"
                return f"first non-finite gradient: the {what} gradient of node {node_label(model, node)}"
            for t, g in zip(node.inputs, [*dxs, *dstates]):
                if g is not None:
                    grads[id(t)] = g if id(t) not in grads else grads[id(t)] + g
        model.zero_grad()
    return None
