"""`shapeviz report`: the shape of every layer, state and gradient, and what it costs, as tables or JSON."""

from __future__ import annotations


import click

from shapeviz.cli.common import (add_model_help, common_options, guarded, load_source, model_options, parse_options,
                                 settings_of, show_partial, trace_loaded)
from shapeviz.errors import ShapeError


@click.command()
@model_options
@click.option("--steps", is_flag=True, help="Also show every recurrent layer's tensors at the traced timesteps.")
@click.option("--grads", is_flag=True, help="Also show every gradient's shape (backward pass).")
@click.option("--cost", is_flag=True,
              help="Also show MACs and FLOPs per layer and per timestep, forward and backward, as formulas in the dims.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Only the summary table, without the dims legend.")
@common_options
@click.pass_context
@guarded
def report(ctx: click.Context, model: str, input_: str | None, dims: tuple[str, ...], steps: bool, grads: bool,
           cost: bool, fmt: str, quiet: bool) -> None:
    """Trace MODEL and print the shape of every layer, state and gradient.

    The summary's Mult-Adds column is each layer's forward multiply-accumulates, a formula in the
    dims (and its value once they are bound); --cost adds FLOPs, the backward pass and the cost of
    each timestep. The JSON carries them all.

    \b
    Examples:
      shapeviz report examples/specs/imdb_lstm.toml
      shapeviz report examples/specs/addition.toml --steps --grads
      shapeviz report examples/specs/imdb_lstm.toml --cost
      shapeviz report model.py:build --input "(B, T, 2)" --dim B=32 --format json

    """
    inputs, given = parse_options(input_, dims)
    loaded = load_source(model, inputs)
    try:
        tr = trace_loaded(loaded, inputs, given)
    except ShapeError as error:
        if fmt == "table":
            show_partial(ctx, error)  # the layers before the failure; the error follows
        raise
    if fmt == "json":
        from shapeviz.render.jsonform import dumps

        click.echo(dumps(tr))
        return
    from shapeviz.render.tables import bindings_table, cost_table, grads_table, steps_table, summary_table

    console = settings_of(ctx).console()
    if loaded.note:  # what the front end verified (a torch twin's match)
        console.print(loaded.note)
    if getattr(loaded.model, "_keras_source", None) is not None:  # an imported model: say what was read
        console.print(f"from {loaded.source}", markup=False, highlight=False, soft_wrap=True)
    console.print(summary_table(tr))
    if cost:
        console.print()
        console.print(cost_table(tr))
    if steps:
        for record in tr.layers:
            if record.states and record.depth >= 0 and tr.steps_of(record.path):
                console.print()
                console.print(steps_table(tr, record.path, backward=grads))
    if grads:
        console.print()
        console.print(grads_table(tr))
    if not quiet:
        console.print()
        console.print(bindings_table(tr))


add_model_help(report)
