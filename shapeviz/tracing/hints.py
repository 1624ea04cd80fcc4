"""What a shape mistake probably is: hints for the errors a trace meets.

The shapes themselves always come from running the core; this module only reads the
error, the layer that raised it, its neighbours' options (``return_sequences``, ``units``,
``merge_mode``, ``time_major``) and the roles of the dims involved, and says what a
colleague would: what is wrong, where, where each dim got its size, and what to do.
It never re-derives a layer's output shape.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any, Iterable

from shapeviz.errors import ConfigError, ShapeError, ShapeVizError
from shapeviz.tracing.context import TraceContext
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.parse import parse_shape
from shapeviz.tracing.symarray import shape_of

if TYPE_CHECKING:  # pragma: no cover
    from shapeviz.tracing.tracer import _Session

_UNSIZED = re.compile(r"dimension (\S+) has no size yet")


def clean(text: str) -> str:
    """A core message as users read it: ``(Dim(B), 32)`` is written ``(B, 32)``."""
    return re.sub(r"Dim\(([^()]*)\)", r"\1", text)


# -- where: layers, neighbours, timesteps -------------------------------------------------
def _all_layers(session: "_Session") -> Iterable[Any]:
    def walk(layer: Any) -> Iterable[Any]:
        yield layer
        for sub in layer.sublayers():
            yield from walk(sub)
    for layer in session.model.layers:
        yield from walk(layer)


def _layer_named(session: "_Session", name: str) -> Any:
    for layer in _all_layers(session):
        if layer.name == name:
            return layer
    return None


def _path_of(session: "_Session", layer: Any) -> str:
    return session.paths.get(id(layer), layer.name)


def _previous(session: "_Session", path: str | None) -> Any:
    """The layer whose output ``path`` reads (for a direction inside a wrapper, the wrapper's)."""
    while path:
        prev = session.previous.get(path)
        if prev is not None or "/" not in path:
            return prev
        path = path.rsplit("/", 1)[0]
    return None


def _parent(session: "_Session", path: str | None) -> Any:
    """The wrapper a direction belongs to (``bi`` for ``bi/forward_lstm``), or None."""
    if not path or "/" not in path:
        return None
    top = path.split("/", 1)[0]
    return next((layer for layer in session.model.layers if layer.name == top), None)


def timestep_of(session: "_Session") -> str | None:
    """The step the run was at: inside a layer's loop, inside a decoding loop, or where an error
    left a loop (the loop has closed by the time its error reaches the tracer)."""
    ctx = session.ctx
    if ctx.timestep is not None:
        return ctx.timestep
    if session.loops:
        return str(Dim.of(session.loops[0][1]))
    return getattr(session, "stopped_at", None)


def _sized(ctx: TraceContext, d: Any) -> str:
    """``B = 32`` for a bound name, ``16`` for a number, ``B`` for a free name."""
    dim = Dim.of(d)
    value = ctx.resolve(dim)
    return str(dim) if dim.is_const or not value.is_const else f"{dim} = {value}"


def _role(ctx: TraceContext, d: Any) -> str | None:
    try:
        return ctx.role_of(d)
    except TypeError:
        return None


def _is_recurrent(layer: Any) -> bool:
    return hasattr(layer, "state_names") or hasattr(layer, "forward_layer")


def _is_int(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "") in "iu"


def _operands(named: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for name, value in named:
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                if hasattr(v, "shape"):
                    out.append((f"{name}[{i}]", shape_str(shape_of(v))))
        elif value is not None and hasattr(value, "shape"):
            out.append((name, shape_str(shape_of(value))))
    return out


def _dims_of(values: Iterable[Any]) -> list[Any]:
    dims: list[Any] = []
    for v in values:
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            if item is not None and hasattr(item, "shape"):
                dims.extend(shape_of(item))
    return dims


# -- the time axis -------------------------------------------------------------------------
def check_time_axis(ctx: TraceContext, length: Dim, session: "_Session | None" = None) -> None:
    """A time loop must run over a time axis: looping over a batch-role dim is a layout mix-up."""
    if ctx.role_of(length) != "batch":
        return
    layer = ctx.layer
    path = ctx.layer_path
    time_major = bool(getattr(layer, "time_major", False))
    prev = _previous(session, path) if session is not None else None
    prev_tm = getattr(prev, "time_major", None) if prev is not None and _is_recurrent(prev) else None
    if prev_tm is not None and prev_tm != time_major:
        hint = (f"layer {prev.name!r} before it has time_major={prev_tm} and hands on "
                f"{'(T, B, H)' if prev_tm else '(B, T, H)'}, but {path!r} has time_major={time_major}: "
                "give every recurrent layer of the model the same time_major")
    elif time_major and getattr(layer, "imported_from", None) == "torch":
        hint = ("looks like batch-first (B, T, F) data fed to a batch_first=False torch module: give it (T, B, F) "
                "data, or build the module with batch_first=True")
    elif time_major:
        hint = ("looks like batch-first (B, T, F) data fed to a time_major layer: give it (T, B, F) data, "
                "or set time_major=False")
    else:
        hint = ("looks like time-major (T, B, F) data fed to a batch-first layer: transpose the data to "
                "(B, T, F) (x.transpose(1, 0, 2)), or set time_major=True on the recurrent layers")
    axis = "axis 0" if time_major else "axis 1"
    # where the batch dim came from, and the time dims the loop should have run over
    times = [n for n, b in ctx.bindings.items() if b.role == "time"]
    raise ShapeError(
        f"the time loop runs over {length}, which is a batch dim: the layer reads time along {axis}",
        layer=path, phase=ctx.phase, dim=str(length), expected="a time dim (role time)",
        actual=f"{length} (role batch)", provenance=ctx.provenance(length, *[Dim.sym(n) for n in times]),
        hint=hint)


# -- hints by the error's text and the neighbours ------------------------------------------
def _rank_hint(session: "_Session", layer: Any, path: str, x: Any) -> str | None:
    """A layer got an input of the wrong rank: say which mistake makes that rank."""
    ctx = session.ctx
    kind = getattr(layer, "kind", "")
    shape = shape_of(x) if x is not None and hasattr(x, "shape") else None
    prev = _previous(session, path)
    model = session.model
    if shape is None:
        return None
    last_role = _role(ctx, shape[-1]) if shape else None
    if kind == "embedding":
        if len(shape) == 3:
            return ("an Embedding turns integer ids (B, T) into vectors (B, T, E); this input already has a "
                    "feature axis: feed it to the recurrent layer directly and drop the Embedding")
        return None
    if kind == "masking" and len(shape) == 2:
        return ("Masking reads feature vectors (B, T, F) and skips the steps whose features all equal "
                "mask_value; for token ids (B, T) drop it and use Embedding(..., mask_zero=True), which masks id 0")
    if not _is_recurrent(layer) or len(shape) != 2:
        return None
    if layer is getattr(model, "head", None):
        return (f"the head of {type(model).__name__} runs once per step on the top layer's state (B, H); "
                "a recurrent head has no sequence to read there: use Dense(V) as the head")
    if prev is not None and _is_recurrent(prev) and not getattr(prev, "return_sequences", True):
        return (f"layer {prev.name!r} ({prev.kind}) returns only its last step, (B, {prev.units}), because "
                f"return_sequences=False; set return_sequences=True on it to stack a recurrent layer on top")
    if prev is not None and prev.kind == "dense":
        rec = session.layer_records.get(_path_of(session, prev))
        seen = rec.inputs.get("x") if rec is not None else None
        if seen is not None and len(seen) == 2 and _role(ctx, seen[-1]) == "time":
            return (f"Dense {prev.name!r} before it read {shape_str(seen)}, treating the time axis "
                    f"{seen[-1]} as features: token ids (B, T) need an Embedding(V, E) first, which makes "
                    "(B, T, E) for the recurrent layer")
    if prev is None and _role(ctx, shape[0]) == "time":
        return (f"x {shape_str(shape)} looks like a single sequence (T, F), without the batch axis: add it with "
                f"x[None] (1, T, F)")
    if prev is None and last_role == "time" and not _is_int(x):
        return (f"x {shape_str(shape)} looks like one number per step (B, T), without the feature axis: add it "
                "with x[..., None] (B, T, 1)")
    if prev is None and (_is_int(x) or last_role == "time"):
        return ("x looks like token ids (B, T): a recurrent layer reads vectors (B, T, F); put an "
                "Embedding(V, E) first, or give one feature per step with x[..., None] (B, T, 1)")
    return ("a recurrent layer reads a sequence (B, T, F), and this input has no time axis: (B, F) is one "
            "vector per sample; add a time axis with x[:, None, :] (B, 1, F), or use OneToMany to turn "
            "a vector into a sequence")


def _built_hint(session: "_Session", path: str, built: int, got: str) -> str:
    prev = _previous(session, path)
    if prev is not None and getattr(prev, "merge_mode", None) == "concat" and got == str(2 * built):
        return (f"Bidirectional {prev.name!r} with merge_mode='concat' outputs both directions side by side, "
                f"{got} = 2 x {built} features; rebuild {path!r} for {got} inputs, or use merge_mode='sum' "
                f"or 'ave' to keep {built}")
    if prev is not None:
        return (f"the weights of {path!r} were made for {built} features, but {prev.name!r} ({prev.kind}) "
                f"before it now outputs {got}: a layer's weights fit the input it was built with; rebuild "
                "it (or the model) after changing the layer before it")
    return (f"the model's weights were made for {built} input features: declare the input with {built} "
            f"features, or rebuild the model for {got}")


def _mask_hint(text: str, x: Any, session: "_Session") -> str | None:
    m = re.search(r"mask must have shape \(B, T\) = \(([^,]+), ([^)]+)\), got \((.*?)\)$", text)
    if not m:
        return None
    b, t, got = m.group(1), m.group(2), [g.strip() for g in m.group(3).split(",") if g.strip()]
    if got == [t, b]:
        return "the mask looks transposed: it is (T, B), the layers take (B, T); pass mask.T"
    if len(got) == 3 and got[:2] == [b, t]:
        return ("the mask has a feature axis, as if computed per feature (x != 0): one flag per step is "
                "(x != 0).any(axis=-1), shape (B, T)")
    if session.model.kind == "encoder_decoder":
        return (f"the mask marks the padded steps of the source, so it is ({b}, {t}) like the source's first two "
                "axes; the decoder's steps are not masked here")
    if len(got) == 2 and got[0] == b:
        return f"the mask has {got[1]} steps and the data {t}: pad or cut them to the same length"
    return "a mask marks the real steps of each sequence: one bool per sample and timestep, (B, T)"


def _swapped_layout_hint(ctx: TraceContext, y: tuple, labels: tuple) -> str | None:
    """Per-step labels in the other layout than the output's: (B, T, ...) against (T, B, ...)."""
    if len(y) < 2 or len(labels) < 2 or Dim.of(y[0]) == Dim.of(y[1]):
        return None
    if Dim.of(y[0]) != Dim.of(labels[1]) or Dim.of(y[1]) != Dim.of(labels[0]):
        return None
    roles = (_role(ctx, y[0]), _role(ctx, y[1]))
    if roles == ("time", "batch"):
        return (f"the labels are batch-first {shape_str(labels)} but the model outputs time-major "
                f"{shape_str(y)}: transpose them to its layout, np.swapaxes(labels, 0, 1)")
    if roles == ("batch", "time"):
        return (f"the labels are time-major {shape_str(labels)} but the model outputs batch-first "
                f"{shape_str(y)}: transpose them to its layout, np.swapaxes(labels, 0, 1)")
    return None


def _loss_hint(text: str, session: "_Session", args: tuple) -> str | None:
    """The loss could not read the labels: say why, from the labels' and output's axes."""
    if len(args) < 2:
        return None
    ctx = session.ctx
    y, labels = shape_of(args[0]), shape_of(args[1])
    time_in_labels = any(_role(ctx, d) == "time" for d in labels)
    time_in_output = any(_role(ctx, d) == "time" for d in y)
    last_rec = next((layer for layer in reversed(session.model.layers) if _is_recurrent(layer)), None)
    name = f"{last_rec.name!r}" if last_rec is not None else "the last recurrent layer"
    swapped = _swapped_layout_hint(ctx, y, labels)
    if swapped:
        return swapped
    if time_in_labels and not time_in_output:
        return (f"the labels have one entry per timestep, the output one per sequence: set "
                f"return_sequences=True on {name} for per-step outputs, or give one label per sequence")
    if time_in_output and not time_in_labels:
        return (f"the output has a time axis, {shape_str(y)}: {name} has return_sequences=True, so the head "
                f"runs on every step; set return_sequences=False for one output per sequence")
    m = re.search(r"look one-hot with (\S+) classes, but the model outputs (\S+) classes", text)
    head = _producer(session, None)
    if m and head is not None and hasattr(head, "units"):
        return (f"the head {head.name!r} has units={head.units}, one per class: give it {m.group(1)} units, or "
                f"one-hot the labels over {m.group(2)} classes")
    if "class ids for" in text or m:
        return None  # the loss's own message says what to do
    if len(y) == len(labels) == 2 and Dim.of(y[-1]) == 1 and Dim.of(labels[-1]) != 1:
        return (f"labels {shape_str(labels)} look one-hot over {labels[-1]} classes, but the output is one "
                f"sigmoid unit {shape_str(y)}, which takes 0/1 labels (B,) or (B, 1): pass labels.argmax(-1), or "
                f"use Dense({labels[-1]}) with softmax and categorical_crossentropy")
    return ("labels must have the output's shape, (B, 1) or (B,) for one output per sample; "
            "for classes use a softmax loss with ids (B,) or one-hot (B, C)")


def _hint_for(error: BaseException, session: "_Session", layer: Any, path: str | None, args: tuple) -> str | None:
    text = clean(str(error))
    x = args[0] if args else None
    model = session.model
    if path == "loss":
        return _loss_hint(text, session, args)
    if "hint:" in text:
        return None  # the core's message carries its own
    if re.search(r"expects (input|integer ids) of rank", text):
        return _rank_hint(session, layer, path or "", x)
    m = re.search(r"was built for (\d+) input features .* last axis is (\S+)", text)
    if m:
        built, got = int(m.group(1)), m.group(2)
        if model.kind == "encoder_decoder" and layer in getattr(model, "decoder", ()):
            return (f"the decoder's weights were built for inputs of {built} features (V_in) and the decoder "
                    f"inputs have {got}: decoder inputs are the targets shifted right, so give them the "
                    f"targets' {built} features")
        return _built_hint(session, path or "", built, got)
    if "integer token ids" in text or "must be integer" in text:
        return ("an Embedding takes integer token ids (B, T); float data looks like features that are already "
                "vectors: drop the Embedding and feed them to the recurrent layer, or pass ids (x.astype(int))")
    hint = _mask_hint(text, x, session)
    if hint:
        return hint
    if "was put in after the model was made" in text:
        return ("an EncoderDecoder checks its layers when it is made and runs the graph it made of them: make a new "
                "EncoderDecoder with the layers you want (each decoder layer's states as large as its encoder layer's)")
    m = re.search(r"initial state '(\w+)' must have shape \(B, H\) = \(\S+, (\d+)\), got \(\S+, (\d+)\)", text)
    if m and model.kind == "encoder_decoder" and layer is not None:
        enc = next((e for e, d in zip(model.encoder, model.decoder) if d is layer), None)
        src = f"encoder layer {enc.name!r} (units={enc.units})" if enc is not None else "the encoder"
        return (f"the encoder's final states start the decoder: {src} hands over {m.group(1)} of size "
                f"{m.group(3)}, and decoder layer {layer.name!r} has units={m.group(2)}; give the encoder and "
                "decoder layers at each depth the same units")
    if m and m.group(2) == m.group(3) and hasattr(model, "nodes"):  # the size fits: the batch dims differ
        return ("the state comes from a layer that read another input than this layer's, and the two inputs "
                "have different batch dims: declare every input of the graph with the same batch dim")
    if m:
        return f"an initial state is (B, H) with H = the layer's units, {m.group(2)}"
    if "feeding outputs back" in text:
        return ("with feedback='outputs' each step's output y_t (B, V) is the next step's input x_{t+1}, so the "
                "head's units must equal the input features; or use feedback='zeros'")
    m = re.search(r"decoder inputs must be \(B, T_out, V_in\)", text)
    if m and x is not None:
        dec = shape_of(x[1]) if isinstance(x, (tuple, list)) else ()
        src = shape_of(x[0]) if isinstance(x, (tuple, list)) else ()
        if len(dec) == 2:
            return ("the decoder inputs look like token ids (B, T_out): the decoder reads one vector per step, "
                    "so one-hot them to (B, T_out, V) (teacher forcing: the one-hot targets shifted right, "
                    "EncoderDecoder.teacher_inputs)")
        if len(dec) == 3 and src:
            return (f"the source and the decoder inputs are two views of one batch: the source has "
                    f"{_sized(session.ctx, src[0])} samples and the decoder inputs {_sized(session.ctx, dec[0])}; "
                    "declare both with the same batch dim")
    if "expects a vector per sample" in text:
        return ("OneToMany reads one vector per sample (B, F) and makes a sequence; for a sequence in, use "
                "Sequential (many-to-one or synced many-to-many) or EncoderDecoder (T_in != T_out)")
    return None


# -- turning errors into ShapeErrors --------------------------------------------------------
def _unsized(error: TypeError, session: "_Session", layer: Any, path: str, x: Any) -> ShapeError:
    """A layer needed a number for a dim that has none: its weights are sized by the input's last axis."""
    ctx = session.ctx
    name = _UNSIZED.search(str(error)).group(1)  # type: ignore[union-attr]
    shape = shape_of(x) if x is not None and hasattr(x, "shape") else ()
    last = str(Dim.of(shape[-1])) if shape else name
    role = _role(ctx, shape[-1]) if shape else None
    kind = getattr(layer, "kind", "layer")
    problem = (f"{kind} {layer.name!r} sizes its weights by the input's last axis, {last}, which has no size"
               if layer is not None else f"{name} has no size, and the run needs it as a number")
    if role == "time":
        hint = (f"the last axis {last} is a time dim, so x {shape_str(shape)} has no feature axis: token ids "
                "(B, T) need an Embedding(V, E) first; one number per step needs x[..., None] (B, T, 1)")
    else:
        hint = (f"give {name} a size: trace(..., dims={{{name!r}: 2}}), or write it in the shape, "
                f"\"(B, T, 2)\"")
    return ShapeError(problem, layer=path, timestep=timestep_of(session), phase=ctx.phase,
                      op=f"{kind} build", operands=_operands([("x", x)]), dim=name,
                      provenance=ctx.provenance(*shape), hint=hint)


def _listed(session: "_Session", layer: Any, path: str, x: Any) -> ShapeError:
    """A layer was handed a list of arrays (a Bidirectional with merge_mode=None before it)."""
    prev = _previous(session, path)
    if prev is not None and getattr(prev, "merge_mode", "x") is None:
        hint = (f"Bidirectional {prev.name!r} has merge_mode=None, which returns [y_forward, y_backward]; "
                "a Sequential passes one array on: use merge_mode='concat' (or 'sum', 'ave', 'mul')")
    else:
        hint = "a layer reads one array; the layer before it returns several"
    return ShapeError(f"layer {path!r} ({layer.kind}) got a list of {len(x)} arrays instead of one array",
                      layer=path, timestep=timestep_of(session), phase=session.ctx.phase,
                      op=f"{layer.kind} forward", operands=_operands([("x", x)]),
                      provenance=session.ctx.provenance(*_dims_of([x])), hint=hint)


def _merge_hint(ctx: TraceContext, error: ShapeError) -> str | None:
    """A merge (a graph's multi-input layer) of two sequences over different time axes."""
    names = [error.expected, error.actual]
    if not all(isinstance(n, str) and n.isidentifier() for n in names):
        return None
    if [_role(ctx, Dim.sym(n)) for n in names] != ["time", "time"]:  # type: ignore[arg-type]
        return None
    return (f"a merge lines its inputs up step by step, and these run over two time axes, {names[0]} and "
            f"{names[1]}: reduce one to a vector first (return_sequences=False, a pooling, LastStep) and "
            f"RepeatVector it if needed, or feed both from one time axis")


def convert(error: BaseException, session: "_Session", layer: Any, path: str, args: tuple,
            kwargs: dict) -> ShapeError | None:
    """The error a layer raised, as a ShapeError that says where, with its operands and a hint;
    None for an error that is not about the user's shapes (a bug to see with its traceback)."""
    ctx = session.ctx
    x = args[0] if args else None
    if layer is session.model:
        return convert_model(error, session, x)
    if isinstance(error, ShapeError):  # raised by a symbolic op or check: add what it lacks
        fill: dict[str, Any] = {"layer": path, "timestep": timestep_of(session), "phase": ctx.phase}
        if getattr(layer, "multi_input", False) and not error.hint:
            fill["hint"] = _merge_hint(ctx, error)
        if layer is not None and x is not None:
            fill.update(op=f"{layer.kind} {ctx.phase}", operands=_operands([("x", x)]))
        return error.with_context(**fill)
    if layer is not None and isinstance(x, (list, tuple)) and ctx.phase == "forward" \
            and not getattr(layer, "multi_input", False):
        return _listed(session, layer, path, x)
    if isinstance(error, TypeError) and _UNSIZED.search(str(error)):
        return _unsized(error, session, layer, path, x)
    if not isinstance(error, ShapeVizError):
        return None
    if path == "loss":
        named = [("predictions", x), ("labels", args[1] if len(args) > 1 else None)]
    else:
        named = [("x", x), ("mask", kwargs.get("mask"))]
    operands = _operands(named)
    return ShapeError(
        clean(str(error)), layer=path, timestep=timestep_of(session), phase=ctx.phase,
        op=(f"{getattr(layer, 'kind', path)} {ctx.phase}" if operands else None), operands=operands,
        provenance=ctx.provenance(*_dims_of(v for _, v in named)),
        hint=_hint_for(error, session, layer, path, args))


def convert_model(error: BaseException, session: "_Session", x: Any) -> ShapeError | None:
    """An error the model raised outside its layers (a decoding loop, EncoderDecoder's checks): name
    the layer the message names, the step the loop was at, the model's inputs and their dims.

    Args:
        x: what the model was given: its input, ``(source, decoder_inputs)``, or in the backward
            pass the output's gradient."""
    if isinstance(error, ShapeError) or not isinstance(error, ShapeVizError):
        return None
    names = [spec.name for spec in session.model.inputs]
    if session.ctx.phase == "backward":
        inputs = {"dy": x}
    elif len(names) > 1 and isinstance(x, (tuple, list)) and len(x) == len(names):
        inputs = dict(zip(names, x))
    else:
        inputs = {names[0] if len(names) == 1 else "x": x}
    ctx = session.ctx
    model = session.model
    text = clean(str(error))
    m = re.search(r"layer '([^']+)'", text)
    layer = _layer_named(session, m.group(1)) if m else None
    if layer is None and "feeding outputs back" in text:
        layer = getattr(model, "head", None)
    path = _path_of(session, layer) if layer is not None else None
    timestep = timestep_of(session)
    if timestep is None and "initial state" in text:
        timestep = "0"  # the initial state is the h_{t-1} that step 0 reads
    return ShapeError(
        text, layer=path, timestep=timestep, phase=ctx.phase,
        op=f"{type(model).__name__} {ctx.phase}", operands=_operands(inputs.items()),
        provenance=ctx.provenance(*_dims_of(inputs.values())),
        hint=_hint_for(error, session, layer, path, (x,)))


def bind_declared(ctx: TraceContext, name: str, value: int, where: str) -> None:
    """Bind a size the user declared; a name already declared with another size is a ShapeError."""
    b = ctx.declare(name)
    if b.value is not None and b.value != value:
        raise ShapeError(
            f"{name} is declared with two sizes: {b.value} at {b.where}, and {value} at {where}",
            dim=name, expected=str(b.value), actual=str(value), provenance=ctx.provenance(Dim.sym(name)),
            hint=f"one name is one size in the whole trace: give {name} one size, or use two names for two sizes")
    ctx.bind(name, value, where)


# -- expectations ----------------------------------------------------------------------------
def _producer(session: "_Session", layer_path: str | None) -> Any:
    """The layer whose output an expectation is about (the model's last layer for ``output``)."""
    if layer_path is not None:
        return next((layer for layer in _all_layers(session) if _path_of(session, layer) == layer_path), None)
    layers = session.model.layers
    return getattr(session.model, "head", None) or (layers[-1] if layers else None)


def _expectation_hint(session: "_Session", expected: list, actual: tuple, layer_path: str | None) -> str | None:
    layer = _producer(session, layer_path)
    rec_layers = [layer_ for layer_ in session.model.layers if _is_recurrent(layer_)]
    if len(expected) == 2 and len(actual) == 3:
        if layer is not None and _is_recurrent(layer) and getattr(layer, "return_sequences", False):
            return (f"layer {layer.name!r} has return_sequences=True, so it outputs every step "
                    f"{shape_str(actual)}; with return_sequences=False it outputs only the last step "
                    f"({actual[0]}, {actual[-1]})")
        culprit = next((r for r in reversed(rec_layers) if getattr(r, "return_sequences", False)), None)
        if culprit is not None:
            after = layer.name if layer is not None and layer is not culprit else "the head"
            return (f"the output has a time axis: {culprit.name!r} has return_sequences=True, so it hands on "
                    f"every step and {after!r} runs on each of them; set return_sequences=False on "
                    f"{culprit.name!r} for one output per sequence")
        return "the output has a time axis"
    if len(expected) == 3 and len(actual) == 2:
        culprit = rec_layers[-1] if rec_layers else None
        if layer is not None and _is_recurrent(layer):
            culprit = layer
        if culprit is not None:
            return (f"the output has no time axis: {culprit.name!r} has return_sequences=False, so only its last "
                    f"step goes on; set return_sequences=True on it for one output per timestep")
        return "the output has no time axis"
    for i, (e, a) in enumerate(zip(expected, actual)):
        if Dim.of(e) != Dim.of(a):
            if i == len(actual) - 1 and layer is not None and hasattr(layer, "units"):
                if getattr(layer, "merge_mode", None) == "concat":
                    half = layer.forward_layer.units
                    return (f"Bidirectional {layer.name!r} concatenates both directions: its last axis is "
                            f"2 x {half} = {a}; use merge_mode='sum' or 'ave' for {half}")
                return f"layer {layer.name!r} ({layer.kind}) has units={layer.units}, so its last axis is {a}"
            return f"axis {i} is {a}, not {e}"
    return None


def _compare(session: "_Session", what: str, expected_text: str, actual: tuple, layer_path: str | None) -> None:
    ctx = session.ctx
    expected = [s.dim for s in parse_shape(expected_text)]
    for spec in parse_shape(expected_text):
        if spec.value is not None:
            ctx.bind(spec.dim.symbol, spec.value, f"the expectation for {what}")
    ok = len(expected) == len(actual) and all(
        ctx.unify(e, a, f"the expectation for {what} ({expected_text})") for e, a in zip(expected, actual))
    if ok:
        return
    raise ShapeError(
        f"{what} has shape {shape_str(actual)}, expected {expected_text}", layer=layer_path, phase="forward",
        expected=expected_text, actual=shape_str(actual), provenance=ctx.provenance(*actual, *expected),
        hint=_expectation_hint(session, expected, actual, layer_path))


_OUTPUT_KEYS = ("output", "y", "outputs")
_LISTED = 12  # layer names an unknown-layer message lists


def check_expectation_names(session: "_Session", expect: dict[str, str]) -> None:
    """Before the run: every layer an expectation names exists. A name the model does not have is a
    mistake in the request (a ConfigError: unusable input), not a shape problem the trace found."""
    paths = session.registered
    names = list(dict.fromkeys([*paths, *(p.split("/")[-1] for p in paths)]))
    for key in expect:
        if key == "labels" or key in _OUTPUT_KEYS or key in names:
            continue
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        listed = ", ".join(paths[:_LISTED]) + (f", ... ({len(paths) - _LISTED} more)" if len(paths) > _LISTED else "")
        raise ConfigError(f"the expectations name a layer the model does not have: {key!r}"
                          + (f" (did you mean {close[0]!r}?)" if close else "")
                          + f"; expected 'output', 'labels' or a layer name: {listed or 'none'}")


def check_expectations(session: "_Session", expect: dict[str, str], y: Any) -> None:
    """Compare the run's shapes with the ones the user expects (``output``, layer names)."""
    for key, text in expect.items():
        if key == "labels":
            continue
        if key in _OUTPUT_KEYS:
            if isinstance(y, (tuple, list)):  # several outputs: which one is meant?
                raise ConfigError(f"the expectations give {key!r}, but the model has {len(y)} outputs: expect "
                                  "each by the name of the layer that makes it")
            _compare(session, "the model's output", text, shape_of(y), None)
            continue
        record = None
        for path, rec in session.layer_records.items():
            if path == key or path.split("/")[-1] == key:
                record = rec
                break
        if record is None:
            raise ShapeError(f"the expectations name a layer {key!r} the model does not have",
                             hint=f"layers: {', '.join(session.layer_records)}")
        first = next(iter(record.outputs.values()))
        _compare(session, f"the output of layer {record.path!r}", text, first, record.path)
