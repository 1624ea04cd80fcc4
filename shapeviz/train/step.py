"""One training step (forward, loss, backward, update) and the check that stops on NaN/inf."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from shapeviz.errors import NonFiniteError


class StepResult(NamedTuple):
    loss: float  # the batch's mean loss
    count: float  # the number of positions it averaged (exact means over batches)
    hits: float  # the metric summed over positions (0 when the loss has no metric)
    cache: Any  # the model's forward cache (truncated BPTT reads the final states from it)
    logs: dict = {}  # log name -> (sum, count): "loss", the metric, per output "dec_loss", ...


def loss_mask(model: Any, cache: Any) -> Any:
    """The mask(s) the loss reads: per output for a loss per output, else the output's."""
    if getattr(model.loss, "names", None) is not None:  # OutputLosses
        return model.output_masks(cache)
    return model.output_mask(cache)


def tally(model: Any, y_pred: Any, yb: Any, mask: Any, loss: float, lcache: Any,
          metric: bool) -> dict[str, tuple[float, float]]:
    """The batch's sums and counts per log name (``loss``, the metric; per output ``dec_loss``,
    ``dec_accuracy`` for a loss per output), whose ratios over an epoch are exact means."""
    lo = model.loss
    if hasattr(lo, "logs"):  # OutputLosses
        return lo.logs(y_pred, yb, mask, lcache, metric)
    n = float(lo.count(lcache))
    out = {"loss": (float(loss) * n, n)}
    if metric and lo.metric_name:
        out[lo.metric_name] = (float(lo.metric(y_pred, yb, mask)[0]), n)
    return out


def _bad_grad(g: np.ndarray) -> bool:
    """True if ``g`` holds a NaN or inf. A dot product of the flat view finds that without a
    temporary; only if it is not finite (which a huge finite float32 can also cause) look closer."""
    flat = g.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        sq = float(np.dot(flat, flat))
    if math.isfinite(sq):
        return False
    return not bool(np.isfinite(g).all())


def first_nonfinite_grad(model: Any) -> tuple[str, Any, str] | None:
    """The first ``(path, layer, key)`` in ``model.parameters()`` order whose gradient is NaN/inf."""
    for entry in model.parameters():
        _, layer, key = entry
        if _bad_grad(layer.grads[key]):
            return entry
    return None


def _describe(layer: Any, key: str, array: np.ndarray) -> str:
    n_nan = int(np.isnan(array).sum())
    n_inf = int(np.isinf(array).sum())
    return (f"layer {layer.name!r} weight {key!r} (shape {array.shape}): "
            f"{n_nan} NaN and {n_inf} inf of {array.size} entries")


def check_finite(model: Any, loss: float, where: str, *, xb: Any = None, maskb: Any = None,
                 dy: Any = None) -> None:
    """Raise NonFiniteError if the loss or any gradient is NaN/inf, naming the first parameter
    whose gradient is non-finite (and any weight that already was, the usual cause); for a graph
    model given the batch ``xb``, also the node where the first NaN/inf appears
    (:func:`shapeviz.train.nonfinite.locate`)."""
    bad = first_nonfinite_grad(model)
    if bad is None and math.isfinite(loss):
        return
    what = f"the loss is {loss}" if not math.isfinite(loss) else "a gradient is not finite"
    lines = [f"{what} {where}; training stopped before this update"]
    if bad is not None:
        _, layer, key = bad
        lines.append("first non-finite gradient: " + _describe(layer, key, layer.grads[key]))
    if xb is not None and hasattr(model, "run_node"):
        from shapeviz.train.nonfinite import locate
        found = locate(model, xb, maskb, dy)
        if found is not None:
            lines.append(found)
    broken = [(layer, key) for _, layer, key in model.parameters() if not np.isfinite(layer.params[key]).all()]
    if broken:
        layer, key = broken[0]
        lines.append("non-finite weight: " + _describe(layer, key, layer.params[key]))
    lines.append("hint: lower the learning rate, set clipnorm=1.0, or check the data and the initial weights")
    raise NonFiniteError("\n  ".join(lines))


def run_step(model: Any, xb: Any, yb: Any, maskb: Any, rng: np.random.Generator | None, *,
             where: str = "", initial_states: Any = None, metric: bool = False) -> StepResult:
    """forward(training=True) -> loss -> backward -> finite check -> optimizer step -> zero_grad.

    Args:
        xb: the batch's inputs (an array or a tuple); yb: its targets; maskb: (B, T) or None.
        where: "at epoch 2/5, step 3/10" for error messages.
        initial_states: passed to ``Sequential.forward`` (truncated BPTT) when not None.
        metric: also compute the loss's metric (training accuracy) on this forward pass.
    """
    kwargs: dict[str, Any] = {"mask": maskb, "training": True, "rng": rng}
    if initial_states is not None:
        kwargs["initial_states"] = initial_states
    # NaN/inf are caught by check_finite with a message naming the weight; numpy's warnings
    # about them on the way there would only be noise (or, under -W error, the wrong error)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        y_pred, cache = model.forward(xb, **kwargs)
        masks = loss_mask(model, cache)
        loss, lcache = model.loss.forward(y_pred, yb, mask=masks)
        dy = model.loss.backward(lcache)
        model.backward(dy, cache)
    check_finite(model, loss, where, xb=xb, maskb=maskb, dy=dy)
    model.optimizer.step(model)
    model.zero_grad()
    logs = tally(model, y_pred, yb, masks, loss, lcache, metric)
    hits = logs[model.loss.metric_name][0] if metric and model.loss.metric_name else 0.0
    return StepResult(loss, model.loss.count(lcache), hits, cache, logs)


def train_step(model: Any, xb: Any, yb: Any, maskb: Any, rng: np.random.Generator | None) -> float:
    """One training step on one batch; returns its loss. The model must be compiled.

    Args:
        xb: (B, ...) inputs already in the model's dtype (or a tuple for EncoderDecoder);
        yb: (B, ...) targets; maskb: (B, T) input mask or None; rng: for dropout.
    """
    return run_step(model, xb, yb, maskb, rng).loss
