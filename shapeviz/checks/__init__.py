"""Deep pre-training checks: ``run(model)`` returns one :class:`CheckResult` per check, ``assert_sane`` fails a test.

The checks (issue 6): shapes, gradients, batch independence, causality, initial loss,
overfit one batch, gradient flow over time, and data (when arrays are given). Numeric
checks run the model's own forward and backward code on a float64 copy, on a tiny
batch (B=2, T=4 unless ``inputs``/``data`` say otherwise), so the model is not changed.

Use in a project's own tests::

    from shapeviz.checks import assert_sane

    def test_model_is_sane():
        assert_sane(build_model(), steps=100)   # AssertionError listing the failed checks

Records only: nothing here prints; ``shapeviz.render.checks`` draws the table.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from shapeviz.checks.common import CheckResult, data_arrays, first_samples, float64_twin, make_problem, pick_loss
from shapeviz.checks.numeric import batch_independence, causality, gradient_flow, gradients, sparkline
from shapeviz.checks.structure import data_check, shapes
from shapeviz.checks.training import initial_loss, overfit
from shapeviz.core.model import Model

__all__ = ["CheckResult", "run", "assert_sane", "failures", "float64_twin", "sparkline", "CHECKS"]

CHECKS = ("shapes", "gradients", "batch independence", "causality", "initial loss", "overfit one batch",
          "gradient flow", "data")


def _guard(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    """A check that crashes is reported as failed with the error, and the other checks still run."""
    try:
        return fn()
    except Exception as error:  # noqa: BLE001 - one broken check must not hide the others
        return CheckResult(name, "fail", f"the check could not run: {type(error).__name__}: {error}",
                           "fix the error above (the shapes check usually says where)", {"error": str(error)})


def run(model: Model, inputs: Any = None, data: dict | None = None, *, dims: Any = None, seed: int = 0,
        steps: int = 300, learning_rate: Any = (0.01, 0.001), loss: Any = None, only: Any = None) -> list[CheckResult]:
    """Run the deep checks on ``model``.

    Args:
        model: a built model (or one ``inputs``/``data`` can build).
        inputs: a concrete input batch (array; a tuple for an encoder-decoder), or a symbolic
            declaration such as ``"(B, T, 2)"`` traced in addition; by default a random batch.
        data: arrays ``{"x": ..., "y": ..., "mask": ...}`` (an .npz's contents): the numeric checks
            run on its first samples and the data check inspects all of it.
        dims: sizes for a symbolic declaration's names, e.g. ``{"B": 32}``.
        seed: seeds the random batches.
        steps, learning_rate: the overfit check's Adam budget.
        loss: the loss (default: the compiled one, else the one the head implies).
        only: names of the checks to run (default: all).

    Returns:
        One :class:`CheckResult` per check, in :data:`CHECKS` order.
    """
    wanted = set(CHECKS if only is None else only)
    declared = inputs if isinstance(inputs, (str, list)) or (isinstance(inputs, tuple) and inputs
                                                             and not isinstance(inputs[0], np.ndarray)) else None
    arrays = None if declared is not None else inputs
    if data is not None:
        data = {k: np.asarray(v) for k, v in data.items()}
    if not model.built:
        x0 = arrays
        if data is not None:
            x0 = first_samples(model, data_arrays(model, data)[0], 1)
        if x0 is None:
            raise ValueError(f"{model.summary_name()} is not built: pass inputs= or data=, or build it")
        model.forward(x0, training=False)
    lo = pick_loss(model, loss)
    results: list[CheckResult] = []
    data_result = None
    if data is not None and "data" in wanted:
        sizes = {k: int(v) for k, v in _sizes(dims).items()}
        data_result = _guard("data", lambda: data_check(model, data, lo, sizes))
    holder: dict[str, Any] = {}

    def problem() -> Any:
        if "p" not in holder:
            holder["p"] = make_problem(model, arrays, data, loss=lo, seed=seed)
        return holder["p"]

    table: list[tuple[str, Callable[[], CheckResult]]] = [
        ("shapes", lambda: shapes(model, problem(), declared=declared, dims=dims)),
        ("gradients", lambda: gradients(model, problem(), seed=seed)),
        ("batch independence", lambda: batch_independence(model, problem())),
        ("causality", lambda: causality(model, problem())),
        ("initial loss", lambda: initial_loss(model, arrays, data, loss=lo, seed=seed)),
        ("overfit one batch", lambda: overfit(model, arrays, data, loss=lo, steps=steps,
                                              learning_rate=learning_rate, seed=seed)),
        ("gradient flow", lambda: gradient_flow(model, _flow_problem(model, arrays, data, lo, seed))),
    ]
    broken = data_result is not None and data_result.status == "fail"
    for name, fn in table:
        if name not in wanted:
            continue
        if name != "shapes" and results and results[0].name == "shapes" and results[0].status == "fail":
            results.append(CheckResult(name, "warn", "skipped: the shapes do not line up", "fix the shapes first"))
            continue
        if broken and name != "shapes":
            results.append(CheckResult(name, "warn", "skipped: the data check failed", "fix the data first"))
            continue
        results.append(_guard(name, fn))
    if data_result is not None:
        results.append(data_result)
    return results


def _sizes(dims: Any) -> dict:
    if dims is None:
        return {}
    from shapeviz.tracing.parse import parse_dims

    return dict(parse_dims(dims))


def _flow_problem(model: Model, arrays: Any, data: dict | None, lo: Any, seed: int) -> Any:
    """Gradient flow needs some length to show a trend: T=32 unless the inputs are given."""
    return make_problem(model, arrays, data, loss=lo, B=2, T=32, seed=seed)


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status == "fail"]


def assert_sane(model: Any, inputs: Any = None, **kwargs: Any) -> list[CheckResult]:
    """Run :func:`run` and raise ``AssertionError`` listing every failed check (name, evidence, fix).

    Args:
        model: a model, or any source :func:`shapeviz.load` reads: a spec file (``"model.toml"``,
            whose input declaration, dims and loss are used unless given here) or Python code
            (``"path/to/file.py:build"``, ``"package.module:build"``).
        inputs: as for :func:`run`; ``**kwargs`` too (``data=``, ``steps=``, ``only=[...]``, ...).

    Returns:
        The results, when nothing failed (warnings included, for the caller to inspect).
    """
    from shapeviz.frontends import load

    loaded = load(model)
    model = loaded.model
    if loaded.inputs is not None:  # a spec: what it declares, unless given here (as `check --deep` reads it)
        if loaded.dims:
            kwargs.setdefault("dims", loaded.dims)
        if loaded.loss is not None and model.loss is None:  # a compiled loss knows from_logits
            kwargs.setdefault("loss", loaded.loss)
        if inputs is None:
            if not model.built and kwargs.get("data") is None:
                from shapeviz.tracing.tracer import trace

                trace(model, loaded.inputs, dims=kwargs.get("dims"))  # builds the layers on the declared sizes
            inputs = loaded.inputs if model.built else None  # else the data builds it
    results = run(model, inputs, **kwargs)
    bad = failures(results)
    if bad:
        lines = [f"{len(bad)} of {len(results)} shapeviz checks failed for {model.summary_name()}:"]
        lines += [f"- {r.name}: {r.evidence}" + (f"\n  fix: {r.fix}" if r.fix else "") for r in bad]
        raise AssertionError("\n".join(lines))
    return results
