"""Checks that run the loss: its value at initialisation, and overfitting one tiny batch."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from shapeviz.checks.common import CheckResult, Problem, loss_kind, loss_masks, make_problem, outputs
from shapeviz.core.output_losses import OutputLosses
from shapeviz.core.model import Model
from shapeviz.core.optimizers import Adam


def _expected(p: Problem, n_out: int) -> tuple[float, str]:
    kind = loss_kind(p.loss)
    if kind == "softmax":
        return math.log(n_out), f"ln {n_out} = {math.log(n_out):.3f} (uniform over {n_out} classes)"
    if kind == "binary":
        return math.log(2), "ln 2 = 0.693 (p = 0.5)"
    var = float(np.var(np.asarray(p.y, dtype=np.float64)))
    return var, f"the targets' variance {var:.3f} (predicting their mean)"


def _suspects(model: Model) -> list[str]:
    """Layers whose bias or kernel scale is far from a sane initialisation."""
    out = []
    for layer in model.leaf_layers():
        b = layer.params.get("bias")
        if b is not None and b.size and layer.kind not in ("lstm",) and float(np.max(np.abs(b))) > 2.0:
            out.append(f"{layer.name}'s bias (max |b| = {float(np.max(np.abs(b))):.3g})")
        k = layer.params.get("kernel")
        if k is not None and k.ndim == 2 and k.size > 1 and layer.kind != "embedding":
            scale = float(np.std(k)) * math.sqrt(k.shape[0])
            if scale > 3.0:
                out.append(f"{layer.name}'s kernel scale (std·√fan_in = {scale:.3g}, ~1 expected)")
    return out


def initial_loss(model: Model, inputs: Any = None, data: dict | None = None, *, loss: Any = None,
                 seed: int = 0) -> CheckResult:
    """The loss on random labels (or the data's) at initialisation against its expected value."""
    p = make_problem(model, inputs, data, loss=loss, B=32, T=8, seed=seed)
    y, cache = model.forward(p.x, mask=p.mask, training=False)
    if isinstance(p.loss, OutputLosses):
        return _initial_losses(model, p, y, cache)
    value = float(p.loss.forward(y, p.y, mask=model.output_mask(cache))[0])
    expected, why = _expected(p, int(y.shape[-1]))
    ratio = value / expected if expected > 0 else float("inf")
    # MSE at init adds the outputs' own spread to the targets' variance (a linear or tanh head on
    # random weights), so it gets more room than cross-entropy, whose ln C is sharp
    tolerance = 5.0 if loss_kind(p.loss) == "mse" else 1.5
    data_ = {"loss": value, "expected": expected, "ratio": ratio, "loss_name": p.loss.name}
    ev = f"{p.loss.name} at init {value:.3f}, expected ≈ {why}: {ratio:.2f}x"
    if loss_kind(p.loss) == "mse":
        ev += f" (outputs' std {float(np.std(np.asarray(y, dtype=np.float64))):.2f})"
    if np.isfinite(value) and ratio <= tolerance:
        return CheckResult("initial loss", "pass", ev, data=data_)
    suspects = _suspects(model)
    data_["suspects"] = suspects
    named = ("suspect: " + "; ".join(suspects)) if suspects else (
        "no bias stands out: check the kernel initialisers and the head's activation")
    status = "fail" if not np.isfinite(value) or ratio > 2 * tolerance else "warn"
    return CheckResult("initial loss", status, ev + f" — {named}",
                       "initialise biases to zero (a binary head to log(p/(1-p)) of the positive rate) and "
                       "kernels with glorot/orthogonal; confident wrong predictions at init waste the first epochs",
                       data_)


def _initial_losses(model: Model, p: Problem, y: Any, cache: Any) -> CheckResult:
    """The initial loss of every output against its own expected value; the worst status stands."""
    rows, worst, per = [], "pass", []
    masks = loss_masks(model, cache, p.loss)
    for name, lo, out, labels, mask in zip(p.loss.names, p.loss.losses, outputs(y), p.y, masks):
        if lo is None:
            continue
        value = float(lo.forward(out, labels, mask=mask)[0])
        expected, why = _expected(Problem(out, labels, None, lo), int(out.shape[-1]))
        ratio = value / expected if expected > 0 else float("inf")
        tolerance = 5.0 if loss_kind(lo) == "mse" else 1.5
        status = "pass" if np.isfinite(value) and ratio <= tolerance else (
            "fail" if not np.isfinite(value) or ratio > 2 * tolerance else "warn")
        worst = max(worst, status, key=("pass", "warn", "fail").index)
        rows.append(f"{name}: {lo.name} {value:.3f}, expected ≈ {why}: {ratio:.2f}x")
        per.append({"output": name, "loss": value, "expected": expected, "ratio": ratio, "loss_name": lo.name,
                    "status": status})
    data_ = {"outputs": per}
    ev = "at init, per output: " + "; ".join(rows)
    if worst == "pass":
        return CheckResult("initial loss", "pass", ev, data=data_)
    suspects = _suspects(model)
    data_["suspects"] = suspects
    named = ("suspect: " + "; ".join(suspects)) if suspects else (
        "no bias stands out: check the kernel initialisers and the heads' activations")
    return CheckResult("initial loss", worst, ev + f" — {named}",
                       "initialise biases to zero and kernels with glorot/orthogonal; confident wrong predictions "
                       "at init waste the first epochs", data_)


def _fit(model: Model, p: Problem, steps: int, learning_rate: float, target: float) -> list[float]:
    twin = copy.deepcopy(model)
    opt = Adam(learning_rate=learning_rate)
    history: list[float] = []
    for _ in range(steps + 1):
        twin.zero_grad()
        y, cache = twin.forward(p.x, mask=p.mask, training=False)
        value, lc = p.loss.forward(y, p.y, mask=loss_masks(twin, cache, p.loss))
        history.append(float(value))
        if not np.isfinite(value) or value <= target * history[0]:
            break
        twin.backward(p.loss.backward(lc), cache)
        opt.step(twin)
    return history


def overfit(model: Model, inputs: Any = None, data: dict | None = None, *, loss: Any = None, steps: int = 300,
            learning_rate: Any = (0.01, 0.001), seed: int = 0, batch: int = 4, target: float = 0.1) -> CheckResult:
    """Adam on one tiny batch: the loss must fall below ``target`` times its start within ``steps``.

    ``learning_rate`` may be several rates, tried in turn until one fits (a large model diverges
    at 0.01 where 0.001 fits in a few steps; a small one needs 0.01)."""
    p = make_problem(model, inputs, data, loss=loss, B=batch, T=6, seed=seed)
    rates = (learning_rate,) if np.isscalar(learning_rate) else tuple(learning_rate)
    tried = []
    for lr in rates:
        history = _fit(model, p, steps, float(lr), target)
        tried.append((float(lr), history))
        if np.isfinite(history[-1]) and history[-1] <= target * history[0]:
            break
    lr, history = min(tried, key=lambda t: t[1][-1] if np.isfinite(t[1][-1]) else np.inf)
    first, last = history[0], history[-1]
    data_ = {"initial": first, "final": last, "steps": len(history) - 1, "learning_rate": lr,
             "tried": [t[0] for t in tried]}
    ev = f"loss {first:.3g} → {last:.3g} in {len(history) - 1} Adam steps (lr {lr:g}, batch {batch})"
    if np.isfinite(last) and last <= target * first:
        return CheckResult("overfit one batch", "pass", ev, data=data_)
    rates_txt = ", ".join(f"{t[0]:g}" for t in tried)
    return CheckResult("overfit one batch", "fail",
                       ev + f" — not below {target:g}x the start at lr {rates_txt}: the model or the data cannot fit",
                       "a model that cannot memorise 4 samples will not learn: check that the labels match the "
                       "inputs, that gradients reach every layer, the learning rate and the model's capacity", data_)
