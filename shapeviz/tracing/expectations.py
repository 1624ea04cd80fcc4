"""Expectations: the shapes a user says a layer or the model should produce, checked against the run.

An expectation is a declaration (``output = "(B, 1)"``, ``lstm_1 = "(B, T, 64)"``): its names bind
as an input's do, and a mismatch is a ShapeError with a hint read off the layer that made the shape
(``return_sequences``, ``units``, a Bidirectional's ``merge_mode``). Split from :mod:`.hints`, which
explains the errors a run meets; this module compares what a run made with what was expected.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from shapeviz.errors import ConfigError, ShapeError
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.hints import _is_recurrent, _producer
from shapeviz.tracing.parse import parse_shape
from shapeviz.tracing.symarray import shape_of

if TYPE_CHECKING:  # pragma: no cover
    from shapeviz.tracing.session import _Session


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
