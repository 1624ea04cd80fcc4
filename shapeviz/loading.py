"""Finding the model a command names: a spec file, ``path/to/file.py:attr`` or ``package.module:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from shapeviz.core.model import Model
from shapeviz.errors import ShapeVizError


class ModelLoadError(ShapeVizError):
    """The model reference cannot be turned into a model (missing file, attribute, an error in
    the user's code, or something that is not a model)."""


@dataclass
class Loaded:
    """A model and the declarations that came with it (a spec gives them; Python code does not)."""

    model: Model
    source: str
    inputs: Any = None
    dims: dict[str, int] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)
    labels: str | None = None
    mask: str | None = None
    loss: Any = None
    spec: Any = None
    roles: dict[str, str] = field(default_factory=dict)


def load_model(ref: str) -> Loaded:
    """Load ``ref``: a ``.toml``/``.json`` spec (no code runs), ``file.py:attr`` or ``module:attr``
    (the user's code runs, as pytest runs a test file). ``attr`` is a model or a callable that
    returns one when called without arguments."""
    path = Path(ref)
    if path.suffix.lower() in (".toml", ".json"):
        from shapeviz.spec import load_spec

        spec = load_spec(path)
        return Loaded(spec.model, str(path), spec.inputs, dict(spec.dims), dict(spec.expect), spec.labels,
                      spec.mask, spec.loss, spec, dict(spec.roles))
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        if path.suffix.lower() == ".py" and not sep:
            raise ModelLoadError(
                f"{ref}: expected path/to/file.py:NAME, where NAME is the model or the function that builds "
                f"it (e.g. {ref}:build), got no NAME"
            )
        raise ModelLoadError(
            f"cannot tell what model {ref!r} is: expected a spec file (model.toml, model.json), "
            "path/to/file.py:build or package.module:build"
        )
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    # the user's folder (a file's, else the current one, as `python -m` has it) is importable while
    # their code runs, also for imports inside build()
    folder = _check_file(Path(target), ref) if is_file else os.getcwd()
    with _on_sys_path(folder):
        module = _load_file(Path(target), ref) if is_file else _import(target, ref)
        if not hasattr(module, attr):
            names = sorted(n for n in vars(module) if not n.startswith("_"))
            has = (f"it has: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}" if names
                   else "it has no public names")
            raise ModelLoadError(f"{ref}: {target} has no attribute {attr!r} ({has})")
        obj = getattr(module, attr)
        if callable(obj) and not isinstance(obj, Model):
            try:
                obj = obj()
            except (Exception, SystemExit) as error:  # noqa: BLE001 - chained: --debug shows their traceback
                raise ModelLoadError(f"{ref}: calling {attr}() raised {_describe_error(error)}") from error
    if not isinstance(obj, Model):
        got = repr(obj)
        got = got if len(got) <= 60 else got[:57] + "..."
        raise ModelLoadError(
            f"{ref}: expected a shapeviz model (Sequential, OneToMany or EncoderDecoder) or a function "
            f"returning one, got {type(obj).__name__} {got}"
        )
    return Loaded(obj, ref)


def _describe_error(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r})"
    return f"{type(error).__name__}: {error}"


@contextmanager
def _on_sys_path(folder: str) -> Iterator[None]:
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        try:
            sys.path.remove(folder)  # the first occurrence: ours, unless the user's code moved it
        except ValueError:
            pass


def _import(target: str, ref: str) -> Any:
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (target == missing or target.startswith(missing + ".")):
            raise ModelLoadError(f"{ref}: no module named {missing!r} (expected an installed module, or one "
                                 "in the current folder or on PYTHONPATH)") from None
        raise ModelLoadError(f"{ref}: importing {target} raised {_describe_error(error)}") from error
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's code failed while importing
        raise ModelLoadError(f"{ref}: importing {target} raised {_describe_error(error)}") from error


def _check_file(path: Path, ref: str) -> str:
    """The folder of an existing Python file ``path``."""
    if not path.exists():
        raise ModelLoadError(f"{ref}: there is no file {str(path)!r}")
    if not path.is_file():
        raise ModelLoadError(f"{ref}: expected a Python file, got the folder {str(path)!r}")
    return str(path.resolve().parent)


def _load_file(path: Path, ref: str) -> Any:
    name = f"_shapeviz_user_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{ref}: cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    # registered while it runs, as an import would: dataclasses and pickling look the module up by name
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's code failed
        sys.modules.pop(name, None)
        raise ModelLoadError(f"{ref}: running {path.name} raised {_describe_error(error)}") from error
    return module


def default_inputs(model: Model) -> Any:
    """The input declaration a built model implies, or None: ``model.inputs``' declarations, such as
    ``(B, T)`` ids for an Embedding model, ``(B, T, F)`` (``(T, B, F)`` time-major) for a recurrent one,
    ``(B, F)`` for one-to-one and one-to-many; a tuple for several inputs."""
    if not model.built:
        return None
    specs = model.inputs
    if not specs or any(not spec.ids and spec.features is None for spec in specs):
        return None
    declared = tuple(spec.declaration() for spec in specs)
    return declared[0] if len(declared) == 1 else declared
