"""What every `shapeviz` command shares: global options, errors as messages and exit codes, the
model and --input/--dim options, loading and tracing the model, output paths and .npz data.

Only the command line prints and writes files; it turns every shapeviz error into one message
without a traceback (``--debug`` shows it) and exits 0 when all is well, 1 when problems
were found (a shape mismatch, a failed check, a NaN/inf loss in training), 2 when the input
is unusable, 130 on Ctrl-C. Nothing heavy is imported here: each command imports the tracer,
the renderers (rich, graphviz) or the trainer when it runs.
"""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path
from typing import Any, Callable

import click

from shapeviz.errors import NonFiniteError, ShapeError, ShapeVizError

PROBLEMS, UNUSABLE, INTERRUPTED = 1, 2, 130

MODEL_HELP = ("MODEL is a spec file (model.toml, model.json: no code runs), a Keras model file "
              "(model.keras, model.h5, or model.to_json() saved as .json: read without Keras), or Python code "
              "that makes the model: path/to/file.py:build or package.module:build (this runs that code, as "
              "pytest runs a test file; build is a model or a function returning one).")


def add_model_help(command: click.Command) -> None:
    """Append what MODEL may be to a command's --help (click read the docstring when it was decorated)."""
    command.help = inspect.cleandoc(command.help or "") + "\n\n" + MODEL_HELP


class Settings:
    """What the global options say: colour, tracebacks. Commands find it with :func:`settings_of`."""

    def __init__(self, no_color: bool = False, debug: bool = False) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.debug = debug

    def console(self, stderr: bool = False) -> Any:
        from rich.console import Console

        # rich's no_color drops colours but keeps bold; no colour system at all writes no ANSI code
        return Console(stderr=stderr, no_color=self.no_color, color_system=None if self.no_color else "auto",
                       highlight=False, soft_wrap=False)


def settings_of(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


def fail(ctx: click.Context, message: str, code: int) -> None:
    settings = settings_of(ctx)
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
            debug = settings_of(ctx).debug
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
        fail(ctx, message, code)

    return run


def _set_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        settings_of(ctx).no_color = True


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        settings_of(ctx).debug = True


def common_options(fn: Callable) -> Callable:
    """--no-color and --debug, accepted after the command too (``shapeviz report m.toml --no-color``)."""
    fn = click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug,
                      help="Show the traceback of an error.")(fn)
    return click.option("--no-color", is_flag=True, expose_value=False, callback=_set_no_color,
                        help="No colour or other ANSI codes in the output (also when NO_COLOR is set).")(fn)


def model_options(fn: Callable) -> Callable:
    fn = click.option("--dim", "dims", multiple=True, metavar="NAME=SIZE",
                      help="A size for a named dim, e.g. --dim B=32 --dim T=80 (repeatable; overrides a "
                           "spec's [dims]).")(fn)
    fn = click.option("--input", "input_", metavar="SHAPE",
                      help='The input shape, e.g. "(B, T, 2)" or "batch=32, seq_len=80, features=2"; '
                           "an encoder-decoder takes two, separated by ';'. A spec gives its own.")(fn)
    return click.argument("model", metavar="MODEL")(fn)


def option_error(option: str, error: ShapeVizError) -> ShapeVizError:
    return ShapeVizError(f"{option}: {error}")


def parse_options(input_: str | None, dims: tuple[str, ...]) -> tuple[Any, dict[str, int]]:
    """The --input declaration (None if not given) and the --dim sizes, checked before any model loads."""
    from shapeviz.tracing.parse import parse_dims, parse_shape

    inputs: Any = None
    if input_ is not None:
        parts = [p.strip() for p in input_.split(";")]
        for part in parts:
            try:
                parse_shape(part)
            except ShapeVizError as error:
                raise option_error("--input", error) from None
        inputs = parts[0] if len(parts) == 1 else tuple(parts)
    try:
        given = parse_dims(list(dims))
    except ShapeVizError as error:
        raise option_error("--dim", error) from None
    return inputs, given


def declarations(loaded: Any, inputs: Any, dims: dict[str, int]) -> tuple[Any, dict[str, int]]:
    """The input declaration and sizes to trace with: the command line's, else the spec's, else
    what a built model implies. A --dim overrides the same name in a spec's [dims]."""
    from shapeviz.frontends import default_inputs

    if inputs is None:
        inputs = loaded.inputs
    if inputs is None:
        inputs = default_inputs(loaded.model)
    if inputs is None:
        raise ShapeVizError(f"{loaded.source}: expected the input shape, e.g. --input \"(B, T, 2)\", got none "
                            "(a Python model does not declare one, and this one is not built yet)")
    return inputs, {**loaded.dims, **dims}


def trace_loaded(loaded: Any, inputs: Any, dims: dict[str, int], expect: dict[str, str] | None = None,
                 **kwargs: Any) -> Any:
    """Trace the loaded model on :func:`declarations`, with the expectations, labels, mask, loss and
    roles it declares (``expect`` adds to its expectations); ``kwargs`` go to the tracer."""
    from shapeviz.tracing.tracer import trace

    inputs, given = declarations(loaded, inputs, dims)
    wanted = dict(loaded.expect)
    wanted.update(expect or {})
    return trace(loaded.model, inputs, dims=given, expect=wanted, labels=loaded.labels, mask=loaded.mask,
                 loss=loaded.loss if loaded.labels else None, roles=loaded.roles,
                 provenance={k: v for k, v in loaded.provenance.items() if k not in dims}, **kwargs)


def load_source(model: str) -> Any:
    """The model MODEL names, from the front end that reads it (:func:`shapeviz.frontends.load`)."""
    from shapeviz.frontends import load

    return load(model)


def output_path(option: str, output: str, formats: tuple[str, ...]) -> Path:
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


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically: a reader sees the old file or the whole new one, never half."""
    from shapeviz.render.output import write_atomic

    try:
        write_atomic(path, data)
    except OSError as error:
        raise ShapeVizError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


def load_npz(path: str) -> dict[str, Any]:
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


def model_inputs(model: Any, arrays: dict[str, Any], path: str) -> Any:
    """x, or (x, x_dec) for an encoder-decoder."""
    if model.kind != "encoder_decoder":
        return arrays["x"]
    if "x_dec" not in arrays:
        raise ShapeVizError(f"{path!r}: an encoder-decoder expects arrays x (source), x_dec (decoder inputs) "
                            f"and y, got no x_dec (it holds {', '.join(sorted(arrays))})")
    return arrays["x"], arrays["x_dec"]


def build_on(model: Any, arrays: dict[str, Any], path: str) -> None:
    """Build an unbuilt model on the first sample of the data, so that it declares its input."""
    if model.built:
        return
    from shapeviz.train.diagnose import build_on_data

    try:
        build_on_data(model, model_inputs(model, arrays, path), arrays.get("y"), arrays.get("mask"))
    except ShapeVizError as error:
        raise ShapeVizError(f"the arrays in {path!r} do not fit the model:\n{error}") from None
