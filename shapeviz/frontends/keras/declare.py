"""The input declarations of an imported Keras model: Keras's None batch axis is B, a None time axis
T (``T_in``, ``T_out``, ... per input when there are several), fixed sizes kept as numbers."""

from __future__ import annotations

from typing import Any


def declarations(inputs: dict[str, list], model: Any) -> tuple[Any, dict, dict, dict]:
    """``(declaration, dims, roles, provenance)`` for the Loaded record.

    Args:
        inputs: per Input layer name its Keras batch shape, e.g. ``{"ids": [None, None]}``.
        model: the shapeviz model (its ``inputs`` say which axis is time).
    """
    specs = model.inputs
    names = list(inputs)
    timed = [n for n, spec in zip(names, specs) if spec.time_axis is not None]
    time_names = {n: ("T" if len(timed) == 1 else ("T_in", "T_out")[i] if len(timed) == 2 else f"T_{i + 1}")
                  for i, n in enumerate(timed)}
    decls = []
    dims: dict[str, int] = {}
    provenance: dict[str, str] = {}
    for (name, shape), spec in zip(inputs.items(), specs):
        parts = []
        for axis, size in enumerate(shape):
            if axis == spec.batch_axis:
                parts.append("B" if size is None else str(size))
            elif axis == spec.time_axis:
                t = time_names[name]
                parts.append(t)
                if size is not None:
                    dims[t] = int(size)
                    provenance[t] = f"the model's Input layer {name!r}"
            else:
                parts.append("F" if size is None else str(size))
        decls.append("(" + ", ".join(parts) + ")")
    roles = {t: "time" for t in time_names.values()}
    declared: Any = decls[0] if len(decls) == 1 else dict(zip(names, decls))
    return declared, dims, roles, provenance
