"""Exceptions a user can cause: each message says what was wrong and where."""


class ShapeVizError(Exception):
    """Base class of every error shapeviz raises on purpose."""


class ConfigError(ShapeVizError, ValueError):
    """A layer, model or optimizer was given an invalid option."""


class InputError(ShapeVizError, ValueError):
    """Data fed to a layer or model does not fit it (rank, size, dtype, values)."""


class CheckpointError(ShapeVizError):
    """A checkpoint file cannot be read or does not fit the model."""


class NonFiniteError(ShapeVizError, FloatingPointError):
    """A loss or gradient became NaN or infinite during training."""


class ShapeError(ShapeVizError, ValueError):
    """A shape mismatch found by the tracer (or raised by the same check in a real run).

    Attributes name where and what: ``layer`` (path), ``timestep`` (e.g. ``"0"``, ``"T-1"``),
    ``phase`` ("forward"/"backward"), ``op`` (e.g. ``"matmul"``), ``operands`` (name, shape)
    pairs, ``dim`` (which axis or name conflicts), ``expected``/``actual``, ``provenance``
    (where each involved name got its size) and a ``hint``. ``str()`` is the whole message.

    Raised by the tracer, it also carries what was traced before the failure: ``partial``, a
    ``Trace`` of the layers that finished, and ``failed``, a ``LayerRecord`` of the layer that
    failed (its kind, options and input, no output); both None otherwise.
    """

    partial: object = None
    failed: object = None

    def __init__(self, message: str, *, layer: str | None = None, timestep: str | None = None,
                 phase: str | None = None, op: str | None = None, operands: list | None = None,
                 dim: str | None = None, expected: str | None = None, actual: str | None = None,
                 provenance: dict | None = None, hint: str | None = None) -> None:
        self.problem = message
        self.layer = layer
        self.timestep = timestep
        self.phase = phase
        self.op = op
        self.operands = list(operands or [])
        self.dim = dim
        self.expected = expected
        self.actual = actual
        self.provenance = dict(provenance or {})
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.layer:
            where.append(f"layer {self.layer!r}")
        if self.timestep is not None:
            where.append(f"timestep {self.timestep}")
        if self.phase:
            where.append(self.phase)
        lines = [(", ".join(where) + ": " if where else "") + self.problem]
        if self.op and self.operands:
            ops = " and ".join(f"{name} {shape}" for name, shape in self.operands)
            lines.append(f"  cause: {self.op} on {ops}")
        if self.expected is not None or self.actual is not None:
            what = f" ({self.dim})" if self.dim else ""
            lines.append(f"  expected{what}: {self.expected}, got: {self.actual}")
        for name, origin in self.provenance.items():
            lines.append(f"  {name} {origin}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def with_context(self, **fields: object) -> "ShapeError":
        """A copy with the fields not yet set filled in (the tracer adds layer and timestep)."""
        current = {k: getattr(self, k) for k in ("layer", "timestep", "phase", "op", "operands", "dim",
                                                  "expected", "actual", "provenance", "hint")}
        for key, value in fields.items():
            if current.get(key) in (None, [], {}):
                current[key] = value
        return ShapeError(self.problem, **current)  # type: ignore[arg-type]


class RenderError(ShapeVizError):
    """A picture cannot be made here: a format needs a program that is not installed (PDF without
    a system Graphviz), or the layout program failed."""
