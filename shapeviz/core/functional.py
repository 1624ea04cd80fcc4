"""Functional: a model that is any directed acyclic graph of layer calls (Keras's functional API).

Past 400 lines for one reason: forward, backward, the masks, the output layouts and truncated
BPTT's states are one walk over the same nodes; the graph itself (Input, tensors, nodes) lives in
:mod:`shapeviz.core.graph`.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.inputs import InputSpec
from shapeviz.core.graph import GraphTensor, InputNode, Node, with_edge
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import ConfigError, InputError, ShapeVizError


class FunctionalCache(NamedTuple):
    caches: list  # per node, in run order, the layer's cache
    masks: dict  # id(tensor) -> the (B, T) mask it carries, or None
    batch: Any  # the inputs as given (for shapes of zero gradients)


def _is_recurrent(layer: Layer) -> bool:
    return hasattr(layer, "backward_with_state")


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Functional(Model):
    """A graph of layer calls from ``Input`` tensors to output tensors; made by
    ``Model(inputs=..., outputs=...)``.

    Layers called twice share their weights (their gradients add up over the calls); a tensor
    read by several layers gets the sum of their gradients; a recurrent layer's ``initial_state``
    may come from another layer's ``return_state`` outputs.

    Args:
        inputs: the ``Input`` tensor(s) the caller feeds, in order.
        outputs: the tensor(s) the model returns, in order.
        dtype: float32 (default) or float64, for every layer.
        seed: seeds the weight initialisation.
    """

    kind = "functional"

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, dtype: Any = "float32",
                 seed: int | None = None) -> None:
        super().__init__(name, dtype, seed)
        owner = f"Functional {self.name!r}"
        self.single_input = not isinstance(inputs, (list, tuple))
        self.single_output = not isinstance(outputs, (list, tuple))
        self.input_tensors: list[GraphTensor] = _as_list(inputs)
        self.output_tensors: list[GraphTensor] = _as_list(outputs)
        for what, items in (("inputs", self.input_tensors), ("outputs", self.output_tensors)):
            if not items:
                raise ConfigError(f"{owner}: needs at least one tensor in `{what}`")
            for i, t in enumerate(items):
                if not isinstance(t, GraphTensor):
                    raise ConfigError(f"{owner}: {what}[{i}] is {type(t).__name__}, not a tensor from Input(...) or "
                                      "a layer call")
        for i, t in enumerate(self.input_tensors):
            if not isinstance(t.node, InputNode):
                raise ConfigError(f"{owner}: inputs[{i}] ({t.describe()}) is a layer's output, not an Input(...)")
        names = [t.name for t in self.input_tensors]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ConfigError(f"{owner}: two inputs are named {dup!r}; give each Input a distinct name")
        self.nodes = self._topological(owner)
        self._layers = list({id(n.layer): n.layer for n in self.nodes}.values())
        self._check_names(owner)
        self._index()
        for t in self.input_tensors:
            if id(t) not in self._consumers and t not in self.output_tensors:
                raise ConfigError(f"{owner}: input {t.name!r} is never used on the way to the outputs "
                                  f"{[o.name for o in self.output_tensors]}; drop it from `inputs` or connect it")
        if self._can_build():
            self.build()

    def __setstate__(self, state: dict) -> None:
        """A copy (``copy.deepcopy``, pickle) has new nodes and tensors: index them anew."""
        self.__dict__.update(state)
        self._index()

    # -- structure ----------------------------------------------------------------
    def _index(self) -> None:
        """The tables keyed by ``id`` of a tensor or node: who reads each tensor, each node's layout."""
        self._consumers: dict[int, list[tuple[Node, int]]] = {}
        for node in self.nodes:
            for i, t in enumerate(node.inputs):
                self._consumers.setdefault(id(t), []).append((node, i))
        self._layouts = {id(n): self._time_major_at(n) for n in self.nodes}  # read by every forward

    def __deepcopy__(self, memo: dict) -> "Functional":
        """A copy with its own graph (a float64 twin, a model traced on a copy): the tables keyed by
        ``id`` are rebuilt for the copied tensors and nodes, whose ids differ."""
        new = object.__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            setattr(new, key, copy.deepcopy(value, memo))
        new._index()
        return new

    def _topological(self, owner: str) -> list[Node]:
        """The nodes the outputs depend on, each after the nodes it reads; an output that does not
        come from the inputs (an Input not listed) is an error naming it."""
        order: list[Node] = []
        state: dict[int, int] = {}  # id(node) -> 1 visiting, 2 done
        given = {id(t) for t in self.input_tensors}

        def visit(t: GraphTensor, via: str) -> None:
            if id(t) in given:
                return
            if isinstance(t.node, InputNode):
                raise ConfigError(f"{owner}: the outputs are not reachable from the inputs "
                                  f"{[i.name for i in self.input_tensors]} alone: {via}, an input not in "
                                  f"`inputs`; add {t.name!r} there")
            node = t.node
            if state.get(id(node)) == 2:
                return
            state[id(node)] = 1
            for i, src in enumerate(node.inputs):
                visit(src, node.edge(i))
            state[id(node)] = 2
            order.append(node)

        for i, t in enumerate(self.output_tensors):
            visit(t, f"output {i} ({t.describe()})")
        return order

    def _check_names(self, owner: str) -> None:
        seen: dict[str, Layer] = {}
        for layer in self.layers:
            other = seen.setdefault(layer.name, layer)
            if other is not layer:
                raise ConfigError(f"{owner}: two different layers are named {layer.name!r}; layer names must be unique")
        inputs = {t.name for t in self.input_tensors}
        clash = next((layer.name for layer in self.layers if layer.name in inputs), None)
        if clash is not None:
            raise ConfigError(f"{owner}: {clash!r} names both an input and a layer; names must be unique")

    def call_number(self, node: Node) -> int:
        """Which call of its layer ``node`` is in this model (0 for the first): a layer may have been
        called in other graphs too, which its nodes' own ``call_index`` counts."""
        same = [n for n in self.nodes if n.layer is node.layer]
        return same.index(node)

    @property
    def layers(self) -> list[Layer]:
        """Every layer once, in the order of its first call."""
        return self._layers

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.input_tensors]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.output_tensors]

    def _describe_inputs(self) -> list[InputSpec]:
        """One :class:`InputSpec` per ``Input``, read off its declaration (the batch axis it names, the
        time axis beside it, the feature size last) and off the layers that read it (an Embedding's
        vocabulary, a mask made by Masking or ``mask_zero``)."""
        specs = []
        for t in self.input_tensors:
            readers = [node.layer for node, _ in self._consumers.get(id(t), [])]
            masked = any(r.kind == "masking" or getattr(r, "mask_zero", False) for r in readers)
            ids = t.dtype.kind in "iub"
            rank = len(t.shape)
            batch = t.node.batch_axis
            names = t.node.axis_names
            others = [a for a in range(rank) if a != batch and (ids or a != rank - 1)]
            time_axis = others[0] if others else None
            time_dim = (names[time_axis] if time_axis is not None and names[time_axis] else "T")
            if ids and rank == 1 and any(r.kind == "pack_sequence" for r in readers):
                # a packing's lengths: they measure the time axis of the first sequence input
                seq = next((s for s in specs if s.time_axis is not None), None)
                specs.append(InputSpec(t.name, 1, 0, None, kind="lengths", time_dim=seq.time_dim if seq else "T"))
            elif ids:
                vocab = next((int(r.input_dim) for r in readers if r.kind == "embedding"), None)
                specs.append(InputSpec(t.name, rank, batch, time_axis, vocabulary=vocab, kind="ids", masked=masked,
                                       time_dim=time_dim))
            else:
                specs.append(InputSpec(t.name, rank, batch, time_axis, features=t.shape[-1], masked=masked,
                                       time_dim=time_dim))
        return specs

    def input_dtypes(self) -> list[np.dtype]:
        """Per input: int64 for ids (an Input declared with an int dtype), else the model's dtype."""
        return [t.dtype if t.dtype.kind in "iub" else self.dtype for t in self.input_tensors]

    def input_dtype(self) -> np.dtype:
        return self.input_dtypes()[0]

    def producer(self, t: GraphTensor) -> Node | None:
        return t.node if isinstance(t.node, Node) else None

    @property
    def mode(self) -> str:
        """Read off the graph: is an input a sequence, is an output, and over which time axis.

        A tensor's time axis comes from an input sequence, or is new where a RepeatVector makes a
        sequence out of vectors. An output over a time axis no input has, or a state handed from one
        recurrent layer to another that reads another time axis, makes it many-to-many."""
        source: dict[int, Any] = {}
        for t in self.input_tensors:
            seq = t.ndim >= 3 or (t.ndim == 2 and t.dtype.kind in "iu")
            source[id(t)] = id(t) if seq else None
        handover = False
        for node in self.nodes:
            reads = [source.get(id(t)) for t in node.inputs[:node.n_x]]
            first = next((s for s in reads if s is not None), None)
            for t in node.inputs[node.n_x:]:
                src = self.producer(t)
                while src is not None and not _is_recurrent(src.layer) and src.inputs:
                    src = self.producer(src.inputs[0])  # a state taken apart or stacked (torch's h_n[k])
                if src is not None and _is_recurrent(src.layer) and source.get(id(src.inputs[0])) != first:
                    handover = True
            for out in node.outputs:
                if out.ndim < 3 or out.label not in ("y", "y_forward", "y_backward"):
                    source[id(out)] = None
                elif node.layer.kind == "repeat_vector" or first is None:
                    source[id(out)] = id(out)  # a new time axis
                else:
                    source[id(out)] = first
        inputs = {source[id(t)] for t in self.input_tensors} - {None}
        outputs = {source.get(id(t)) for t in self.output_tensors} - {None}
        if not inputs:
            return "one-to-many" if outputs else "one-to-one"
        if not outputs:
            return "many-to-one"
        if handover or not outputs <= inputs:
            return "many-to-many"
        return "synced many-to-many"

    # -- building -----------------------------------------------------------------
    def _can_build(self) -> bool:
        """Every input's feature sizes are known (only batch and time free): weights can be sized."""
        for t in self.input_tensors:
            ids = t.dtype.kind in "iu"
            if not ids and t.shape[-1] is None:
                return False
        return True

    def build(self, input_shape: Any = None) -> "Functional":
        """Build every layer by running the real forward once on zeros (free axes of size 1 and 2).

        Args:
            input_shape: per input its shape with None for free axes; by default the Inputs' own."""
        shapes = [t.shape for t in self.input_tensors] if input_shape is None else _as_list(input_shape)
        if input_shape is not None and len(self.input_tensors) == 1 and not isinstance(shapes[0], (tuple, list)):
            shapes = [tuple(input_shape)]
        xs = []
        for t, shape, dtype in zip(self.input_tensors, shapes, self.input_dtypes()):
            axes = tuple(1 if (d is None and i == t.node.batch_axis) else 2 if d is None else int(d)
                         for i, d in enumerate(shape))
            xs.append(np.zeros(axes, dtype=dtype))
        self.forward(xs, training=False)
        return self

    # -- computation --------------------------------------------------------------
    def _feed(self, x: Any, what: str) -> list:
        """The caller's arrays per input: one array, a list/tuple in order, or a dict by input name."""
        n = len(self.input_tensors)
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(self.input_names))
            missing = [k for k in self.input_names if k not in x]
            if unknown or missing:
                raise InputError(f"Functional {self.name!r}: {what} keys must be the input names {self.input_names}"
                                 + (f"; unknown: {unknown}" if unknown else "")
                                 + (f"; missing: {missing}" if missing else ""))
            return [x[k] for k in self.input_names]
        if n == 1:
            return [x[0]] if isinstance(x, (list, tuple)) and len(x) == 1 else [x]
        if not isinstance(x, (list, tuple)):
            raise InputError(f"Functional {self.name!r} takes {n} {what} ({', '.join(self.input_names)}): pass a "
                             f"list or a dict by name, got one {type(x).__name__}")
        if len(x) != n:
            raise InputError(f"Functional {self.name!r} takes {n} {what} ({', '.join(self.input_names)}), "
                             f"got {len(x)}")
        return list(x)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None,
                initial_states: dict[str, Any] | None = None) -> tuple[Any, FunctionalCache]:
        """Run every node in order.

        Args:
            x: one array for a one-input model, else a list in input order or a dict by input name,
                e.g. ``{"source": (B, T_in, F), "target": (B, T_out, V)}``.
            mask: None, or per input (same forms as ``x``) its (B, T) bool mask or None.
            initial_states: per recurrent node name (:attr:`Node.name`) its initial states, for
                nodes whose initial state does not come from the graph (truncated BPTT carries them).

        Returns:
            The output array (a list of them for several outputs) and the cache."""
        xs = self._feed(x, "inputs")
        masks_in = [None] * len(xs) if mask is None else self._feed(mask, "masks")
        values: dict[int, Any] = {}
        masks: dict[int, Any] = {}
        for t, v, m in zip(self.input_tensors, xs, masks_in):
            if t.dtype.kind not in "iub" and getattr(v, "dtype", None) is not None and v.dtype != self.dtype:
                v = v.astype(self.dtype)
            values[id(t)] = v
            masks[id(t)] = m
        caches = []
        for node in self.nodes:
            carried = initial_states.get(node.name) if initial_states else None
            caches.append(self.run_node(node, values, masks, training, rng, carried))
        outs = [values[id(t)] for t in self.output_tensors]
        y = outs[0] if self.single_output else outs
        return y, FunctionalCache(caches, masks, xs)

    def run_node(self, node: Node, values: dict, masks: dict, training: bool, rng: Any,
                 initial_state: Any = None) -> Any:
        """One layer call: read its inputs' values and masks, write its outputs'. Returns the cache.
        ``initial_state`` (a recurrent node's, carried from outside the graph) replaces the graph's."""
        layer = node.layer
        xs = [values[id(t)] for t in node.inputs[:node.n_x]]
        states = [values[id(t)] for t in node.inputs[node.n_x:]] if initial_state is None else list(initial_state)
        in_masks = [masks.get(id(t)) for t in node.inputs[:node.n_x]]
        takes_mask = getattr(layer, "supports_masking", True)
        x = xs if node.listed else xs[0]
        if not takes_mask:
            mask = None
        elif node.listed:
            mask = in_masks if any(m is not None for m in in_masks) else None
        else:
            mask = in_masks[0]
        kwargs: dict[str, Any] = {"mask": mask, "training": training if node.training is None else node.training,
                                  "rng": rng}
        if states:
            kwargs["initial_state"] = states
        try:
            # a merge builds from its list (Merge.ensure_built); a multi-input layer with the base
            # ensure_built reads the first input's shape
            listed_build = node.listed and type(layer).ensure_built is not Layer.ensure_built
            layer.ensure_built(x if listed_build else xs[0], self.init_rng, self.dtype)
            out, cache = layer.forward(x, **kwargs)
            out_mask = self._output_mask(node, x, mask) if takes_mask else None
        except ShapeVizError as error:
            raise with_edge(error, node.edges(str(error))) from None
        items = list(out) if node.container is not None else [out]
        if len(items) != len(node.outputs):
            raise ConfigError(f"layer {layer.name!r} returned {len(items)} outputs, but its graph call made "
                              f"{len(node.outputs)}: was it reconfigured after the call?")
        for i, (t, v) in enumerate(zip(node.outputs, items)):
            values[id(t)] = v
            masks[id(t)] = out_mask if t.label in ("y", "y_forward", "y_backward") else None
        return cache

    def _output_mask(self, node: Node, x: Any, mask: Any) -> Any:
        """The mask of the node's sequence output: the layer's ``output_mask``, and the mask a layer
        makes from its input (Embedding mask_zero, Masking), combined as Sequential does."""
        from shapeviz.core.sequential import Sequential
        layer = node.layer
        if node.listed:
            compute = getattr(layer, "compute_mask", None)  # a mask made from the values (lengths)
            return compute(x) if compute is not None else layer.output_mask(mask)
        time_major = self._layouts.get(id(node))
        if time_major is None:  # a deep copy (the deep checks' float64 twin) has new nodes: key them again
            self._layouts = {id(n): self._time_major_at(n) for n in self.nodes}
            time_major = self._layouts[id(node)]
        return Sequential._next_mask(layer, x, mask, time_major)

    def _time_major_at(self, node: Node) -> bool:
        """A layout-free layer (Masking, Embedding) takes the layout of the recurrent layer reading it."""
        if _is_recurrent(node.layer):
            return bool(getattr(node.layer, "time_major", False))
        pending = [node]
        seen = set()
        while pending:
            n = pending.pop(0)
            for out in n.outputs:
                for reader, _ in self._consumers.get(id(out), []):
                    if _is_recurrent(reader.layer):
                        return bool(getattr(reader.layer, "time_major", False))
                    if id(reader) not in seen:
                        seen.add(id(reader))
                        pending.append(reader)
        # no recurrent layer after it (a Dense head): the layout it is handed, as Sequential's
        pending, seen = [node], set()
        while pending:
            n = pending.pop(0)
            for t in n.inputs[:n.n_x]:
                src = self.producer(t)
                if src is None:
                    continue
                if _is_recurrent(src.layer):
                    return bool(getattr(src.layer, "time_major", False))
                if id(src) not in seen:
                    seen.add(id(src))
                    pending.append(src)
        return False

    def backward(self, dy: Any, cache: FunctionalCache) -> Any:
        """Backpropagate through every node in reverse; parameter gradients add into ``grads``.

        Args:
            dy: the output's gradient, or for several outputs a list with one per output (None for
                an output that gets none).

        Returns:
            The gradient of each input (one array for a one-input model, else a list); zeros for
            an input no gradient reached, None for integer inputs (ids)."""
        douts = [dy] if self.single_output else list(dy)
        if len(douts) != len(self.output_tensors):
            raise InputError(f"Functional {self.name!r} has {len(self.output_tensors)} outputs, got "
                             f"{len(douts)} gradients")
        grads: dict[int, Any] = {}

        def add(t: GraphTensor, g: Any) -> None:
            if g is None:
                return
            old = grads.get(id(t))
            grads[id(t)] = g if old is None else old + g  # fan-out: the readers' gradients add up

        for t, g in zip(self.output_tensors, douts):
            add(t, g)
        for node, node_cache in zip(reversed(self.nodes), reversed(cache.caches)):
            outs = [grads.get(id(t)) for t in node.outputs]
            if all(g is None for g in outs):
                continue  # nothing flows back through this call
            try:
                dxs, dstates = self._node_backward(node, outs, node_cache)
            except ShapeVizError as error:
                raise with_edge(error, node.edges(str(error))) from None
            for t, g in zip(node.inputs, [*dxs, *dstates]):
                add(t, g)
        result = []
        for t, x in zip(self.input_tensors, cache.batch):
            g = grads.get(id(t))
            if t.dtype.kind in "iub":
                g = None
            elif g is None:
                g = np.zeros_like(x, dtype=self.dtype)
            result.append(g)
        return result[0] if self.single_input else result

    @staticmethod
    def _node_backward(node: Node, outs: list, node_cache: Any) -> tuple[list, list]:
        layer = node.layer
        dout = outs[0] if node.container is None else node.container(outs)
        if node.container is None and dout is None:
            return [None] * node.n_x, [None] * (len(node.inputs) - node.n_x)
        if _is_recurrent(layer):
            dx, dstates = layer.backward_with_state(dout, node_cache)
            dstates = list(dstates) if len(node.inputs) > node.n_x else []
            return [dx], dstates
        dx = layer.backward(dout, node_cache)
        return (list(dx) if node.listed else [dx]), []

    def final_states(self, cache: FunctionalCache) -> dict[str, list]:
        """Each unidirectional recurrent node's states after its last step, by node name (for
        truncated BPTT, as :meth:`Sequential.final_states`)."""
        out = {}
        for node, c in zip(self.nodes, cache.caches):
            if isinstance(node.layer, Recurrent):
                out[node.name] = [buf[-1].copy() for buf in c.S]
        return out

    def output_mask(self, cache: FunctionalCache) -> Any:
        """The mask of the output's positions (of the first output for several) for a per-step
        loss, or None: (B, T), or (T, B) for a time-major output, as :meth:`Sequential.output_mask`."""
        return self.output_masks(cache)[0]

    def output_masks(self, cache: FunctionalCache) -> list:
        """Per output the mask of its positions or None: (B, T), or (T, B) where the output is a
        time-major sequence (masks travel between nodes as (B, T) whatever the layout)."""
        out = []
        for t in self.output_tensors:
            mask = cache.masks.get(id(t))
            node = self.producer(t)
            if mask is not None and node is not None and self._layouts[id(node)]:
                mask = mask.T  # (T, B)
            out.append(mask)
        return out

    def summary_name(self) -> str:
        return f"Functional {self.name!r}"

