"""Plain-text forms of a trace's operation counts (``trace.cost``): formulas, values and the summary's notes."""

from __future__ import annotations

from shapeviz.render.fmt import formula
from shapeviz.tracing.cost import LENGTHS, Cost
from shapeviz.tracing.dims import Dim, DimLike
from shapeviz.tracing.records import LayerRecord, Trace

CONVENTION = ("MACs: multiply-accumulates of matrix products (torchinfo's Mult-Adds); FLOPs: 2 per MAC, plus 1 "
              "per element of each arithmetic and each transcendental (exp, tanh) operation the core runs")


def human_count(n: int) -> str:
    """``335,544,320 (335.5 M)``; small counts stay as they are."""
    text = f"{n:,}"
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            return f"{text} ({n / size:.1f} {unit})"
    return text


def count_text(cost: Cost, d: DimLike, spaced: bool = False) -> str:
    """A count as its formula (``131072*B*T``), with its value under it once every dim is bound."""
    dim = Dim.of(d)
    if dim.is_const:
        return f"{dim.value:,}"
    text = formula(dim) if spaced else str(dim)
    value = cost.value(dim)
    return text if value is None else f"{text}\n= {value:,}"


def mult_adds_cell(trace: Trace, record: LayerRecord) -> str:
    """The summary's Mult-Adds of one layer's forward pass, its inner layers' included; in
    parentheses for an inner layer (its wrapper's count includes it), as its parameter count."""
    assert trace.cost is not None
    text = str(Dim.of(trace.cost.layer(record.path).macs))
    return f"({text})" if record.depth else text


def total_lines(cost: Cost, name: str, count: DimLike) -> list[str]:
    """``name: formula`` and, once every dim in it is bound, ``  = value``."""
    dim = Dim.of(count)
    if dim.is_const:
        return [f"{name}: {human_count(dim.value or 0)}"]
    value = cost.value(dim)
    lines = [f"{name}: {formula(dim)}"]
    if value is not None:
        lines.append(f"  = {human_count(value)}")
    return lines


def real_lines(cost: Cost, phases: tuple[str, ...] = ("forward",)) -> list[str]:
    """With a mask: the real work (``L`` for ``B·T`` in the layers that read it), and which one numpy does."""
    if not cost.masked:
        return []
    parts = []
    for phase in phases:
        real = cost.real(phase)
        if real is None:
            return ["With the mask: name the mask's batch and time axes (B, T) for a formula of the real work"]
        parts.append(f"{phase} {formula(Dim.of(real.macs))}" if len(phases) > 1 else formula(Dim.of(real.macs)))
    return [f"Real work with the mask, Mult-Adds: {', '.join(parts)} ({LENGTHS} = the sum of the sequence lengths: "
            "what a packed sequence computes); the numpy core also computes the masked steps: the count above"]


def cost_lines(trace: Trace) -> list[str]:
    """The summary's notes: the forward Mult-Adds of the model, the real work under a mask."""
    cost = trace.cost
    if cost is None:
        return []
    return total_lines(cost, "Mult-Adds (forward)", cost.forward.macs) + real_lines(cost)
