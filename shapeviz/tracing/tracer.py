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
from typing import Any, Sequence

import numpy as np

from shapeviz.core import backend
from shapeviz.core.inputs import InputSpec
from shapeviz.core.model import Model
from shapeviz.errors import ConfigError, ShapeError, ShapeVizError
from shapeviz.tracing import expectations, hints
from shapeviz.tracing.context import ROLES, TraceContext, activate
from shapeviz.tracing.cost import build as build_cost
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.parse import DimSpec, parse_dims, parse_shape
from shapeviz.tracing.records import (EdgeRecord, GradRecord, GraphRecord, LayerRecord, NodeRecord, OutputRecord,
                                      Trace)
from shapeviz.tracing.session import _Session
from shapeviz.tracing.symarray import SymArray, norm_shape, shape_of



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
    try:
        return _run(session, model, inputs, dims, expect, labels, mask, loss, backward, training, roles, provenance)
    except ShapeError as error:  # keep what was traced before the failure, for a partial picture
        error.partial, error.failed = partial_trace(session, model)
        raise


def partial_trace(session: _Session, model: Model) -> tuple[Trace, LayerRecord | None]:
    """What a failed run recorded: the layers that finished (in the model's order) and their steps,
    and the layer that failed as a record of its kind, options and what it was given (no outputs)."""
    records = [session.layer_records[p] for p in session.registered if p in session.layer_records]
    failed = None
    if session.failed is not None and session.failed[1] not in session.layer_records:
        layer, path, args = session.failed
        x = args[0] if args else None
        inputs = ({f"x{i}": shape_of(v) for i, v in enumerate(x)} if isinstance(x, (list, tuple))
                  else {"x": shape_of(x)} if x is not None else {})
        failed = LayerRecord(path=path, kind=layer.kind, inputs=inputs, params={k: tuple(v.shape) for k, v in
                             layer.params.items()}, config=layer.config(), depth=session.depths.get(path, 0))
    partial = Trace(model=model.name, model_kind=model.kind, mode=model.mode, inputs=dict(session.inputs),
                    layers=records, steps=list(session.steps), bindings=dict(session.ctx.bindings),
                    dtype=str(model.dtype),
                    options={k: getattr(model, k) for k in ("steps", "feedback") if hasattr(model, k)})
    return partial, failed


def _run(session: _Session, model: Model, inputs: Any, dims: Any, expect: dict[str, str] | None, labels: Any,
         mask: Any, loss: Any, backward: bool, training: bool, roles: dict[str, str] | None,
         provenance: dict[str, str] | None = None) -> Trace:
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
            session.inputs[name] = sym_inputs[-1].shape
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
        expectations.check_expectation_names(session, expect)  # before the run: a typo is not a shape problem
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
        expectations.check_expectations(session, expect, y)
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
    sparse_categorical_crossentropy are softmax losses too, and NLLLoss (nll) takes ids only."""
    from shapeviz.core.losses import NLLLoss, SoftmaxCrossEntropy
    if not isinstance(loss_obj, (SoftmaxCrossEntropy, NLLLoss)):
        return False
    last = label_specs[-1].dim if label_specs else None
    return len(label_specs) == len(shape_of(y)) - 1 or (last is not None and ctx.role_of(last) == "time")


def symbolic_input(shape: Any, dtype: Any = np.float32, name: str = "x") -> SymArray:
    """A symbolic array for a declaration, outside a trace (for experiments)."""
    return SymArray(norm_shape([s.dim for s in _specs(shape, name)]), dtype, name=name)
