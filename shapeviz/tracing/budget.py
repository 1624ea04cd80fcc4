"""What a run would allocate, found before anything is: a dry build and the tracer's BPTT formula.

A symbolic trace reads only the shapes of a model's parameters, so an unbuilt model is traced
on a copy whose build makes zero-stride stand-ins (``backend.new_param``) instead of arrays: a
``Dense(10**9)`` is reported without its 4 GB kernel ever existing, and the bytes a real build
would take are counted on the way. With the sizes of a real batch bound, the trace's memory
formula (:attr:`Trace.memory`) gives the activations BPTT keeps; :class:`Estimate` adds them up
for the caller to compare with a limit before the real run.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapeviz.core import backend
from shapeviz.errors import ConfigError, ShapeVizError
from shapeviz.tracing.records import Trace


class TooLarge(ConfigError):
    """A parameter no array can hold (more bytes than the address space)."""


@dataclass(frozen=True)
class Estimate:
    """Bytes a real run would need, in parts.

    Attributes:
        params: the parameter count.
        param_bytes: one copy of the parameters, in the model's dtype.
        bptt_bytes: the activations BPTT keeps for one batch (None: a size is still symbolic).
    """

    params: int
    param_bytes: int
    bptt_bytes: int | None

    def total(self, param_copies: float = 2.0, bptt_copies: float = 1.0, extra: int = 0) -> int:
        """``param_copies`` copies of the parameters (weights and gradients: 2; an optimizer adds its
        slots) plus ``bptt_copies`` of the BPTT memory plus ``extra`` bytes (the data)."""
        return int(self.param_bytes * param_copies + (self.bptt_bytes or 0) * bptt_copies + extra)


def dry_trace(model: Any, inputs: Any, **kwargs: Any) -> tuple[Trace, int]:
    """:func:`~shapeviz.tracing.tracer.trace` without allocating what an unbuilt model's build would.

    The model itself is left as it was: an unbuilt one is traced on a copy, built dry. A built model
    is traced as it is (its parameters exist already).

    Returns:
        The trace, and the bytes the parameters and gradients a real build makes would take (0 when
        the model was built already).
    """
    from shapeviz.tracing.tracer import trace

    counted = [0]

    def dry(shape: tuple, dtype: np.dtype, make: Any) -> np.ndarray:
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > np.iinfo(np.intp).max:  # numpy cannot make even a stand-in of that size
            too_large.append(TooLarge(f"a parameter of shape {shape} ({dtype}) would take {human(nbytes)}, more "
                                      "than any array can hold: make the layer smaller"))
            raise too_large[-1]
        counted[0] += nbytes
        # one element seen at every index: its views have it as their base, as a real array's would
        return np.ndarray(shape, dtype, buffer=bytearray(dtype.itemsize), strides=(0,) * len(shape))

    if getattr(model, "built", False):
        return trace(model, inputs, **kwargs), 0
    try:
        target = copy.deepcopy(model)
    except Exception:  # noqa: BLE001 - something of the user's that cannot be copied: trace it for real
        return trace(model, inputs, **kwargs), 0
    too_large: list[TooLarge] = []
    with backend.override(param=dry):
        try:
            tr = trace(target, inputs, **kwargs)
        except ShapeVizError:
            if too_large:  # the tracer saw an error in a layer; it is the size, not a shape
                raise too_large[0] from None
            raise
    return tr, counted[0]


def estimate(tr: Trace, **values: int) -> Estimate:
    """The parameters and the BPTT memory of a trace, with ``values`` for its names still symbolic."""
    itemsize = np.dtype(tr.dtype).itemsize
    return Estimate(tr.param_count, tr.param_count * itemsize, tr.memory_bytes(**values))


def human(n: float) -> str:
    """Bytes as ``1.5 GiB``, ``820 MiB``, ``12 KiB``."""
    units = (("EiB", 1 << 60), ("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
    for unit, size in units:
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"
