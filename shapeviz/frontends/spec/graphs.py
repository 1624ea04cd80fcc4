"""A graph model in a spec: ``[[inputs]]``, ``[[nodes]]`` that read tensors by name, and ``outputs``.

A tensor is named ``node`` (its output 0), ``node.NAME`` (an output by what it is: ``y`` or
``seq``, ``h``, ``c`` of a ``return_state`` layer, ``forward_h``... of a bidirectional one) or
``node.INDEX``; an input is named by its name. The nodes may be written in any order: they are
called on graph tensors (``shapeviz.Input`` and ``Layer.__call__``, the Python API itself) in the
order their reads allow, after the references, cycles, shared layers and unused nodes are checked
with the key and line that are wrong.
"""

from __future__ import annotations

from typing import Any

from shapeviz.core.functional import Functional
from shapeviz.core.graph import GraphTensor, Input
from shapeviz.core.layer import Layer
from shapeviz.errors import ShapeVizError
from shapeviz.frontends.spec.builder import Builder, closest, describe, one_of
from shapeviz.frontends.spec.layers import build_layer
from shapeviz.frontends.spec.lines import KeyPath
from shapeviz.frontends.spec.schema import ARRAY, MULTI_INPUT_KINDS, STRING

INPUT_KEYS = ("name", "shape", "dtype")
INPUT_DTYPES = ("float32", "float64", "int32", "int64")
NODE_KEYS = ("name", "layer", "shares", "inputs", "initial_state")
SEQUENCE_ALIASES = ("seq",)  # another word for an output labelled y


class _Node:
    """One ``[[nodes]]`` table as read: its name, its layer (or the node it shares one with), its reads."""

    def __init__(self, index: int, name: str, table: dict) -> None:
        self.index = index
        self.name = name
        self.table = table
        self.layer: Layer | None = None
        self.shares: str | None = None
        self.reads: list[tuple[str, KeyPath]] = []  # (reference, where it is written): inputs then states
        self.n_x = 0
        self.outputs: Any = None  # the graph tensor(s) the call made

    @property
    def path(self) -> KeyPath:
        return ("nodes", self.index)


def _name(b: Builder, value: Any, path: KeyPath, what: str) -> str:
    name = b.typed(value, path, STRING)
    if not name:
        raise b.error(path, "expected a non-empty string, got string ''")
    if "." in name:
        raise b.error(path, f"{what} name {name!r} cannot contain '.': a dot separates a node from one of its "
                            "outputs, as in 'enc.h'")
    return name


def read_graph_inputs(b: Builder, value: Any) -> list[tuple[str, str, str | None]]:
    """``[[inputs]]``: per input its name, shape and dtype (None: the model's)."""
    path: KeyPath = ("inputs",)
    b.typed(value, path, ARRAY)
    if not value:
        raise b.error(path, "a graph model needs at least one input, got an empty array; e.g. "
                            '[[inputs]] name = "source", shape = "(B, T, 8)"')
    out: list[tuple[str, str, str | None]] = []
    seen: dict[str, KeyPath] = {}
    for i, item in enumerate(value):
        here = path + (i,)
        b.table(item, here, INPUT_KEYS, "an input", ("name", "shape"))
        name = _name(b, item["name"], here + ("name",), "an input")
        if name in seen:
            raise b.error(here + ("name",), f"the input name {name!r} is already used by {b.where(seen[name])}; "
                                            "names must be unique")
        seen[name] = here + ("name",)
        shape = b.shape(item["shape"], here + ("shape",))
        dtype = None
        if "dtype" in item:
            dtype = b.typed(item["dtype"], here + ("dtype",), STRING)
            if dtype not in INPUT_DTYPES:
                raise b.error(here + ("dtype",), f"expected one of: {one_of(INPUT_DTYPES)} (an integer dtype for "
                                                 f"token ids), got {describe(dtype)}{closest(dtype, INPUT_DTYPES)}")
        out.append((name, shape, dtype))
    return out


def _references(b: Builder, value: Any, path: KeyPath, what: str) -> list[tuple[str, KeyPath]]:
    """``inputs`` or ``initial_state``: a tensor reference or an array of them."""
    if isinstance(value, str):
        return [(value, path)]
    b.typed(value, path, ARRAY)
    refs = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise b.error(path + (i,), f"expected a tensor reference such as \"source\" or \"enc.h\" in {what}, "
                                       f"got {describe(item)}")
        refs.append((item, path + (i,)))
    return refs


def _read_nodes(b: Builder, value: Any, inputs: set[str]) -> list[_Node]:
    """Every ``[[nodes]]`` table, its layer built (in file order, so automatic names count in file order)."""
    path: KeyPath = ("nodes",)
    b.typed(value, path, ARRAY)
    if not value:
        raise b.error(path, "a graph model needs at least one node, got an empty array")
    nodes: list[_Node] = []
    by_name: dict[str, _Node] = {}
    for i, item in enumerate(value):
        here = path + (i,)
        b.table(item, here, NODE_KEYS, "a node", ("inputs",))
        if ("layer" in item) == ("shares" in item):
            raise b.error(here, "a node needs either 'layer' (a layer table, e.g. {kind = \"lstm\", units = 64}) or "
                                "'shares' (the name of the node whose layer, and weights, it calls again)"
                                + (", not both" if "layer" in item else f"; got only: {one_of(list(item))}"))
        if "shares" in item and "name" not in item:
            raise b.error(here, "a node with 'shares' needs a 'name' of its own (the layer's later calls are "
                                "traced as 'LAYER@1', 'LAYER@2'...; the node's name is how other nodes read it)")
        name = _name(b, item["name"], here + ("name",), "a node") if "name" in item else None
        if name is not None and (name in by_name or name in inputs):
            first = b.where(by_name[name].path + ("name",)) if name in by_name else "an input"
            raise b.error(here + ("name",), f"the name {name!r} is already used by {first}; "
                                            "node and input names must be unique")
        node = _Node(i, name or "", item)
        if "layer" in item:
            layer_table = item["layer"]
            if isinstance(layer_table, dict) and "name" in layer_table:
                raise b.error(here + ("layer", "name"), "a node's layer takes its name from the node: write "
                                                        f"name = ... in nodes[{i}], not in its layer")
            node.layer = build_layer(b, layer_table, here + ("layer",), name=name, name_path=here + ("name",),
                                     graph=True)
            node.name = node.layer.name
        else:
            node.shares = b.typed(item["shares"], here + ("shares",), STRING)
        node.reads = _references(b, item["inputs"], here + ("inputs",), "inputs")
        if not node.reads:
            raise b.error(here + ("inputs",), "a node reads at least one tensor, got an empty array")
        node.n_x = len(node.reads)
        if "initial_state" in item:
            node.reads += _references(b, item["initial_state"], here + ("initial_state",), "initial_state")
        if node.name:
            by_name[node.name] = node
        nodes.append(node)
    for node in nodes:
        if node.shares is not None:
            node.layer = _shared_owner(b, node, by_name).layer
    return nodes


def _shared_owner(b: Builder, node: _Node, by_name: dict[str, _Node]) -> _Node:
    """The node whose layer a ``shares`` node calls again (following a share of a share)."""
    current = node
    seen = {node.name}
    while True:
        path = current.path + ("shares",)
        target = by_name.get(current.shares or "")
        if target is None:
            owners = [n.name for n in by_name.values() if n.shares is None]
            raise b.error(path, f"no node is named {current.shares!r}{closest(current.shares, owners)}; 'shares' "
                                f"names a node with a layer, one of: {one_of(owners) or 'none'}")
        if target.shares is None:
            return target
        if target.name in seen:
            raise b.error(path, f"'shares' goes round in a circle through {target.name!r}; name the node whose "
                                "'layer' is shared")
        seen.add(target.name)
        current = target


def _split(ref: str) -> tuple[str, str | None]:
    base, dot, output = ref.partition(".")
    return base, (output if dot else None)


def _check_reads(b: Builder, nodes: list[_Node], inputs: list[str], outputs: list[tuple[str, KeyPath]]) -> None:
    """Every reference names an input or a node (with a close name suggested when not)."""
    known = [*inputs, *(n.name for n in nodes)]
    for ref, where in [r for n in nodes for r in n.reads] + outputs:
        base, _ = _split(ref)
        if base not in known:
            raise b.error(where, f"no input or node is named {base!r}{closest(base, known)}; the graph has the "
                                 f"inputs {one_of(inputs)} and the nodes {one_of([n.name for n in nodes])}")
        if base in inputs and _split(ref)[1] is not None:
            raise b.error(where, f"{base!r} is an input, which is one tensor: refer to it as {base!r}, got {ref!r}")


def _order(b: Builder, nodes: list[_Node]) -> list[_Node]:
    """The nodes, each after those it reads; a cycle is an error that names it, at its first node."""
    by_name = {n.name: n for n in nodes}
    done: set[str] = set()
    order: list[_Node] = []
    for start in nodes:
        if start.name in done:
            continue
        # an iterative depth-first walk: a spec may chain many nodes
        stack: list[tuple[_Node, int]] = [(start, 0)]
        on_path = [start.name]
        while stack:
            node, k = stack[-1]
            if k < len(node.reads):
                stack[-1] = (node, k + 1)
                base = _split(node.reads[k][0])[0]
                dep = by_name.get(base)
                if dep is None or dep.name in done:
                    continue
                if dep.name in on_path:
                    cycle = on_path[on_path.index(dep.name):] + [dep.name]
                    first = by_name[cycle[0]]
                    where = next(w for r, w in first.reads if _split(r)[0] == cycle[1]) if len(cycle) > 2 \
                        else node.reads[k][1]
                    if len(cycle) == 2:
                        raise b.error(where, f"node {dep.name!r} reads its own output {node.reads[k][0]!r}: a "
                                             "graph has no cycles (a loop over time is a recurrent layer's job)")
                    raise b.error(where, "the nodes form a cycle: " + " -> ".join(repr(n) for n in cycle)
                                         + " (each reads the next one's output); a graph has no cycles")
                stack.append((dep, 0))
                on_path.append(dep.name)
            else:
                stack.pop()
                on_path.pop()
                done.add(node.name)
                order.append(node)
    return order


def _check_used(b: Builder, nodes: list[_Node], inputs: list[str], outputs: list[tuple[str, KeyPath]]) -> None:
    """Every node and input leads to an output: one that nothing reads and that is not an output is
    a dangling branch (Keras would drop it silently; here it is probably a mistake)."""
    read = {_split(r)[0] for n in nodes for r, _ in n.reads} | {_split(r)[0] for r, _ in outputs}
    sinks = [n.name for n in nodes if n.name not in read]
    for i, name in enumerate(inputs):
        if name not in read:
            raise b.error(("inputs", i, "name"), f"the input {name!r} is never used: no node reads it and it is "
                                                 "not in `outputs`; drop it or read it in a node's inputs")
    for node in nodes:
        if node.name not in read:
            raise b.error(node.path, f"node {node.name!r} is never used: no node reads it and it is not in "
                                     f"`outputs` (which lists {one_of([r for r, _ in outputs])}); add it to "
                                     f"`outputs` or remove it" + (f" (nodes nobody reads: {one_of(sinks)})"
                                                                  if len(sinks) > 1 else ""))


def _tensor(b: Builder, ref: str, where: KeyPath, tensors: dict[str, Any], nodes: dict[str, _Node]) -> GraphTensor:
    """The graph tensor ``ref`` names; a wrong output name is an error listing the node's outputs."""
    base, output = _split(ref)
    made = tensors[base]
    items = list(made) if isinstance(made, (tuple, list)) else [made]
    if output is None:
        return items[0]
    labels = [t.label for t in items]
    node = nodes.get(base)
    what = f"node {base!r} ({node.layer.kind})" if node is not None and node.layer is not None else repr(base)
    listing = ", ".join(f"{i} ({label})" for i, label in enumerate(labels))
    if output.lstrip("-").isdigit():
        i = int(output)
        if not 0 <= i < len(items):
            raise b.error(where, f"{what} has {len(items)} output{'s' if len(items) > 1 else ''}: {listing}; got "
                                 f"{ref!r}, whose index {i} is out of range")
        return items[i]
    if output in SEQUENCE_ALIASES and "y" in labels:
        output = "y"
    if output in labels:
        return items[labels.index(output)]
    states = list(getattr(node.layer, "state_names", ())) if node is not None and node.layer is not None else []
    hint = ""
    if len(items) == 1 and (output in states or output.split("_")[-1] in ("h", "c")):
        hint = "; a recurrent layer's final states are outputs only with return_state = true"
    names = ", ".join(labels)
    raise b.error(where, f"{what} has no output {output!r}{closest(output, labels)}; its outputs are {names} "
                         f"(by name or index: {listing}){hint}")


def build_graph(b: Builder, data: dict, options: dict) -> tuple[Functional, dict[str, str]]:
    """The graph model of ``data`` (its ``inputs``, ``nodes`` and ``outputs``), and the input declarations
    by name for the tracer."""
    declared = read_graph_inputs(b, data["inputs"])
    input_names = [name for name, _, _ in declared]
    nodes = _read_nodes(b, data["nodes"], set(input_names))
    outputs = _references(b, data["outputs"], ("outputs",), "outputs")
    if not outputs:
        raise b.error(("outputs",), "a graph model needs at least one output, got an empty array")
    _check_reads(b, nodes, input_names, outputs)
    order = _order(b, nodes)
    _check_used(b, nodes, input_names, outputs)
    by_name = {n.name: n for n in nodes}
    tensors: dict[str, Any] = {}
    ins = []
    for name, shape, dtype in declared:
        ins.append(b.construct(lambda: Input(shape, name=name, dtype=dtype), ("inputs", input_names.index(name)),
                               {"shape": shape, "dtype": dtype}))
        tensors[name] = ins[-1]
    for node in order:
        tensors[node.name] = node.outputs = _call(b, node, tensors, by_name)
    outs = [_tensor(b, ref, where, tensors, by_name) for ref, where in outputs]
    for node in nodes:
        if node.shares is not None:  # [expect] may name a shared layer's later calls as the tracer does
            layer = node.layer
            for k in range(1, getattr(layer, "_graph_calls", 1)):
                b.names.setdefault(f"{layer.name}@{k}", node.path)
    ins_arg: Any = ins[0] if len(ins) == 1 else ins
    outs_arg: Any = outs[0] if len(outs) == 1 else outs
    model = b.construct(lambda: Functional(ins_arg, outs_arg, **options), ("model",), {}, scope=())
    return model, {name: shape for name, shape, _ in declared}


def _call(b: Builder, node: _Node, tensors: dict[str, Any], by_name: dict[str, _Node]) -> Any:
    """Call the node's layer on the tensors it reads; an error says which node and which read."""
    layer = node.layer
    assert layer is not None
    where = node.path + ("inputs",)
    xs = [_tensor(b, ref, at, tensors, by_name) for ref, at in node.reads[:node.n_x]]
    states = [_tensor(b, ref, at, tensors, by_name) for ref, at in node.reads[node.n_x:]]
    multi = layer.kind in MULTI_INPUT_KINDS
    if not multi and len(xs) != 1:
        raise b.error(where, f"node {node.name!r} ({layer.kind}) reads one tensor, got {len(xs)} "
                             f"({one_of([r for r, _ in node.reads[:node.n_x]])}); merge them first in a node "
                             f"of kind {one_of(MULTI_INPUT_KINDS)}")
    if states and not hasattr(layer, "backward_with_state"):
        raise b.error(node.path + ("initial_state",), f"node {node.name!r} ({layer.kind}) takes no initial_state: "
                                                      "only a recurrent layer (simple_rnn, lstm, gru, bidirectional) "
                                                      "starts from given states")
    kwargs = {"initial_state": states} if states else {}
    try:
        return layer(xs if multi else xs[0], **kwargs)
    except ShapeVizError as error:
        text = str(error)
        if "initial_state" in text or "initial state" in text:
            where = node.path + ("initial_state",) if states else where
        raise b.error(where, f"node {node.name!r} ({layer.kind}) cannot read what it is given: {text}") from None
