"""Plain-text forms of trace records shared by the renderers: shapes, dims, memory, merged steps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shapeviz.tracing.dims import Dim, DimLike, shape_str
from shapeviz.tracing.records import Shape, Trace

# where the tracer says a size came from, in a few words for a one-line legend
_WHERE_SHORT = (
    (re.compile(r"^the given sizes\b"), "given"),
    (re.compile(r"^the input declaration\b"), "input declaration"),
    (re.compile(r"^the expectation\b"), "expectation"),
    (re.compile(r"^the labels\b"), "labels"),
)


def shape_text(shape: Shape) -> str:
    """``(B, T, 128)``: a shape as users write it."""
    return shape_str(shape)


def dim_json(d: DimLike) -> int | str:
    """A dim as JSON: an int when it is a number, else its expression (``"B"``, ``"4*H"``)."""
    dim = Dim.of(d)
    return dim.value if dim.is_const else str(dim)  # type: ignore[return-value]


def shape_json(shape: Shape) -> list[int | str]:
    """``[ "B", "T", 128 ]``: a shape as a JSON list."""
    return [dim_json(d) for d in shape]


def formula(d: DimLike) -> str:
    """A dim expression with spaces around its terms: ``4104*B*T + 6148*B + 264192``."""
    text = str(Dim.of(d))
    return re.sub(r"(?<=[^\s*+-])([+-])", r" \1 ", text)


def human_bytes(n: int) -> str:
    """``10,967,168 bytes (10.5 MiB)``; small sizes stay in bytes."""
    text = f"{n:,} bytes"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{text} ({n / size:.1f} {unit})"
    return text


def short_where(where: str | None) -> str:
    """Where a size came from, in a few words: ``given``, ``input declaration``, ``layer 'lstm_1'``."""
    if not where:
        return "unbound"
    for pattern, short in _WHERE_SHORT:
        if pattern.search(where):
            return short
    text = where[4:] if where.startswith("the ") else where
    return text.split(" (")[0].split(",")[0]


@dataclass
class Step:
    """One timestep of one layer in one phase, with every tensor the core reported for it.

    A step reported in parts (a loop inside a decoding loop reports each of its calls) is one
    Step with the parts joined.
    """

    layer: str
    t: Any
    phase: str
    tensors: dict[str, Shape] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(Dim.of(self.t))


def merged_steps(trace: Trace, layer: str | None = None, phase: str | None = None) -> list[Step]:
    """The trace's step records with the parts of a step joined, optionally of one layer and phase.

    Args:
        trace: the trace.
        layer: a layer's path or last path component (``"lstm_1"``); None for every layer.
        phase: ``"forward"`` or ``"backward"``; None for both.
    """
    out: list[Step] = []
    for rec in trace.steps:
        if layer is not None and rec.layer != layer and rec.layer.split("/")[-1] != layer:
            continue
        if phase is not None and rec.phase != phase:
            continue
        last = out[-1] if out else None
        if last is not None and (last.layer, last.phase) == (rec.layer, rec.phase) and _same_t(last.t, rec.t) \
                and not set(last.tensors) & set(rec.tensors):
            last.tensors.update(rec.tensors)
        else:
            out.append(Step(rec.layer, rec.t, rec.phase, dict(rec.tensors)))
    return out


def _same_t(a: Any, b: Any) -> bool:
    return str(Dim.of(a)) == str(Dim.of(b))
