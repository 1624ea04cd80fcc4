"""``trace(model, inputs)``: run the real core on symbolic arrays and record every shape.

The model's own forward and backward code runs unchanged; the tracer only
- feeds it :class:`SymArray` inputs built from a declaration such as ``"(B, T, 2)"``,
- overrides the core's three hooks (time steps, dropout masks, step records),
- wraps each layer's methods on the instance to know which layer is running and to record
  its inputs, outputs, states, parameters and BPTT memory,
and turns every error the run raises into a :class:`ShapeError` that says where.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from shapeviz.core import backend
from shapeviz.core.inputs import InputSpec
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.errors import ConfigError, ShapeError, ShapeVizError
from shapeviz.tracing import hints
from shapeviz.tracing.context import ROLES, TraceContext, activate
from shapeviz.tracing.cost import build as build_cost
from shapeviz.tracing.counting import Counter
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.parse import DimSpec, parse_dims, parse_shape
from shapeviz.tracing.records import (EdgeRecord, GradRecord, GraphRecord, LayerRecord, NodeRecord, OutputRecord,
                                      StepRecord, Trace)
from shapeviz.tracing.symarray import SymArray, norm_shape, shape_of

REPRESENTATIVE = 3  # steps traced of a long or symbolic sequence: 0, 1, ..., T-1
_METHODS = ("forward", "backward", "backward_with_state", "run", "run_backward", "ensure_built")


def _graph_declarations(model: Any, inputs: Any) -> list[Any]:
    """A graph model's declarations: a dict by input name, a list in input order, or one for one input;
    an input left out is traced as its ``Input(...)`` declared it."""
    names = list(model.input_names)
    own = [t.node.declaration for t in model.input_tensors]
    if inputs is None:
        return own
    if isinstance(inputs, dict):
        unknown = sorted(set(inputs) - set(names))
        if unknown:
            raise ConfigError(f"{model.summary_name()} has the inputs {names}; the declarations name {unknown}")
        return [inputs.get(n, d) for n, d in zip(names, own)]
    if len(names) == 1:
        return [inputs]
    if not isinstance(inputs, (tuple, list)) or len(inputs) != len(names) or isinstance(inputs[0], (int, Dim)):
        raise ConfigError(
            f"{model.summary_name()} takes {len(names)} inputs ({', '.join(names)}): declare each, by name "
            f"({{{names[0]!r}: \"(B, T, F)\", ...}}) or in order"
        )
    return list(inputs)


def _declarations(model: Model, inputs: Any, specs: Sequence[InputSpec]) -> list[Any]:
    """One declaration per input of ``model`` (``specs``): ``inputs`` itself, or its items for several."""
    if hasattr(model, "input_tensors"):
        return _graph_declarations(model, inputs)
    if len(specs) == 1:
        return [inputs]
    if not isinstance(inputs, (tuple, list)) or len(inputs) != len(specs) or isinstance(inputs[0], (int, Dim)):
        example = ", ".join(f'"{spec.declaration(sizes=False)}"' for spec in specs)
        raise ConfigError(
            f"{model.summary_name()} takes {len(specs)} inputs ({', '.join(spec.name for spec in specs)}): "
            f"declare each, e.g. ({example})"
        )
    return list(inputs)


def _specs(decl: Any, name: str) -> list[DimSpec]:
    if isinstance(decl, str):
        return parse_shape(decl)
    if isinstance(decl, np.ndarray):
        return [DimSpec(Dim.const(d)) for d in decl.shape]
    if isinstance(decl, (tuple, list)):
        out = []
        for d in decl:
            if isinstance(d, str):
                spec = parse_shape(d)
                if len(spec) != 1:
                    raise ConfigError(f"input {name}: each axis must be one name or size, got {d!r}")
                out.append(spec[0])
            else:
                dim = Dim.of(d)
                if dim.is_const and dim.value <= 0:  # type: ignore[operator]
                    raise ConfigError(f"input {name}: every size must be positive, got {dim}")
                out.append(DimSpec(dim))
        return out
    raise ConfigError(f"input {name}: declare its shape as a string like \"(B, T, 2)\", a tuple or an array, "
                      f"got {type(decl).__name__}")


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


def trace(model: Model, inputs: Any, *, dims: Any = None, expect: dict[str, str] | None = None,
          labels: Any = None, mask: Any = None, loss: Any = None, all_steps: bool = False,
          backward: bool = True, training: bool = False, roles: dict[str, str] | None = None,
          provenance: dict[str, str] | None = None) -> Trace:
    """Run ``model`` on symbolic inputs and record every shape, forward and backward.

    Args:
        model: a Sequential, OneToMany, EncoderDecoder or graph model (built or not).
        inputs: the input's shape as ``"(B, T, 2)"``, ``"B T 2"``, ``"batch=32, seq_len=80,
            features=2"``, a tuple, or an array (its shape); an EncoderDecoder takes two; a graph
            model a dict by input name (an input left out as its ``Input`` declared it), a list in
            input order, or one declaration for one input (None: every input as declared).
        dims: sizes for names, ``{"B": 32}`` or ``["B=32"]``; shapes keep the names.
        expect: expected shapes, ``{"output": "(B, 1)", "lstm_1": "(B, 128)", "labels": "(B,)"}``; a
            layer name the model does not have is a ConfigError, raised before the run.
        labels: the labels' shape (traces the loss too); ``loss`` the loss to trace (else the
            model's compiled loss).
        mask: the mask's shape, e.g. ``"(B, T)"``.
        all_steps: trace every step of a concrete T (else 0, 1 and T-1).
        backward: also trace BPTT and check every parameter's gradient shape.
        training: trace the training forward pass (dropout masks).
        roles: roles for names the defaults do not guess, ``{"L": "time", "N": "batch"}`` (by
            default ``B``/``batch`` are batch, ``T``/``T_in``/``seq_len`` time, ``F``/``H`` features).
        provenance: where sizes in ``dims`` came from, by name, for messages (``{"T": "the model's
            Input layer 'ids'"}``); by default "the given sizes".

    Returns:
        A :class:`Trace`. Raises :class:`ShapeError` saying where a shape goes wrong.
    """
    session = _Session(model, all_steps)
    ctx = session.ctx
    given = parse_dims(dims)
    expect = dict(expect or {})
    described = model.inputs
    declared = _declarations(model, inputs, described)
    names = [about.name for about in described]
    with activate(ctx), ExitStack() as stack:
        for n, role in (roles or {}).items():
            if role not in ROLES:
                raise ConfigError(f"the role of {n} must be one of {list(ROLES)}, got {role!r}")
            ctx.declare(n, role=role)
        sym_inputs = []
        session.concrete = all(isinstance(d, np.ndarray) for d in declared)
        for i, (decl, about) in enumerate(zip(declared, described)):
            name = about.name
            specs = _specs(decl, name)
            shape = []
            for axis, spec in enumerate(specs):
                for n in sorted(spec.dim.names):
                    ctx.declare(n, declared=f"the input {name} (axis {axis})")
                if spec.value is not None:
                    hints.bind_declared(ctx, spec.dim.symbol, spec.value,
                                        f"the input declaration of {name} ({spec.dim}={spec.value})")
                shape.append(spec.dim)
            dtypes = getattr(model, "input_dtypes", None)  # a graph model's Inputs carry theirs
            dtype = dtypes()[i] if dtypes is not None else about.array_dtype(model.dtype)
            if isinstance(decl, np.ndarray):
                dtype = decl.dtype
            sym_inputs.append(SymArray(shape, dtype, name=name))
        # copies: a batch sliced from a dataset is a view of all of it, and BPTT memory counts bases
        real_inputs = [np.array(d, copy=True) for d in declared] if session.concrete else None
        for n, v in given.items():
            ctx.declare(n)
            where = (provenance or {}).get(n)
            hints.bind_declared(ctx, n, v, f"{where} ({n}={v})" if where else f"the given sizes ({n}={v})")
        if hasattr(model, "nodes"):
            session.register_graph(model)
        else:
            prev = None
            for layer in model.layers:
                session.register(layer, layer.name, 0, prev)
                prev = layer
        hints.check_expectation_names(session, expect)  # before the run: a typo is not a shape problem
        session.wrap_all(stack)
        session.wrap_model(stack)
        stack.enter_context(backend.override(steps=session.steps_hook, mask=session.mask_hook,
                                             record=session.record_hook, revisit=session.revisit_hook))
        feed = real_inputs if real_inputs is not None else sym_inputs
        x = feed[0] if len(feed) == 1 else tuple(feed)
        mask_sym = None
        if isinstance(mask, np.ndarray):
            mask_sym = mask
        elif mask is not None:
            mask_sym = SymArray([s.dim for s in _specs(mask, "mask")], np.bool_, name="mask")
        rng = np.random.default_rng(0)
        ctx.phase = "forward"
        try:
            y, cache = model.forward(x, mask=mask_sym, training=training, rng=rng)
        except ShapeError:
            raise
        except ShapeVizError as error:  # the model's own checks (OneToMany, EncoderDecoder), outside any layer
            raise hints.convert(error, session, model, model.name, (x,), {}) from None
        multi = isinstance(y, (tuple, list))  # return_state, or Bidirectional(merge_mode=None) on top
        out_names = getattr(model, "output_names", None)
        if multi and out_names is not None and len(out_names) == len(y):
            outputs = {n: shape_of(v) for n, v in zip(out_names, y)}
        else:
            outputs = {f"y{i}": shape_of(v) for i, v in enumerate(y)} if multi else {"y": shape_of(y)}
        hints.check_expectations(session, expect, y)
        labels_shape = None
        loss_name = None
        dy: Any = _cotangent(y, session.concrete, np.random.default_rng(1))
        loss_obj = loss if loss is not None else model.loss
        if labels is not None or "labels" in expect:
            from shapeviz.core import losses
            if loss_obj is None:
                raise ConfigError(f"{model.summary_name()} has no loss to check the labels against: compile it "
                                  "or pass loss=")
            loss_obj = losses.get(loss_obj)
            if multi:
                raise ConfigError(f"{model.summary_name()} has {len(y)} outputs; labels are checked against a "
                                  "model with one output")
            label_specs = _specs(labels if labels is not None else expect["labels"], "labels")
            for axis, spec in enumerate(label_specs):
                for n in sorted(spec.dim.names):
                    ctx.declare(n, declared=f"the labels (axis {axis})")
            for axis, (spec, d) in enumerate(zip(label_specs, shape_of(y))):
                # a name only the labels use (T_out in "(B, T_out, V)") takes its size from the output's
                # axis it lines up with (leading axes: ids (B, T) line up with (B, T, C) too)
                b = ctx.bindings.get(spec.dim.symbol) if spec.dim.is_symbol else None
                if b is not None and b.value is None and (b.declared or "").startswith("the labels"):
                    ctx.unify(spec.dim, d,
                              f"the labels (axis {axis}), against the model's output {shape_str(shape_of(y))}")
            label_dtype = np.int64 if getattr(loss_obj, "metric_name", None) and _looks_like_ids(loss_obj, y,
                                                                                                   label_specs, ctx) \
                else model.dtype
            y_true = (labels if isinstance(labels, np.ndarray)
                      else SymArray([s.dim for s in label_specs], label_dtype, name="labels"))
            labels_shape = y_true.shape
            loss_name = loss_obj.name
            with ctx.in_layer("loss", None):
                try:
                    _, lcache = loss_obj.forward(y, y_true, mask=model.output_mask(cache))
                    session.cost_phase = "backward"  # the loss's gradient: counted with the backward pass
                    session.counter.moved()
                    dy = loss_obj.backward(lcache)
                    session.cost_phase = None
                    session.counter.moved()
                except ShapeError:
                    raise
                except ShapeVizError as error:
                    raise hints.convert(error, session, None, "loss", (y, y_true), {}) from None
        if backward:
            ctx.phase = "backward"
            session.counter.moved()
            if session.concrete:  # a real backward adds into the grads: put back what the user had there
                saved = [(g, g.copy()) for leaf in model.leaf_layers() for g in leaf.grads.values()]
                stack.callback(lambda: [np.copyto(g, v) for g, v in saved])
                model.zero_grad()
            try:
                model.backward(dy, cache)
            except ShapeError:
                raise
            except ShapeVizError as error:
                raise hints.convert(error, session, model, model.name, (dy,), {}) from None
            if session.concrete:  # real arrays: the gradients are there to read
                session.refresh_params()
                for _, layer, key in model.parameters():
                    name = f"{session.paths.get(id(layer), layer.name)}/{key}"
                    session.grads.setdefault(name, GradRecord(name, tuple(layer.grads[key].shape),
                                                              tuple(layer.params[key].shape)))
            ctx.phase = "forward"
            session.counter.moved()
        grads = []
        for path, layer, key in model.parameters():
            name = f"{session.paths.get(id(layer), layer.name)}/{key}"
            if name in session.grads:
                grads.append(session.grads[name])
            elif backward:
                raise ShapeError(f"backward wrote no gradient for parameter {name} {shape_str(layer.params[key].shape)}",
                                 layer=name.rsplit("/", 1)[0], phase="backward")
    records = [session.layer_records[p] for p in session.registered if p in session.layer_records]
    cost = None
    if not session.concrete:  # real arrays run in numpy, where nothing counts them
        masks = {r.path: tuple(r.inputs["mask"][:2]) for r in records if len(r.inputs.get("mask", ())) >= 2}
        cost = build_cost(session.counter.tallies(), model.name, masks, [r.path for r in records],
                          {n: b.value for n, b in ctx.bindings.items() if b.value is not None})
    return Trace(
        model=model.name, model_kind=model.kind, mode=model.mode,
        inputs={n: s.shape for n, s in zip(names, sym_inputs)}, outputs=outputs, layers=records,
        steps=session.steps, grads=grads, bindings=dict(ctx.bindings),
        labels=labels_shape, loss=loss_name, dtype=str(model.dtype),
        options={k: getattr(model, k) for k in ("steps", "feedback") if hasattr(model, k)},
        graph=graph_record(model, list(outputs)) if hasattr(model, "nodes") else None, cost=cost)


def graph_record(model: Any, output_names: list[str]) -> GraphRecord:
    """A graph model's nodes and edges as plain records: which node's output feeds which input or
    initial state of which node (node names as the layer records' paths: ``shared@1``)."""
    graph = GraphRecord()
    names: dict[int, str] = {}
    for t in model.input_tensors:
        names[id(t.node)] = t.name
        graph.nodes.append(NodeRecord(t.name, "input", t.name, 0, (t.label,)))
    for node in model.nodes:
        k = model.call_number(node)
        name = node.layer.name if k == 0 else f"{node.layer.name}@{k}"
        names[id(node)] = name
        graph.nodes.append(NodeRecord(name, node.layer.kind, node.layer.name, k,
                                      tuple(t.label for t in node.outputs)))
        for i, t in enumerate(node.inputs):
            slot, index = ("input", i) if i < node.n_x else ("initial_state", i - node.n_x)
            graph.edges.append(EdgeRecord(names[id(t.node)], t.index, t.label, name, slot, index))
    for out_name, t in zip(output_names, model.output_tensors):
        graph.outputs.append(OutputRecord(out_name, names[id(t.node)], t.index, t.label))
    return graph


def _cotangent(y: Any, concrete: bool, rng: np.random.Generator) -> Any:
    """A gradient for the model's output, mirroring its tuple or list: random numbers in a concrete run."""
    if isinstance(y, (tuple, list)):
        return type(y)(_cotangent(v, concrete, rng) for v in y)
    if concrete:
        return rng.standard_normal(y.shape).astype(y.dtype)
    return SymArray(shape_of(y), y.dtype, name="dy")


def _looks_like_ids(loss_obj: Any, y: Any, label_specs: Sequence[DimSpec], ctx: TraceContext) -> bool:
    """Class-id labels are integers: a softmax loss with labels one axis shorter than the output, or
    ending in a time axis (ids per step, ``(B, T)``, whatever the output). Keras names such as
    sparse_categorical_crossentropy are softmax losses too."""
    from shapeviz.core.losses import SoftmaxCrossEntropy
    if not isinstance(loss_obj, SoftmaxCrossEntropy):
        return False
    last = label_specs[-1].dim if label_specs else None
    return len(label_specs) == len(shape_of(y)) - 1 or (last is not None and ctx.role_of(last) == "time")


def symbolic_input(shape: Any, dtype: Any = np.float32, name: str = "x") -> SymArray:
    """A symbolic array for a declaration, outside a trace (for experiments)."""
    return SymArray(norm_shape([s.dim for s in _specs(shape, name)]), dtype, name=name)
