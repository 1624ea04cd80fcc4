"""`shapeviz check`: verify a model's shapes (and, with --data, real arrays) before training."""

from __future__ import annotations

from typing import Any

import click

from shapeviz.cli.common import (PROBLEMS, DataMismatch, add_model_help, build_on, common_options, guarded,
                                 load_npz, load_source, model_inputs, model_options, option_error, output_path,
                                 parse_options, settings_of, trace_loaded)
from shapeviz.cli.deep import deep_check
from shapeviz.cli.limits import budget, data_bytes, data_declaration, max_memory_option
from shapeviz.errors import ShapeError, ShapeVizError


@click.command()
@model_options
@click.option("--expect-output", metavar="SHAPE", help='The output shape you expect, e.g. "(B, 1)".')
@click.option("--expect", "expects", multiple=True, metavar="LAYER=SHAPE",
              help='A layer\'s expected output, e.g. --expect "lstm_1=(B, 128)" (repeatable).')


@click.option("--data", "data", type=click.Path(dir_okay=False), help="An .npz with arrays x and y (and mask): "
              "the model runs on them for real, and their shapes are checked against it.")


@click.option("--deep", is_flag=True, help="Also run the numeric pre-training checks (gradients, batch "
              "independence, causality, loss at init, overfit one batch, gradient flow, data), with the expectations "
              "in the same report: exit 1 if any fails.")


@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="The report as text (a table with --deep) or JSON, printed whether the checks pass or fail.")


@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.svg",
              help="With --deep: also write the gradient-flow series ‖dL/dh_t‖ of every recurrent layer as an SVG plot.")


@max_memory_option
@common_options
@click.pass_context
@guarded
def check(ctx: click.Context, model: str, input_: str | None, dims: tuple[str, ...], expect_output: str | None,
          expects: tuple[str, ...], data: str | None, deep: bool = False, fmt: str = "table",
          plot: str | None = None, max_memory: int | None = None) -> None:
    """Verify MODEL's shapes before training: exit 0 all good, 1 problems found, 2 unusable input.

    \b
    Examples:
      shapeviz check examples/specs/imdb_lstm.toml
      shapeviz check model.py:build --input "(B, T, 2)" --expect-output "(B, 1)"
      shapeviz check examples/specs/addition.toml --data addition.npz
      shapeviz check examples/specs/imdb_lstm.toml --deep --format json
      shapeviz check examples/specs/imdb_lstm.toml --deep --plot flow.svg

    """
    if plot is not None:
        if not deep:
            raise ShapeVizError("--plot draws the gradient flow of the deep checks: add --deep")
        output_path("--plot", plot, ("svg",))  # before the checks run: a folder it can write, a .svg
    from shapeviz.tracing.parse import parse_shape

    wanted: dict[str, str] = {}
    if expect_output is not None:
        try:
            parse_shape(expect_output)
        except ShapeVizError as error:
            raise option_error("--expect-output", error) from None
        wanted["output"] = expect_output
    for item in expects:
        name, sep, shape = item.partition("=")
        if not sep or not name.strip():
            raise ShapeVizError(f"--expect: expected LAYER=SHAPE such as \"lstm_1=(B, 128)\", got {item!r}")
        try:
            parse_shape(shape)
        except ShapeVizError as error:
            raise option_error(f"--expect {name.strip()}", error) from None
        wanted[name.strip()] = shape
    if deep:
        deep_check(ctx, model, input_, dims, data, fmt, plot, wanted, max_memory)
        return
    inputs, given = parse_options(input_, dims)
    arrays = load_npz(data, max_memory, required=()) if data is not None else None
    loaded = load_source(model, inputs)
    graph = hasattr(loaded.model, "input_names")
    if data is not None and not graph:
        load_npz(data, max_memory)  # x and y; a graph model's arrays are named after its inputs (shapeviz.cli.graph_arrays)
    if arrays is not None:  # the real run on all of the data: its parameters, BPTT memory and a copy of x
        budget(loaded.model, data_declaration(loaded.model, arrays), max_memory, f"check --data {data}",
               extra=2 * data_bytes(arrays), extra_what="the data, and the copy of it the run reads")
    if fmt == "json":
        _check_json(ctx, loaded, inputs, given, wanted, arrays, data)
        return
    if arrays is not None and inputs is None and loaded.inputs is None and not graph:
        build_on(loaded.model, arrays, data)  # a Python model learns its input size from the data
    tr = trace_loaded(loaded, inputs, given, expect=wanted, dry=arrays is None)
    console = settings_of(ctx).console()
    console.print(f"✓ shapes: {len(tr.layers)} layers traced forward and backward ({tr.mode}), "
                  f"output {_shape(tr.outputs)}, {len(tr.grads)} gradients of their parameters' shapes",
                  soft_wrap=True)
    checked = {**loaded.expect, **wanted}  # the spec's [expect] and the command line's
    if checked:
        console.print("✓ expectations: " + ", ".join(f"{k} {v}" for k, v in checked.items()), soft_wrap=True)
    if arrays is not None:
        console.print(f"✓ data: {_check_data(loaded, arrays, data)} run through the model", soft_wrap=True)


def _check_json(ctx: click.Context, loaded: Any, inputs: Any, given: dict[str, int], wanted: dict[str, str],
                arrays: dict[str, Any] | None, path: str | None) -> None:
    """``check --format json`` without --deep: the shapes, the expectations and the data as the rows
    of a deep report (``{"model", "ok", "checks": [...]}``), printed whether they pass or fail."""
    import json

    from shapeviz.checks.common import CheckResult
    from shapeviz.render.checks import checks_dict
    from shapeviz.tracing.dims import shape_str

    checked = {**loaded.expect, **wanted}
    skipped = ("skipped: the shapes do not line up", "fix the shapes first")
    results: list[Any] = []
    try:
        if arrays is not None and inputs is None and loaded.inputs is None:
            build_on(loaded.model, arrays, path)
        tr = trace_loaded(loaded, inputs, given, expect=wanted, dry=arrays is None)
    except (ShapeError, DataMismatch) as error:
        results.append(CheckResult("shapes", "fail", str(error).strip(), "see the message: fix the model, the "
                                   "declared input or the data", data={"error": str(error)}))
        if checked:
            results.append(CheckResult("expectations", "warn", *skipped, data={"expect": checked}))
        if arrays is not None:
            results.append(CheckResult("data", "warn", *skipped))
    else:
        results.append(CheckResult(
            "shapes", "pass", f"{len(tr.layers)} layers traced forward and backward ({tr.mode}), output "
            f"{_shape(tr.outputs)}, {len(tr.grads)} gradients of their parameters' shapes",
            data={"layers": len(tr.layers), "mode": tr.mode,
                  "outputs": {k: shape_str(v) for k, v in tr.outputs.items()}}))
        if checked:
            results.append(CheckResult("expectations", "pass", ", ".join(f"{k} {v}" for k, v in checked.items()),
                                       data={"expect": checked}))
        if arrays is not None:
            try:
                shapes = _check_data(loaded, arrays, path)
            except DataMismatch as error:
                results.append(CheckResult("data", "fail", str(error).strip(), "make the arrays fit the model, "
                                           "or the model the arrays", data={"error": str(error)}))
            else:
                results.append(CheckResult("data", "pass", f"{shapes} run through the model",
                                           data={k: list(v.shape) for k, v in arrays.items()}))
    click.echo(json.dumps(checks_dict(results, loaded.source), indent=2))
    if any(r.status == "fail" for r in results):
        ctx.exit(PROBLEMS)


def _shape(shapes: dict[str, Any]) -> str:
    from shapeviz.tracing.dims import shape_str

    return ", ".join(shape_str(s) for s in shapes.values())


def _check_data(loaded: Any, arrays: dict[str, Any], path: str) -> str:
    """Run the model on the arrays for real: their shapes as text, or a DataMismatch."""
    from shapeviz.train.diagnose import check_arrays

    model = loaded.model
    if hasattr(model, "input_names"):  # a graph: arrays named after its inputs and outputs
        from shapeviz.cli.graph_arrays import graph_arrays
        x, y, mask, _ = graph_arrays(model, arrays, path)
    else:
        x, y, mask = model_inputs(model, arrays, path), arrays["y"], arrays.get("mask")
    loss = None if model.loss is not None else (loaded.loss or "mse")
    try:
        check_arrays(model, x, y, mask, loss=loss)  # what train checks, then one pass
    except ShapeVizError as error:
        raise DataMismatch(f"the arrays in {path!r} do not fit the model:\n{error}") from None
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())


add_model_help(check)
