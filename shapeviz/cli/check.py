"""`shapeviz check`: verify a model's shapes (and, with --data, real arrays) before training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shapeviz.cli.common import (add_model_help, build_on, common_options, guarded, load_npz, load_source,
                                 model_inputs, model_options, option_error, parse_options, settings_of,
                                 trace_loaded)
from shapeviz.cli.deep import deep_check
from shapeviz.errors import ShapeVizError


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
              help="The --deep report as a table or JSON.")


@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.svg",
              help="With --deep: also write the gradient-flow series ‖dL/dh_t‖ of every recurrent layer as an SVG plot.")


@common_options
@click.pass_context
@guarded
def check(ctx: click.Context, model: str, input_: str | None, dims: tuple[str, ...], expect_output: str | None,
          expects: tuple[str, ...], data: str | None, deep: bool = False, fmt: str = "table",
          plot: str | None = None) -> None:
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
        target = Path(plot)
        if target.suffix.lower() != ".svg":
            raise ShapeVizError(f"--plot {plot!r}: the plot is an SVG, give a file ending in .svg")
        if not target.parent.is_dir():
            raise ShapeVizError(f"--plot {plot!r}: the directory {str(target.parent)!r} does not exist")
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
        deep_check(ctx, model, input_, dims, data, fmt, plot, wanted)
        return
    inputs, given = parse_options(input_, dims)
    arrays = load_npz(data) if data is not None else None
    loaded = load_source(model)
    if arrays is not None and inputs is None and loaded.inputs is None:
        build_on(loaded.model, arrays, data)  # a Python model learns its input size from the data
    tr = trace_loaded(loaded, inputs, given, expect=wanted)
    console = settings_of(ctx).console()
    console.print(f"✓ shapes: {len(tr.layers)} layers traced forward and backward ({tr.mode}), "
                  f"output {_shape(tr.outputs)}, {len(tr.grads)} gradients of their parameters' shapes",
                  soft_wrap=True)
    checked = {**loaded.expect, **wanted}  # the spec's [expect] and the command line's
    if checked:
        console.print("✓ expectations: " + ", ".join(f"{k} {v}" for k, v in checked.items()), soft_wrap=True)
    if arrays is not None:
        _check_data(loaded, arrays, data, console)


def _shape(shapes: dict[str, Any]) -> str:
    from shapeviz.tracing.dims import shape_str

    return ", ".join(shape_str(s) for s in shapes.values())


def _check_data(loaded: Any, arrays: dict[str, Any], path: str, console: Any) -> None:
    from shapeviz.train.diagnose import check_arrays

    model = loaded.model
    x = model_inputs(model, arrays, path)
    loss = None if model.loss is not None else (loaded.loss or "mse")
    try:
        check_arrays(model, x, arrays["y"], arrays.get("mask"), loss=loss)  # what train checks, then one pass
    except ShapeVizError as error:
        raise ShapeVizError(f"the arrays in {path!r} do not fit the model:\n{error}") from None
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    console.print(f"✓ data: {shapes} run through the model", soft_wrap=True)


add_model_help(check)
