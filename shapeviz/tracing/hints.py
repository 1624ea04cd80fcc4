"""What a shape mistake probably is: hints for the errors a trace meets.

The shapes themselves always come from running the core; this module only reads the
error, the layer that raised it and its neighbours, and says what a colleague would.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from shapeviz.errors import ShapeError, ShapeVizError
from shapeviz.tracing.context import TraceContext
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.parse import parse_shape
from shapeviz.tracing.symarray import shape_of

if TYPE_CHECKING:  # pragma: no cover
    from shapeviz.tracing.tracer import _Session


def check_time_axis(ctx: TraceContext, length: Dim) -> None:
    """A time loop must run over a time axis: looping over a batch-role dim is a layout mix-up."""
    role = ctx.role_of(length)
    if role != "batch":
        return
    layer = ctx.layer
    time_major = bool(getattr(layer, "time_major", False))
    if time_major:
        hint = ("looks like batch-first (B, T, F) data fed to a time_major layer: give it (T, B, F) data, "
                "or set time_major=False")
    else:
        hint = ("looks like time-major (T, B, F) data fed to a batch-first layer: transpose the data to "
                "(B, T, F) (x.transpose(1, 0, 2)), or set time_major=True on the recurrent layers")
    axis = "axis 0" if time_major else "axis 1"
    raise ShapeError(
        f"the time loop runs over {length}, which is a batch dim: the layer reads time along {axis}",
        layer=ctx.layer_path, phase=ctx.phase, dim=str(length), expected="a time dim (role time)",
        actual=f"{length} (role batch)", provenance=ctx.provenance(length), hint=hint)


def _previous(session: "_Session", path: str) -> Any:
    return session.previous.get(path)


def _hint_for(error: ShapeVizError, session: "_Session", layer: Any, path: str, args: tuple, kwargs: dict) -> str | None:
    text = str(error)
    prev = _previous(session, path) if path else None
    x = args[0] if args else None
    kind = getattr(layer, "kind", "")
    recurrent = hasattr(layer, "state_names")
    m = re.search(r"expects input of rank (\S+)", text)
    if m and recurrent and x is not None and len(shape_of(x)) == 2:
        if prev is not None and hasattr(prev, "return_sequences") and not prev.return_sequences:
            return (f"layer {prev.name!r} ({prev.kind}) returns only its last step, (B, H), because "
                    f"return_sequences=False; set return_sequences=True on it to stack a recurrent layer on top")
        return "a recurrent layer reads a sequence (B, T, F); this input has no time axis"
    if m and kind == "dense" and x is not None and len(shape_of(x)) > 3:
        return "Dense reads (B, F) or (B, T, F)"
    m = re.search(r"was built for (\d+) input features .* last axis is (\S+)", text)
    if m:
        built, got = int(m.group(1)), m.group(2)
        if prev is not None and getattr(prev, "merge_mode", None) == "concat" and got == str(2 * built):
            return (f"Bidirectional {prev.name!r} with merge_mode='concat' outputs both directions side by side, "
                    f"{got} = 2 x {built} features; build {path!r} for {got} inputs or use merge_mode='sum' or 'ave'")
        if prev is not None:
            return (f"{path!r}'s weights were made for {built} features but {prev.name!r} ({prev.kind}) outputs "
                    f"{got}; weights fit the input they were built with: rebuild this layer (or the model) after "
                    "changing the one before it")
        return (f"the model's weights were made for {built} input features; declare the input with {built} "
                "features or rebuild the model")
    if "must be integer" in text or "integer ids" in text or "integer token ids" in text:
        return ("Embedding takes integer token ids (B, T); float data looks like features that are already "
                "vectors: drop the Embedding, or pass ids")
    m = re.search(r"mask must have shape \(B, T\) = \((\S+), (\S+)\), got \((\S+), (\S+)\)", text)
    if m:
        b, t, g0, g1 = m.groups()
        if (g0, g1) == (t, b):
            return "the mask looks transposed: it is (T, B), the layers take (B, T); pass mask.T"
        return "a mask marks the real steps of each sequence: one bool per sample and timestep, (B, T)"
    if "initial state" in text and session.model.kind == "encoder_decoder":
        return "the encoder's final states start the decoder: encoder and decoder state sizes must match"
    if "labels look one-hot" in text or "class ids" in text or "return_sequences" in text or "hint:" in text:
        return None  # the loss's own message already says what to do
    m = re.search(r"targets of shape (\(.*?\)) do not fit predictions of shape (\(.*?\))", text)
    if m:
        return ("labels must have the output's shape, (B, 1) or (B,) for one output per sample; "
                "for classes use a softmax loss with ids (B,) or one-hot (B, C)")
    return None


def convert(error: ShapeVizError, session: "_Session", layer: Any, path: str, args: tuple,
            kwargs: dict) -> ShapeError:
    """The error a layer raised, as a ShapeError that says where, with its operands and a hint."""
    ctx = session.ctx
    operands = []
    for name, value in (("x", args[0] if args else None), ("mask", kwargs.get("mask"))):
        if value is not None and hasattr(value, "shape"):
            operands.append((name, shape_str(shape_of(value))))
    involved = [d for _, v in (("x", args[0] if args else None),) if v is not None and hasattr(v, "shape")
                for d in shape_of(v)]
    return ShapeError(
        str(error), layer=path, timestep=ctx.timestep, phase=ctx.phase,
        op=f"{getattr(layer, 'kind', path)} {('forward' if ctx.phase == 'forward' else 'backward')}" if operands else None,
        operands=operands, provenance=ctx.provenance(*involved),
        hint=_hint_for(error, session, layer, path, args, kwargs))


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
    hint = None
    if len(expected) == 2 and len(actual) == 3:
        hint = ("the output has a time axis: a recurrent layer with return_sequences=True feeds the Dense, which then "
                "runs on every timestep; set return_sequences=False on the last recurrent layer for one output per "
                "sequence")
    elif len(expected) == 3 and len(actual) == 2:
        hint = ("the output has no time axis: the last recurrent layer has return_sequences=False, so only its last "
                "step reaches the head; set return_sequences=True for one output per timestep")
    else:
        for i, (e, a) in enumerate(zip(expected, actual)):
            if Dim.of(e) != Dim.of(a):
                hint = f"axis {i} is {a}, not {e}"
                break
    raise ShapeError(
        f"{what} has shape {shape_str(actual)}, expected {expected_text}", layer=layer_path, phase="forward",
        expected=expected_text, actual=shape_str(actual), provenance=ctx.provenance(*actual, *expected), hint=hint)


def check_expectations(session: "_Session", expect: dict[str, str], y: Any) -> None:
    """Compare the run's shapes with the ones the user expects (``output``, layer names)."""
    for key, text in expect.items():
        if key == "labels":
            continue
        if key in ("output", "y", "outputs"):
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
