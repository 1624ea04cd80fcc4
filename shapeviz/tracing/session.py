"""The tracer's session: what it knows while a model runs on symbolic arrays.

A :class:`_Session` wraps each layer's methods on the instance (to know which layer is running
and record its inputs, outputs, states, parameters and BPTT memory), answers the core's hooks
(which timesteps a loop visits, dropout masks, per-step records, a graph's node calls) and keeps
the records :func:`shapeviz.tracing.tracer.trace` turns into a Trace. Split from ``tracer.py``,
which declares the inputs, runs the model and assembles the records.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Iterable

import numpy as np

from shapeviz.core import backend
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.tracing import hints
from shapeviz.tracing.context import TraceContext
from shapeviz.tracing.counting import Counter
from shapeviz.tracing.dims import Dim
from shapeviz.tracing.records import GradRecord, LayerRecord, StepRecord
from shapeviz.tracing.symarray import SymArray, shape_of

REPRESENTATIVE = 3  # steps traced of a long or symbolic sequence: 0, 1, ..., T-1
_METHODS = ("forward", "backward", "backward_with_state", "run", "run_backward", "ensure_built")


class _Session:
    """One trace in progress: the context, the records, and the wrapped layers."""

    def __init__(self, model: Model, all_steps: bool) -> None:
        self.model = model
        self.all_steps = all_steps
        self.ctx = TraceContext()
        self.layer_records: dict[str, LayerRecord] = {}
        self.order: list[str] = []
        self.steps: list[StepRecord] = []
        self.grads: dict[str, GradRecord] = {}
        self.paths: dict[int, str] = {}
        self.depths: dict[str, int] = {}
        self.active: set[int] = set()
        self.loops: list[list] = []  # the time loops running, outermost first
        self.previous: dict[str, Layer | None] = {}
        self.registered: list[str] = []
        self.param_shapes: dict[str, tuple] = {}
        self.seen_bases: set[int] = set()  # arrays already counted for an earlier layer's memory
        self.concrete = False  # real arrays in: the loops run every step, records keep 0, 1, T-1
        self.stopped_at: str | None = None  # the step an error left a time loop at (for its message)
        self.suffix = ""  # "@1" while a graph model runs the second call of a shared layer
        self.inputs: dict[str, tuple] = {}  # the model's inputs, as declared (for a partial trace)
        self.failed: tuple[Layer, str, tuple] | None = None  # the innermost layer a ShapeError left, its args
        self.ctx.on_grad = self.on_grad
        self.counter = Counter(self.locate)  # the operations run, by layer, phase and step
        self.ctx.counter = self.counter
        self.cost_phase: str | None = None  # "backward" while the loss's gradient runs (in the forward phase)
        self.loop_weights: dict[tuple, list] = {}  # the steps a loop traced -> what each stands for

    def locate(self) -> tuple:
        """Where an operation runs, for the counter: the layer, the phase and the loops' steps, each with
        the number of steps its count stands for."""
        ctx = self.ctx
        return (ctx.layers[-1][0] if ctx.layers else None, self.cost_phase or ctx.phase,
                tuple((frame[1], frame[3]) for frame in self.loops))

    # -- hooks ------------------------------------------------------------------------
    def steps_hook(self, length: Any, reverse: bool = False) -> Iterable[Any]:
        ctx = self.ctx
        dim = Dim.of(length)
        hints.check_time_axis(ctx, dim, self)
        resolved = dim.resolved()
        every = self.concrete or (resolved.is_const and (self.all_steps or resolved.value <= REPRESENTATIVE))
        if every:
            order: list[Any] = list(range(resolved.value))  # type: ignore[arg-type]
        else:
            order = [0, 1, dim - 1]
        weights = _stands_for(order, dim, representative=not every)
        self.loop_weights[tuple(str(Dim.of(t)) for t in order)] = weights
        if reverse:
            order, weights = order[::-1], weights[::-1]
        keep = None if self.all_steps or self.concrete is False else {0, 1, resolved.value - 1}  # type: ignore[operator]
        saved = ctx.step
        frame = [dim, None, True, 1]  # loop length, current step, whether to record it, the steps it stands for
        self.loops.append(frame)
        counter = self.counter
        try:
            for t, weight in zip(order, weights):
                frame[1], frame[2], frame[3] = t, keep is None or t in keep, weight
                counter.moved()
                # a loop inside a decoding loop (one step at a time) is labelled by the outer step
                ctx.step = self.loops[0][1]
                yield t
        except GeneratorExit:  # an error left the loop: the loop closes before the error reaches us
            self.stopped_at = self.stopped_at or str(Dim.of(self.loops[0][1]))
            raise
        finally:
            ctx.step = saved
            self.loops.pop()
            counter.moved()

    def revisit_hook(self, visited: list) -> Iterable[Any]:
        ts = [item[0] for item in visited]
        n = len(ts)
        keep = None if self.all_steps or not self.concrete else {0, 1, n - 1}
        weights = self.loop_weights.get(tuple(str(Dim.of(t)) for t in ts), [1] * n)
        saved = self.ctx.step
        frame = [n, None, True, 1]
        self.loops.append(frame)
        try:
            for item, weight in zip(reversed(visited), weights[::-1]):
                t = item[0]
                frame[1], frame[2], frame[3] = t, keep is None or t in keep, weight
                self.counter.moved()
                self.ctx.step = self.loops[0][1]
                yield item
        except GeneratorExit:
            self.stopped_at = self.stopped_at or str(Dim.of(self.loops[0][1]))
            raise
        finally:
            self.ctx.step = saved
            self.loops.pop()
            self.counter.moved()

    def mask_hook(self, rng: Any, shape: tuple, rate: float, like: Any) -> Any:
        if isinstance(like, SymArray):
            return SymArray(shape, like.dtype, name="dropout mask")
        return backend._concrete_mask(rng, shape, rate, like)

    def record_hook(self, event: str, t: Any, tensors: dict) -> None:
        loops = self.loops
        if len(loops) == 1:
            if not loops[0][2]:
                return
        elif loops:  # a loop inside a decoding loop: labelled by the outer step
            if not all(frame[2] for frame in loops):
                return
            t = loops[0][1]
        layers = self.ctx.layers
        path = layers[-1][0] if layers else "?"
        self.steps.append(StepRecord(path, t, event, {k: v.shape if type(v) is SymArray else shape_of(v)
                                                      for k, v in tensors.items()}))

    def on_grad(self, name: str, target: np.ndarray, value: Any) -> None:
        if name in self.param_shapes and name not in self.grads:
            self.grads[name] = GradRecord(name, shape_of(value), self.param_shapes[name])

    # -- layers -----------------------------------------------------------------------
    def register(self, layer: Layer, path: str, depth: int, previous: Layer | None) -> None:
        self.paths[id(layer)] = path
        self.registered.append(path)
        self.depths[path] = depth
        self.previous[path] = previous
        for key, value in layer.params.items():
            self.ctx.param_names[id(value)] = f"{path}/{key}"
        prev = None
        for sub in layer.sublayers():
            self.register(sub, f"{path}/{sub.name}", depth + 1, prev)

    def register_graph(self, model: Any) -> None:
        """A graph model's layers in the order of its nodes; a shared layer's later calls as
        ``name@1``, ``name@2`` (their sublayers under them), so each call is recorded."""
        for node in model.nodes:
            src = model.producer(node.inputs[0]) if node.inputs else None
            prev = src.layer if src is not None else None
            k = model.call_number(node)
            if k == 0:
                self.register(node.layer, node.layer.name, 0, prev)
                continue

            def later(layer: Layer, path: str, depth: int, previous: Layer | None) -> None:
                self.registered.append(path)
                self.depths[path] = depth
                self.previous[path] = previous
                for sub in layer.sublayers():
                    later(sub, f"{path}/{sub.name}", depth + 1, None)
            later(node.layer, f"{node.layer.name}@{k}", 0, prev)

    def path_of(self, layer: Layer) -> str:
        """Where ``layer`` runs now: its path, under the call of a shared layer the graph is running."""
        path = self.paths.get(id(layer), layer.name)
        if self.suffix:
            top, _, rest = path.partition("/")
            path = f"{top}{self.suffix}/{rest}" if rest else f"{top}{self.suffix}"
        return path

    def wrap_model(self, stack: ExitStack) -> None:
        """A graph model runs its nodes through ``run_node`` (forward) and ``_node_backward``: know
        which call of a layer is running, so a shared layer's second call records as ``name@1``."""
        model = self.model
        for method in ("run_node", "_node_backward"):
            orig = getattr(model, method, None)
            if orig is None:
                continue

            def call(node: Any, *args: Any, _orig: Any = orig, **kwargs: Any) -> Any:
                saved = self.suffix
                k = model.call_number(node)
                self.suffix = f"@{k}" if k else ""
                try:
                    return _orig(node, *args, **kwargs)
                finally:
                    self.suffix = saved
            setattr(model, method, call)
            stack.callback(lambda m=method: model.__dict__.pop(m, None))

    def wrap_all(self, stack: ExitStack) -> None:
        def visit(layer: Layer) -> None:
            for name in _METHODS:
                if hasattr(layer, name):
                    setattr(layer, name, self.wrapped(layer, name, getattr(layer, name)))
            for sub in layer.sublayers():
                visit(sub)

        def unwrap(layer: Layer) -> None:
            for name in _METHODS:
                layer.__dict__.pop(name, None)
            for sub in layer.sublayers():
                unwrap(sub)

        for layer in self.model.layers:
            visit(layer)
            stack.callback(unwrap, layer)

    def refresh_params(self, top: Layer | None = None) -> None:
        """Parameters exist only once built; name them for errors and gradient records: those of
        ``top``'s leaves (the layer a call just ran: linear in the model's size), or of every layer."""
        for layer in self.model.leaf_layers() if top is None else _leaves(top):
            path = self.paths.get(id(layer), layer.name)
            for key, value in layer.params.items():
                self.ctx.param_names[id(value)] = f"{path}/{key}"
                self.param_shapes[f"{path}/{key}"] = tuple(value.shape)
            for key, value in layer.grads.items():  # gradients are named after their parameter
                self.ctx.param_names[id(value)] = f"{path}/{key}"

    def wrapped(self, layer: Layer, method: str, orig: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            path = self.path_of(layer)
            nested = id(layer) in self.active
            if nested:
                return orig(*args, **kwargs)
            self.active.add(id(layer))
            try:
                with self.ctx.in_layer(path, layer):
                    try:
                        result = orig(*args, **kwargs)
                    except Exception as error:  # say where, with the operands and a hint
                        if self.failed is None:  # the innermost layer fails first
                            self.failed = (layer, path, args)
                        converted = hints.convert(error, self, layer, path, args, kwargs)
                        if converted is None:
                            raise  # not about the user's shapes: a bug to see with its traceback
                        raise converted from None
                    self.refresh_params(layer)
                    if method in ("forward", "run"):
                        self.record_layer(layer, path, method, args, kwargs, result)
                return result
            finally:
                self.active.discard(id(layer))
        return call

    def record_layer(self, layer: Layer, path: str, method: str, args: tuple, kwargs: dict, result: Any) -> None:
        if path in self.layer_records:
            return  # a layer called once per decoded step: its first call stands for all
        x = args[0]
        batch_first = method == "run" and not getattr(layer, "time_major", False)
        mask = kwargs.get("mask", args[1] if method == "run" and len(args) > 1 else None)
        if isinstance(x, (list, tuple)):  # a multi-input layer (a merge) reads a list
            inputs = {f"x{i}": shape_of(v) for i, v in enumerate(x)}
            for i, m in enumerate(mask or []):
                if m is not None:
                    inputs[f"mask{i}"] = shape_of(m)
            mask = None
        else:
            inputs = {"x": _bf(shape_of(x), batch_first)}
        if mask is not None:
            inputs["mask"] = shape_of(mask) if method == "forward" else (shape_of(mask)[1], shape_of(mask)[0])
        init = kwargs.get("initial_state", args[2] if method == "run" and len(args) > 2 else None)
        state_names = getattr(layer, "state_names", ())
        if init is not None:
            for n, s in zip(state_names, init if isinstance(init, (list, tuple)) else [init]):
                if s is not None:
                    inputs[f"{n}_0"] = shape_of(s)
        if method == "run":
            hs, final, cache = result
            outputs = {"y": _bf(shape_of(hs), batch_first)}
            for n, s in zip(state_names, final):
                outputs[f"{n}_T"] = shape_of(s)
        else:
            out, cache = result
            outputs = {}
            items = list(out) if isinstance(out, (tuple, list)) else [out]
            names = ["y"] + [f"{n}_T" for n in state_names] if getattr(layer, "return_state", False) else ["y"]
            if getattr(layer, "merge_mode", "x") is None:
                names = ["y_forward", "y_backward"] + names[1:]
            names = (names + [f"y{i}" for i in range(len(names), len(items))])[:len(items)]
            for n, item in zip(names, items):
                outputs[n] = shape_of(item)
        states = {}
        S = getattr(cache, "S", None)
        if S is not None:
            for n, buf in zip(state_names, S):
                states[n] = shape_of(buf)[1:]
        for sub in layer.sublayers():
            sub_path = self.path_of(sub)
            if sub_path in self.layer_records:
                prefix = "forward" if sub is layer.sublayers()[0] else "backward"
                for n, s in self.layer_records[sub_path].states.items():
                    states[f"{prefix} {n}"] = s
        memory = _cache_bytes(cache, self.seen_bases)
        if self.loops:  # called once per step of a decoding loop: it keeps one cache a step
            memory = Dim.of(memory) * self.loops[0][0]
        self.layer_records[path] = LayerRecord(
            path=path, kind=layer.kind, inputs=inputs, outputs=outputs, states=states,
            params={k: tuple(v.shape) for k, v in layer.params.items()}, param_count=layer.shown_param_count(),
            memory=memory, config=layer.config(), depth=self.depths.get(path, 0))
        if path not in self.order:
            self.order.append(path)


def _stands_for(order: list, dim: Dim, representative: bool) -> list:
    """How many steps of a loop of length ``dim`` each traced step of ``order`` (in loop order)
    stands for: step 1 of the ``representative`` 0, 1, T-1 for the T-2 steps from 1 to T-2; in a
    loop traced step by step, each step for itself, and the last of a named length (``T`` bound to
    3) also for the steps beyond, so that the count stays a formula in ``T`` (exact at T's size)."""
    if representative:
        return [1, dim - 2, 1]
    n = len(order)
    weights: list = [1] * n
    if n and not dim.is_const:
        weights[-1] = dim - (n - 1)
    return weights


def _leaves(layer: Layer) -> Iterable[Layer]:
    """``layer``'s leaves, depth first (itself when it has no sublayers)."""
    subs = layer.sublayers()
    if not subs:
        yield layer
    for sub in subs:
        yield from _leaves(sub)


def _bf(shape: tuple, batch_first: bool) -> tuple:
    """A time-major (T, B, ...) shape seen by a batch-first layer, shown as (B, T, ...)."""
    if batch_first and len(shape) >= 2:
        return (shape[1], shape[0], *shape[2:])
    return shape


def _cache_bytes(cache: Any, counted: set[int]) -> Any:
    """Bytes of the distinct arrays a cache holds (views count once, through their base), leaving
    out those an earlier layer's cache holds already (``counted``, updated)."""
    seen: dict[int, Any] = {}

    def walk(obj: Any) -> None:
        if isinstance(obj, SymArray):
            base = obj.base if obj.base is not None else obj
            seen.setdefault(id(base), base)
        elif isinstance(obj, np.ndarray):
            base = obj.base if isinstance(obj.base, np.ndarray) else obj
            seen.setdefault(id(base), base)
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (tuple, list)):
            for v in obj:
                walk(v)

    walk(cache)
    total = Dim.const(0)
    for key in list(seen):
        if key in counted:
            del seen[key]
    counted.update(seen)
    for arr in seen.values():
        total = total + (arr.nbytes if isinstance(arr, SymArray) else int(arr.nbytes))
    return total.value if total.is_const else total
