"""Real arrays get the errors a symbolic trace gives: when a run on data fails, trace the model on
the shapes of the user's whole arrays, each axis named by the role it plays, and raise that.

A real run knows sizes only (``(32, 3)``, a batch slice), so the hints that read roles (a
time/batch swap, a missing time or batch axis, labels per step for an output per sequence) cannot
fire. The tracer already has every one of those hints; this module only names the axes: the sample
axis (the labels' count tells it), the time axis, and sizes for the rest, e.g. ``"(B_data=50,
T_data=10, 3)"``. The shapes and the checks stay the core's, run by the tracer; the names are put
back to the user's sizes in the message, and a line says which axis was read as what.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from shapeviz.errors import InputError, ShapeError, ShapeVizError

__all__ = ["explain", "build_on_data", "check_arrays"]


def _shape(a: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(d) for d in np.shape(a))
    except (TypeError, ValueError):
        return None


def _decl(names: list[Any]) -> str:
    return "(" + ", ".join(names) + ")"


# the names the axes get: unlike B or T they never occur in a message's own text, so they can be
# put back to sizes there without touching "(B, T, F)" in a sentence
_NAMES = {"B": "B_data", "T": "T_data", "T_in": "Tin_data", "T_out": "Tout_data", "T_y": "Ty_data"}
_ROLES = {"B_data": "batch", "T_data": "time", "Tin_data": "time", "Tout_data": "time", "Ty_data": "time"}
_ABOUT = {"B_data": "the samples", "T_data": "time", "Tin_data": "the source's time", "Tout_data": "the decoder's time",
          "Ty_data": "the labels' time"}


def _axis(name: str, size: int) -> str:
    return f"{_NAMES[name]}={size}"


def _reads_sequences(model: Any) -> bool:
    return model.kind == "encoder_decoder" or (model.kind == "sequential" and model.mode != "one-to-one")


def _built_features(model: Any) -> int | None:
    """The feature size the first weights were made for (None before the model is built)."""
    for layer in model.leaf_layers():
        kernel = layer.params.get("kernel") if getattr(layer, "built", False) else None
        if kernel is not None and getattr(layer, "kind", "") != "embedding":
            return int(kernel.shape[0])
        if getattr(layer, "kind", "") == "embedding":
            return None
    return None


def _name_input(model: Any, shape: tuple[int, ...], n: int | None) -> list[str]:
    """The declaration of a single input ``x`` of ``shape``; ``n`` is the sample count the labels
    (or the mask) give, None without them."""
    ints = [str(d) for d in shape]
    if not shape:
        return ints
    if not _reads_sequences(model):
        return [_axis("B", shape[0])] + ints[1:]
    if len(shape) >= 3:
        if n is not None and shape[0] != n and shape[1] == n:  # (T, B, F): the labels count axis 1
            return [_axis("T", shape[0]), _axis("B", shape[1])] + ints[2:]
        return [_axis("B", shape[0]), _axis("T", shape[1])] + ints[2:]
    if len(shape) == 2:
        if model.input_dtype().kind in "iu":  # token ids (B, T)
            return [_axis("B", shape[0]), _axis("T", shape[1])]
        features = _built_features(model)
        if n is not None:
            if shape[0] != n:  # one sequence (T, F) with labels for one sample
                return [_axis("T", shape[0]), ints[1]]
            if features is not None and shape[1] == features and features > 1:
                return [_axis("B", shape[0]), ints[1]]  # (B, F): vectors without a time axis
            return [_axis("B", shape[0]), _axis("T", shape[1])]  # (B, T): one number per step
        if features is not None and shape[1] == features and features > 1:
            return [_axis("T", shape[0]), ints[1]]  # no labels: one sequence (T, F) to predict
        return [_axis("B", shape[0]), _axis("T", shape[1])]
    return [_axis("B", shape[0])]


def _name_like(shape: tuple[int, ...], sizes: dict[str, int], order: list[str]) -> list[str]:
    """Labels or a mask: an axis takes the name whose size it has, trying ``order`` axis by axis
    (B then T for labels; a (T, B) mask gets its names swapped, so the hint can say so)."""
    out = []
    used: set[str] = set()
    for axis, d in enumerate(shape):
        name = next((k for k in order if k not in used and sizes.get(k) == d and axis < 2), None)
        if name is None:
            out.append(str(d))
        else:
            used.add(name)
            out.append(_axis(name, d))
    return out


def _declarations(model: Any, x: Any, y: Any, mask: Any) -> tuple[Any, Any, Any]:
    y_shape = _shape(y) if y is not None else None
    m_shape = _shape(mask) if mask is not None else None
    n = y_shape[0] if y_shape else (m_shape[0] if m_shape else None)
    if isinstance(x, (tuple, list)):
        decls = []
        for a, t in zip(x, ("T_in", "T_out")):
            s = _shape(a) or ()
            names = [str(d) for d in s]
            if len(s) >= 2:
                names[:2] = [_axis("B", s[0]), _axis(t, s[1])]
            decls.append(_decl(names))
        sizes = {"B": (_shape(x[0]) or (0,))[0]}
        t_out = _shape(x[1]) if len(x) > 1 else None
        if t_out and len(t_out) >= 2:
            sizes["T_out"] = t_out[1]
        inputs: Any = tuple(decls)
        label_order = ["B", "T_out"]
    else:
        names = _name_input(model, _shape(x) or (), n)
        back = {v: k for k, v in _NAMES.items()}
        sizes = {back[k]: int(v) for k, v in (p.split("=") for p in names if "=" in p)}
        inputs = _decl(names)
        label_order = ["B", "T"]
    labels = None
    if y_shape is not None:
        head = model.layers[-1] if getattr(model, "layers", None) else None
        per_step = len(y_shape) >= 3 or (len(y_shape) == 2 and np.asarray(y).dtype.kind in "iu"
                                         and getattr(head, "units", None) != y_shape[1])
        # (B, C) rows are classes or outputs, not steps, even when C happens to equal T
        names = _name_like(y_shape, sizes, label_order if per_step else label_order[:1])
        if len(y_shape) >= 3 and "=" not in names[1]:  # steps of their own: a time axis all the same
            names[1] = _axis("T_y", y_shape[1])
        labels = _decl(names)
    mask_decl = None
    if m_shape is not None:
        order = ["T", "B"] if len(m_shape) == 2 and m_shape[0] != m_shape[1] and sizes.get("T") == m_shape[0] \
            and sizes.get("B") == m_shape[1] else ["B", "T"]
        mask_decl = _decl(_name_like(m_shape, sizes, order))
    return inputs, labels, mask_decl


def _graph_declarations(model: Any, x: Any, y: Any) -> tuple[tuple, Any, dict[str, str], dict[str, str], list]:
    """A graph model's inputs named from ``model.inputs``: the batch axis ``B_data``, each distinct
    time axis ``T<k>_data``; labels only for one output (the tracer checks one output's labels).
    Returns the declarations, the labels', the roles and descriptions of the names, and the inputs' names."""
    xs = model._feed(x, "inputs")
    roles = {"B_data": "batch"}
    about = {"B_data": "the samples"}
    times: dict[str, str] = {}
    decls = []
    sizes: dict[str, int] = {}
    for spec, a in zip(model.inputs, xs):
        shape = _shape(a)
        if shape is None or len(shape) != spec.rank:
            raise ValueError("an input of another rank: the model's own error says it best")
        names = [str(d) for d in shape]
        names[spec.batch_axis] = f"B_data={shape[spec.batch_axis]}"
        sizes.setdefault("B", shape[spec.batch_axis])
        if spec.time_axis is not None:
            name = times.setdefault(spec.time_dim, f"T{len(times)}_data")
            roles[name] = "time"
            about[name] = f"the time of {spec.name}"
            names[spec.time_axis] = f"{name}={shape[spec.time_axis]}"
        decls.append(_decl(names))
    labels = None
    y_shape = _shape(y) if y is not None and not isinstance(y, (dict, list, tuple)) else None
    if y_shape is not None and model.single_output:
        names = [str(d) for d in y_shape]
        if y_shape and y_shape[0] == sizes.get("B"):
            names[0] = f"B_data={y_shape[0]}"
        labels = _decl(names)
    return tuple(decls), labels, roles, about, list(model.input_names)


def explain(model: Any, x: Any, y: Any = None, mask: Any = None, *, loss: Any = None) -> ShapeError | None:
    """The ShapeError a symbolic trace finds on the shapes of the user's arrays, or None if the
    shapes line up (the real error was about something else, and stands).

    Args:
        model: the model the arrays were given to (not changed: a copy is traced).
        x: (N, ...) inputs as the user gave them (or a tuple for an EncoderDecoder).
        y: (N, ...) labels or None; mask: (N, T) or None.
        loss: the loss the labels are read by (else the model's compiled loss).
    """
    roles, about, names = _ROLES, _ABOUT, ["source", "decoder inputs"]
    try:
        if hasattr(model, "run_node"):  # a graph: its inputs by name, no mask (one per input; the run's error stands)
            inputs, labels, roles, about, names = _graph_declarations(model, x, y)
            mask_decl = None
        else:
            inputs, labels, mask_decl = _declarations(model, x, y, mask)
    except (TypeError, ValueError, ShapeVizError):
        return None
    loss = loss if loss is not None else model.loss
    if loss is None or hasattr(loss, "logs"):  # no loss, or one per output (the tracer reads one output's labels)
        labels = None
    from shapeviz.tracing.tracer import trace

    twin = copy.deepcopy(model)  # tracing builds an unbuilt model: not the user's on a wrong shape
    try:
        trace(twin, inputs, labels=labels, mask=mask_decl, loss=loss if labels is not None else None,
              backward=False, roles=roles)
    except ShapeError as error:
        return _in_sizes(error, {"x": inputs, "y": labels, "mask": mask_decl}, roles, about, names)
    except ShapeVizError:
        return None
    return None


def _in_sizes(error: ShapeError, decls: dict[str, Any], roles: dict[str, str] = _ROLES,
              about: dict[str, str] = _ABOUT, names: list | None = None) -> ShapeError:
    """The trace's error with the axis names put back to the user's sizes, and one line per array
    saying which of its axes were read as samples and time (``names``: of the arrays of a tuple)."""
    names = names or ["source", "decoder inputs"]
    sizes: dict[str, str] = {}
    read: dict[str, str] = {}
    for array, decl in decls.items():
        for i, text in enumerate(decl if isinstance(decl, tuple) else (decl,)):
            if text is None:
                continue
            label = array if not isinstance(decl, tuple) else names[min(i, len(names) - 1)]
            axes = [a.strip() for a in text.strip("()").split(",") if a.strip()]
            found = []
            for k, a in enumerate(axes):
                name, _, size = a.partition("=")
                if size:
                    sizes[name] = size
                    found.append(f"axis {k} as {about[name]} ({size})")
            shape = "(" + ", ".join(a.partition("=")[2] or a for a in axes) + ("," if len(axes) == 1 else "") + ")"
            read[label] = f"has shape {shape}" + (f": read {', '.join(found)}" if found else "")

    def sub(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return re.sub(r"\b(" + "|".join(roles) + r")\b", lambda m: sizes.get(m.group(1), m.group(1)), text)

    return ShapeError(sub(error.problem), layer=error.layer, timestep=sub(error.timestep), phase=error.phase,
                      op=error.op, operands=[(n, sub(shape)) for n, shape in error.operands], dim=sub(error.dim),
                      expected=sub(error.expected), actual=sub(error.actual), provenance=read, hint=sub(error.hint))


def explained(error: BaseException, model: Any, x: Any, y: Any = None, mask: Any = None, *,
              loss: Any = None, counts: bool = False) -> BaseException:
    """``error`` (a shape or input error of a real run) as the symbolic trace reports it, if it does.

    Args:
        counts: ``error`` says the arrays' sample counts disagree: that message stands unless the
            trace finds the reason, the time axis where the samples belong (time-major data).
    """
    if not isinstance(error, (InputError, ShapeError)):
        return error
    found = explain(model, x, y, mask, loss=loss)
    if found is None or (counts and "time loop runs over" not in found.problem):
        return error
    return found


def build_on_data(model: Any, x: Any, y: Any = None, mask: Any = None) -> None:
    """Build an unbuilt model on the first sample of ``x``; a shape that does not fit is reported
    on the whole arrays (``y`` tells which axis holds the samples), with the symbolic trace's hint."""
    if model.built:
        return
    before = copy.deepcopy(model)  # the failing call may build the first layer on the wrong shape
    if isinstance(x, dict):  # a graph's inputs by name
        first: Any = {k: np.asarray(a)[:1] for k, a in x.items()}
    else:
        first = tuple(np.asarray(a)[:1] for a in x) if isinstance(x, (tuple, list)) else np.asarray(x)[:1]
    try:
        model.forward(first, mask=_first_mask(mask), training=False)
    except (InputError, ShapeError) as error:
        raise explained(error, before, x, y, mask) from None


def _first_mask(mask: Any) -> Any:
    """The first sample's mask: of one array, or of each of a graph's (a dict or list per input)."""
    if mask is None:
        return None
    if isinstance(mask, dict):
        return {k: None if m is None else np.asarray(m)[:1] for k, m in mask.items()}
    if isinstance(mask, (list, tuple)):
        return [None if m is None else np.asarray(m)[:1] for m in mask]
    return np.asarray(mask)[:1]


def check_arrays(model: Any, x: Any, y: Any, mask: Any = None, *, loss: Any = None) -> None:
    """What ``train`` checks of data, without training: the values (numbers, no NaN/inf, sample
    counts: :func:`shapeviz.train.data.validate`, the checks fit runs), then one real forward and
    backward pass on them (a concrete trace), whose shape errors are reported on the user's arrays.

    Raises:
        InputError: values train refuses. ShapeError: shapes that do not fit the model.
    """
    from shapeviz.tracing.tracer import trace
    from shapeviz.train.data import check_values, validate

    time_major = any(getattr(layer, "time_major", False) for layer in model.leaf_layers())
    try:
        if time_major:  # (T, B, F) data with a (B, T) mask: the sample axes differ, check each alone
            data = validate(model, x, y)
            data = data._replace(mask=None if mask is None else check_values(mask, "mask") != 0)  # (B, T)
        else:
            data = validate(model, x, y, mask)
    except InputError as error:
        raise explained(error, model, x, y, mask, loss=loss, counts="samples" in str(error)) from None
    xs = data.xs if data.is_tuple else data.xs[0]
    several = isinstance(data.y, tuple)  # a graph's outputs: the tracer checks one output's labels
    masks = data.mask if isinstance(data.mask, tuple) else None  # a graph's masks, one per input
    try:
        trace(model, xs, labels=None if several else data.y, mask=None if masks is not None else data.mask,
              loss=None if several else loss)
        if several or masks is not None:  # the labels of every output, the masks of every input: a real pass
            from shapeviz.core.output_losses import OutputLosses
            out, cache = model.forward(xs, mask=masks, training=False)
            if several:
                lo = loss if isinstance(loss, OutputLosses) else model.loss if isinstance(model.loss, OutputLosses) \
                    else OutputLosses(loss if loss is not None else "mse", model.output_names)
                lo.forward(out, list(data.y), mask=model.output_masks(cache))
    except (InputError, ShapeError) as error:
        raise explained(error, model, x, y, mask, loss=loss) from None
