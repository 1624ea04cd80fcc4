"""Checks of structure: the tracer's shape verification, and the user's arrays against the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.checks.common import CheckResult, Problem, data_arrays, first_samples, loss_kind
from shapeviz.core.model import Model
from shapeviz.errors import ShapeVizError


def shapes(model: Model, p: Problem, *, declared: Any = None, dims: Any = None) -> CheckResult:
    """The tracer's verification on the concrete batch (labels against outputs included), and on the
    symbolic declaration when one is given."""
    from shapeviz.tracing.tracer import trace

    several = isinstance(p.y, list)  # a loss per output: the tracer checks one output's labels
    try:
        if declared is not None:
            trace(model, declared, dims=dims)
        tr = trace(model, p.x, labels=None if several else p.y, mask=p.mask, loss=None if several else p.loss)
        if several:
            y, cache = model.forward(p.x, mask=p.mask, training=False)
            p.loss.forward(y, p.y, mask=model.output_masks(cache))  # the labels of every output fit it
    except ShapeVizError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return CheckResult("shapes", "fail", str(error).strip(), "see the message: " + first,
                           data={"error": str(error)})
    fit = f"labels fit each of the {len(p.y)} outputs" if several else "labels fit the output"
    return CheckResult("shapes", "pass",
                       f"{len(tr.layers)} layers traced forward and backward ({tr.mode}), {fit}, "
                       f"{len(tr.grads)} gradients of their parameters' shapes",
                       data={"layers": len(tr.layers), "mode": tr.mode})


def _layout(model: Model, x: np.ndarray, y: np.ndarray, dims: dict | None = None) -> str | None:
    """A time-major/batch-first mix-up, read off the axis sizes: against the labels' sample count,
    and against declared sizes of B and T when given (e.g. a spec's [dims])."""
    spec = model.inputs[0]
    if x.ndim != spec.rank or spec.time_axis is None:
        return None
    tm = spec.time_major
    n = y.shape[0]
    b_axis, t_axis = spec.batch_axis, spec.time_axis
    B, T = (dims or {}).get("B"), (dims or {}).get("T")
    if B is not None and T is not None and B != T and x.shape[b_axis] == T and x.shape[t_axis] == B:
        order = "(T, B, ...)" if not tm else "(B, T, ...)"
        return (f"x {tuple(x.shape)} is {order} for the declared B={B}, T={T}, but the model reads "
                f"{'(B, T, ...)' if not tm else '(T, B, ...)'}")
    if x.shape[b_axis] != n and x.shape[t_axis] == n:
        got = "time-major (T, B, ...)" if not tm else "batch-first (B, T, ...)"
        want = "batch-first (B, T, ...)" if not tm else "time-major (T, B, ...)"
        return (f"x {tuple(x.shape)} looks {got}: its axis {t_axis} has the {n} samples of y {tuple(y.shape)}, "
                f"but the model reads {want}")
    return None


def _graph_data_check(model: Model, data: dict, loss: Any) -> CheckResult:
    """A graph model's arrays (named after its inputs and outputs): NaN/inf, ids outside the
    vocabulary, labels out of their loss's range, then a trace of the first samples."""
    from shapeviz.core.output_losses import OutputLosses
    from shapeviz.tracing.tracer import trace

    x, y, mask = data_arrays(model, data, loss)
    xs = list(x) if isinstance(x, tuple) else [x]
    ys = y if isinstance(y, list) else [y]
    out_names = list(model.output_names) if isinstance(y, list) else ["y"]
    los = loss.losses if isinstance(loss, OutputLosses) else [loss]
    problems: list[str] = []
    fixes: list[str] = []
    named = [(spec.name, a) for spec, a in zip(model.inputs, xs)] + [(n, a) for n, a in zip(out_names, ys)
                                                                      if a is not None]
    for name, a in named:
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            problems.append(f"{name} has {int(np.sum(~np.isfinite(a)))} NaN/inf values")
            fixes.append(f"clean {name} (np.nan_to_num or drop the rows)")
    for spec, a in zip(model.inputs, xs):
        a = np.asarray(a)
        if spec.ids and spec.vocabulary is not None and a.dtype.kind in "iuf":
            out = (a < 0) | (a >= spec.vocabulary)
            if np.any(out):
                problems.append(f"{int(out.sum())} ids of {spec.name} outside the vocabulary [0, {spec.vocabulary})")
                fixes.append(f"cap the ids of {spec.name} at input_dim - 1 or raise input_dim")
    for name, lo, a in zip(out_names, los, ys):
        if lo is None or a is None:
            continue
        a = np.asarray(a)
        if loss_kind(lo) == "binary" and a.size and (a.min() < 0 or a.max() > 1):
            problems.append(f"binary labels of {name} outside [0, 1]: in [{a.min():g}, {a.max():g}]")
            fixes.append(f"map the labels of {name} to 0/1")
    if not problems:
        try:
            n = 32
            xin = first_samples(model, x, n)
            several = isinstance(y, list)
            trace(model, xin, labels=None if several else np.asarray(y)[:n],
                  mask=None if mask is None else np.asarray(mask)[:n], loss=None if several else loss)
            if several:
                out, cache = model.forward(xin, mask=None if mask is None else np.asarray(mask)[:n])
                loss.forward(out, [None if a is None else np.asarray(a)[:n] for a in ys], mask=model.output_masks(cache))
        except ShapeVizError as error:
            problems.append("the arrays do not fit the model: " + str(error).strip().splitlines()[0])
            fixes.append("see `shapeviz check MODEL --data FILE` for the full message")
    shapes_ = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in data.items())
    if not problems:
        return CheckResult("data", "pass", f"{shapes_}: finite, labels fit the model", data={"problems": []})
    return CheckResult("data", "fail", "; ".join(problems), "; ".join(dict.fromkeys(fixes)),
                       data={"problems": problems})


def data_check(model: Model, data: dict, loss: Any, dims: dict | None = None) -> CheckResult:
    """NaN/inf, layout mix-ups, all-padding rows, ids outside the vocabulary, labels of the wrong shape or range."""
    if hasattr(model, "input_names"):
        return _graph_data_check(model, data, loss)
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    mask = data.get("mask")
    problems: list[str] = []
    fixes: list[str] = []
    for name, a in (("x", x), ("y", y)) + ((("x_dec", np.asarray(data["x_dec"])),) if "x_dec" in data else ()):
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            bad = int(np.sum(~np.isfinite(a)))
            problems.append(f"{name} has {bad} NaN/inf values")
            fixes.append(f"clean {name} (np.nan_to_num or drop the rows)")
    lay = _layout(model, x, y, dims)
    if lay:
        problems.append(lay)
        fixes.append("transpose x with x.swapaxes(0, 1), or build the layers with time_major=True")
    spec = model.inputs[0]
    if spec.ids and spec.vocabulary is not None and x.dtype.kind in "iuf":
        vocab = spec.vocabulary
        out = (x < 0) | (x >= vocab)
        if np.any(out):
            problems.append(f"{int(out.sum())} ids outside the vocabulary [0, {vocab}) (x in [{x.min():g}, {x.max():g}])")
            fixes.append(f"cap ids at input_dim - 1 (an OOV id) or raise input_dim above {int(x.max())}")
        if spec.masked and x.ndim == 2 and not lay:
            empty = np.flatnonzero(np.all(x == 0, axis=1))
            if empty.size:
                problems.append(f"{empty.size} all-padding rows (every id 0), e.g. row {int(empty[0])}")
                fixes.append("drop empty sequences")
    if mask is not None:
        m = np.asarray(mask).astype(bool)
        if m.ndim == 2:
            empty = np.flatnonzero(~np.any(m, axis=1))
            if empty.size:
                problems.append(f"{empty.size} rows of the mask are all padding, e.g. row {int(empty[0])}")
                fixes.append("drop samples with no unmasked step")
    if not lay:  # with a layout mix-up, label and trace findings only repeat it
        kind = loss_kind(loss)
        if kind == "binary" and y.size and (y.min() < 0 or y.max() > 1):
            problems.append(f"binary labels outside [0, 1]: y in [{y.min():g}, {y.max():g}]")
            fixes.append("map the labels to 0/1")
        if kind == "softmax" and y.dtype.kind in "iu":
            try:
                n_out = int(model.forward(x[:1], training=False)[0].shape[-1])
            except Exception:  # noqa: BLE001 - the shapes check reports what does not fit
                n_out = None
            if n_out is not None and y.size and (y.min() < 0 or y.max() >= n_out):
                problems.append(f"class ids outside [0, {n_out}): y in [{y.min()}, {y.max()}]")
                fixes.append(f"the head needs {int(y.max()) + 1} units, or remap the labels")
        from shapeviz.tracing.tracer import trace
        if not problems:
            try:
                # the first 32 samples: the shapes do not depend on how many there are
                n = 32
                xin = first_samples(model, x if len(model.inputs) == 1 else (x, np.asarray(data["x_dec"])), n)
                trace(model, xin, labels=y[:n], mask=None if mask is None else np.asarray(mask)[:n], loss=loss)
            except ShapeVizError as error:
                problems.append("the arrays do not fit the model: " + str(error).strip().splitlines()[0])
                fixes.append("see `shapeviz check MODEL --data FILE` for the full message")
    shapes_ = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in data.items())
    if not problems:
        return CheckResult("data", "pass", f"{shapes_}: finite, layout and labels fit the model", data={"problems": []})
    return CheckResult("data", "fail", "; ".join(problems), "; ".join(dict.fromkeys(fixes)),
                       data={"problems": problems})
