"""DOT source to SVG, PNG or PDF bytes through a system ``dot`` or graphviz-pure, and atomic writes.

A system Graphviz (``dot`` on PATH) is used when there is one; otherwise the
``graphviz-pure`` command that shapeviz depends on (a self-contained layout engine
installed with it) lays out SVG and PNG, so a plain ``pip install`` renders. PDF needs
a system Graphviz.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from shapeviz.atomic import atomic_write
from typing import Any

from shapeviz.errors import ConfigError, RenderError

FORMATS = ("dot", "svg", "png", "pdf")
ENGINES = ("auto", "dot", "graphviz-pure")
_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf"}
_TIMEOUT = 120  # seconds: a layout of any picture shapeviz draws takes well under one
PDF_HELP = ("PDF needs a system Graphviz (the `dot` command), and none is on PATH. Install it with "
            "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
            "`conda install -c conda-forge graphviz`, or write SVG or PNG, which shapeviz renders without it.")


def _source(graph: Any) -> str:
    """The DOT text of a ``graphviz.Digraph`` (or of DOT text itself)."""
    if isinstance(graph, str):
        return graph
    source = getattr(graph, "source", None)
    if not isinstance(source, str):
        raise ConfigError(f"expected a graphviz graph or DOT text, got {type(graph).__name__}")
    return source


def system_dot() -> str | None:
    """The path of a system Graphviz ``dot``, or None."""
    return shutil.which("dot")


def graphviz_pure() -> str | None:
    """The path of the ``graphviz-pure`` command: on PATH, or beside this Python (a venv's bin/)."""
    found = shutil.which("graphviz-pure")
    if found:
        return found
    here = Path(sys.executable).parent
    for name in ("graphviz-pure", "graphviz-pure.exe"):
        if (here / name).is_file():
            return str(here / name)
    return None


def engine_for(fmt: str, engine: str = "auto") -> tuple[str, str]:
    """Which program lays out ``fmt``: ``(name, path)``, name ``"dot"`` or ``"graphviz-pure"``.

    Args:
        fmt: ``"svg"``, ``"png"`` or ``"pdf"``.
        engine: ``"auto"`` (a system dot when there is one, else graphviz-pure), ``"dot"`` or
            ``"graphviz-pure"``.

    Raises:
        RenderError: the engine is not installed, or PDF was asked of graphviz-pure.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    dot = system_dot() if engine in ("auto", "dot") else None
    if dot:
        return "dot", dot
    if engine == "dot" or fmt == "pdf":
        raise RenderError(PDF_HELP if fmt == "pdf" else
                          "no system Graphviz `dot` on PATH; install it (`apt-get install graphviz`, "
                          "`brew install graphviz` or `conda install -c conda-forge graphviz`) or use "
                          "engine='graphviz-pure'")
    pure = graphviz_pure()
    if not pure:
        raise RenderError("cannot find the graphviz-pure command that shapeviz installs to lay out SVG and PNG; "
                          "reinstall shapeviz (`pip install --force-reinstall graphviz-pure`), or install a system "
                          "Graphviz (`apt-get install graphviz`, `brew install graphviz`)")
    return "graphviz-pure", pure


def to_bytes(graph: Any, fmt: str = "svg", engine: str = "auto") -> bytes:
    """The graph in ``fmt``: ``"dot"`` (its source, always), ``"svg"``, ``"png"`` or ``"pdf"``.

    Args:
        graph: a ``graphviz.Digraph`` (such as :func:`shapeviz.render.graph.unrolled_graph`'s) or DOT text.
        fmt: the output format.
        engine: see :func:`engine_for`.

    Raises:
        RenderError: no engine can make ``fmt`` here (PDF without a system Graphviz), or the
            engine failed (its message is included).
    """
    fmt = fmt.lower().lstrip(".")
    fmt = "dot" if fmt == "gv" else fmt
    if fmt not in FORMATS:
        raise ConfigError(f"cannot render {fmt!r}: the formats are {', '.join(FORMATS)}")
    source = _source(graph)
    if fmt == "dot":
        return source.encode("utf-8")
    name, exe = engine_for(fmt, engine)
    # -q: both engines warn on stderr about glyph widths (×, →) they estimate; the picture is right
    try:
        done = subprocess.run([exe, "-q", f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RenderError(f"{name} could not render {fmt.upper()}: {error}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise RenderError(f"{name} could not render {fmt.upper()}: {message}")
    return done.stdout


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``,
    so a reader never sees half a file. Returns the path."""
    return atomic_write(path, lambda handle: handle.write(data))


def render(graph: Any, path: str | os.PathLike[str], fmt: str | None = None, engine: str = "auto") -> Path:
    """Write the graph to ``path`` (atomically) in ``fmt``, by default the path's suffix
    (``.dot``/``.gv``, ``.svg``, ``.png``, ``.pdf``). Returns the path.

    Raises:
        RenderError: as :func:`to_bytes`; the file is then left as it was.
    """
    path = Path(path)
    if fmt is None:
        fmt = _SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise ConfigError(f"cannot tell the format of {str(path)!r} from its suffix: use .dot, .svg, .png or "
                              ".pdf, or pass fmt=")
    return write_atomic(path, to_bytes(graph, fmt, engine))


class SVGView:
    """Shows any graph inline in Jupyter through :func:`to_bytes` (system dot or graphviz-pure):
    ``SVGView(graphviz.Digraph(...))`` for a graph made elsewhere."""

    def __init__(self, graph: Any, engine: str = "auto") -> None:
        self.graph = graph
        self.engine = engine

    def _repr_svg_(self) -> str:
        return to_bytes(self.graph, "svg", self.engine).decode("utf-8")
