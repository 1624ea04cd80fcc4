"""The `shapeviz` command line: shape reports, diagrams, checks and training.

Only this module prints and writes files; it turns every shapeviz error into one message
without a traceback (``--debug`` shows it) and exits 0 when all is well, 1 when problems
were found (a shape mismatch), 2 when the input is unusable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from shapeviz import __version__
from shapeviz.errors import ShapeError, ShapeVizError

PROBLEMS, UNUSABLE = 1, 2
GRAPH_FORMATS = ("svg", "png", "pdf", "dot", "txt")

MODEL_HELP = ("MODEL is a spec file (model.toml, model.json: no code runs) or Python code that makes "
              "the model: path/to/file.py:build or package.module:build (this runs that code, as pytest "
              "runs a test file; build is a model or a function returning one).")


class Settings:
    def __init__(self, no_color: bool, debug: bool) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.debug = debug

    def console(self, stderr: bool = False) -> Any:
        from rich.console import Console

        return Console(stderr=stderr, no_color=self.no_color, highlight=False, soft_wrap=False)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    settings: Settings = ctx.obj
    console = settings.console(stderr=True)
    from rich.text import Text

    console.print(Text(f"error: {message}", style="bold red" if not settings.no_color else ""), soft_wrap=True)
    ctx.exit(code)


def guarded(fn: Callable) -> Callable:
    """Run a command: shapeviz errors become a message and an exit code, never a traceback."""

    def run(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        settings: Settings = ctx.obj
        try:
            return fn(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except ShapeError as error:
            if settings.debug:
                raise
            _fail(ctx, str(error), PROBLEMS)
        except ShapeVizError as error:
            if settings.debug:
                raise
            _fail(ctx, str(error), UNUSABLE)
        except KeyboardInterrupt:
            if settings.debug:
                raise
            _fail(ctx, "interrupted", 130)
        except Exception as error:  # noqa: BLE001 - a bug of ours, reported without a traceback
            if settings.debug:
                raise
            _fail(ctx, f"internal error ({type(error).__name__}: {error}); run with --debug for the traceback",
                  UNUSABLE)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="shapeviz")
@click.option("--no-color", is_flag=True, help="No colour in the output (also when NO_COLOR is set).")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def main(ctx: click.Context, no_color: bool, debug: bool) -> None:
    """Show and verify the (batch, seq_len, features) shapes of recurrent networks.

    \b
    Examples:
      shapeviz report examples/specs/imdb_lstm.toml
      shapeviz graph examples/specs/addition.toml -o addition.svg
      shapeviz check model.py:build --input "(B, T, 2)" --expect-output "(B, 1)"
      shapeviz modes -o modes/
    """
    ctx.obj = Settings(no_color, debug)


# -- shared options ------------------------------------------------------------------------
def model_options(fn: Callable) -> Callable:
    fn = click.option("--dim", "dims", multiple=True, metavar="NAME=SIZE",
                      help="A size for a named dim, e.g. --dim B=32 --dim T=80 (repeatable).")(fn)
    fn = click.option("--input", "input_", metavar="SHAPE",
                      help='The input shape, e.g. "(B, T, 2)" or "batch=32, seq_len=80, features=2"; '
                           "an encoder-decoder takes two, separated by ';'. A spec gives its own.")(fn)
    return click.argument("model", metavar="MODEL")(fn)


def _declarations(loaded: Any, input_: str | None, dims: tuple[str, ...]) -> tuple[Any, dict[str, int]]:
    from shapeviz.loading import default_inputs
    from shapeviz.tracing.parse import parse_dims

    inputs = loaded.inputs
    if input_ is not None:
        parts = [p.strip() for p in input_.split(";")]
        inputs = parts[0] if len(parts) == 1 else tuple(parts)
    if inputs is None:
        inputs = default_inputs(loaded.model)
    if inputs is None:
        raise ShapeVizError(f"{loaded.source}: give the input shape with --input, e.g. --input \"(B, T, 2)\" "
                            "(a Python model does not declare one, and this one is not built yet)")
    given = dict(loaded.dims)
    for name, value in parse_dims(list(dims)).items():
        if name in given and given[name] != value:
            raise ShapeVizError(f"dim {name} is given twice with different sizes: {given[name]} in "
                                f"{loaded.source} and {value} on the command line")
        given[name] = value
    return inputs, given


def _trace(model: str, input_: str | None, dims: tuple[str, ...], expect: dict[str, str] | None = None,
           **kwargs: Any) -> tuple[Any, Any]:
    from shapeviz.loading import load_model
    from shapeviz.tracing.tracer import trace

    loaded = load_model(model)
    inputs, given = _declarations(loaded, input_, dims)
    wanted = dict(loaded.expect)
    wanted.update(expect or {})
    tr = trace(loaded.model, inputs, dims=given, expect=wanted, labels=loaded.labels, mask=loaded.mask,
               loss=loaded.loss if loaded.labels else None, roles=loaded.roles, **kwargs)
    return loaded, tr


# -- report --------------------------------------------------------------------------------
@main.command()
@model_options
@click.option("--steps", is_flag=True, help="Also show every recurrent layer's tensors at the traced timesteps.")
@click.option("--grads", is_flag=True, help="Also show every gradient's shape (backward pass).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Only the summary table, without the dims legend.")
@click.pass_context
@guarded
def report(ctx: click.Context, model: str, input_: str | None, dims: tuple[str, ...], steps: bool, grads: bool,
           fmt: str, quiet: bool) -> None:
    """Trace MODEL and print the shape of every layer, state and gradient.

    \b
    Examples:
      shapeviz report examples/specs/imdb_lstm.toml
      shapeviz report examples/specs/addition.toml --steps --grads
      shapeviz report model.py:build --input "(B, T, 2)" --dim B=32 --format json

    """
    loaded, tr = _trace(model, input_, dims)
    if fmt == "json":
        from shapeviz.render.jsonform import dumps

        click.echo(dumps(tr))
        return
    from shapeviz.render.tables import bindings_table, grads_table, steps_table, summary_table

    console = ctx.obj.console()
    console.print(summary_table(tr))
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


report.__doc__ = (report.__doc__ or "") + MODEL_HELP


# -- graph ---------------------------------------------------------------------------------
@main.command()
@model_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .svg, .png, .pdf (needs a system Graphviz), .dot or .txt.")
@click.option("--unroll", default=3, show_default=True, type=click.IntRange(1, 50),
              help="Steps drawn before a long sequence collapses into '…' and its last step.")
@click.option("--rolled", is_flag=True, help="One box per layer with a self-loop × T, instead of unrolled.")
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
    path = Path(output)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in GRAPH_FORMATS:
        raise ShapeVizError(f"cannot write {output!r}: the extension must be one of "
                            f"{', '.join('.' + f for f in GRAPH_FORMATS)}, got {path.suffix or 'none'!r}")
    if not path.parent.exists() or not path.parent.is_dir():
        raise ShapeVizError(f"cannot write {output!r}: the directory {str(path.parent)!r} does not exist")
    _, tr = _trace(model, input_, dims, backward=False)
    from shapeviz.render.output import to_bytes, write_atomic

    if fmt == "txt":
        from shapeviz.render.text import text_diagram

        data = text_diagram(tr, unroll=unroll, rolled=rolled).encode("utf-8")
    else:
        from shapeviz.render.graph import rolled_graph, unrolled_graph

        g = rolled_graph(tr) if rolled else unrolled_graph(tr, unroll=unroll)
        data = g.source.encode("utf-8") if fmt == "dot" else to_bytes(g, fmt)
    write_atomic(path, data)
    click.echo(f"wrote {path} ({tr.mode}, {len(data)} bytes)")


graph.__doc__ = (graph.__doc__ or "") + MODEL_HELP


# -- check ---------------------------------------------------------------------------------
@main.command()
@model_options
@click.option("--expect-output", metavar="SHAPE", help='The output shape you expect, e.g. "(B, 1)".')
@click.option("--expect", "expects", multiple=True, metavar="LAYER=SHAPE",
              help='A layer\'s expected output, e.g. --expect "lstm_1=(B, 128)" (repeatable).')
@click.option("--data", "data", type=click.Path(dir_okay=False), help="An .npz with arrays x and y (and mask): "
              "the model runs on them for real, and their shapes are checked against it.")
@click.pass_context
@guarded
def check(ctx: click.Context, model: str, input_: str | None, dims: tuple[str, ...], expect_output: str | None,
          expects: tuple[str, ...], data: str | None) -> None:
    """Verify MODEL's shapes before training: exit 0 all good, 1 problems found, 2 unusable input.

    \b
    Examples:
      shapeviz check examples/specs/imdb_lstm.toml
      shapeviz check model.py:build --input "(B, T, 2)" --expect-output "(B, 1)"
      shapeviz check examples/specs/addition.toml --data addition.npz

    """
    from shapeviz.tracing.parse import parse_shape

    wanted: dict[str, str] = {}
    if expect_output:
        parse_shape(expect_output)
        wanted["output"] = expect_output
    for item in expects:
        name, sep, shape = item.partition("=")
        if not sep or not name.strip():
            raise ShapeVizError(f"--expect takes LAYER=SHAPE such as \"lstm_1=(B, 128)\", got {item!r}")
        parse_shape(shape)
        wanted[name.strip()] = shape
    loaded, tr = _trace(model, input_, dims, expect=wanted)
    console = ctx.obj.console()
    console.print(f"✓ shapes: {len(tr.layers)} layers traced forward and backward ({tr.mode}), "
                  f"output {_shape(tr.outputs)}, {len(tr.grads)} gradients of their parameters' shapes",
                  soft_wrap=True)
    if wanted:
        console.print("✓ expectations: " + ", ".join(f"{k} {v}" for k, v in wanted.items()), soft_wrap=True)
    if data is not None:
        _check_data(loaded, data, console)


def _shape(shapes: dict[str, Any]) -> str:
    from shapeviz.tracing.dims import shape_str

    return ", ".join(shape_str(s) for s in shapes.values())


def _load_npz(path: str) -> dict[str, Any]:
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ShapeVizError(f"cannot read {path!r}: there is no such file")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as error:  # noqa: BLE001 - not an npz, or pickled objects
        raise ShapeVizError(f"cannot read {path!r} as an .npz of arrays: {error}") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ShapeVizError(f"{path!r} has no array {' or '.join(repr(m) for m in missing)}: it holds "
                            f"{sorted(arrays) or 'nothing'}; save it with np.savez(path, x=..., y=...)")
    return arrays


def _check_data(loaded: Any, path: str, console: Any) -> None:
    from shapeviz.tracing.tracer import trace

    arrays = _load_npz(path)
    x = arrays["x"]
    if loaded.model.kind == "encoder_decoder":
        if "x_dec" not in arrays:
            raise ShapeVizError(f"{path!r}: an encoder-decoder needs x (source), x_dec (decoder inputs) and y")
        x = (x, arrays["x_dec"])
    try:
        trace(loaded.model, x, labels=arrays["y"], mask=arrays.get("mask"), loss=loaded.loss or "mse")
    except ShapeError as error:
        raise ShapeVizError(f"the arrays in {path!r} do not fit the model:\n{error}") from None
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    console.print(f"✓ data: {shapes} run through the model", soft_wrap=True)


check.__doc__ = (check.__doc__ or "") + MODEL_HELP


# -- modes ---------------------------------------------------------------------------------
@main.command()
@click.option("-o", "--output-dir", type=click.Path(file_okay=False),
              help="Also write each mode's diagram as DIR/<mode>.svg and DIR/<mode>.txt.")
@click.option("--quiet", "-q", is_flag=True, help="Only the tables, not the text diagrams.")
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
    if out is not None and not out.parent.exists():
        raise ShapeVizError(f"cannot write into {output_dir!r}: {str(out.parent)!r} does not exist")
    console = ctx.obj.console()
    for mode, (build, inputs, about) in CANONICAL.items():
        tr = trace(build(), inputs)
        console.rule(f"{mode}: {about}")
        console.print(summary_table(tr))
        text = text_diagram(tr)
        if not quiet:
            console.print(text, markup=False, highlight=False)
        if out is not None:
            from shapeviz.render.graph import unrolled_graph
            from shapeviz.render.output import to_bytes, write_atomic

            out.mkdir(exist_ok=True)
            stem = mode.replace(" ", "_").replace("-", "_")
            write_atomic(out / f"{stem}.txt", text.encode("utf-8"))
            write_atomic(out / f"{stem}.svg", to_bytes(unrolled_graph(tr), "svg"))
    if out is not None:
        click.echo(f"wrote the five modes to {out}/ (.svg and .txt)")


# -- train ---------------------------------------------------------------------------------
@main.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="An .npz with arrays x and y (and optionally mask, x_val, y_val).")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1, None))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, None))
@click.option("--optimizer", default=None, help="sgd, adagrad, rmsprop or adam (default: the spec's, else adam).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="The learning rate.")
@click.option("--clip", type=click.FloatRange(min=0, min_open=True), help="Clip gradients to this global norm.")
@click.option("--loss", default=None, help="The loss (default: the spec's, else mse).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Save weights here after every epoch (.npz).")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint if it exists.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, only the final line.")
@click.pass_context
@guarded
def train(ctx: click.Context, model: str, data: str, epochs: int, batch_size: int, optimizer: str | None,
          lr: float | None, clip: float | None, loss: str | None, checkpoint: str | None, resume: bool, seed: int,
          quiet: bool) -> None:
    """Train MODEL on the arrays in an .npz, with a progress bar; Ctrl-C keeps the last epoch.

    \b
    Examples:
      shapeviz train examples/specs/addition.toml --data addition.npz --epochs 5
      shapeviz train model.py:build --data data.npz --optimizer adam --lr 0.01 --checkpoint run.npz --resume

    """
    from shapeviz.loading import load_model

    if resume and not checkpoint:
        raise ShapeVizError("--resume needs --checkpoint PATH to resume from")
    if checkpoint and not Path(checkpoint).parent.exists():
        raise ShapeVizError(f"cannot write the checkpoint {checkpoint!r}: its directory does not exist")
    loaded = load_model(model)
    arrays = _load_npz(data)
    m = loaded.model
    spec_opt = getattr(loaded.spec, "optimizer", None) if loaded.spec is not None else None
    options: dict[str, Any] = {}
    if lr is not None:
        options["learning_rate"] = lr
    if clip is not None:
        options["clipnorm"] = clip
    opt = optimizer or spec_opt or m.optimizer or "adam"
    if not isinstance(opt, str) and options:
        opt = type(opt).__name__.lower()
    m.compile(loss or loaded.loss or m.loss or "mse", opt, **options)
    x = arrays["x"] if m.kind != "encoder_decoder" else (arrays["x"], arrays.get("x_dec"))
    validation = None
    if "x_val" in arrays and "y_val" in arrays:
        validation = (arrays["x_val"], arrays["y_val"])
    history = m.fit(x, arrays["y"], batch_size=batch_size, epochs=epochs, mask=arrays.get("mask"),
                    validation_data=validation, seed=seed, verbose=0 if quiet else None,
                    checkpoint=checkpoint, resume=resume)
    last = {k: round(v[-1], 6) for k, v in history.history.items() if v}
    if history.interrupted:
        click.echo(f"interrupted: kept the weights of the last completed epoch ({len(history.epoch)}) {last}")
        ctx.exit(130)
    click.echo(f"trained {len(history.epoch)} epochs: {last}" + (f"; weights in {checkpoint}" if checkpoint else ""))


train.__doc__ = (train.__doc__ or "") + MODEL_HELP


if __name__ == "__main__":  # pragma: no cover
    main()
