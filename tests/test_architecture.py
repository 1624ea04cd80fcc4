"""The import directions between shapeviz's top-level packages: front end -> core model -> tracer ->
records -> renderers -> CLI, and nothing reaching up.

Every module of the package is parsed with ``ast``; every import counts, at module level or inside
a function (a late import is still a dependency), relative ones resolved, and
``importlib.import_module("shapeviz....")`` with a literal name too. A top-level package or module
(``shapeviz/core/``, ``shapeviz/errors.py``; ``cli.py`` and ``cli/`` are both ``cli``) may import
only what its row of :data:`RULES` lists; a new top-level name without a row fails until one is added.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import pytest

import shapeviz
from shapeviz import hooks
from shapeviz.core import model as core_model
from shapeviz.tracing import records

PACKAGE = Path(shapeviz.__file__).parent

BOTTOM = {"errors", "atomic", "hooks"}  # exceptions, the atomic file write, the named providers: every layer may use them
FRONT_ENDS = {"frontends", "spec", "spec_lines", "loading"}  # the ways in (spec* and loading before frontends/)

# top-level name -> what it may import besides itself. "*" = anything but what NOBODY_IMPORTS lists.
RULES: dict[str, set[str]] = {
    "errors":     set(),
    "atomic":     set(),
    "hooks":      set(),                                      # names the trainer and the display for the core
    "core":       BOTTOM,                                     # the numpy models: imports nothing above it
    "tracing":    {"core"} | BOTTOM,                          # runs the core on symbolic arrays
    "train":      {"core", "tracing"} | BOTTOM,               # fits core models; explains a failed real run by a trace
    "render":     {"tracing", "core"} | BOTTOM,               # turns records into tables and pictures
    "checks":     {"core", "tracing", "train"} | FRONT_ENDS | BOTTOM,  # run the tracer and trainer; assert_sane loads
    "modes":      {"core"} | BOTTOM,                          # the five canonical models
    "datasets":   {"core"} | BOTTOM,                          # example data
    **{name: {"core", "tracing"} | FRONT_ENDS | BOTTOM for name in FRONT_ENDS},  # a source -> a core model
    "cli":        {"*"},                                      # the one place that does I/O
    "(shapeviz)": {"*"},                                      # shapeviz/__init__.py: the public names, the hooks
}
NOBODY_IMPORTS = {  # name -> (why, the only ones that may)
    "cli": ("the CLI is the top: nothing imports it", set()),
    "(shapeviz)": ("the package's __init__ imports every layer: only the CLI may import from it", {"cli"}),
}
# third-party packages a layer must not import (the numeric core and the tracer stay pure)
NO_THIRD_PARTY = {"core": {"rich", "graphviz", "click"}, "tracing": {"rich", "graphviz", "click"}}
# modules that lay the pictures out as plain data: writing DOT is render/graph.py's job
LAYOUT_MODULES = {"shapeviz.render.unroll", "shapeviz.render.picture", "shapeviz.render.grid"}


class Import(NamedTuple):
    module: str  # the importing module, e.g. "shapeviz.core.model"
    line: int
    target: str  # the imported module, e.g. "shapeviz.train.fit"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    """Whether ``shapeviz.x.y`` is a module or package of the source tree (not a name inside one)."""
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool) -> Iterator[Import]:
    """Every import of ``source`` (the text of ``module``), at any depth, as absolute module names."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from ..errors import E
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # from shapeviz import train: the submodule; from shapeviz import Trace: the package
                sub = f"{target}.{alias.name}"
                yield Import(module, node.lineno, sub if target.startswith("shapeviz") and is_module(sub) else target)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                    or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))):
            yield Import(module, node.lineno, node.args[0].value)


def all_imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += imports_of(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    return found


def layer(dotted: str) -> str | None:
    """The top-level name a module belongs to: ``shapeviz.core.model`` -> ``core``, ``shapeviz`` ->
    ``(shapeviz)``; None outside the package."""
    parts = dotted.split(".")
    if parts[0] != "shapeviz":
        return None
    return parts[1] if len(parts) > 1 else "(shapeviz)"


def violations(found: list[Import]) -> list[str]:
    problems = []
    for imp in found:
        src, dst = layer(imp.module), layer(imp.target)
        where = f"{imp.module} line {imp.line}"
        if src not in RULES:
            problems.append(f"{where}: no rule for the top-level {src!r}: add a rule for {src} to RULES in "
                            f"tests/test_architecture.py (what it may import)")
            continue
        if dst is None:
            top = imp.target.split(".")[0]
            if top in NO_THIRD_PARTY.get(src, ()):
                problems.append(f"{where}: {src} must not import {top} ({imp.target}): the {src} layer stays pure")
            if imp.module in LAYOUT_MODULES and top == "graphviz":
                problems.append(f"{where}: {imp.module} lays the picture out as plain data and must not import "
                                f"graphviz (DOT is written by shapeviz.render.graph)")
            continue
        if dst == src:
            continue
        if dst in NOBODY_IMPORTS:
            why, exceptions = NOBODY_IMPORTS[dst]
            if src not in exceptions:
                problems.append(f"{where}: {src} imports {imp.target}, which is forbidden: {why}")
        elif dst not in RULES:
            problems.append(f"{where}: {imp.target} is in the top-level {dst!r}, which has no rule: add a rule "
                            f"for {dst} to RULES in tests/test_architecture.py")
        elif "*" not in RULES[src] and dst not in RULES[src]:
            allowed = ", ".join(sorted(RULES[src])) or "nothing else in shapeviz"
            problems.append(f"{where}: {src} imports {imp.target}, which is forbidden: {src} may import only "
                            f"{allowed}")
    return problems


def test_every_top_level_name_has_a_rule() -> None:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(names - set(RULES))
    assert not missing, f"add a rule for {', '.join(missing)} to RULES in tests/test_architecture.py"


def test_imports_point_one_way() -> None:
    found = all_imports()
    assert len({imp.module for imp in found}) > 50  # the whole package was read
    problems = violations(found)
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def test_the_checker_sees_late_relative_and_dynamic_imports() -> None:
    """The collector itself: a function-level import, relative imports from a module and from a
    package, and import_module with a literal name are all found and judged."""
    source = ("import numpy as np\n"
              "from shapeviz.errors import ShapeError\n"
              "def fit(model):\n"
              "    from shapeviz.train.fit import fit\n"
              "    from ..render import graph\n"
              "    from . import layer\n"
              "    import importlib\n"
              "    return importlib.import_module('shapeviz.cli')\n")
    found = list(imports_of(source, "shapeviz.core.model", is_package=False))
    assert [i.target for i in found] == ["numpy", "shapeviz.errors", "shapeviz.train.fit", "shapeviz.render.graph",
                                         "shapeviz.core.layer", "importlib", "shapeviz.cli"]
    assert [i.line for i in found] == [1, 2, 4, 5, 6, 7, 8]
    problems = violations(found)
    assert problems == [
        "shapeviz.core.model line 4: core imports shapeviz.train.fit, which is forbidden: core may import only "
        "atomic, errors, hooks",
        "shapeviz.core.model line 5: core imports shapeviz.render.graph, which is forbidden: core may import only "
        "atomic, errors, hooks",
        "shapeviz.core.model line 8: core imports shapeviz.cli, which is forbidden: the CLI is the top: nothing "
        "imports it",
    ]
    from_package = list(imports_of("from . import tracer\nfrom .. import errors\n", "shapeviz.tracing", True))
    assert [i.target for i in from_package] == ["shapeviz.tracing.tracer", "shapeviz.errors"]
    assert violations([Import("shapeviz.tracing.tracer", 3, "rich.console")]) == [
        "shapeviz.tracing.tracer line 3: tracing must not import rich (rich.console): the tracing layer stays pure"]
    assert violations([Import("shapeviz.render.unroll", 3, "graphviz")]) == [
        "shapeviz.render.unroll line 3: shapeviz.render.unroll lays the picture out as plain data and must not "
        "import graphviz (DOT is written by shapeviz.render.graph)"]
    assert violations([Import("shapeviz.plugins.x", 1, "shapeviz.core")])[0].endswith(
        "no rule for the top-level 'plugins': add a rule for plugins to RULES in tests/test_architecture.py "
        "(what it may import)")
    assert violations([Import("shapeviz.render.graph", 1, "shapeviz")]) == [
        "shapeviz.render.graph line 1: render imports shapeviz, which is forbidden: the package's __init__ imports "
        "every layer: only the CLI may import from it"]


# -- the hooks that replace the upward imports ------------------------------------------------------
def test_model_fit_names_the_missing_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    model = shapeviz.Sequential([shapeviz.Dense(1)], seed=0)
    monkeypatch.setattr(core_model, "_TRAINER", {})
    monkeypatch.setattr(hooks, "_PROVIDERS", {})  # and no trainer named by the package root
    with pytest.raises(RuntimeError, match=r"Model\.fit is implemented by shapeviz\.train, which has not been "
                                           r"imported: import shapeviz \(or shapeviz\.train\) first"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 1)))


def test_the_trainer_registers_every_method() -> None:
    import shapeviz.train as train
    assert {name: core_model._trainer(name) for name in core_model.TRAINER_METHODS} == {
        "fit": train.fit, "evaluate": train.evaluate, "predict": train.predict,
        "save_weights": train.save_weights, "load_weights": train.load_weights}
    with pytest.raises(TypeError, match="register_trainer expects fit, evaluate, predict, save_weights, "
                                        "load_weights; got fit"):
        core_model.register_trainer(fit=train)


def test_a_trace_without_a_registered_display_has_no_html(monkeypatch: pytest.MonkeyPatch) -> None:
    tr = shapeviz.trace(shapeviz.Sequential([shapeviz.Dense(2)], seed=0), "(B, 3)")
    assert tr._repr_html_().startswith("<pre")
    monkeypatch.setattr(records, "_HTML", [])
    monkeypatch.setattr(hooks, "_PROVIDERS", {})
    assert tr._repr_html_() is None  # Jupyter then shows the plain repr


def test_the_package_root_names_the_providers_and_they_register_on_first_use() -> None:
    """Model.fit and a Trace's notebook display find their implementations through shapeviz.hooks,
    in a fresh interpreter where nothing imported shapeviz.train or shapeviz.render."""
    code = ("import sys, numpy as np\n"
            "from shapeviz.core.sequential import Sequential\n"
            "from shapeviz.core.dense import Dense\n"
            "assert 'shapeviz.train' not in sys.modules and 'shapeviz.render' not in sys.modules\n"
            "m = Sequential([Dense(1)], seed=0).compile('mse', 'sgd')\n"
            "m.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)\n"
            "from shapeviz.tracing import trace\n"
            "assert trace(m, '(B, 3)')._repr_html_().startswith('<pre')\n"
            "print('ok')\n")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
