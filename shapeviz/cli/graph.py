"""`shapeviz graph`: the model unrolled in time (or rolled), as SVG, PNG, PDF, DOT or text."""

from __future__ import annotations

import click

from shapeviz.cli.common import (add_model_help, common_options, guarded, load_source, model_options, output_path,
                                 parse_options, trace_loaded, write_file)

GRAPH_FORMATS = ("svg", "png", "pdf", "dot", "txt")


@click.command()
@model_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .svg, .png, .pdf (needs a system Graphviz), .dot or .txt.")


@click.option("--unroll", default=3, show_default=True, type=click.IntRange(1, 50),
              help="Steps drawn before a long sequence collapses into '…' and its last step.")


@click.option("--rolled", is_flag=True, help="One box per layer with a self-loop × T, instead of unrolled.")
@common_options
@click.pass_context
@guarded
def graph(ctx: click.Context, model: str, input_: str | None, dims: tuple[str, ...], output: str, unroll: int,
          rolled: bool) -> None:
    """Draw MODEL unrolled in time, as Karpathy draws the five modes.

    \b
    Examples:
      shapeviz graph examples/specs/addition.toml -o addition.svg
      shapeviz graph examples/specs/imdb_lstm.toml -o imdb.png --unroll 2
      shapeviz graph model.py:build --input "(B, T, 2)" -o model.txt --rolled

    """
    path = output_path("-o", output, GRAPH_FORMATS)
    fmt = path.suffix.lower().lstrip(".")
    inputs, given = parse_options(input_, dims)
    from shapeviz.render.output import engine_for, to_bytes

    if fmt == "pdf":
        engine_for("pdf")  # no system Graphviz: say so before tracing
    tr = trace_loaded(load_source(model, inputs), inputs, given, backward=False)
    if fmt == "txt":
        from shapeviz.render.text import text_diagram

        data = text_diagram(tr, unroll=unroll, rolled=rolled).encode("utf-8")
    else:
        from shapeviz.render.graph import rolled_graph, unrolled_graph

        g = rolled_graph(tr) if rolled else unrolled_graph(tr, unroll=unroll)
        data = g.source.encode("utf-8") if fmt == "dot" else to_bytes(g, fmt)
    write_file(path, data)
    click.echo(f"wrote {path} ({tr.mode}, {len(data)} bytes)")

add_model_help(graph)
