"""The symbolic side of the functional API: ``Input``, graph tensors and the nodes calling a layer makes.

Calling a layer on graph tensors records a :class:`Node` instead of computing. The static shape
of every output comes from running the layer's real forward on a copy of the layer, twice, on
tiny zero inputs whose free axes take two different sizes: an axis whose size follows them is
free (``None``), the others are what the layer makes of the known sizes. No shape rule is
written twice, and the user's layer is not built until the model is (with the model's seed and
dtype).
"""

from __future__ import annotations

import copy
import itertools
import re
import weakref
from typing import Any

import numpy as np

from shapeviz.errors import ConfigError, ShapeVizError

_counter = itertools.count(1)
_DRY_SIZES = (2, 3)  # what a free axis is in the two dry runs
_AXIS = re.compile(r"^\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*))\s*$")
BATCH_NAMES = ("B", "batch", "N", "batch_size")


class GraphTensor:
    """A symbolic tensor of a functional graph: which node made it, which of its outputs it is.

    Attributes:
        node: the :class:`Node` that produced it (an :class:`InputNode` for an ``Input``).
        index: which output of that node (0 unless the layer returns several, e.g. return_state).
        shape: the static shape, an int per known axis and None per free one, e.g. ``(None, None, 16)``.
        dtype: the array dtype it will hold.
        name: ``"source"`` for an input, ``"enc"`` or ``"enc:1"`` for a layer's outputs.
        label: what the output is called (``"y"``, ``"h"``, ``"c"``), for messages.
    """

    def __init__(self, node: "Node | InputNode", index: int, shape: tuple, dtype: Any, name: str,
                 label: str = "y") -> None:
        self.node = node
        self.index = index
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.label = label

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def describe(self) -> str:
        """Where this tensor comes from, as messages say it: ``'enc' output 1 (h)`` or ``input 'source'``."""
        if isinstance(self.node, InputNode):
            return f"input {self.name!r}"
        return f"{self.node.layer.name!r} output {self.index} ({self.label})"

    def __repr__(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"<GraphTensor {self.name!r} shape=({dims}) from {self.describe()}>"


class InputNode:
    """Where an ``Input`` comes from: the model's caller. ``declaration`` is what the user wrote."""

    def __init__(self, name: str, declaration: Any, axis_names: tuple, batch_axis: int) -> None:
        self.name = name
        self.declaration = declaration
        self.axis_names = axis_names
        self.batch_axis = batch_axis


def _parse_axes(shape: Any, name: str) -> tuple[tuple, tuple]:
    """Sizes (int or None) and names (str or None) of a shape string ``"(B, T, 5)"`` or a tuple."""
    if isinstance(shape, str):
        text = shape.strip()
        if text[:1] in "([" and text[-1:] in ")]":
            text = text[1:-1]
        parts = [p for p in re.split(r"[,\s]+", text.replace("=", " = ").replace(" = ", "=")) if p] if text else []
    elif isinstance(shape, (tuple, list)):
        parts = list(shape)
    else:
        raise ConfigError(f"Input {name!r}: shape must be a string such as \"(B, T, 5)\" or a tuple such as "
                          f"(None, None, 5), got {type(shape).__name__} {shape!r}")
    sizes: list = []
    names: list = []
    for p in parts:
        if p is None:
            sizes.append(None)
            names.append(None)
        elif isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            if p <= 0:
                raise ConfigError(f"Input {name!r}: every size must be positive, got {p} in {shape!r}")
            sizes.append(int(p))
            names.append(None)
        elif isinstance(p, str) and _AXIS.match(p):
            m = _AXIS.match(p)
            assert m is not None
            label, number, symbol = m.groups()
            if number is not None and label is None:
                if int(number) <= 0:
                    raise ConfigError(f"Input {name!r}: every size must be positive, got {number} in {shape!r}")
                sizes.append(int(number))
                names.append(None)
            else:
                sizes.append(int(number) if number is not None and int(number) > 0 else None)
                names.append(label or symbol)
        else:
            raise ConfigError(f"Input {name!r}: cannot read the axis {p!r} of {shape!r}; write the shape like "
                              "\"(B, T, 5)\" (names for free axes, numbers for known sizes) or (None, None, 5)")
    if not sizes:
        raise ConfigError(f"Input {name!r}: the shape {shape!r} has no axes; give at least the batch axis")
    return tuple(sizes), tuple(names)


def Input(shape: Any, name: str | None = None, dtype: Any = None) -> GraphTensor:
    """A model input, Keras's ``keras.Input`` with the batch axis written out.

    Args:
        shape: ``"(B, T, 5)"`` (names for free axes, numbers for known sizes; the names are what
            ``trace`` shows unless it is given other declarations) or a tuple such as
            ``(None, None, 5)``. The batch axis is the one named ``B`` (or ``batch``), else the first.
        name: the input's name (keys of dict inputs, messages); ``input_<n>`` by default.
        dtype: ``"int64"`` for token ids; None for the model's float dtype.

    Returns:
        A :class:`GraphTensor` to call layers on.
    """
    name = name or f"input_{next(_counter)}"
    sizes, names = _parse_axes(shape, name)
    batch_axis = next((i for i, n in enumerate(names) if n in BATCH_NAMES), 0)
    node = InputNode(name, shape, names, batch_axis)
    return GraphTensor(node, 0, sizes, dtype if dtype is not None else "float32", name, label="input")


class Node:
    """One call of a layer in a graph.

    Attributes:
        layer: the layer called.
        inputs: the tensors read by the call: the input (or, for a multi-input layer, each item of
            its list) then the initial states, in order. ``n_x`` of them are the inputs proper.
        n_x: how many of ``inputs`` are data inputs (the rest are ``initial_state``).
        listed: the layer took a list (multi-input layers), not one tensor.
        training: a fixed ``training=`` flag given at the call, or None to follow the model.
        outputs: the tensors the call made, one per output.
        container: ``None`` for one output, else ``tuple`` or ``list`` as the layer returns them.
        call_index: 0 for the layer's first call, 1 for its second (shared layers), ...
    """

    def __init__(self, layer: Any, inputs: list, n_x: int, listed: bool, training: bool | None,
                 call_index: int) -> None:
        self.layer = layer
        self.inputs = inputs
        self.n_x = n_x
        self.listed = listed
        self.training = training
        self.call_index = call_index
        self.outputs: list[GraphTensor] = []
        self.container: type | None = None

    @property
    def name(self) -> str:
        return self.layer.name if self.call_index == 0 else f"{self.layer.name}@{self.call_index}"

    def edge(self, i: int) -> str:
        """``'dec' initial_state 0 from 'enc' output 1 (h)``: input ``i`` of this node and where it comes from."""
        what = f"input {i}" if i < self.n_x else f"initial_state {i - self.n_x}"
        return f"{self.name!r} {what} from {self.inputs[i].describe()}"

    def edges(self, message: str = "") -> str:
        """The edges an error ``message`` is about: the initial state it names, else the data inputs
        (a layer's own check of ``x``), else every edge."""
        m = re.search(r"initial state '(\w+)'", message)
        names = list(getattr(self.layer, "state_names", ()))
        if m and m.group(1) in names and len(self.inputs) > self.n_x:
            which = [self.n_x + names.index(m.group(1))]
        elif len(self.inputs) > self.n_x and "initial state" not in message:
            which = list(range(self.n_x))
        else:
            which = list(range(len(self.inputs)))
        return "; ".join(self.edge(i) for i in which if i < len(self.inputs))

    def __repr__(self) -> str:
        return f"<Node {self.name!r} reads {[t.name for t in self.inputs]}>"


def is_graph_call(x: Any, kwargs: dict) -> bool:
    """Whether a layer call builds a graph: its input, an item of its input list, or an initial state
    is a graph tensor."""
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    state = kwargs.get("initial_state")
    items += list(state) if isinstance(state, (list, tuple)) else [state]
    return any(isinstance(v, GraphTensor) for v in items)


def _output_labels(layer: Any, n: int) -> list[str]:
    states = list(getattr(layer, "state_names", ()))
    if hasattr(layer, "forward_layer"):  # Bidirectional: each direction's states
        states = [f"{d}_{s}" for d in ("forward", "backward")
                  for s in getattr(getattr(layer, f"{d}_layer"), "state_names", ())]
    ys = ["y_forward", "y_backward"] if getattr(layer, "merge_mode", "x") is None else ["y"]
    labels = ys + states if getattr(layer, "return_state", False) else ys
    return (labels + [f"y{i}" for i in range(len(labels), n)])[:n]


def _dry(t: GraphTensor, size: int, dtype: Any) -> np.ndarray:
    shape = tuple(size if d is None else d for d in t.shape)
    dt = t.dtype if t.dtype.kind in "iub" else np.dtype(dtype)
    return np.zeros(shape, dtype=dt)


def with_edge(error: ShapeVizError, where: str) -> ShapeVizError:
    """The same error, its message saying which node and edge it came through."""
    from shapeviz.errors import ShapeError
    if isinstance(error, ShapeError):
        fields = {k: getattr(error, k) for k in ("layer", "timestep", "phase", "op", "operands", "dim",
                                                  "expected", "actual", "provenance", "hint")}
        return ShapeError(f"{error.problem}\n  through: {where}", **fields)  # type: ignore[arg-type]
    try:
        return type(error)(f"{error}\n  through: {where}")
    except TypeError:  # an error type with another signature: keep it as it is
        return error


def call_layer(layer: Any, x: Any, kwargs: dict) -> Any:
    """Record a node for ``layer(x, **kwargs)`` on graph tensors and return its output tensor(s)."""
    kwargs = dict(kwargs)
    state = kwargs.pop("initial_state", None)
    training = kwargs.pop("training", None)
    if kwargs:
        raise ConfigError(f"layer {layer.name!r} ({layer.kind}) called on graph tensors with unsupported "
                          f"argument(s) {sorted(kwargs)}; a graph call takes the input, initial_state= and training=")
    multi = getattr(layer, "multi_input", False)
    listed = isinstance(x, (list, tuple))
    if listed and not multi:
        raise ConfigError(f"layer {layer.name!r} ({layer.kind}) reads one tensor, got a list of {len(x)}; "
                          "merge them first (Concatenate, Add, ...)")
    if multi and not listed:
        raise ConfigError(f"layer {layer.name!r} ({layer.kind}) merges several tensors: call it on a list, "
                          f"e.g. {type(layer).__name__}(...)([a, b])")
    xs = list(x) if listed else [x]
    states = [] if state is None else list(state) if isinstance(state, (list, tuple)) else [state]
    for what, items in (("input", xs), ("initial_state", states)):
        for i, t in enumerate(items):
            if not isinstance(t, GraphTensor):
                raise ConfigError(f"layer {layer.name!r} ({layer.kind}): {what} {i} is {type(t).__name__}; in a "
                                  "graph every input and initial state is a tensor from Input(...) or a layer call")
    calls = getattr(layer, "_graph_calls", 0)
    node = Node(layer, xs + states, len(xs), listed, training, calls)
    outs = [_dry_forward(node, size) for size in _DRY_SIZES]
    first = outs[0]
    container = type(first) if isinstance(first, (tuple, list)) else None
    items_a = list(first) if container else [first]
    items_b = list(outs[1]) if container else [outs[1]]
    labels = _output_labels(layer, len(items_a))
    for i, (a, b) in enumerate(zip(items_a, items_b)):
        shape = tuple(int(da) if da == db else None for da, db in zip(a.shape, b.shape))
        name = node.name if len(items_a) == 1 else f"{node.name}:{i}"
        node.outputs.append(GraphTensor(node, i, shape, a.dtype, name, labels[i]))
    node.container = container
    layer._graph_calls = calls + 1
    if container is None:
        return node.outputs[0]
    return container(node.outputs)


_probes: "weakref.WeakKeyDictionary[Any, dict[int, Any]]" = weakref.WeakKeyDictionary()


def _dry_forward(node: Node, size: int) -> Any:
    """The layer's output on zeros of the inputs' static shapes (free axes ``size``), run on a copy
    of the layer so that the user's layer is built later, by the model, with its seed and dtype.
    One copy per layer and dry size serves all its calls: a shared layer called on inputs its first
    call's weights do not fit fails at the call that does not fit."""
    layer = node.layer
    per_size = _probes.setdefault(layer, {})
    probe = per_size.get(size)
    if probe is None:
        probe = per_size[size] = copy.deepcopy(layer)
    dtype = layer.dtype if layer.dtype is not None else np.dtype("float32")
    arrays = [_dry(t, size, dtype) for t in node.inputs]
    xs, states = arrays[:node.n_x], arrays[node.n_x:]
    kwargs: dict[str, Any] = {}
    if states:
        kwargs["initial_state"] = states
    try:
        out, _ = probe.forward(xs if node.listed else xs[0], **kwargs)
    except ShapeVizError as error:
        raise with_edge(error, node.edges(str(error))) from None
    except (ValueError, IndexError) as error:  # numpy's own complaint (broadcasting, an index out of range)
        from shapeviz.errors import InputError
        shapes = ", ".join("(" + ", ".join("?" if d is None else str(d) for d in t.shape) + ")" for t in node.inputs)
        raise InputError(f"layer {layer.name!r} ({layer.kind}) cannot run on inputs of shapes {shapes} "
                         f"(? = free axis): {error}\n  through: {node.edges(str(error))}") from None
    return out
