"""Rich tables of a Trace: the model summary, per-timestep shapes, gradients and dim bindings.

Every function returns a renderable and prints nothing; print it with a ``rich.console.Console``.
Shapes keep their dim names (``(B, T, 128)``); the sizes bound to the names are listed under
the summary and in :func:`bindings_table`. For shapes with the numbers in, render
``trace.bind()`` (or ``trace.bind(B=32)``) instead of ``trace``.
"""

from __future__ import annotations

from typing import Iterable

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from shapeviz.errors import ConfigError
from shapeviz.render.connections import SHARED_NOTE, connected_to, input_rows
from shapeviz.render.fmt import Step, formula, human_bytes, merged_steps, shape_text, short_where
from shapeviz.tracing.records import LayerRecord, Shape, Trace

# what z_t holds, per kind: the core records the input projection of all gates at step t
_GATES = {
    "lstm": "x_t @ kernel + bias, the input part of the gates i, f, c, o (4*H)",
    "gru": "x_t @ kernel + input bias, the input part of the gates z, r, h (3*H)",
    "simple_rnn": "x_t @ kernel + bias (H)",
}


def _table(**options: object) -> Table:
    """A table in the house style: a rule under the header, no vertical rules, two spaces between
    columns, so shapes have room at 80 columns."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), **options)  # type: ignore[arg-type]


def _titled(title: str, table: RenderableType, notes: Iterable[str] = ()) -> Group:
    """A title line, the table and notes under it. Title and notes are plain text outside the
    table, so they wrap at the console's width, not the table's."""
    return Group(Text(title, style="bold"), table, *(Text(n) for n in notes))


def _spaced(parts: list[RenderableType]) -> Group:
    """Renderables one under the other with a blank line between them."""
    out: list[RenderableType] = []
    for part in parts:
        if out:
            out.append(Text(""))
        out.append(part)
    return Group(*out)


class _Narrowest:
    """The first of several renderables whose natural width fits the console, else the last."""

    def __init__(self, *choices: RenderableType) -> None:
        self.choices = choices

    def _pick(self, console: Console, options: ConsoleOptions) -> RenderableType:
        wide = options.update_width(10_000)
        for choice in self.choices[:-1]:
            if Measurement.get(console, wide, choice).maximum <= options.max_width:
                return choice
        return self.choices[-1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._pick(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._pick(console, options))


# -- the summary -------------------------------------------------------------------------
def _named(shapes: dict[str, Shape], single: str | None = None) -> str:
    """One shape per line, named unless it is the only one and called ``single``."""
    if not shapes:
        return "-"
    if single is not None and list(shapes) == [single]:
        return shape_text(shapes[single])
    return "\n".join(f"{name} {shape_text(shape)}" for name, shape in shapes.items())


def _inner(trace: Trace, record: LayerRecord) -> list[LayerRecord]:
    return [r for r in trace.layers if r.path.startswith(record.path + "/")]


def dims_legend(trace: Trace) -> str:
    """``B=32 (batch, given)  T=80 (time, input declaration)``; a name without a size shows its role."""
    parts = []
    for name, b in trace.bindings.items():
        if b.value is None:
            parts.append(f"{name} ({b.role}, no size)")
        else:
            parts.append(f"{name}={b.value} ({b.role}, {short_where(b.where)})")
    return "  ".join(parts) if parts else "none"


def memory_lines(trace: Trace) -> list[str]:
    """The BPTT memory as a formula in the dims, and in bytes once every dim in it is bound."""
    total = trace.memory
    size = trace.memory_bytes()
    head = f"BPTT memory ({trace.dtype}):"
    if total.is_const:
        return [f"{head} {human_bytes(total.value or 0)}"]
    lines = [f"{head} {formula(total)} bytes"]
    if size is not None:
        lines.append(f"  = {human_bytes(size)}")
    else:
        lines.append(f"  bind {', '.join(sorted(total.substitute(trace.values).names))} for a number")
    return lines


def _summary_rows(trace: Trace) -> list[list[str]]:
    rows = []
    for record in trace.layers:
        name = record.path.split("/")[-1]
        count = f"{record.param_count:,}"
        if record.depth:
            name = "  " * (record.depth - 1) + "└─" + name
            count = f"({count})"  # included in the wrapper's count
        # a wrapper's record repeats its directions' states ("forward h"); their own rows show them
        states = "-" if any(r.states for r in _inner(trace, record)) else _named(record.states)
        if trace.is_repeat_call(record.path) and not record.depth:
            count = f"({count})"  # a shared layer's weights, counted at its first call
        rows.append([name, record.kind, _named(record.inputs, "x"), _named(record.outputs, "y"), states, count])
        if trace.graph is not None:  # a graph model: what each node reads
            rows[-1].append(connected_to(trace, record))
    return input_rows(trace) + rows


def _summary_grid(trace: Trace, rows: list[list[str]], kind: bool, inputs: bool = True) -> Table:
    table = _table(show_footer=True)
    table.add_column("Layer", footer="Total", no_wrap=True)
    if kind:
        table.add_column("Kind", no_wrap=True)
    for header in ("Input", "Output", "State") if inputs else ("Output", "State"):
        table.add_column(header)
    table.add_column("Params", justify="right", footer=f"{trace.param_count:,}")
    if trace.graph is not None:
        table.add_column("Connected to")
    for row in rows:
        row = row if kind else row[:1] + row[2:]
        table.add_row(*(row if inputs else row[:1] + row[2:]))  # without the Input column
    return table


def summary_table(trace: Trace) -> Group:
    """One row per layer: name, kind, input, output and state shapes, parameter count.

    Layers inside a wrapper (Bidirectional's two directions) sit indented under it, their counts in
    parentheses: the wrapper's count includes them. Under the table: the dims and their sizes, the
    loss, and the BPTT activation memory (a formula in the dims, and bytes once they are bound).
    When the table does not fit the console, the Kind column is left out first (default names,
    ``lstm_1``, say the kind already), then for a graph model the Input column ("Connected to"
    names what each layer reads).

    A graph model's table (``trace.graph``) has a row per model input and a "Connected to" column:
    the tensors each layer reads, one per line of its Input column (``encoder.h`` for output ``h``
    of ``encoder``); a shared layer's later calls are rows ``name@1``, ``name@2``, their weights
    counted at the first call.

    Args:
        trace: a trace from :func:`shapeviz.trace`.

    Returns:
        A ``rich.console.Group``: the title, the table and the notes.
    """
    rows = _summary_rows(trace)
    choices = [_summary_grid(trace, rows, kind=True), _summary_grid(trace, rows, kind=False)]
    if trace.graph is not None:  # Keras's summary of a graph: what each layer reads says it, not its shapes
        choices.append(_summary_grid(trace, rows, kind=False, inputs=False))
    table = _Narrowest(*choices)
    notes = [f"Dims: {dims_legend(trace)}"]
    if trace.graph is not None and any(n.call for n in trace.graph.nodes):
        notes.append(SHARED_NOTE)
    if trace.options:
        notes.append("Options: " + ", ".join(f"{k}={v}" for k, v in trace.options.items()))
    if trace.loss is not None:
        labels = f" on labels {shape_text(trace.labels)}" if trace.labels is not None else ""
        notes.append(f"Loss: {trace.loss}{labels}")
    notes += memory_lines(trace)
    return _titled(f"{trace.model} ({trace.model_kind}): {trace.mode}", table, notes)


# -- timesteps ---------------------------------------------------------------------------
def _resolve(trace: Trace, layer: str) -> LayerRecord:
    try:
        return trace.layer(layer)
    except KeyError:
        raise ConfigError(f"no layer {layer!r} in the trace of {trace.model!r}; its layers: "
                          f"{', '.join(r.path for r in trace.layers)}") from None


def _step_grid(steps: list[Step]) -> Table:
    columns: list[str] = []
    for step in steps:
        columns += [name for name in step.tensors if name not in columns]
    table = _table()
    table.add_column("t", justify="right", no_wrap=True)
    for name in columns:
        table.add_column(name)
    for step in steps:
        table.add_row(step.label, *(shape_text(step.tensors[c]) if c in step.tensors else "" for c in columns))
    return table


def _layer_title(record: LayerRecord) -> str:
    parts = record.path.split("/")
    where = f" in {'/'.join(parts[:-1])}" if len(parts) > 1 else ""
    return f"{parts[-1]} ({record.kind}{where})"


def steps_table(trace: Trace, layer: str, *, backward: bool = False) -> Group:
    """The tensors of every traced timestep of a recurrent layer, one row per step.

    Forward: ``x_t``, ``h_{t-1}`` (``c_{t-1}``), ``z_t`` (the gates' input projection), ``h_t``
    (``c_t``), ``y_t``. Backward, in the order BPTT visits the steps: ``dy_t`` (when the layer
    returns sequences), ``dh_t`` (``dc_t``), ``dz_t``, ``dh_{t-1}`` (``dc_{t-1}``). A symbolic
    ``T`` is traced at a few representative steps (``0, 1, T-1``); ``t`` counts steps in the
    order the layer processes them.

    Args:
        trace: a trace from :func:`shapeviz.trace`.
        layer: the layer's path or name (``"lstm_1"``); for a wrapper (Bidirectional), both
            directions are shown.
        backward: also show the backward (BPTT) steps.

    Returns:
        A ``rich.console.Group`` of titled tables.

    Raises:
        ConfigError: no such layer, or a layer without timesteps (Dense, Embedding...).
    """
    record = _resolve(trace, layer)
    parts: list[RenderableType] = []
    for rec in [record, *_inner(trace, record)]:
        forward = merged_steps(trace, rec.path, "forward")
        if not forward:
            continue
        notes = [f"z_t: {_GATES[rec.kind]}"] if rec.kind in _GATES else []
        if rec.config.get("go_backwards"):
            notes.append("go_backwards: step t reads the input at T-1-t")
        parts.append(_titled(f"{_layer_title(rec)}: forward", _step_grid(forward), notes))
        back = merged_steps(trace, rec.path, "backward") if backward else []
        if back:
            parts.append(_titled(f"{_layer_title(rec)}: backward (BPTT), last step first", _step_grid(back),
                                 ["dh_t: the gradient reaching h_t, from y_t and from step t+1"]))
    if not parts:
        recurrent = list(dict.fromkeys(s.layer for s in trace.steps))
        listing = f"layers with timesteps: {', '.join(recurrent)}" if recurrent else "this model has none"
        raise ConfigError(f"layer {record.path!r} ({record.kind}) has no timesteps to show; {listing}")
    return _spaced(parts)


# -- gradients and dims ------------------------------------------------------------------
def grads_table(trace: Trace) -> Group:
    """Every parameter's gradient shape against the parameter's (✓ when they match), and the
    gradient of the hidden state at every traced backward step (``dh_t``, ``dc_t``).

    Args:
        trace: a trace from :func:`shapeviz.trace` with ``backward=True`` (the default).

    Returns:
        A ``rich.console.Group``: the parameters' table, and the states' when there are timesteps.
    """
    params = _table()
    for header in ("Layer", "Parameter", "Gradient", "Parameter shape"):
        params.add_column(header)
    params.add_column("", justify="center")
    previous = None
    for g in trace.grads:
        layer, _, key = g.param.rpartition("/")
        name = layer.split("/")[-1]
        params.add_row(name if layer != previous else "", key, shape_text(g.shape), shape_text(g.param_shape),
                       Text("✓", style="green") if g.ok else Text("✗", style="bold red"))
        previous = layer
    notes = [] if trace.grads else ["no gradients traced (trace with backward=True)"]
    bad = sum(not g.ok for g in trace.grads)
    if bad:
        notes.append(f"{bad} gradient(s) do not have their parameter's shape")
    parts: list[RenderableType] = [_titled("Parameter gradients", params, notes)]
    steps = merged_steps(trace, phase="backward")
    if steps:
        names = [n for n in ("dy_t", "dh_t", "dc_t") if any(n in s.tensors for s in steps)]
        states = _table()
        states.add_column("Layer")
        states.add_column("t", justify="right", no_wrap=True)
        for n in names:
            states.add_column(n)
        previous = None
        for s in steps:
            name = s.layer.split("/")[-1]
            states.add_row(name if s.layer != previous else "", s.label,
                           *(shape_text(s.tensors[n]) if n in s.tensors else "" for n in names))
            previous = s.layer
        parts.append(_titled("State gradients (BPTT, last step first)", states))
    return _spaced(parts)


def bindings_table(trace: Trace) -> Group:
    """Every named dim: its role, its size, where the size came from and where the name was declared.

    Args:
        trace: a trace from :func:`shapeviz.trace`.

    Returns:
        A ``rich.console.Group``: the title and the table.
    """
    table = _table()
    for header in ("Name", "Role"):
        table.add_column(header, no_wrap=True)
    table.add_column("Size", justify="right")
    table.add_column("Size from")
    table.add_column("Declared by")
    for name, b in trace.bindings.items():
        table.add_row(name, b.role, "-" if b.value is None else str(b.value), b.where or "unbound (symbolic)",
                      b.declared or "-")
    return _titled("Dims", table)
