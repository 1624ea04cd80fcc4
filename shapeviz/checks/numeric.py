"""Checks read off the backward pass of a float64 twin: gradients, batch independence, causality, flow over time.

Past 400 lines for one reason: its four checks share the float64 twin, its differentiable
wrapper and the per-input/output pairing of graph models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.checks.common import CheckResult, Differentiable, Problem, float64_twin, loss_masks, outputs
from shapeviz.core.model import Model
from shapeviz.core.recurrent import Recurrent

LEAK = 1e-9  # a relative gradient above this between samples (or from the future) is a dependence
BARS = "▁▂▃▄▅▆▇█"


def _loss_and_grad(twin: Model, p: Problem) -> tuple[float, Any]:
    y, cache = twin.forward(p.x, mask=p.mask, training=False)
    value, lc = p.loss.forward(y, p.y, mask=loss_masks(twin, cache, p.loss))
    return float(value), (cache, p.loss.backward(lc))


GRAD_STEPS = 8  # a gradient formula that is right over 8 steps of BPTT is right over 80


def _first_steps(model: Model, p: Problem, n: int) -> tuple[Problem, int | None]:
    """``p`` cut to its first ``n`` timesteps for a batch-first Sequential model (labels too when
    they have a time axis); anything else unchanged. Returns the problem and the steps kept (or None)."""
    x = p.x
    spec = model.inputs[0]
    if model.kind != "sequential" or isinstance(x, tuple) or spec.time_axis != 1:
        return p, None
    if x.ndim != spec.rank or x.shape[1] <= n:
        return p, None
    T = x.shape[1]
    y = p.y
    if model.mode == "synced many-to-many" and np.ndim(y) >= 2 and y.shape[1] == T:
        y = y[:, :n]
    mask = None if p.mask is None else p.mask[:, :n]
    return Problem(x[:, :n], y, mask, p.loss, p.from_data), n


def gradients(model: Model, p: Problem, *, samples: int = 4, eps: float = 1e-5, seed: int = 0) -> CheckResult:
    """Central differences against backward, per parameter, along two directions (float64, tiny batch):
    the gradient's own direction (checks its size) and random signs on ``samples`` of its largest
    entries plus ``samples`` random ones (checks single entries). Four loss evaluations a parameter,
    whatever its size, so an Embedding(20000, 128) costs what a bias does."""
    twin = float64_twin(model)
    p, T_used = _first_steps(model, p, GRAD_STEPS)
    q = Problem(tuple(_f64(a) for a in p.x) if isinstance(p.x, tuple) else _f64(p.x), p.y, p.mask, p.loss)
    twin.zero_grad()
    _, (cache, dy) = _loss_and_grad(twin, q)
    twin.backward(dy, cache)
    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    for path, layer, key in twin.parameters():
        param, grad = layer.params[key], layer.grads[key].copy()
        if not param.size:
            continue
        flat = np.abs(grad).ravel()
        picked = np.unique(np.concatenate([np.argsort(flat)[-samples:], rng.integers(0, flat.size, size=samples)]))
        signs = np.zeros(flat.size)
        signs[picked] = rng.choice([-1.0, 1.0], size=picked.size)
        norm = float(np.linalg.norm(grad))
        directions = [signs.reshape(param.shape)]
        if norm > 0:
            directions.insert(0, grad / norm)
        err = 0.0
        for v in directions:
            saved = param.copy()
            param += eps * v
            up = _loss_and_grad(twin, q)[0]
            param[...] = saved - eps * v
            down = _loss_and_grad(twin, q)[0]
            param[...] = saved
            num, ana = (up - down) / (2 * eps), float(np.sum(grad * v))
            # floor: random signs can cancel <g, v> to round-off; relative to |g||v| it is still a bug
            scale = 1e-3 * norm * float(np.linalg.norm(v))
            err = max(err, abs(num - ana) / max(abs(num) + abs(ana), scale, 1e-12))
        worst[path] = err
    if not worst:
        return CheckResult("gradients", "pass", "the model has no parameters", data={"worst": {}})
    name, value = max(worst.items(), key=lambda kv: kv[1])
    data = {"worst": worst, "worst_parameter": name, "worst_rel_error": value}
    evidence = (f"worst relative error {value:.1e} at {name} ({len(worst)} parameters, float64, "
                f"central differences along 2 directions each{f', first {T_used} steps' if T_used else ''})")
    if value < 1e-4:  # float64 central differences: a real bug is >> 1e-3
        return CheckResult("gradients", "pass", evidence, data=data)
    status = "warn" if value < 1e-2 else "fail"
    return CheckResult("gradients", status, evidence,
                       f"{name}'s backward does not match its forward: check that layer's gradient formula", data)


def _f64(a: Any) -> Any:
    return a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


class _TwoInputs:
    """An encoder-decoder as a function of (source, decoder inputs), both batch-first."""

    skip = 0

    def __init__(self, twin: Model, x: tuple, mask: Any) -> None:
        self.twin, self.mask = twin, mask
        self.z0 = tuple(_f64(a) for a in x)

    def forward(self, z: Any) -> tuple[Any, Any]:
        return self.twin.forward(z, mask=self.mask, training=False)

    def backward(self, dy: Any, cache: Any) -> Any:
        return self.twin.backward(dy, cache)


def _view(model: Model, p: Problem) -> tuple[Any, list[int]]:
    """The model as a function of its float inputs, and each input's batch axis."""
    twin = float64_twin(model)
    if isinstance(p.x, tuple):
        return _TwoInputs(twin, p.x, p.mask), [spec.batch_axis for spec in model.inputs]
    d = Differentiable(twin, _f64(p.x), p.mask)
    return d, [model.inputs[0].batch_axis]  # an Embedding's output keeps the layout of its ids


def _copy(z: Any) -> Any:
    return tuple(np.array(a, copy=True) for a in z) if isinstance(z, tuple) else np.array(z, copy=True)


def _parts(g: Any) -> list[Any]:
    return list(g) if isinstance(g, (tuple, list)) else [g]  # a graph's backward gives a list per input


def batch_independence(model: Model, p: Problem) -> CheckResult:
    """d loss_i / d x_j = 0 for j != i: backward from one sample's output at a time."""
    d, axes = _view(model, p)
    z0 = d.z0
    B = _parts(z0)[0].shape[axes[0]]
    names = [spec.name.replace("_", " ") for spec in model.inputs]  # x; source, decoder inputs
    rng = np.random.default_rng(0)
    graph = hasattr(model, "output_tensors")
    out_names = list(model.output_names) if graph and not model.single_output else [None]
    leaks = []
    for o, out_name in enumerate(out_names):
        for i in range(B):
            y, cache = d.forward(_copy(z0))
            ys = outputs(y)
            dys: list = [None] * len(ys)
            yo = ys[o]
            dy = np.zeros_like(yo)
            yax = _output_batch_axis(model, o, yo, axes[0])
            sl = [slice(None)] * yo.ndim
            sl[yax] = i
            dy[tuple(sl)] = rng.standard_normal(dy[tuple(sl)].shape)
            dys[o] = dy
            back = d.backward(dys if isinstance(y, list) else dy, cache)
            for k, (g, ax) in enumerate(zip(_parts(back), axes)):
                if g is None:
                    continue
                g = np.moveaxis(np.asarray(g), ax, 0)  # (B, ...)
                own = float(np.sqrt(np.sum(g[i] ** 2))) or float(np.sqrt(np.sum(g ** 2))) or 1.0
                for j in range(B):
                    if j != i:
                        r = float(np.sqrt(np.sum(g[j] ** 2))) / own
                        if r > LEAK:
                            leaks.append((i, j, r, out_name, names[k] if len(names) > 1 else None))
    data = {"pairs": [{"output": i, "input": j, "relative": r, "output_name": on, "input_name": xn}
                      for i, j, r, on, xn in leaks], "batch": B}
    pairs = f", {len(out_names)} outputs × {len(names)} inputs" if len(out_names) > 1 or len(names) > 1 else ""
    if not leaks:
        return CheckResult("batch independence", "pass",
                           f"sample i's output depends on no other sample's {' or '.join(names)} "
                           f"({B} samples, all pairs{pairs})", data=data)
    shown = ", ".join(f"{on or 'y'}[{i}]←{xn.replace(' ', '_') if xn else 'x'}[{j}] {r:.2g}"
                      for i, j, r, on, xn in sorted(leaks, key=lambda l: -l[2])[:4])
    return CheckResult("batch independence", "fail",
                       f"{len(leaks)} of {B * (B - 1)} sample pairs leak (relative gradient): {shown}",
                       "a reshape or sum mixes the batch axis with another: use transpose/swapaxes to "
                       "change layout, not reshape; reduce over time or features, never batch", data)


def _output_batch_axis(model: Model, o: int, y: Any, first_axis: int) -> int:
    """The batch axis of output ``o``: axis 1 of a time-major sequence, else 0."""
    if hasattr(model, "output_tensors"):
        node = model.producer(model.output_tensors[o])
        return 1 if (y.ndim == 3 and node is not None and model._layouts[id(node)]) else 0
    return first_axis if y.ndim == 3 else 0


def _non_causal_layers(layers: list) -> list[str]:
    return [layer.name for layer in layers if layer.kind == "bidirectional" or getattr(layer, "go_backwards", False)]


def causality(model: Model, p: Problem) -> CheckResult:
    """For sequence outputs: y_t must not depend on inputs after t (for an encoder-decoder, on
    decoder inputs after t: the source may be read whole)."""
    if hasattr(model, "output_tensors"):
        return _graph_causality(model, p)
    if model.kind not in ("sequential", "encoder_decoder"):
        return CheckResult("causality", "pass", f"not applicable to a {model.mode} model", data={"applicable": False})
    two = model.kind == "encoder_decoder"
    by_design = _non_causal_layers(list(getattr(model, "decoder", model.layers)))
    d, _ = _view(model, p)
    z0 = d.z0
    tm = model.inputs[0].time_major and not two
    seq = np.asarray(_parts(z0)[-1])
    zb = np.swapaxes(seq, 0, 1) if tm else seq  # (B, T, F)
    y, _ = d.forward(_copy(z0))
    if y.ndim != 3 or zb.ndim != 3:
        return CheckResult("causality", "pass", f"not applicable: {model.mode}, one output per sequence",
                           data={"applicable": False})
    yb = np.swapaxes(y, 0, 1) if tm else y
    T = zb.shape[1]
    if yb.shape[1] != T:
        return CheckResult("causality", "pass", "not applicable: the output's time axis differs from the input's",
                           data={"applicable": False})
    rng = np.random.default_rng(0)
    worst = (0.0, -1)
    steps = sorted({0, T // 2, max(T - 2, 0)})
    for t in steps:
        y, cache = d.forward(_copy(z0))
        dyb = np.zeros_like(np.swapaxes(y, 0, 1) if tm else y)
        dyb[:, t] = rng.standard_normal(dyb[:, t].shape)
        dz = np.asarray(_parts(d.backward(np.swapaxes(dyb, 0, 1) if tm else dyb, cache))[-1])
        dzb = np.swapaxes(dz, 0, 1) if tm else dz
        past = float(np.linalg.norm(dzb[:, : t + 1])) or 1.0
        r = float(np.linalg.norm(dzb[:, t + 1:])) / past
        if r > worst[0]:
            worst = (r, t)
    what = "decoder input" if two else "input"
    data = {"applicable": True, "future_relative": worst[0], "step": worst[1], "by_design": by_design}
    return _causality_verdict(
        worst[0], data, by_design,
        f"y_t depends on no {what} after t (backward from steps {', '.join(map(str, steps))} of {T})",
        f"y_{worst[1]} depends on {what}s after step {worst[1]} (relative gradient {worst[0]:.2g})")


def _causality_verdict(leak: float, data: dict, by_design: list, passed: str, leaked: str) -> CheckResult:
    """Pass when no more than LEAK of the gradient reaches future steps; else pass as non-causal by
    design when a layer reads the whole sequence (``by_design``), or fail with the fix."""
    if leak <= LEAK:
        return CheckResult("causality", "pass", passed, data=data)
    data["causal"] = False
    if by_design:
        return CheckResult("causality", "pass", f"non-causal by design ({', '.join(by_design)} reads the whole "
                           f"sequence): {leaked}", data=data)
    return CheckResult("causality", "fail", leaked,
                       "a layer reads future steps (a shift, a slice such as x[:, t+1], or a time reversal): "
                       "make it read only steps <= t, or use Bidirectional if that is intended", data)


def _graph_causality(model: Model, p: Problem) -> CheckResult:
    """Causality of a graph per (input, output) pair: every output sequence as long as a float input
    sequence (the inputs' time axes get different lengths in the checks' problem, so equal lengths
    mean the same time axis) must not depend on that input after step t. An input read whole (an
    encoder's source, whose length differs) is not a pair."""
    by_design = _non_causal_layers(model.layers)
    d, axes = _view(model, p)
    z0 = d.z0
    ins = [(k, spec, np.asarray(z)) for k, (spec, z) in enumerate(zip(model.inputs, _parts(z0)))
           if spec.time_axis is not None and np.asarray(z).dtype.kind == "f"]
    y0, _ = d.forward(_copy(z0))
    outs = outputs(y0)
    rng = np.random.default_rng(0)
    pairs = []
    worst = (0.0, -1, "", "")
    for o, yo in enumerate(outs):
        if yo.ndim != 3:
            continue
        tm_out = _output_batch_axis(model, o, yo, 0) == 1
        T_out = yo.shape[0 if tm_out else 1]
        for k, spec, z in ins:
            if z.shape[spec.time_axis] != T_out:
                continue
            oname = model.output_names[o] if len(outs) > 1 else "y"
            pairs.append(f"{oname}←{spec.name}")
            for t in sorted({0, T_out // 2, max(T_out - 2, 0)}):
                y, cache = d.forward(_copy(z0))
                ys = outputs(y)
                dys: list = [None] * len(ys)
                dyb = np.zeros_like(np.swapaxes(ys[o], 0, 1) if tm_out else ys[o])  # (B, T, C)
                dyb[:, t] = rng.standard_normal(dyb[:, t].shape)
                dys[o] = np.swapaxes(dyb, 0, 1) if tm_out else dyb
                back = _parts(d.backward(dys if isinstance(y, list) else dys[0], cache))
                dz = np.moveaxis(np.asarray(back[k]), (spec.batch_axis, spec.time_axis), (0, 1))  # (B, T, F)
                past = float(np.linalg.norm(dz[:, : t + 1])) or 1.0
                r = float(np.linalg.norm(dz[:, t + 1:])) / past
                if r > worst[0]:
                    worst = (r, t, oname, spec.name)
    if not pairs:
        return CheckResult("causality", "pass", f"not applicable: no output sequence runs over an input's time axis "
                           f"({model.mode})", data={"applicable": False})
    data = {"applicable": True, "pairs": pairs, "future_relative": worst[0], "step": worst[1],
            "by_design": by_design}
    return _causality_verdict(
        worst[0], data, by_design, f"y_t depends on no input after t, for {', '.join(pairs)}",
        f"{worst[2]}_{worst[1]} depends on {worst[3]} after step {worst[1]} (relative gradient {worst[0]:.2g})")


def sparkline(values: np.ndarray) -> str:
    """Bars on a log scale between the smallest and the largest value."""
    v = np.log10(np.maximum(np.asarray(values, dtype=np.float64), 1e-300))
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return BARS[-1] * len(v)
    idx = np.round((v - lo) / (hi - lo) * (len(BARS) - 1)).astype(int)
    return "".join(BARS[i] for i in idx)


def _recurrent_layers(model: Model) -> list[tuple[str, Recurrent]]:
    """Every recurrent layer with its path, in forward order: a Bidirectional's two directions as
    ``bidirectional_1/forward_lstm_1`` and ``bidirectional_1/backward_lstm_1``."""
    out: list[tuple[str, Recurrent]] = []

    def walk(layer: Any, prefix: str) -> None:
        for sub in layer.sublayers():
            walk(sub, f"{prefix}{layer.name}/")
        if isinstance(layer, Recurrent) and all(layer is not seen for _, seen in out):
            out.append((prefix + layer.name, layer))
    for layer in model.layers:
        walk(layer, "")
    return out


def _dh_series(twin: Model, p: Problem) -> list[tuple[str, Recurrent, list[float]]]:
    """``(path, layer, ‖dL/dh_t‖ for every t)`` of every recurrent layer, in forward order, read from
    the core's step records during one real backward. t is the step in the layer's processing order
    (a go_backwards layer's step t reads x_{T-1-t}); a layer run one step at a time (OneToMany, a
    generating decoder) is run backward once a step, last step first."""
    from shapeviz.core import backend

    layers = _recurrent_layers(twin)
    calls: dict[str, list[dict[int, float]]] = {path: [] for path, _ in layers}
    running: list[str] = []

    def hook(event: str, t: Any, tensors: dict) -> None:
        if event == "backward" and "dh_t" in tensors and running:
            dh = np.asarray(tensors["dh_t"], dtype=np.float64)
            calls[running[-1]][-1][int(t)] = float(np.sqrt(np.sum(dh * dh)))  # read now: the loop reuses its arrays

    def wrap(path: str, run_backward: Any) -> Any:  # on the twin's instance: which layer the records are of
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[path].append({})
            running.append(path)
            try:
                return run_backward(*args, **kwargs)
            finally:
                running.pop()
        return call

    y, cache = twin.forward(p.x, mask=p.mask, training=False)
    _, lc = p.loss.forward(y, p.y, mask=loss_masks(twin, cache, p.loss))
    for path, layer in layers:
        layer.run_backward = wrap(path, layer.run_backward)  # type: ignore[method-assign]
    try:
        with backend.override(record=hook):
            twin.backward(p.loss.backward(lc), cache)
    finally:
        for _, layer in layers:
            del layer.run_backward
    return [(path, layer, [seg[t] for seg in reversed(calls[path]) for t in sorted(seg)])
            for path, layer in layers if calls[path]]


_SEVERITY = {"pass": 0, "warn": 1, "fail": 2}


def _flow_of(path: str, layer: Recurrent, norms: np.ndarray) -> dict[str, Any]:
    """One layer's series, its numbers, and what they say: ``status``, ``problem`` ("none",
    "no gradient", "vanishing", "exploding") and ``finding`` (words for the evidence)."""
    T = len(norms)
    peak, first, last = float(norms.max()), float(norms[0]), float(norms[-1])
    s: dict[str, Any] = {"layer": path, "go_backwards": bool(layer.go_backwards), "norms": [float(n) for n in norms],
                         "T": T, "first": first, "last": last, "peak": peak, "status": "pass", "problem": "none",
                         "finding": ""}
    if peak == 0.0 or not np.all(np.isfinite(norms)):
        s.update(status="fail", problem="no gradient", finding="no gradient reaches its states" if peak == 0.0
                 else "NaN or inf in its gradient")
        return s
    low, high = first / peak, peak / max(last, 1e-300)
    s.update(vanish_ratio=low, explode_ratio=high)
    if T > 1 and last > 0:  # the mean factor per step back from the last step to step 0
        s["per_step"] = float((first / last) ** (1.0 / (T - 1)))
    if low < 1e-10:
        s.update(status="fail", problem="vanishing", finding=f"vanishing: step 0 gets {low:.0e} of the peak")
    elif high > 1e6 and T > 1 and int(norms.argmax()) < T - 1:
        s.update(status="fail", problem="exploding", finding=f"exploding: {high:.0e} times the last step")
    elif low < 1e-8 or high > 1e3:
        s.update(status="warn", problem="vanishing" if low < 1e-8 else "exploding",
                 finding=f"step 0 gets {low:.0e} of the peak" if low < 1e-8 else f"{high:.0e} times the last step")
    return s


def _flow_line(s: dict[str, Any]) -> str:
    norms = np.array(s["norms"])
    bars = sparkline(norms) if np.all(np.isfinite(norms)) else "NaN or inf"
    ev = f"‖dL/dh_t‖ t=0..{s['T'] - 1}: {bars}  first {s['first']:.1e}, last {s['last']:.1e}, peak {s['peak']:.1e}"
    if "per_step" in s:
        ev += f", ×{s['per_step']:.2f} per step back"
    return ev + (f" — {s['finding']}" if s["finding"] else "")


_FIXES = {
    "no gradient": "the loss does not reach the recurrent states of {names}: look for a detached or zero path",
    "vanishing": "early steps of {names} get no gradient: use an LSTM/GRU, a larger (orthogonal) recurrent "
                 "initialisation, or shorter sequences (truncated BPTT)",
    "exploding": "gradients grow back through time in {names}: clip them (clipnorm=1), scale down the "
                 "recurrent kernel, or use an LSTM/GRU",
}


def gradient_flow(model: Model, p: Problem) -> CheckResult:
    """The norm of dL/dh_t for every t of every recurrent layer (both directions of a Bidirectional,
    each in its processing order), from one real backward pass through the float64 twin.

    A layer fails when its step 0 gets less than 1e-10 of its peak (vanishing), when its gradient
    grows more than 1e6 times back through time (exploding), or when none reaches it; the check
    takes the worst layer's status and names it. ``data["series"]`` holds every layer's numbers;
    ``norms``, ``T`` and the ratios at the top are those of ``data["layer"]``: the first layer
    (in forward order) of the worst status."""
    twin = float64_twin(model)
    x = p.x if not (isinstance(p.x, np.ndarray) and p.x.dtype.kind == "f") else p.x.astype(np.float64)
    series = [_flow_of(path, layer, np.array(norms)) for path, layer, norms in
              _dh_series(twin, Problem(x, p.y, p.mask, p.loss))]
    if not series:
        return CheckResult("gradient flow", "pass", f"not applicable: no recurrent layer ({model.mode})", data={})
    worst = max(series, key=lambda s: _SEVERITY[s["status"]])  # the first of the worst: max keeps the first
    data = {"layer": worst["layer"], "layers": len(series),
            **{k: worst[k] for k in ("norms", "T", "vanish_ratio", "explode_ratio", "per_step") if k in worst},
            "series": series}
    if len(series) == 1:  # one layer: no name needed
        ev = _flow_line(worst)
    else:
        ev = "\n".join(f"{s['layer']}{' (go_backwards: t reads x_{T-1-t})' if s['go_backwards'] else ''}: "
                        f"{_flow_line(s)}" for s in series)
    if worst["status"] == "pass":
        return CheckResult("gradient flow", "pass", ev, data=data)
    same = [s["layer"] for s in series if (s["status"], s["problem"]) == (worst["status"], worst["problem"])]
    names = " and ".join(same)
    if worst["status"] == "warn":
        return CheckResult("gradient flow", "warn", ev,
                           f"watch early steps of {names}: an LSTM/GRU or clipping may be needed", data)
    return CheckResult("gradient flow", "fail", ev, _FIXES[worst["problem"]].format(names=names), data)
