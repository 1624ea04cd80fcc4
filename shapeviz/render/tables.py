"""Rich tables of a Trace: the model summary, per-timestep shapes, gradients and dim bindings.

Every function returns a renderable and prints nothing; print it with a ``rich.console.Console``.
Shapes keep their dim names (``(B, T, 128)``); the sizes bound to the names are listed under
the summary and in :func:`bindings_table`. For shapes with the numbers in, render
``trace.bind()`` (or ``trace.bind(B=32)``) instead of ``trace``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from shapeviz.errors import ConfigError
from shapeviz.render.connections import SHARED_NOTE, connected_to, input_rows
from shapeviz.render.costfmt import CONVENTION, cost_lines, count_text, mult_adds_cell, real_lines, total_lines
from shapeviz.render.fmt import Step, formula, human_bytes, merged_steps, shape_text, short_where
from shapeviz.tracing.dims import Dim
from shapeviz.render.narrow import Fitting, display_names, name_cell, safe_name
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
    return Group(Text(title, style="bold"), Fitting(table), *(Text(n) for n in notes))


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


_INNER: list = [None, {}]  # the last trace asked about, and its records by enclosing path


def _inner(trace: Trace, record: LayerRecord) -> list[LayerRecord]:
    """The records inside ``record`` (a wrapper's directions), found once per trace: a table of a
    model with thousands of layers asks for every layer's."""
    if _INNER[0] is not trace:
        by_parent: dict[str, list[LayerRecord]] = {}
        for r in trace.layers:
            parts = r.path.split("/")
            for i in range(1, len(parts)):
                by_parent.setdefault("/".join(parts[:i]), []).append(r)
        _INNER[:] = [trace, by_parent]
    return list(_INNER[1].get(record.path, []))


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
    shown = display_names(r.path for r in trace.layers)  # escaped below by name_cell
    for record in trace.layers:
        name: Any = shown[record.path]
        count = f"{record.param_count:,}"
        name = name_cell(name, "  " * (record.depth - 1) + "└─" if record.depth else "")
        if record.depth:
            count = f"({count})"  # included in the wrapper's count
        # a wrapper's record repeats its directions' states ("forward h"); their own rows show them
        states = "-" if any(r.states for r in _inner(trace, record)) else _named(record.states)
        if trace.is_repeat_call(record.path) and not record.depth:
            count = f"({count})"  # a shared layer's weights, counted at its first call
        rows.append([name, record.kind, _named(record.inputs, "x"), _named(record.outputs, "y"), states, count])
        if trace.cost is not None:
            rows[-1].append(mult_adds_cell(trace, record))
        if trace.graph is not None:  # a graph model: what each node reads
            rows[-1].append(connected_to(trace, record))
    return input_rows(trace) + rows


def _summary_grid(trace: Trace, rows: list[list[str]], kind: bool, mult_adds: bool = True,
                  split_total: bool = False, inputs: bool = True) -> Table:
    table = _table(show_footer=True)
    table.add_column("Layer", footer="Total", no_wrap=True)
    if kind:
        table.add_column("Kind", no_wrap=True)
    for header in ("Input", "Output", "State") if inputs else ("Output", "State"):
        table.add_column(header)
    table.add_column("Params", justify="right", footer=f"{trace.param_count:,}")
    macs = mult_adds and trace.cost is not None
    if macs:  # forward, as torchinfo's
        total = str(Dim.of(trace.cost.forward.macs))  # type: ignore[union-attr]
        if split_total:  # one term a line: a long total need not widen the column
            total = re.sub(r"(?<=.)([+-])", r"\n\1", total)
        table.add_column("Mult-Adds", justify="right", footer=total, no_wrap=True)
    if trace.graph is not None:
        table.add_column("Connected to")
    for row in rows:
        if trace.cost is not None and not macs:
            row = row[:6] + row[7:]  # without the Mult-Adds cell
        row = row if kind else row[:1] + row[2:]
        table.add_row(*(row if inputs else row[:1] + row[2:]))  # without the Input column
    return table


def summary_table(trace: Trace) -> Group:
    """One row per layer: name, kind, input, output and state shapes, parameter count, forward Mult-Adds.

    Layers inside a wrapper (Bidirectional's two directions) sit indented under it, their counts in
    parentheses: the wrapper's count includes them. Under the table: the dims and their sizes, the
    loss, the BPTT activation memory (a formula in the dims, and bytes once they are bound) and the
    forward pass's Mult-Adds (multiply-accumulates, a formula and its value once bound; with a mask,
    also the real work). :func:`cost_table` has FLOPs, the backward pass and the timesteps.
    When the table does not fit the console, the Kind column is left out first (default names,
    ``lstm_1``, say the kind already), then the Mult-Adds column (its total stays in the notes; a
    long Mult-Adds total is written one term a line first), then for a graph model the Input column
    ("Connected to" names what each layer reads).

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
    choices = [_summary_grid(trace, rows, kind=True), _summary_grid(trace, rows, kind=True, split_total=True),
               _summary_grid(trace, rows, kind=False, split_total=True),
               _summary_grid(trace, rows, kind=False, mult_adds=False)]
    if trace.graph is not None:  # Keras's summary of a graph: what each layer reads says it, not its shapes
        choices.append(_summary_grid(trace, rows, kind=False, mult_adds=False, inputs=False))
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
    notes += cost_lines(trace)
    return _titled(f"{safe_name(trace.model)} ({trace.model_kind}): {trace.mode}", table, notes)


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
    parts = safe_name(record.path).split("/")
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
    shown = display_names(g.param.rpartition("/")[0] for g in trace.grads)
    for g in trace.grads:
        layer, _, key = g.param.rpartition("/")
        name = name_cell(shown[layer])
        params.add_row(name if layer != previous else "", name_cell(key), shape_text(g.shape),
                       shape_text(g.param_shape),
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
        shown = display_names(s.layer for s in steps)
        for s in steps:
            name = name_cell(shown[s.layer])
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


# -- cost ---------------------------------------------------------------------------------
def _cost_layers(trace: Trace) -> list[tuple[str, str, int]]:
    """(path, shown name, depth) of every layer with a count: the trace's layers, then work outside
    them (the model's own when there is any, the loss)."""
    assert trace.cost is not None
    rows = [(r.path, ("  " * (r.depth - 1) + "└─" if r.depth else "") + r.path.split("/")[-1], r.depth)
            for r in trace.layers]
    known = {r.path for r in trace.layers}
    rows += [(p, p, 0) for p, rec in trace.cost.layers.items()
             if p not in known and any(not Dim.of(d).is_const or Dim.of(d).value for d in rec.total.as_dict().values())]
    return rows


def _cost_cell(trace: Trace, value: object, inner: bool = False) -> str:
    """A count's formula, spaced so that it wraps at its terms, and its value on a line of its own
    once bound; in parentheses for an inner layer (its wrapper's count includes it)."""
    assert trace.cost is not None
    first, *rest = count_text(trace.cost, value, spaced=True).split("\n")  # type: ignore[arg-type]
    return "\n".join([f"({first})" if inner else first, *rest])


def _step_groups(trace: Trace) -> list[tuple[str, str, list]]:
    """The traced steps by layer (in the trace's order) and phase, steps of equal counts joined:
    (layer, phase, [(labels, stands for, count)])."""
    assert trace.cost is not None
    order = {r.path: i for i, r in enumerate(trace.layers)}
    keyed: dict[tuple[str, str], list] = {}
    for s in trace.cost.steps:
        keyed.setdefault((s.layer, s.phase), []).append(s)
    out = []
    for (layer, phase), steps in sorted(keyed.items(), key=lambda kv: (order.get(kv[0][0], len(order)),
                                                                        kv[0][1] != "forward")):
        groups: list = []
        for s in steps:
            if groups and groups[-1][2].as_dict() == s.count.as_dict():
                labels, stands, count = groups[-1]
                groups[-1] = (labels + [s.label], Dim.of(stands) + s.stands_for, count)
            else:
                groups.append(([s.label], Dim.of(s.stands_for), s.count))
        out.append((layer, phase, groups))
    return out


def cost_table(trace: Trace) -> Group:
    """What the model costs, forward and backward, per layer and per traced timestep.

    The layer table gives each layer's MACs (multiply-accumulates) and FLOPs (2 per MAC, plus the
    elementwise and transcendental operations), forward and backward (BPTT included), as formulas in
    the dims with their values once bound; an inner layer's row is in parentheses (its wrapper's
    includes it), the loss is listed apart from the model's total. The step table gives the count of
    one step of each time loop and the steps it stands for: the traced steps (0, 1, T-1 of a
    symbolic T) with equal counts share a row, and a loop's count is the sum of count times steps.
    With a mask the notes give the real work, ``L`` (the sum of the lengths) in place of ``B·T``.

    Args:
        trace: a trace from :func:`shapeviz.trace` of symbolic inputs (a trace of real arrays has no
            counts: numpy ran it).

    Returns:
        A ``rich.console.Group``: the two tables and their notes.

    Raises:
        ConfigError: the trace has no counts.
    """
    cost = trace.cost
    if cost is None:
        raise ConfigError("this trace has no operation counts: it ran real arrays (numpy counts nothing); "
                          "trace a declaration such as \"(B, T, 2)\" instead")
    table = _table()
    for header in ("Layer", "Phase"):
        table.add_column(header, no_wrap=True)
    table.add_column("MACs", justify="right")
    table.add_column("FLOPs", justify="right")
    layers = _cost_layers(trace)
    for path, name, depth in layers:
        for phase in ("forward", "backward"):
            count = cost.layer(path, phase)
            table.add_row(name if phase == "forward" else "", phase, _cost_cell(trace, count.macs, depth > 0),
                          _cost_cell(trace, count.flops, depth > 0), end_section=phase == "backward"
                          and path == layers[-1][0])
    for phase in ("forward", "backward"):
        count = getattr(cost, phase)
        table.add_row("Total" if phase == "forward" else "", phase, _cost_cell(trace, count.macs),
                      _cost_cell(trace, count.flops))
    notes = total_lines(cost, "FLOPs of a training step (forward + backward)", cost.total.flops)
    notes += real_lines(cost, ("forward", "backward"))
    notes.append(CONVENTION + "; backward includes BPTT and the gradient of each recurrent layer's initial state"
                 + ("; the loss is not in the total" if "loss" in cost.layers else ""))
    parts: list[RenderableType] = [_titled(f"Cost of {trace.model}", table, notes)]
    groups = _step_groups(trace)
    if groups:
        steps = _table()
        for header in ("Layer", "Phase"):
            steps.add_column(header, no_wrap=True)
        steps.add_column("t", justify="right")
        steps.add_column("Steps", justify="right")
        steps.add_column("MACs/step", justify="right")
        steps.add_column("FLOPs/step", justify="right")
        previous = None
        for layer, phase, rows in groups:
            for i, (labels, stands, count) in enumerate(rows):
                name = layer.split("/")[-1] if layer != previous else ""
                steps.add_row(name, phase if i == 0 else "", ", ".join(labels), str(stands),
                              _cost_cell(trace, count.macs), _cost_cell(trace, count.flops))
                previous = layer
        parts.append(_titled("Cost per timestep (Steps: how many steps of the loop the traced ones stand for)",
                             steps))
    return _spaced(parts)
