"""The `shapeviz` command line: shape reports, diagrams, checks and training.

Only this module prints and writes files; it turns every shapeviz error into one message
without a traceback (``--debug`` shows it) and exits 0 when all is well, 1 when problems
were found (a shape mismatch, a failed check, a NaN/inf loss in training), 2 when the input
is unusable, 130 on Ctrl-C.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from pathlib import Path
from typing import Any, Callable

import click

from shapeviz import __version__
from shapeviz.errors import NonFiniteError, ShapeError, ShapeVizError

PROBLEMS, UNUSABLE, INTERRUPTED = 1, 2, 130
GRAPH_FORMATS = ("svg", "png", "pdf", "dot", "txt")

MODEL_HELP = ("MODEL is a spec file (model.toml, model.json: no code runs) or Python code that makes "
              "the model: path/to/file.py:build or package.module:build (this runs that code, as pytest "
              "runs a test file; build is a model or a function returning one).")


def _add_model_help(command: click.Command) -> None:
    """Append what MODEL may be to a command's --help (click read the docstring when it was decorated)."""
    command.help = inspect.cleandoc(command.help or "") + "\n\n" + MODEL_HELP


class Settings:
    """What the global options say: colour, tracebacks. Commands find it with :func:`_settings`."""

    def __init__(self, no_color: bool = False, debug: bool = False) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.debug = debug

    def console(self, stderr: bool = False) -> Any:
        from rich.console import Console

        # rich's no_color drops colours but keeps bold; no colour system at all writes no ANSI code
        return Console(stderr=stderr, no_color=self.no_color, color_system=None if self.no_color else "auto",
                       highlight=False, soft_wrap=False)


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    settings = _settings(ctx)
    from rich.text import Text

    console = settings.console(stderr=True)
    console.print(Text(f"error: {message}", style="" if settings.no_color else "bold red"), soft_wrap=True)
    ctx.exit(code)


def guarded(fn: Callable) -> Callable:
    """Run a command: shapeviz errors become a message and an exit code (1 problems found: a shape
    mismatch, a NaN/inf loss; 2 unusable input; 130 Ctrl-C), never a traceback unless ``--debug`` asks
    for one above the message."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - every error ends as a message
            debug = _settings(ctx).debug
            if isinstance(error, (ShapeError, NonFiniteError)):  # found by the run, not wrong input
                message, code = str(error), PROBLEMS
            elif isinstance(error, ShapeVizError):
                message, code = str(error), UNUSABLE
            elif isinstance(error, KeyboardInterrupt):
                message, code = "interrupted", INTERRUPTED
            else:  # a bug of ours
                message, code = f"internal error ({type(error).__name__}: {error})", UNUSABLE
                if not debug:
                    message += "; run with --debug for the traceback"
            if debug:
                import traceback

                click.echo("".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip(),
                           err=True)
        _fail(ctx, message, code)

    return run


def _set_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).no_color = True


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).debug = True


def common_options(fn: Callable) -> Callable:
    """--no-color and --debug, accepted after the command too (``shapeviz report m.toml --no-color``)."""
    fn = click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug,
                      help="Show the traceback of an error.")(fn)
    return click.option("--no-color", is_flag=True, expose_value=False, callback=_set_no_color,
                        help="No colour or other ANSI codes in the output (also when NO_COLOR is set).")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="shapeviz")
@common_options
def main() -> None:
    """Show and verify the (batch, seq_len, features) shapes of recurrent networks.

    \b
    Examples:
      shapeviz report examples/specs/imdb_lstm.toml
      shapeviz graph examples/specs/addition.toml -o addition.svg
      shapeviz check model.py:build --input "(B, T, 2)" --expect-output "(B, 1)"
      shapeviz modes -o modes/
    """


# -- shared options ------------------------------------------------------------------------
def model_options(fn: Callable) -> Callable:
    fn = click.option("--dim", "dims", multiple=True, metavar="NAME=SIZE",
                      help="A size for a named dim, e.g. --dim B=32 --dim T=80 (repeatable; overrides a "
                           "spec's [dims]).")(fn)
    fn = click.option("--input", "input_", metavar="SHAPE",
                      help='The input shape, e.g. "(B, T, 2)" or "batch=32, seq_len=80, features=2"; '
                           "an encoder-decoder takes two, separated by ';'. A spec gives its own.")(fn)
    return click.argument("model", metavar="MODEL")(fn)


def _option_error(option: str, error: ShapeVizError) -> ShapeVizError:
    return ShapeVizError(f"{option}: {error}")


def _parse_options(input_: str | None, dims: tuple[str, ...]) -> tuple[Any, dict[str, int]]:
    """The --input declaration (None if not given) and the --dim sizes, checked before any model loads."""
    from shapeviz.tracing.parse import parse_dims, parse_shape

    inputs: Any = None
    if input_ is not None:
        parts = [p.strip() for p in input_.split(";")]
        for part in parts:
            try:
                parse_shape(part)
            except ShapeVizError as error:
                raise _option_error("--input", error) from None
        inputs = parts[0] if len(parts) == 1 else tuple(parts)
    try:
        given = parse_dims(list(dims))
    except ShapeVizError as error:
        raise _option_error("--dim", error) from None
    return inputs, given


def _declarations(loaded: Any, inputs: Any, dims: dict[str, int]) -> tuple[Any, dict[str, int]]:
    """The input declaration and sizes to trace with: the command line's, else the spec's, else
    what a built model implies. A --dim overrides the same name in a spec's [dims]."""
    from shapeviz.loading import default_inputs

    if inputs is None:
        inputs = loaded.inputs
    if inputs is None:
        inputs = default_inputs(loaded.model)
    if inputs is None:
        raise ShapeVizError(f"{loaded.source}: expected the input shape, e.g. --input \"(B, T, 2)\", got none "
                            "(a Python model does not declare one, and this one is not built yet)")
    return inputs, {**loaded.dims, **dims}


def _trace(loaded: Any, inputs: Any, dims: dict[str, int], expect: dict[str, str] | None = None,
           **kwargs: Any) -> Any:
    from shapeviz.tracing.tracer import trace

    inputs, given = _declarations(loaded, inputs, dims)
    wanted = dict(loaded.expect)
    wanted.update(expect or {})
    return trace(loaded.model, inputs, dims=given, expect=wanted, labels=loaded.labels, mask=loaded.mask,
                 loss=loaded.loss if loaded.labels else None, roles=loaded.roles, **kwargs)


def _load(model: str) -> Any:
    from shapeviz.loading import load_model

    return load_model(model)


# -- report --------------------------------------------------------------------------------
@main.command()
@model_options
@click.option("--steps", is_flag=True, help="Also show every recurrent layer's tensors at the traced timesteps.")
@click.option("--grads", is_flag=True, help="Also show every gradient's shape (backward pass).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Only the summary table, without the dims legend.")
@common_options
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
    inputs, given = _parse_options(input_, dims)
    tr = _trace(_load(model), inputs, given)
    if fmt == "json":
        from shapeviz.render.jsonform import dumps

        click.echo(dumps(tr))
        return
    from shapeviz.render.tables import bindings_table, grads_table, steps_table, summary_table

    console = _settings(ctx).console()
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


_add_model_help(report)


# -- graph ---------------------------------------------------------------------------------
@main.command()
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
    path = _output_path("-o", output, GRAPH_FORMATS)
    fmt = path.suffix.lower().lstrip(".")
    inputs, given = _parse_options(input_, dims)
    from shapeviz.render.output import engine_for, to_bytes

    if fmt == "pdf":
        engine_for("pdf")  # no system Graphviz: say so before tracing
    tr = _trace(_load(model), inputs, given, backward=False)
    if fmt == "txt":
        from shapeviz.render.text import text_diagram

        data = text_diagram(tr, unroll=unroll, rolled=rolled).encode("utf-8")
    else:
        from shapeviz.render.graph import rolled_graph, unrolled_graph

        g = rolled_graph(tr) if rolled else unrolled_graph(tr, unroll=unroll)
        data = g.source.encode("utf-8") if fmt == "dot" else to_bytes(g, fmt)
    _write(path, data)
    click.echo(f"wrote {path} ({tr.mode}, {len(data)} bytes)")


def _output_path(option: str, output: str, formats: tuple[str, ...]) -> Path:
    """The file ``option`` names, checked before any work: a known extension, in a folder that exists."""
    path = Path(output)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in formats:
        raise ShapeVizError(f"{option}: cannot write {output!r}: expected the extension {', '.join('.' + f for f in formats)}, "
                            f"got {repr(path.suffix) if path.suffix else 'none'}")
    parent = path.parent
    if not parent.exists():
        raise ShapeVizError(f"{option}: cannot write {output!r}: the folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise ShapeVizError(f"{option}: cannot write {output!r}: {str(parent)!r} is a file, not a folder")
    return path


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` atomically: a reader sees the old file or the whole new one, never half."""
    from shapeviz.render.output import write_atomic

    try:
        write_atomic(path, data)
    except OSError as error:
        raise ShapeVizError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


_add_model_help(graph)


# -- check ---------------------------------------------------------------------------------
@main.command()
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
            raise _option_error("--expect-output", error) from None
        wanted["output"] = expect_output
    for item in expects:
        name, sep, shape = item.partition("=")
        if not sep or not name.strip():
            raise ShapeVizError(f"--expect: expected LAYER=SHAPE such as \"lstm_1=(B, 128)\", got {item!r}")
        try:
            parse_shape(shape)
        except ShapeVizError as error:
            raise _option_error(f"--expect {name.strip()}", error) from None
        wanted[name.strip()] = shape
    if deep:
        _deep_check(ctx, model, input_, dims, data, fmt, plot, wanted)
        return
    inputs, given = _parse_options(input_, dims)
    arrays = _load_npz(data) if data is not None else None
    loaded = _load(model)
    if arrays is not None and inputs is None and loaded.inputs is None:
        _build_on(loaded.model, arrays, data)  # a Python model learns its input size from the data
    tr = _trace(loaded, inputs, given, expect=wanted)
    console = _settings(ctx).console()
    console.print(f"✓ shapes: {len(tr.layers)} layers traced forward and backward ({tr.mode}), "
                  f"output {_shape(tr.outputs)}, {len(tr.grads)} gradients of their parameters' shapes",
                  soft_wrap=True)
    checked = {**loaded.expect, **wanted}  # the spec's [expect] and the command line's
    if checked:
        console.print("✓ expectations: " + ", ".join(f"{k} {v}" for k, v in checked.items()), soft_wrap=True)
    if arrays is not None:
        _check_data(loaded, arrays, data, console)



def _deep_check(ctx: click.Context, ref: str, input_: str | None, dims: tuple[str, ...], data: str | None,
                fmt: str, plot: str | None = None, expect: dict[str, str] | None = None) -> None:
    """``check --deep``: every check of :mod:`shapeviz.checks` as a table (or JSON), and the expectations
    (the spec's and ``--expect``'s) as a plain check verifies them; exit 1 if one fails."""
    import json

    from shapeviz.checks import CheckResult, run
    from shapeviz.render.checks import checks_dict, checks_table

    # the same checks of the options and the data file, with the same messages, as a plain check
    inputs, given = _parse_options(input_, dims)
    arrays = _load_npz(data) if data is not None else None
    loaded = _load(ref)
    declared = inputs if inputs is not None else loaded.inputs
    sizes = {**loaded.dims, **given}
    if not loaded.model.built and arrays is None and declared is not None:
        from shapeviz.tracing.tracer import trace

        trace(loaded.model, declared, dims=sizes)  # builds the layers on the declared sizes
    checked = {**loaded.expect, **(expect or {})}
    # before the slow checks: an expectation naming no layer of the model is unusable input (exit 2)
    mismatch = _trace_expectations(loaded, inputs, given, checked, arrays, data) if checked else None
    results = run(loaded.model, declared if loaded.model.built else None, arrays, dims=sizes,
                  loss=loaded.loss if loaded.model.loss is None else None)  # a compiled loss knows from_logits
    if checked:
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
    if fmt == "json":
        click.echo(json.dumps(checks_dict(results, loaded.source), indent=2, default=float))
    else:
        ctx.ensure_object(Settings).console().print(checks_table(results, f"deep checks of {loaded.source}"))
    if plot is not None:
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
            _build_on(model, arrays, path)  # as a plain check does: the sample the deep checks build it on
        else:
            model = copy.deepcopy(model)  # the deep checks build it on the data, not on the declaration
    declared, sizes = _declarations(loaded, inputs, given)
    try:
        trace(model, declared, dims=sizes, expect=checked, loss=loaded.loss, roles=loaded.roles, backward=False)
    except ShapeError as error:
        return error
    return None


def _shape(shapes: dict[str, Any]) -> str:
    from shapeviz.tracing.dims import shape_str

    return ", ".join(shape_str(s) for s in shapes.values())


def _load_npz(path: str) -> dict[str, Any]:
    """The arrays of an .npz with at least x and y (plain arrays: nothing pickled is loaded)."""
    import numpy as np

    p = Path(path)
    if not p.exists():
        raise ShapeVizError(f"cannot read {path!r}: there is no such file")
    if not p.is_file():
        raise ShapeVizError(f"cannot read {path!r}: expected an .npz file, got a folder")
    try:
        with open(p, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise ShapeVizError(f"cannot read {path!r}: {error.strerror or error}") from None
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):  # what every zip (np.savez) starts with
        raise ShapeVizError(f"cannot read {path!r}: expected an .npz file (arrays saved with np.savez), "
                            "got a file that is not one")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as error:  # noqa: BLE001 - a broken zip, pickled objects
        raise ShapeVizError(f"cannot read {path!r} as an .npz of arrays: {error}") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ShapeVizError(f"{path!r}: expected arrays x and y, got no {' or '.join(repr(m) for m in missing)} "
                            f"(it holds {', '.join(sorted(arrays)) or 'nothing'}); save it with "
                            "np.savez(path, x=..., y=...)")
    return arrays


def _model_inputs(model: Any, arrays: dict[str, Any], path: str) -> Any:
    """x, or (x, x_dec) for an encoder-decoder."""
    if model.kind != "encoder_decoder":
        return arrays["x"]
    if "x_dec" not in arrays:
        raise ShapeVizError(f"{path!r}: an encoder-decoder expects arrays x (source), x_dec (decoder inputs) "
                            f"and y, got no x_dec (it holds {', '.join(sorted(arrays))})")
    return arrays["x"], arrays["x_dec"]


def _build_on(model: Any, arrays: dict[str, Any], path: str) -> None:
    """Build an unbuilt model on the first sample of the data, so that it declares its input."""
    if model.built:
        return
    from shapeviz.train.diagnose import build_on_data

    try:
        build_on_data(model, _model_inputs(model, arrays, path), arrays.get("y"), arrays.get("mask"))
    except ShapeVizError as error:
        raise ShapeVizError(f"the arrays in {path!r} do not fit the model:\n{error}") from None


def _check_data(loaded: Any, arrays: dict[str, Any], path: str, console: Any) -> None:
    from shapeviz.train.diagnose import check_arrays

    model = loaded.model
    x = _model_inputs(model, arrays, path)
    loss = None if model.loss is not None else (loaded.loss or "mse")
    try:
        check_arrays(model, x, arrays["y"], arrays.get("mask"), loss=loss)  # what train checks, then one pass
    except ShapeVizError as error:
        raise ShapeVizError(f"the arrays in {path!r} do not fit the model:\n{error}") from None
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    console.print(f"✓ data: {shapes} run through the model", soft_wrap=True)


_add_model_help(check)


# -- modes ---------------------------------------------------------------------------------
@main.command()
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
    console = _settings(ctx).console()
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
            _write(out / name, data)
        click.echo(f"wrote the five modes to {out}/ ({len(files)} files, .svg and .txt)")


# -- train ---------------------------------------------------------------------------------
def _positive_finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise click.BadParameter(f"expected a positive number, got {value!r}")
    return value


@main.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="An .npz with arrays x and y (and optionally mask, x_val, y_val; x_dec for an encoder-decoder).")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1, None),
              help="The total number of epochs, counting those a resumed checkpoint already has.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, None))
@click.option("--optimizer", default=None, help="sgd, adagrad, rmsprop or adam (default: the spec's, else adam).")
@click.option("--lr", type=float, callback=_positive_finite, help="The learning rate.")
@click.option("--clip", type=float, callback=_positive_finite, help="Clip gradients to this global norm.")
@click.option("--loss", default=None, help="mse, binary_crossentropy, categorical_crossentropy or "
              "sparse_categorical_crossentropy (default: the spec's or the model's, else mse).")
@click.option("--checkpoint", type=click.Path(dir_okay=False),
              help="Save the weights and optimizer state here after every epoch (.npz).")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint if it exists.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the shuffling and dropout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines, only the final line.")
@common_options
@click.pass_context
@guarded
def train(ctx: click.Context, model: str, data: str, epochs: int, batch_size: int, optimizer: str | None,
          lr: float | None, clip: float | None, loss: str | None, checkpoint: str | None, resume: bool, seed: int,
          quiet: bool) -> None:
    """Train MODEL on the arrays in an .npz, with a progress bar; Ctrl-C keeps the last epoch.

    Exit 0 trained, 1 a NaN/inf loss or gradient stopped training (the message names the epoch,
    step, layer and weight), 2 unusable input, 130 Ctrl-C.

    \b
    Examples:
      shapeviz train examples/specs/addition.toml --data addition.npz --epochs 5
      shapeviz train model.py:build --data data.npz --optimizer adam --lr 0.01 --checkpoint run.npz --resume

    """
    from shapeviz.core import losses, optimizers
    from shapeviz.errors import InputError
    from shapeviz.train.progress import format_logs

    if resume and not checkpoint:
        raise ShapeVizError("--resume: expected --checkpoint PATH to resume from, got no --checkpoint")
    if checkpoint:
        _output_path("--checkpoint", checkpoint, ("npz",))
    loss_obj = optimizer_obj = None
    try:
        if loss is not None:
            loss_obj = losses.get(loss)
    except ShapeVizError as error:
        raise _option_error("--loss", error) from None
    try:
        if optimizer is not None:
            options = {k: v for k, v in (("learning_rate", lr), ("clipnorm", clip)) if v is not None}
            optimizer_obj = optimizers.get(optimizer, **options)
    except ShapeVizError as error:
        raise _option_error("--optimizer", error) from None
    arrays = _load_npz(data)
    loaded = _load(model)
    m = loaded.model
    if optimizer_obj is None:
        # the spec's or the model's own optimizer keeps its settings; --lr and --clip change only theirs
        optimizer_obj = m.optimizer if m.optimizer is not None else optimizers.get("adam")
        if lr is not None:
            optimizer_obj.learning_rate = lr
        if clip is not None:
            optimizer_obj.clipnorm = clip
    # a spec compiles its model with the whole loss (from_logits too); its name alone would lose that
    m.compile(loss_obj or m.loss or loaded.loss or "mse", optimizer_obj)
    x = _model_inputs(m, arrays, data)
    validation = None
    if "x_val" in arrays and "y_val" in arrays:
        validation = (arrays["x_val"], arrays["y_val"])
    begun: list[int] = []

    class _First:
        @staticmethod
        def on_epoch_begin(epoch: int) -> None:
            begun.append(epoch)

    # a bar redraws itself with ANSI cursor codes even without colours: --no-color gets a line per epoch
    verbose = 0 if quiet else 2 if _settings(ctx).no_color else 1
    try:
        history = m.fit(x, arrays["y"], batch_size=batch_size, epochs=epochs, mask=arrays.get("mask"),
                        validation_data=validation, seed=seed, verbose=verbose, checkpoint=checkpoint,
                        resume=resume, callbacks=[_First()])
    except (InputError, ShapeError) as error:
        raise ShapeVizError(f"cannot train on the arrays in {data!r}:\n{error}") from None
    done = len(history.epoch)
    start = begun[0] if begun else done
    logs = {k: v[-1] for k, v in history.history.items() if v}
    resumed = (f"resumed from {checkpoint} after epoch {start}, " if start else
               f"no checkpoint at {checkpoint} yet, started at epoch 1; " if resume else "")
    kept = (f"; weights in {checkpoint}" if checkpoint else
            "; the weights are not saved (--checkpoint PATH keeps them)")
    if history.interrupted:
        if done == start:
            click.echo(f"interrupted in epoch {start + 1}/{epochs} before it completed: nothing trained"
                       + (f", {checkpoint} unchanged" if checkpoint and start else ""))
        else:
            click.echo(f"interrupted in epoch {done + 1}/{epochs}: {resumed}kept the weights of epoch "
                       f"{done}/{epochs} ({format_logs(logs)}){kept}")
        ctx.exit(INTERRUPTED)
    if not begun:
        click.echo(f"nothing to train: {checkpoint} already holds {done} epochs and --epochs is {epochs} (raise it "
                   "to train more)")
        return
    trained = f"epoch {done}" if done - start == 1 else f"epochs {start + 1}-{done}"
    click.echo(f"{resumed}trained {trained} of {epochs}: {format_logs(logs)}{kept}")


_add_model_help(train)


if __name__ == "__main__":  # pragma: no cover
    main()
