"""The state of one trace: dim bindings with provenance, and where the run is (layer, timestep)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from contextlib import contextmanager

from shapeviz.tracing.dims import Dim, DimLike

ROLES = ("batch", "time", "features", "other")

_ROLE_NAMES = {
    "batch": {"b", "n", "batch", "batch_size", "nb_samples", "samples"},
    "time": {"t", "t_in", "t_out", "seq_len", "seq", "time", "steps", "timesteps", "maxlen", "sequence_length",
             "max_length", "length"},
    "features": {"f", "e", "h", "v", "c", "d", "features", "input_features", "units", "classes", "vocab",
                 "embedding", "hidden"},
}


def default_role(name: str) -> str:
    """The role a name suggests: ``B`` batch, ``T``/``seq_len`` time, ``F``/``H`` features."""
    low = name.lower()
    for role, names in _ROLE_NAMES.items():
        if low in names:
            return role
    if low.startswith("t_") or low.startswith("seq"):
        return "time"
    return "other"


@dataclass
class Binding:
    """A named dim: its role, its size once known, and where that size came from."""

    name: str
    role: str
    value: int | None = None
    where: str | None = None  # e.g. "the input declaration (x, axis 0)" or "layer 'lstm_1' ..."
    declared: str | None = None  # where the name itself was declared

    def describe(self) -> str:
        size = f"= {self.value}, bound at {self.where}" if self.value is not None else "has no size (symbolic)"
        decl = f"; declared by {self.declared}" if self.declared else ""
        return f"({self.role}) {size}{decl}"


@dataclass
class TraceContext:
    """Everything the symbolic arrays and hooks consult while a trace runs."""

    bindings: dict[str, Binding] = field(default_factory=dict)
    layers: list[Any] = field(default_factory=list)  # the stack of (path, layer) being run
    step: Any = None  # the step of the time loop running (an int or a Dim), None outside one
    phase: str = "forward"
    param_names: dict[int, str] = field(default_factory=dict)  # id(ndarray) -> "lstm_1/kernel"
    on_record: Callable[[str, Any], None] | None = None
    on_grad: Callable[[str, Any, Any], None] | None = None
    counter: Any = None  # a shapeviz.tracing.counting.Counter while the trace counts operations
    _values: dict[str, int] | None = None

    # -- names ----------------------------------------------------------------------
    def declare(self, name: str, role: str | None = None, declared: str | None = None) -> Binding:
        if name not in self.bindings:
            self.bindings[name] = Binding(name, role or default_role(name), declared=declared)
            return self.bindings[name]
        b = self.bindings[name]
        if role is not None:
            b.role = role
        if declared is not None and b.declared is None:
            b.declared = declared
        return b

    def bind(self, name: str, value: int, where: Any) -> None:
        b = self.declare(name)
        if b.value is None:
            b.value, b.where = int(value), where() if callable(where) else where
            self._values = None

    def values(self) -> dict[str, int]:
        """``{name: size}`` of the bound names (cached until the next binding)."""
        if self._values is None:
            self._values = {n: b.value for n, b in self.bindings.items() if b.value is not None}
        return self._values

    def resolve(self, d: DimLike) -> Dim:
        """``d`` with every bound name replaced by its size."""
        return Dim.of(d).substitute(self.values())

    def unify(self, a: DimLike, b: DimLike, where: Any) -> bool:
        """Whether two dims agree; a free name meeting a size is bound to it here (with ``where``)."""
        ra, rb = self.resolve(a), self.resolve(b)
        if ra == rb:
            return True
        for free, other in ((ra, rb), (rb, ra)):
            if free.is_symbol and other.is_const:
                self.bind(free.symbol, other.value, where)  # type: ignore[arg-type]
                return True
        return False

    def role_of(self, d: DimLike) -> str | None:
        dim = Dim.of(d)
        if dim.is_symbol and dim.symbol in self.bindings:
            return self.bindings[dim.symbol].role
        return None

    def provenance(self, *dims: DimLike) -> dict[str, str]:
        """``{name: "(role) = 32, bound at ..."}`` for every name in ``dims``."""
        out: dict[str, str] = {}
        for d in dims:
            try:
                names = Dim.of(d).names
            except TypeError:
                continue
            for n in sorted(names):
                if n in self.bindings:
                    out[n] = self.bindings[n].describe()
        return out

    # -- position -------------------------------------------------------------------
    @property
    def timestep(self) -> str | None:
        """The step running as text ("0", "T-1"): formatted only when asked (errors), as a loop
        over a thousand steps sets ``step`` a thousand times."""
        return None if self.step is None else str(Dim.of(self.step))

    @property
    def layer_path(self) -> str | None:
        return self.layers[-1][0] if self.layers else None

    @property
    def layer(self) -> Any:
        return self.layers[-1][1] if self.layers else None

    def here(self) -> str:
        parts = []
        if self.layer_path:
            parts.append(f"layer {self.layer_path!r}")
        if self.timestep is not None:
            parts.append(f"timestep {self.timestep}")
        parts.append(self.phase)
        return ", ".join(parts)

    @contextmanager
    def in_layer(self, path: str, layer: Any) -> Iterator[None]:
        self.layers.append((path, layer))
        saved = self.step
        self.step = None
        counter = self.counter
        if counter is not None:
            counter.moved()  # operations from here on are this layer's
        try:
            yield
        finally:
            self.layers.pop()
            self.step = saved
            if counter is not None:
                counter.moved()


_active: list[TraceContext] = []

from shapeviz.tracing import dims as _dims  # noqa: E402  (dims asks this module for the active trace)

_dims._context = sys.modules[__name__]


def current() -> TraceContext | None:
    return _active[-1] if _active else None


@contextmanager
def activate(ctx: TraceContext) -> Iterator[TraceContext]:
    _active.append(ctx)
    try:
        yield ctx
    finally:
        _active.pop()
