"""Front ends: the ways into shapeviz, each turning a source into a model and what it declares.

Every front end is one module with the same function, ``load(source) -> Loaded``
(:class:`~shapeviz.frontends.base.Loaded`: the model plus the input declarations, dims,
expectations, labels, mask, loss and roles the source carries). :func:`load` chooses the
front end from the source with the table :data:`FRONT_ENDS`, first match wins:

- a shapeviz model object -> :mod:`.live` (itself),
- a Keras model file (``.keras``, ``.h5``, or a ``.json`` whose content is a Keras config) or a live
  Keras model -> :mod:`.keras` (read without Keras),
- a path ending in ``.toml`` or ``.json`` -> :mod:`.spec` (no code runs),
- ``path/to/file.py:NAME`` or ``package.module:NAME`` -> :mod:`.python` (runs the user's code),
  which hands what ``NAME`` makes, when it is not a shapeviz model, back to :func:`load` as a live
  object,
- a ``torch.nn.Module`` -> :mod:`.torch` (captured with torch.fx and mapped onto a graph model).

``load(source, inputs=...)`` passes the input declaration (the command line's ``--input``) to a front
end that needs one to read the source (torch's); the others take it from the caller later.

A new front end (a Keras file, a torch module) is one new module and one :func:`register`
call; the error for a source nobody accepts lists every entry's ``describes``. A front end's
module is imported only when its entry matches, so choosing costs no import.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from shapeviz.frontends.base import Loaded, ModelLoadError, default_inputs

__all__ = ["load", "register", "FrontEnd", "FRONT_ENDS", "Loaded", "ModelLoadError", "default_inputs"]


@dataclass(frozen=True)
class FrontEnd:
    """One way in.

    Attributes:
        name: a short name, ``"spec"``.
        describes: what the user gives, for the message that lists what is supported, e.g.
            ``"a spec file (model.toml, model.json)"``.
        accepts: whether a source is this front end's; cheap, and without importing ``module``.
        module: the module whose ``load(source) -> Loaded`` reads the source.
        text: the source is written as text (a path or a reference, what the command line takes),
            not a Python object.
    """

    name: str
    describes: str
    accepts: Callable[[Any], bool]
    module: str
    text: bool = True

    needs_inputs: bool = False  # its load() takes the input declaration (inputs=)

    def load(self, source: Any, inputs: Any = None) -> Loaded:
        module = importlib.import_module(self.module)
        loaded: Loaded = module.load(source, inputs=inputs) if self.needs_inputs else module.load(source)
        return loaded


def _is_model(source: Any) -> bool:
    from shapeviz.core.model import Model  # only asked of an object that is not text: numpy is loaded by then

    return isinstance(source, Model)


def _is_spec_file(source: Any) -> bool:
    return isinstance(source, str) and Path(source).suffix.lower() in (".toml", ".json")


def _is_keras(source: Any) -> bool:
    from shapeviz.frontends.keras import is_keras_file, is_live_keras  # numpy-free: cheap to ask

    return is_keras_file(source) or (not isinstance(source, str) and is_live_keras(source))


def _is_python_reference(source: Any) -> bool:
    """``TARGET:NAME`` with both parts, or a ``.py`` path without ``:NAME`` (which the Python front end
    refuses, saying what to add)."""
    if not isinstance(source, str):
        return False
    target, sep, attr = source.rpartition(":")
    if sep:
        return bool(target and attr)
    return Path(source).suffix.lower() == ".py"


def _is_torch_module(source: Any) -> bool:
    """An ``nn.Module``, told by its class's bases' names: torch is not imported to ask."""
    return any(c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module" for c in type(source).__mro__)


#: The front ends, in the order they are asked.
FRONT_ENDS: list[FrontEnd] = [
    FrontEnd("live", "a shapeviz model (Sequential, OneToMany or EncoderDecoder)",
             lambda source: not isinstance(source, str) and _is_model(source), "shapeviz.frontends.live", text=False),
    FrontEnd("keras", "a Keras model (model.keras, model.h5, model.to_json() as .json)", _is_keras,
             "shapeviz.frontends.keras"),
    FrontEnd("spec", "a spec file (model.toml, model.json)", _is_spec_file, "shapeviz.frontends.spec"),
    FrontEnd("python", "path/to/file.py:build or package.module:build", _is_python_reference,
             "shapeviz.frontends.python", needs_inputs=True),
    FrontEnd("torch", "a torch.nn.Module (from build(); pip install \"shapeviz[torch]\")",
             lambda source: not isinstance(source, str) and _is_torch_module(source), "shapeviz.frontends.torch",
             text=False, needs_inputs=True),
]


def register(front_end: FrontEnd, *, before: str | None = None) -> None:
    """Add a front end to :data:`FRONT_ENDS`: last, or just before the one named ``before``."""
    if any(f.name == front_end.name for f in FRONT_ENDS):
        raise ValueError(f"a front end named {front_end.name!r} is already registered")
    names = [f.name for f in FRONT_ENDS]
    if before is not None and before not in names:
        raise ValueError(f"no front end named {before!r} to register before; there are: {', '.join(names)}")
    FRONT_ENDS.insert(names.index(before) if before is not None else len(FRONT_ENDS), front_end)


def load(source: Any, inputs: Any = None) -> Loaded:
    """The model ``source`` names, and what it declares, from the first front end that accepts it.

    Args:
        source: a spec file (``"model.toml"``, ``"model.json"``, a :class:`~pathlib.Path`),
            ``"path/to/file.py:build"`` or ``"package.module:build"`` (this runs that code), or a
            shapeviz model, or a ``torch.nn.Module``.
        inputs: the input declaration, for a front end that needs it to read the source (a torch
            module); the others ignore it.

    Returns:
        The :class:`Loaded` model and declarations.

    Raises:
        ModelLoadError: no front end takes ``source`` (the message lists what is supported), or the
            Python front end cannot make a model of it; a front end's own errors (``SpecError``).
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    for front_end in FRONT_ENDS:
        if front_end.accepts(source):
            return front_end.load(source, inputs)
    if isinstance(source, str):
        supported = ", ".join(f.describes for f in FRONT_ENDS if f.text)
        raise ModelLoadError(f"cannot tell what model {source!r} is: expected {supported}")
    got = repr(source)
    got = got if len(got) <= 60 else got[:57] + "..."
    supported = ", ".join(f.describes for f in FRONT_ENDS)
    raise ModelLoadError(f"cannot tell what model {type(source).__name__} {got} is: expected {supported}")
