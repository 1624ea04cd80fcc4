"""`shapeviz modes`: the five sequence modes, each as a table and a diagram."""

from __future__ import annotations

from pathlib import Path

import click

from shapeviz.cli.common import common_options, guarded, settings_of, writable_folder, write_file
from shapeviz.errors import ShapeVizError


@click.command()
@click.option("-o", "--output-dir", type=click.Path(file_okay=False),
              help="Also write each mode's diagram as DIR/<mode>.svg and DIR/<mode>.txt (10 files).")


@click.option("--quiet", "-q", is_flag=True, help="Only the tables, not the text diagrams.")
@common_options
@click.pass_context
@guarded
def modes(ctx: click.Context, output_dir: str | None, quiet: bool) -> None:
    """The five sequence modes, each as a table and a diagram.

    \b
    Examples:
      shapeviz modes
      shapeviz modes -o modes/
    """
    from shapeviz.modes import CANONICAL
    from shapeviz.render.tables import summary_table
    from shapeviz.render.text import text_diagram
    from shapeviz.tracing.tracer import trace

    out = Path(output_dir) if output_dir else None
    if out is not None and not out.parent.is_dir():
        what = "does not exist" if not out.parent.exists() else "is a file, not a folder"
        raise ShapeVizError(f"-o: cannot write into {output_dir!r}: the folder {str(out.parent)!r} {what}")
    if out is not None:  # before any picture is made: the files can be written there
        writable_folder("-o", output_dir, out if out.is_dir() else out.parent)
    console = settings_of(ctx).console()
    files: dict[str, bytes] = {}
    for mode, (build, inputs, about) in CANONICAL.items():
        tr = trace(build(), inputs)
        console.rule(f"{mode}: {about}")
        console.print(summary_table(tr))
        text = text_diagram(tr)
        if not quiet:
            console.print(text, markup=False, highlight=False)
        if out is not None:
            from shapeviz.render.graph import unrolled_graph
            from shapeviz.render.output import to_bytes

            stem = mode.replace(" ", "_").replace("-", "_")
            files[f"{stem}.txt"] = text.encode("utf-8")
            files[f"{stem}.svg"] = to_bytes(unrolled_graph(tr), "svg")
    if out is not None:  # every picture made before the first file is written
        try:
            out.mkdir(exist_ok=True)
        except OSError as error:
            raise ShapeVizError(f"cannot make the folder {output_dir!r}: {error.strerror or error}") from None
        for name, data in files.items():
            write_file(out / name, data)
        click.echo(f"wrote the five modes to {out}/ ({len(files)} files, .svg and .txt)")
