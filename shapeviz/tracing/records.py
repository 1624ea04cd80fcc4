"""The plain records a trace produces: layers, timesteps, gradients, bindings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from shapeviz import hooks
from shapeviz.tracing.context import Binding
from shapeviz.tracing.cost import Cost
from shapeviz.tracing.dims import Dim, DimLike, shape_str

Shape = tuple  # of int | Dim


def substitute(shape: Shape, values: dict[str, int]) -> Shape:
    out = []
    for d in shape:
        dim = Dim.of(d).substitute(values)
        out.append(dim.value if dim.is_const else dim)
    return tuple(out)


@dataclass
class LayerRecord:
    """One layer as the run saw it.

    Attributes:
        path: ``"lstm_1"``, or ``"bidirectional_1/forward_lstm_1"`` for a wrapped layer.
        kind: ``"lstm"``, ``"dense"``...
        inputs / outputs: ``{name: shape}`` (``x``; ``y``, ``h_T``, ``c_T`` with return_state).
        states: ``{name: shape}`` of the recurrent states (``h``, ``c``) after the last step.
        params: ``{key: shape}``; ``param_count`` their total size.
        memory: bytes the cache keeps for BPTT, as an expression of the dims.
        config: the layer's options.
        depth: 0 for a model's layer, 1 inside a wrapper.
    """

    path: str
    kind: str
    inputs: dict[str, Shape] = field(default_factory=dict)
    outputs: dict[str, Shape] = field(default_factory=dict)
    states: dict[str, Shape] = field(default_factory=dict)
    params: dict[str, Shape] = field(default_factory=dict)
    param_count: int = 0
    memory: DimLike = 0
    config: dict[str, Any] = field(default_factory=dict)
    depth: int = 0


@dataclass
class StepRecord:
    """The tensors of one traced timestep of one recurrent layer, forward or backward."""

    layer: str
    t: Any  # the step index: 0, 1, or a dim such as T-1
    phase: str  # "forward" or "backward"
    tensors: dict[str, Shape] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The step as text: "0", "1", "T-1"."""
        return str(Dim.of(self.t))


def _existing_steps(steps: list[StepRecord], values: dict[str, int]) -> list[StepRecord]:
    """The records of the steps that exist once the dims have ``values``, each step once.

    A symbolic T is traced over representative steps (0, 1, T-1). Once T has a size, T-1
    may name a step already recorded (T = 1 or 2: keep the first record, as a run with that
    size records it once), and a literal step at or past the last one does not exist (step 1
    when T = 1). The last step is what a layer's symbolic record (``T-1``) becomes.
    """
    last: dict[tuple[str, str], int] = {}
    for s in steps:
        t = Dim.of(s.t)
        if not t.is_const:
            bound = t.substitute(values)
            if bound.is_const:
                key = (s.layer, s.phase)
                last[key] = max(last.get(key, bound.value), bound.value)  # type: ignore[arg-type]
    seen: set[tuple[str, str, Any]] = set()
    out = []
    for s in steps:
        t = Dim.of(s.t).substitute(values)
        index = t.value if t.is_const else t
        end = last.get((s.layer, s.phase))
        if t.is_const and end is not None and index > end:  # type: ignore[operator]
            continue
        key = (s.layer, s.phase, index)
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    return out


@dataclass
class GradRecord:
    """A parameter's gradient as backward wrote it, and whether it has the parameter's shape."""

    param: str  # "lstm_1/kernel"
    shape: Shape
    param_shape: Shape

    @property
    def ok(self) -> bool:
        return tuple(self.shape) == tuple(self.param_shape)


@dataclass(frozen=True)
class NodeRecord:
    """One node of a graph model: a model input, or one call of a layer.

    Attributes:
        name: the input's name (``"source"``), the layer's (``"enc"``), or for a shared layer's later
            calls ``"shared@1"``, ``"shared@2"``: a top-level layer record's path.
        kind: ``"input"`` for a model input, else the layer's kind (``"lstm"``...).
        layer: the layer called (``"shared"`` for every call of it); the name for an input.
        call: 0 for the layer's first call in the model, 1 for its second, ...
        outputs: what each of its outputs is called: ``("y",)``, ``("y", "h", "c")`` with return_state.
    """

    name: str
    kind: str
    layer: str
    call: int = 0
    outputs: tuple[str, ...] = ("y",)


@dataclass(frozen=True)
class EdgeRecord:
    """A tensor from one node to another: output ``output`` (called ``label``) of ``src`` is input
    ``index`` (``slot="input"``) or initial state ``index`` (``slot="initial_state"``) of ``dst``."""

    src: str
    output: int
    label: str
    dst: str
    slot: str = "input"
    index: int = 0


@dataclass(frozen=True)
class OutputRecord:
    """A model output: its name (a key of ``Trace.outputs``) and the node output it is."""

    name: str
    node: str
    output: int
    label: str


@dataclass
class GraphRecord:
    """The graph of a graph model: its nodes in run order (the inputs first), every edge, the outputs."""

    nodes: list[NodeRecord] = field(default_factory=list)
    edges: list[EdgeRecord] = field(default_factory=list)
    outputs: list[OutputRecord] = field(default_factory=list)

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in the graph; nodes: {[n.name for n in self.nodes]}")

    def into(self, name: str) -> list[EdgeRecord]:
        """The edges into node ``name``: its inputs in order, then its initial states."""
        edges = [e for e in self.edges if e.dst == name]
        return sorted(edges, key=lambda e: (e.slot != "input", e.index))

    def out_of(self, name: str) -> list[EdgeRecord]:
        return [e for e in self.edges if e.src == name]

    def tensor(self, node: str, output: int) -> str:
        """A node output as text: ``"enc"`` for a node with one output, ``"enc.h"`` for one of several."""
        n = self.node(node)
        return node if len(n.outputs) <= 1 else f"{node}.{n.outputs[output]}"


@dataclass
class Trace:
    """Everything one symbolic run recorded. Plain data: renderers read it, nothing prints it.

    Attributes:
        model: the model's name; ``model_kind`` its class ("sequential", ...); ``mode`` one of
            the five sequence modes.
        inputs / outputs: ``{name: shape}`` at the model's boundary.
        layers, steps, grads: the records, in the order the run made them.
        bindings: every named dim, its role, size and where the size came from.
        traced_steps: the timestep labels traced per recurrent layer (e.g. ["0", "1", "T-1"]).
        loss: the loss's name when labels were traced, and the labels' shape.
        options: the model's own settings that shape its picture but no record shows: a
            OneToMany's ``steps`` and ``feedback`` ("zeros" or "outputs": what it reads after step 0).
        graph: a graph model's nodes and edges (None for the other models).
        cost: the MACs and FLOPs of every layer and traced step, forward and backward, as formulas
            in the dims (:class:`~shapeviz.tracing.cost.Cost`); None for a trace of real arrays.
    """

    model: str
    model_kind: str
    mode: str
    inputs: dict[str, Shape] = field(default_factory=dict)
    outputs: dict[str, Shape] = field(default_factory=dict)
    layers: list[LayerRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    grads: list[GradRecord] = field(default_factory=list)
    bindings: dict[str, Binding] = field(default_factory=dict)
    labels: Shape | None = None
    loss: str | None = None
    dtype: str = "float32"
    options: dict[str, Any] = field(default_factory=dict)
    graph: GraphRecord | None = None
    cost: Cost | None = None

    # -- queries ----------------------------------------------------------------------
    def layer(self, path: str) -> LayerRecord:
        for rec in self.layers:
            if rec.path == path or rec.path.split("/")[-1] == path:
                return rec
        raise KeyError(f"no layer {path!r} in the trace; layers: {[r.path for r in self.layers]}")

    def steps_of(self, path: str, phase: str = "forward") -> list[StepRecord]:
        return [s for s in self.steps if (s.layer == path or s.layer.split("/")[-1] == path) and s.phase == phase]

    @property
    def values(self) -> dict[str, int]:
        return {n: b.value for n, b in self.bindings.items() if b.value is not None}

    @property
    def param_count(self) -> int:
        """Parameters of the model: a wrapper's count includes its inner layers' (depth 1), counted once;
        a shared layer's later calls (``shared@1``) reuse its weights and count nothing."""
        return sum(r.param_count for r in self.layers if r.depth == 0 and not self.is_repeat_call(r.path))

    def is_repeat_call(self, path: str) -> bool:
        """Whether ``path`` is (inside) a shared layer's second or later call in a graph model."""
        if self.graph is None:
            return False
        top = path.split("/")[0]
        return any(n.name == top and n.call > 0 for n in self.graph.nodes)

    @property
    def memory(self) -> Dim:
        """Bytes of activations all layers keep for BPTT, as an expression of the dims."""
        total = Dim.const(0)
        for r in self.layers:
            total = total + r.memory
        return total

    def memory_bytes(self, **values: int) -> int | None:
        """The BPTT memory in bytes once every dim has a size (from the bindings and ``values``)."""
        dim = self.memory.substitute({**self.values, **values})
        return dim.value

    def bind(self, **values: int) -> "Trace":
        """A copy of the trace with these dims replaced by sizes in every shape."""
        vals = {**self.values, **values}
        sub = lambda shapes: {k: substitute(v, vals) for k, v in shapes.items()}  # noqa: E731
        layers = [LayerRecord(r.path, r.kind, sub(r.inputs), sub(r.outputs), sub(r.states), dict(r.params),
                              r.param_count, Dim.of(r.memory).substitute(vals), dict(r.config), r.depth)
                  for r in self.layers]
        steps = [StepRecord(s.layer, substitute((s.t,), vals)[0], s.phase, sub(s.tensors))
                 for s in _existing_steps(self.steps, vals)]
        bindings = {n: Binding(b.name, b.role, vals.get(n, b.value), b.where or ("given" if n in values else None),
                               b.declared) for n, b in self.bindings.items()}
        return Trace(self.model, self.model_kind, self.mode, sub(self.inputs), sub(self.outputs), layers, steps,
                     [GradRecord(g.param, g.shape, g.param_shape) for g in self.grads], bindings,
                     substitute(self.labels, vals) if self.labels is not None else None, self.loss, self.dtype,
                     dict(self.options), self.graph, self.cost.bind(vals) if self.cost is not None else None)

    def shape_text(self, shape: Shape) -> str:
        return shape_str(shape)

    def _repr_html_(self) -> str | None:
        """Jupyter's display: the HTML of the function given to :func:`register_html` (the summary
        table of :mod:`shapeviz.render.jupyter`, which the package root names as the "html" provider
        and which registers itself when imported); None without one."""
        if not _HTML:
            hooks.load("html")
        return _HTML[0](self) if _HTML else None


# The renderers sit above the tracer, so the tracer does not import them: Jupyter's HTML for a Trace
# is registered from above (shapeviz.render.jupyter, named in shapeviz/__init__.py: see shapeviz.hooks).
_HTML: list[Callable[[Trace], str]] = []


def register_html(render: Callable[[Trace], str]) -> None:
    """Sets what ``Trace._repr_html_`` returns: ``render(trace)``, an HTML fragment."""
    _HTML[:] = [render]
