"""`shapeviz check --deep`: the numeric pre-training checks and the expectations, as one report."""

from __future__ import annotations

from typing import Any

import click

from shapeviz.cli.common import (PROBLEMS, Settings, build_on, check_dim_names, declarations, load_npz, load_source,
                                 parse_options)
from shapeviz.cli.limits import deep_budget
from shapeviz.errors import ShapeError, ShapeVizError


def deep_check(ctx: click.Context, ref: str, input_: str | None, dims: tuple[str, ...], data: str | None,
               fmt: str, plot: str | None = None, expect: dict[str, str] | None = None,
               max_memory: int | None = None) -> None:
    """``check --deep``: every check of :mod:`shapeviz.checks` as a table (or JSON), and the expectations
    (the spec's and ``--expect``'s) as a plain check verifies them; exit 1 if one fails."""
    import json

    from shapeviz.checks import CHECKS, CheckResult, run
    from shapeviz.render.checks import checks_dict, checks_table

    # the same checks of the options and the data file, with the same messages, as a plain check
    inputs, given = parse_options(input_, dims)
    arrays = load_npz(data, max_memory, required=()) if data is not None else None
    loaded = load_source(ref, inputs)
    if data is not None and not hasattr(loaded.model, "input_names"):
        load_npz(data, max_memory)  # x and y; a graph model's arrays are named after its inputs (shapeviz.checks.common)
    declared = inputs if inputs is not None else loaded.inputs
    sizes = {**loaded.dims, **given}
    if declared is not None:
        check_dim_names(given, [declared, loaded.labels, loaded.mask, *loaded.expect.values(),
                                *(expect or {}).values()])
    deep_budget(loaded, declared, sizes, arrays, data, max_memory)
    checked = {**loaded.expect, **(expect or {})}
    broken = None
    if not loaded.model.built and arrays is None and declared is not None:
        from shapeviz.tracing.tracer import trace

        try:
            trace(loaded.model, declared, dims=sizes)  # builds the layers on the declared sizes
        except ShapeError as error:  # the report still says so, in the format asked for
            broken = error
    if broken is not None:
        if checked:
            check_expectation_names(loaded, declared, sizes, checked)
        results = [CheckResult("shapes", "fail", str(broken).strip(), "see the message: fix the shapes or the input "
                               "declaration", data={"error": str(broken)})]
        results += [CheckResult(name, "warn", "skipped: the shapes do not line up", "fix the shapes first")
                    for name in CHECKS if name not in ("shapes", "data")]
    else:
        # before the slow checks: an expectation naming no layer of the model is unusable input (exit 2)
        mismatch = _trace_expectations(loaded, inputs, given, checked, arrays, data) if checked else None
        results = run(loaded.model, declared if loaded.model.built else None, arrays, dims=sizes,
                      loss=loaded.loss if loaded.model.loss is None else None)  # a compiled loss knows from_logits
    if checked and broken is None:
        shapes = next((i for i, r in enumerate(results) if r.name == "shapes"), None)
        listed = ", ".join(f"{k} {v}" for k, v in checked.items())
        if mismatch is None:
            row = CheckResult("expectations", "pass", listed, data={"expect": checked})
        elif shapes is not None and results[shapes].status == "fail":  # the same error, found by the shapes check
            row = CheckResult("expectations", "warn", "skipped: the shapes do not line up", "fix the shapes first",
                              data={"expect": checked})
        else:
            row = CheckResult("expectations", "fail", str(mismatch).strip(), "change the model, or what you expect",
                              data={"expect": checked, "error": str(mismatch)})
        results.insert(0 if shapes is None else shapes + 1, row)
    elif checked:
        results.insert(1, CheckResult("expectations", "warn", "skipped: the shapes do not line up",
                                      "fix the shapes first", data={"expect": checked}))
    if fmt == "json":
        click.echo(json.dumps(checks_dict(results, loaded.source), indent=2, default=float))
    else:
        ctx.ensure_object(Settings).console().print(checks_table(results, f"deep checks of {loaded.source}"))
    if plot is not None and broken is None:
        from shapeviz.render.checks import flow_svg
        from shapeviz.render.output import write_atomic

        flow = next((r for r in results if r.name == "gradient flow" and r.data.get("norms")), None)
        if flow is None:
            raise ShapeVizError(f"--plot: no gradient-flow series to draw ({loaded.source} has no recurrent layer, "
                                "or the check was skipped)")
        series = {s["layer"]: s["norms"] for s in flow.data.get("series", [])}  # every recurrent layer
        write_atomic(plot, flow_svg(series if len(series) > 1 else flow.data["norms"]).encode("utf-8"))
        if fmt != "json":
            layers = f" of {len(series)} recurrent layers" if len(series) > 1 else ""
            lengths = dict.fromkeys(len(v) for v in series.values()) or {len(flow.data["norms"]): None}
            click.echo(f"wrote {plot} (the gradient flow{layers} over {' and '.join(map(str, lengths))} steps)")
    if any(r.status == "fail" for r in results):
        ctx.exit(PROBLEMS)


def _trace_expectations(loaded: Any, inputs: Any, given: dict[str, int], checked: dict[str, str],
                        arrays: dict[str, Any] | None, path: str | None) -> ShapeError | None:
    """``check --deep``'s expectations, traced on the input a plain check would trace: the mismatch found
    (for the report), or None. A layer name the model does not have raises (unusable input)."""
    import copy

    from shapeviz.tracing.tracer import trace

    model = loaded.model
    if arrays is not None and not model.built:
        if inputs is None and loaded.inputs is None:
            build_on(model, arrays, path)  # as a plain check does: the sample the deep checks build it on
        else:
            model = copy.deepcopy(model)  # the deep checks build it on the data, not on the declaration
    declared, sizes = declarations(loaded, inputs, given, also=list(checked.values()))
    try:
        trace(model, declared, dims=sizes, expect=checked, loss=loaded.loss, roles=loaded.roles, backward=False)
    except ShapeError as error:
        return error
    return None


def check_expectation_names(loaded: Any, declared: Any, sizes: dict[str, int], checked: dict[str, str]) -> None:
    """An expectation naming no layer of the model is unusable input (exit 2), even when the shapes fail."""
    from shapeviz.tracing import hints

    def paths(layer: Any, prefix: str = "") -> list[str]:
        path = prefix + layer.name
        return [path] + [p for sub in layer.sublayers() for p in paths(sub, path + "/")]

    class _Names:  # what hints.check_expectation_names reads of a trace session
        registered = [p for layer in loaded.model.layers for p in paths(layer)]

    hints.check_expectation_names(_Names(), checked)  # type: ignore[arg-type]
