"""What every `shapeviz` command shares: global options, errors as messages and exit codes, the
model and --input/--dim options, loading and tracing the model, output paths and .npz data.

Only the command line prints and writes files; it turns every shapeviz error into one message
without a traceback (``--debug`` shows it) and exits 0 when all is well, 1 when problems
were found (a shape mismatch, a failed check, a NaN/inf loss in training), 2 when the input
is unusable, 130 on Ctrl-C. Nothing heavy is imported here: each command imports the tracer,
the renderers (rich, graphviz) or the trainer when it runs.

Past 400 lines for one reason: it is the single home of what every command shares (options,
exit codes, paths, data files); spreading it would give each command its own variant.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from shapeviz.errors import NonFiniteError, ShapeError, ShapeVizError

PROBLEMS, UNUSABLE, INTERRUPTED = 1, 2, 130
MIN_WIDTH = 20  # columns: a narrower terminal gets lines of this width, folded by the terminal

MODEL_HELP = ("MODEL is a spec file (model.toml, model.json: no code runs), a Keras model file "
              "(model.keras, model.h5, or model.to_json() saved as .json: read without Keras), or Python code "
              "that makes the model: path/to/file.py:build or package.module:build (this runs that code, as "
              "pytest runs a test file; build is a model or a function returning one).")


def add_model_help(command: click.Command) -> None:
    """Append what MODEL may be to a command's --help (click read the docstring when it was decorated)."""
    command.help = inspect.cleandoc(command.help or "") + "\n\n" + MODEL_HELP


class DataMismatch(ShapeVizError):
    """The model and the arrays of an .npz do not fit each other: a problem found (exit 1), as when
    a declared ``--input`` does not fit it."""


class Settings:
    """What the global options say: colour, tracebacks. Commands find it with :func:`settings_of`."""

    def __init__(self, no_color: bool = False, debug: bool = False) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.debug = debug

    def console(self, stderr: bool = False) -> Any:
        from rich.console import Console

        # rich's no_color drops colours but keeps bold; no colour system at all writes no ANSI code
        console = Console(stderr=stderr, no_color=self.no_color, color_system=None if self.no_color else "auto",
                          highlight=False, soft_wrap=False)
        if console.width < MIN_WIDTH:  # COLUMNS=0 (or 5) would print nothing: unknown is 80, tiny is MIN_WIDTH
            console.width = 80 if console.width <= 0 else MIN_WIDTH
        return console


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
            if isinstance(error, (ShapeError, NonFiniteError, DataMismatch)):  # found by the run, not wrong input
                message, code = str(error), PROBLEMS
            elif isinstance(error, ShapeVizError):
                message, code = str(error), UNUSABLE
            elif isinstance(error, KeyboardInterrupt):
                message, code = "interrupted", INTERRUPTED
            elif isinstance(error, OSError) and error.errno in OUTPUT_ERRNOS:
                message, code = output_failed(error), UNUSABLE
            elif isinstance(error, MemoryError):  # the estimate let it through, the machine did not
                message, code = (f"out of memory ({error}); --max-memory sets how much a run may take, "
                                 "estimated before it starts: lower it, or make the model or the batch smaller",
                                 UNUSABLE)
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


OUTPUT_ERRNOS = (errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG)


def output_failed(error: OSError) -> str:
    """Say that the output could not be written, and stop writing to stdout: a closed or full
    stdout would otherwise raise again when Python flushes it on exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (a test's)
        pass
    return f"cannot write the output: {error.strerror or error}"


class Group(click.Group):
    """The ``shapeviz`` group: an output that cannot be written (``--help > /dev/full``, a closed
    pipe) ends as a message on stderr and exit 2, never a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except OSError as error:
            if error.errno not in OUTPUT_ERRNOS:
                raise
            message = output_failed(error)
            try:
                click.echo(f"error: {message}", err=True)
            except OSError:
                pass
            sys.exit(UNUSABLE)


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
            if not part:
                raise ShapeVizError(f'--input: expected a shape such as "(B, T, 2)" (two separated by \';\' for an '
                                    f'encoder-decoder), got {input_!r}')
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


def declarations(loaded: Any, inputs: Any, dims: dict[str, int], also: Any = ()) -> tuple[Any, dict[str, int]]:
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
    check_dim_names(dims, [inputs, loaded.labels, loaded.mask, *loaded.expect.values(), *also])
    return inputs, {**loaded.dims, **dims}


def _dim_names(declaration: Any) -> set[str]:
    """The names a declaration (a shape string, or a tuple or list of them) uses."""
    from shapeviz.tracing.parse import parse_shape

    if isinstance(declaration, str):
        try:
            return {n for spec in parse_shape(declaration) for n in spec.dim.names}
        except ShapeVizError:
            return set()
    if isinstance(declaration, dict):
        declaration = list(declaration.values())
    if isinstance(declaration, (tuple, list)):
        return set().union(*(_dim_names(d) for d in declaration)) if declaration else set()
    return set()


def check_dim_names(dims: dict[str, int], declarations: list[Any]) -> None:
    """A --dim names a dim some shape uses, as a spec's [dims] must (a typo is not silently ignored)."""
    import difflib

    used = set().union(*(_dim_names(d) for d in declarations))
    for name, size in dims.items():
        if name not in used:
            close = difflib.get_close_matches(name, sorted(used), n=1)
            mean = f" (did you mean {close[0]!r}?)" if close else ""
            raise ShapeVizError(f"--dim {name}={size}: no shape of the model uses the dim {name!r}{mean}; the dims "
                                f"used are: {', '.join(sorted(used)) or 'none'}")


def trace_loaded(loaded: Any, inputs: Any, dims: dict[str, int], expect: dict[str, str] | None = None,
                 dry: bool = True, **kwargs: Any) -> Any:
    """Trace the loaded model on :func:`declarations`, with the expectations, labels, mask, loss and
    roles it declares (``expect`` adds to its expectations); ``kwargs`` go to the tracer. ``dry=False``
    builds an unbuilt model on the declaration (for a real run after it, within the memory budget)."""
    from shapeviz.tracing.budget import dry_trace
    from shapeviz.tracing.tracer import trace

    inputs, given = declarations(loaded, inputs, dims, also=list((expect or {}).values()))
    wanted = dict(loaded.expect)
    wanted.update(expect or {})
    # dry: an unbuilt model is traced on a copy whose parameters are never allocated, so a report of
    # Dense(10**9) costs what a report of Dense(1) does
    run = (lambda *a, **k: dry_trace(*a, **k)[0]) if dry else trace
    return run(loaded.model, inputs, dims=given, expect=wanted, labels=loaded.labels, mask=loaded.mask,
               loss=loaded.loss if loaded.labels else None, roles=loaded.roles,
               provenance={k: v for k, v in loaded.provenance.items() if k not in dims}, **kwargs)


def show_partial(ctx: click.Context, error: Exception) -> None:
    """A shape error that stopped a trace: the layers traced before it, the failing layer marked,
    as a table on stdout; the caller re-raises, and the error follows under it (exit 1)."""
    partial = getattr(error, "partial", None)
    if partial is None or not partial.layers and getattr(error, "failed", None) is None:
        return
    from shapeviz.render.tables import summary_table

    settings_of(ctx).console().print(summary_table(partial, getattr(error, "failed", None)))


def load_source(model: str, inputs: Any = None) -> Any:
    """The model MODEL names, from the front end that reads it (:func:`shapeviz.frontends.load`);
    ``inputs`` (--input) goes to a front end that needs it to read the model (a torch module)."""
    from shapeviz.frontends import load

    return load(model) if inputs is None else load(model, inputs)


def output_path(option: str, output: str, formats: tuple[str, ...]) -> Path:
    """The file ``option`` names, checked before any work: a known extension, in a folder that exists."""
    path = Path(output)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in formats:
        raise ShapeVizError(f"{option}: cannot write {output!r}: expected the extension {', '.join('.' + f for f in formats)}, "
                            f"got {repr(path.suffix) if path.suffix else 'none'}")
    if path.is_dir():
        raise ShapeVizError(f"{option}: cannot write {output!r}: it is a folder; give a file name in it")
    writable_folder(option, output, path.parent)
    return path


def writable_folder(option: str, output: str, folder: Path) -> None:
    """Check, before any work, that a file can be made in ``folder``: it exists, is a folder, and a
    file made there (as an atomic write makes its temporary file) can be made and removed."""
    import tempfile

    if not folder.exists():
        raise ShapeVizError(f"{option}: cannot write {output!r}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ShapeVizError(f"{option}: cannot write {output!r}: {str(folder)!r} is a file, not a folder")
    try:  # os.access would answer yes to root on a read-only mount: try it for real
        with tempfile.TemporaryFile(dir=folder, prefix=".shapeviz-probe."):
            pass
    except OSError as error:
        raise ShapeVizError(f"{option}: cannot write {output!r}: no file can be made in the folder "
                            f"{str(folder)!r} ({error.strerror or error})") from None


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically: a reader sees the old file or the whole new one, never half."""
    from shapeviz.render.output import write_atomic

    try:
        write_atomic(path, data)
    except OSError as error:
        raise ShapeVizError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


def npz_headers(path: str) -> dict[str, tuple[tuple[int, ...], Any]]:
    """The shape and dtype of every array in an .npz, read from the .npy headers of its zip members
    without decompressing their data (a 17 MB file of zeros may hold 4 GB)."""
    import math
    import zipfile

    import numpy as np
    from numpy.lib import format as npy

    out: dict[str, tuple[tuple[int, ...], Any]] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = npy.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = npy.read_array_header_2_0(member)
                else:  # (3, 0): utf-8 field names, the same header otherwise
                    shape, _, dtype = npy._read_array_header(member, version)  # noqa: SLF001
            if dtype.hasobject:
                raise ShapeVizError(f"cannot read {path!r}: the array {info.filename[:-4]!r} holds Python objects "
                                    "(it would be unpickled); save plain numeric arrays")
            out[info.filename[:-4]] = (tuple(shape), np.dtype(dtype))
            math.prod(shape)  # a malformed header fails here, not in the loader
    return out


def load_npz(path: str, max_memory: int | None = None, required: tuple[str, ...] = ("x", "y")) -> dict[str, Any]:
    """The arrays of an .npz with at least the ``required`` ones, x and y by default (plain arrays:
    nothing pickled is loaded; a graph model's arrays are named after its inputs: see
    :mod:`shapeviz.cli.graph_arrays`). Their headers are read first: arrays over ``max_memory`` bytes
    in all are refused before any is loaded."""
    import math

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
        headers = npz_headers(path)
    except ShapeVizError:
        raise
    except Exception as error:  # noqa: BLE001 - a broken zip or header
        raise ShapeVizError(f"cannot read {path!r} as an .npz of arrays: {error}") from None
    if max_memory is not None:
        from shapeviz.cli.limits import refuse_over
        from shapeviz.tracing.budget import human

        sizes = {k: math.prod(shape) * dtype.itemsize for k, (shape, dtype) in headers.items()}
        listed = ", ".join(f"{k} {headers[k][0]} {headers[k][1]}: {human(n)}"
                           for k, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:4])
        refuse_over(sum(sizes.values()), max_memory, f"loading the arrays of {path!r}", listed)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as error:  # noqa: BLE001 - a broken zip, pickled objects
        raise ShapeVizError(f"cannot read {path!r} as an .npz of arrays: {error}") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ShapeVizError(f"{path!r}: expected arrays x and y, got no {' or '.join(repr(m) for m in missing)} "
                            f"(it holds {', '.join(sorted(arrays)) or 'nothing'}); save it with "
                            "np.savez(path, x=..., y=...)")
    return arrays


def model_inputs(model: Any, arrays: dict[str, Any], path: str) -> Any:
    """x, or (x, x_dec) for an encoder-decoder, or for a graph model of several inputs the arrays named
    after its inputs (a torch model's ``x`` and ``lengths``)."""
    names = getattr(model, "input_names", None)
    if model.kind == "functional" and names and len(names) > 1:
        keys = [n if n in arrays or i else "x" for i, n in enumerate(names)]  # the first may be x
        missing = [n for n in keys if n not in arrays]
        if missing:
            raise ShapeVizError(f"{path!r}: the model takes the inputs {', '.join(names)}: expected an array per input "
                                f"(the first may be x), got no {', '.join(missing)} (it holds "
                                f"{', '.join(sorted(arrays))})")
        return [arrays[k] for k in keys]
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
        raise DataMismatch(f"the arrays in {path!r} do not fit the model:\n{error}") from None
