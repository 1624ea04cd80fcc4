"""Verify a twin on import: one forward pass through torch and through the twin on the same small random
input; the largest relative difference, or the first node where they part."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.fx as fx  # noqa: F401 - the node type in annotations

from shapeviz.core.graph import BATCH_NAMES, GraphTensor, _parse_axes
from shapeviz.frontends.base import ModelLoadError
from shapeviz.frontends.torch.mapper import Context, describe
from shapeviz.frontends.torch.capture import user_frame

#: The largest relative difference accepted in float32 (float64 twins are held to 1e-10).
TOLERANCE = {np.dtype("float32"): 1e-4, np.dtype("float64"): 1e-10}


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| (b is torch's)."""
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    return diff / max(scale, 1e-30) if diff else 0.0


def sample_inputs(inputs: list[GraphTensor], ctx: Context, dtype: np.dtype, seed: int = 0) -> list[np.ndarray]:
    """Small random arrays for the declared inputs: B=3, other free dims 5, 4, 6, ... (one size per name);
    ids below the Embedding's vocabulary; lengths sorted longest first, the longest the full length."""
    rng = np.random.default_rng(seed)
    sizes: dict[str, int] = {}
    free = iter([5, 4, 6, 7, 8, 9, 10, 11])
    shapes = []
    for t in inputs:
        known, names = _parse_axes(t.node.declaration, t.name)
        shape = []
        for size, name in zip(known, names):
            if size is not None:
                shape.append(int(size))
                continue
            key = name or f"_{t.name}_{len(shape)}"
            if key not in sizes:
                sizes[key] = 3 if name in BATCH_NAMES else next(free)
            shape.append(sizes[key])
        shapes.append(tuple(shape))
    steps = [v for k, v in sizes.items() if k not in BATCH_NAMES]
    T = sizes.get("T", max(steps) if steps else 1)
    arrays = []
    for t, shape in zip(inputs, shapes):
        if t.name in ctx.lengths_of:
            lengths = np.sort(rng.integers(1, T + 1, size=shape))[::-1].copy()
            lengths[0] = T
            arrays.append(lengths.astype(np.int64))
        elif t.dtype.kind in "iu":
            arrays.append(rng.integers(0, ctx.vocab.get(t.name, 10), size=shape).astype(np.int64))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _leaves(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def verify(gm: Any, module: torch.nn.Module, twin: Any, inputs: list[GraphTensor], output: Any,
           ctx: Context) -> tuple[float, str]:
    """Run both on :func:`sample_inputs`. Returns the largest relative difference of the outputs and the
    note the report prints.

    Raises:
        ModelLoadError: a difference above :data:`TOLERANCE`, naming the first node that diverges."""
    dtype = np.dtype(twin.dtype)
    arrays = sample_inputs(inputs, ctx, dtype)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            recorded = gm.run(*[torch.from_numpy(a) for a in arrays])
    finally:
        module.train(was_training)
    values: dict[int, Any] = {}
    masks: dict[int, Any] = {}
    for t, a in zip(inputs, arrays):
        values[id(t)] = a
        masks[id(t)] = None
    for node in twin.nodes:
        twin.run_node(node, values, masks, False, None)
    tol = TOLERANCE.get(dtype, 1e-4)
    for node in gm.graph.nodes:  # the first node whose twin differs
        mine = ctx.env.get(node.name)
        theirs = recorded.get(node.name)
        if not isinstance(mine, GraphTensor) or not isinstance(theirs, torch.Tensor) or id(mine) not in values:
            continue
        a, b = np.asarray(values[id(mine)]), theirs.detach().numpy()
        if a.shape != b.shape:
            raise ModelLoadError(f"{ctx.source}: the numpy twin differs from torch at {describe(node)}"
                                 f"{_line(node)}: shape {a.shape} where torch has {tuple(b.shape)}")
        err = rel_err(a, b)
        if err > tol:
            raise ModelLoadError(f"{ctx.source}: the numpy twin differs from torch at {describe(node)}{_line(node)}: "
                                 f"max rel err {err:.1e} (more than {tol:.0e} in {dtype})")
    worst = 0.0
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    for mine, theirs in zip(_leaves(output), _leaves(recorded[out_node.name])):
        if isinstance(mine, GraphTensor) and isinstance(theirs, torch.Tensor):
            worst = max(worst, rel_err(np.asarray(values[id(mine)]), theirs.detach().numpy()))
    return worst, f"numpy twin matches torch: max rel err {_short(worst)}"


def _line(node: fx.Node) -> str:
    line = user_frame(node.meta.get("stack_trace"))
    return f" ({line})" if line else ""


def _short(err: float) -> str:
    """3e-07 -> 3e-7; 0 -> 0."""
    if err == 0:
        return "0"
    mantissa, exponent = f"{err:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"
