"""The Python front end: ``path/to/file.py:NAME`` or ``package.module:NAME`` runs the user's code
(as pytest runs a test file) and takes the model ``NAME`` is, or the one it returns when called."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from shapeviz.core.model import Model
from shapeviz.frontends.base import Loaded, ModelLoadError


def load(ref: str, inputs: Any = None) -> Loaded:
    """Load ``file.py:attr`` or ``module:attr`` (the user's code runs, as pytest runs a test file).
    ``attr`` is a model or a callable that returns one when called without arguments. Anything else
    it makes (an ``nn.Module``) goes back to :func:`shapeviz.frontends.load` as a live object, with
    ``inputs`` (the command line's ``--input``), and is named ``ref`` in messages."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ModelLoadError(
            f"{ref}: expected path/to/file.py:NAME, where NAME is the model or the function that builds "
            f"it (e.g. {ref}:build), got no NAME"
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
        if callable(obj) and not isinstance(obj, Model) and not _is_other_model(obj):
            try:
                obj = obj()
            except (Exception, SystemExit) as error:  # noqa: BLE001 - chained: --debug shows their traceback
                raise ModelLoadError(f"{ref}: calling {attr}() raised {_describe_error(error)}") from error
    if not isinstance(obj, Model) and _is_other_model(obj):
        from shapeviz.frontends import FRONT_ENDS

        front_end = next(f for f in FRONT_ENDS if not f.text and f.accepts(obj))
        loaded = front_end.load(obj, inputs) if front_end.needs_inputs else front_end.load(obj)
        loaded.source = ref
        return loaded
    if not isinstance(obj, Model):
        got = repr(obj)
        got = got if len(got) <= 60 else got[:57] + "..."
        raise ModelLoadError(
            f"{ref}: expected a shapeviz model (Sequential, OneToMany or EncoderDecoder), a torch.nn.Module, or "
            f"a function returning one, got {type(obj).__name__} {got}"
        )
    return Loaded(obj, ref)


def _is_other_model(obj: Any) -> bool:
    """A model another front end reads as a live object (a torch module)."""
    from shapeviz.frontends import FRONT_ENDS

    return any(not f.text and f.name != "live" and f.accepts(obj) for f in FRONT_ENDS)


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
